"""Provides `parse_container_options`: a task's `docker run` options turned into docker SDK keyword arguments.

The options string is split with shlex and read word by word against a fixed table, never handed
to a shell. An option outside the table is refused with `BadInput` naming it, so a typo is caught
at submission rather than when a worker runs the task. Pure: no docker import, only plain values
(the SDK accepts dicts where it has helper types), so callers can validate without an engine.
"""

from __future__ import annotations

import csv
import re
import shlex
from typing import Any, Callable

from scitq.errors import BadInput

__all__ = ["parse_container_options", "SUPPORTED_OPTIONS", "SCITQ_MOUNTS"]

SCITQ_MOUNTS = ("/input", "/output", "/tmp", "/resource")
"""Container paths scitq mounts itself from the execution's work dir."""

_HINT = "supported options: " + ", ".join(sorted({
    "--gpus", "-u/--user", "-e/--env", "-v/--volume", "--network", "-w/--workdir", "--entrypoint", "--shm-size",
    "--privileged", "--cpus", "-m/--memory", "--memory-swap", "--ipc", "--pid", "--cap-add", "--cap-drop",
    "--device", "--ulimit", "--init", "--read-only", "--security-opt", "--add-host", "--tmpfs", "--group-add",
    "-h/--hostname", "-l/--label", "--sysctl", "--runtime", "--rm"}))

_SIZE = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")


def _bad(option: str, why: str) -> BadInput:
    return BadInput(f"container option {option}: {why}", hint=_HINT)


# --- value readers: (option as written, value, the kwargs being built) -----------------------------

def _set(key: str, check: Callable[[str, str], Any] | None = None) -> Callable[[str, str, dict], None]:
    def apply(opt: str, value: str, out: dict) -> None:
        out[key] = check(opt, value) if check else value
    return apply


def _append(key: str, check: Callable[[str, str], Any] | None = None) -> Callable[[str, str, dict], None]:
    def apply(opt: str, value: str, out: dict) -> None:
        out.setdefault(key, []).append(check(opt, value) if check else value)
    return apply


def _size(opt: str, value: str) -> str:
    if not _SIZE.match(value):
        raise _bad(opt, f"{value!r} is not a size (e.g. 512m, 2g)")
    return value


def _nonempty(opt: str, value: str) -> str:
    if not value:
        raise _bad(opt, "needs a value")
    return value


def _env(opt: str, value: str, out: dict) -> None:
    name, sep, val = value.partition("=")
    if not name or not re.match(r"^[^\s=]+$", name):
        raise _bad(opt, f"{value!r} is not NAME=value")
    if not sep:
        # docker run -e NAME copies NAME from the environment of whoever runs it: here the worker's,
        # which holds its own credentials. A submitter must not be able to read them into a task.
        raise _bad(opt, f"{name!r} has no value: a task never receives the worker's environment "
                        f"(write {name}=value)")
    out.setdefault("environment", {})[name] = val


def _volume(opt: str, value: str, out: dict) -> None:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise _bad(opt, f"{value!r} is not host_path:container_path[:ro|rw]")
    if not parts[1].startswith("/"):
        raise _bad(opt, f"container path {parts[1]!r} must be absolute")
    if parts[1].rstrip("/") in SCITQ_MOUNTS:
        raise _bad(opt, f"{parts[1]} is mounted by scitq from the task's work dir")
    if len(parts) == 3:
        modes = parts[2].split(",")
        if not modes or any(m not in ("ro", "rw", "z", "Z", "shared", "slave", "private", "rshared", "rslave",
                                      "rprivate", "nocopy", "consistent", "cached", "delegated") for m in modes):
            raise _bad(opt, f"unknown mount mode {parts[2]!r} (use ro or rw)")
    out.setdefault("volumes", []).append(value)


def _gpus(opt: str, value: str, out: dict) -> None:
    request: dict[str, Any] = {"driver": "", "count": 0, "device_ids": [], "capabilities": [["gpu"]], "options": {}}
    fields = _split_gpu_fields(value.strip())
    if fields == ["all"]:
        request["count"] = -1
    elif len(fields) == 1 and fields[0].isdigit():
        request["count"] = int(fields[0])
    else:
        for item in fields:
            key, sep, val = item.partition("=")
            if not sep:
                raise _bad(opt, f"{value!r}: expected all, a count, or device=…,capabilities=…,driver=…")
            if key == "count":
                request["count"] = -1 if val == "all" else _int(opt, val)
            elif key == "device":
                request["device_ids"] = [d for d in val.split(",") if d]
            elif key == "capabilities":
                caps = [c for c in val.split(",") if c]
                request["capabilities"] = [caps if "gpu" in caps else [*caps, "gpu"]]   # as docker run does
            elif key == "driver":
                request["driver"] = val
            else:
                raise _bad(opt, f"unknown field {key!r} (count, device, capabilities, driver)")
    if not request["count"] and not request["device_ids"]:
        raise _bad(opt, f"{value!r} requests no GPU")
    out.setdefault("device_requests", []).append(request)


def _split_gpu_fields(value: str) -> list[str]:
    """`device=0,1,capabilities=compute` or `"device=0,1",capabilities=…`: commas also separate ids."""
    fields: list[str] = []
    for part in next(csv.reader([value])):
        if "=" in part or not fields:
            fields.append(part)
        else:                      # a bare id following device=0 belongs to it
            fields[-1] += "," + part
    return fields


def _int(opt: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad(opt, f"{value!r} is not an integer") from None


def _cpus(opt: str, value: str, out: dict) -> None:
    try:
        cpus = float(value)
    except ValueError:
        raise _bad(opt, f"{value!r} is not a number of CPUs") from None
    if cpus <= 0:
        raise _bad(opt, "must be positive")
    out["nano_cpus"] = int(cpus * 1e9)


def _ulimit(opt: str, value: str, out: dict) -> None:
    name, sep, limits = value.partition("=")
    soft, _, hard = limits.partition(":")
    if not sep or not name:
        raise _bad(opt, f"{value!r} is not name=soft[:hard]")
    soft_v = _int(opt, soft)
    out.setdefault("ulimits", []).append({"name": name, "soft": soft_v, "hard": _int(opt, hard) if hard else soft_v})


def _add_host(opt: str, value: str, out: dict) -> None:
    host, sep, ip = value.partition(":")
    if not sep or not host or not ip:
        raise _bad(opt, f"{value!r} is not host:ip")
    out.setdefault("extra_hosts", {})[host] = ip


def _tmpfs(opt: str, value: str, out: dict) -> None:
    path, _, options = value.partition(":")
    if not path.startswith("/"):
        raise _bad(opt, f"{path!r} must be an absolute container path")
    out.setdefault("tmpfs", {})[path] = options


def _label(opt: str, value: str, out: dict) -> None:
    name, _, val = value.partition("=")
    if not name:
        raise _bad(opt, f"{value!r} is not name=value")
    if name.startswith("scitq."):
        raise _bad(opt, f"labels scitq.* are set by scitq ({name})")
    out.setdefault("labels", {})[name] = val


def _sysctl(opt: str, value: str, out: dict) -> None:
    name, sep, val = value.partition("=")
    if not sep or not name:
        raise _bad(opt, f"{value!r} is not name=value")
    out.setdefault("sysctls", {})[name] = val


def _entrypoint(opt: str, value: str, out: dict) -> None:
    # `--entrypoint ""` clears the image's entrypoint (the engine wants [""] for that)
    out["entrypoint"] = [""] if value == "" else value


# option -> (takes a value, apply(option, value, out))
_WITH_VALUE: dict[str, Callable[[str, str, dict], None]] = {
    "--gpus": _gpus,
    "-u": _set("user", _nonempty), "--user": _set("user", _nonempty),
    "-e": _env, "--env": _env,
    "-v": _volume, "--volume": _volume,
    "--network": _set("network_mode", _nonempty), "--net": _set("network_mode", _nonempty),
    "-w": _set("working_dir", _nonempty), "--workdir": _set("working_dir", _nonempty),
    "--entrypoint": _entrypoint,
    "--shm-size": _set("shm_size", _size),
    "--cpus": _cpus,
    "-m": _set("mem_limit", _size), "--memory": _set("mem_limit", _size),
    "--memory-swap": _set("memswap_limit", lambda o, v: v if v == "-1" else _size(o, v)),
    "--ipc": _set("ipc_mode", _nonempty),
    "--pid": _set("pid_mode", _nonempty),
    "--cap-add": _append("cap_add", _nonempty), "--cap-drop": _append("cap_drop", _nonempty),
    "--device": _append("devices", _nonempty),
    "--ulimit": _ulimit,
    "--security-opt": _append("security_opt", _nonempty),
    "--add-host": _add_host,
    "--tmpfs": _tmpfs,
    "--group-add": _append("group_add", _nonempty),
    "-h": _set("hostname", _nonempty), "--hostname": _set("hostname", _nonempty),
    "-l": _label, "--label": _label,
    "--sysctl": _sysctl,
    "--runtime": _set("runtime", _nonempty),
}

_FLAGS: dict[str, str | None] = {
    "--privileged": "privileged",
    "--init": "init",
    "--read-only": "read_only",
    "--rm": None,        # accepted for v1 habits: scitq removes the container itself when the task succeeds
}

_REFUSED = {
    "-d": "scitq runs the container detached itself",
    "--detach": "scitq runs the container detached itself",
    "-i": "a task has no standard input",
    "--interactive": "a task has no standard input",
    "-t": "a task has no terminal (output is streamed as stdout and stderr)",
    "--tty": "a task has no terminal (output is streamed as stdout and stderr)",
    "-it": "a task has no terminal nor standard input",
    "-ti": "a task has no terminal nor standard input",
    "--name": "scitq names and labels the container itself",
    "-p": "publishing ports makes no sense for a task",
    "--publish": "publishing ports makes no sense for a task",
}

SUPPORTED_OPTIONS = tuple(sorted([*_WITH_VALUE, *_FLAGS]))


def parse_container_options(opts: str | None) -> dict[str, Any]:
    """Turn `docker run` options (as v1's `container_options`) into docker SDK `containers.create` kwargs.

    Raises `BadInput` naming the option when it is unknown, refused or has a malformed value.
    """
    try:
        words = shlex.split(opts or "")
    except ValueError as exc:
        raise BadInput(f"container options {opts!r}: {exc}", hint="quote values the way a shell would") from None
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        name, eq, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if name in _REFUSED:
            raise _bad(name, _REFUSED[name])
        if name in _FLAGS:
            if eq and inline.lower() not in ("true", "false"):
                raise _bad(name, f"is a flag, {inline!r} is not true or false")
            key = _FLAGS[name]
            if key is not None:
                out[key] = not (eq and inline.lower() == "false")
            continue
        if name not in _WITH_VALUE and not eq and len(word) > 2 and word[:2] in _WITH_VALUE and word[1] != "-":
            name, eq, inline = word[:2], "=", word[2:]      # -eNAME=value, -u1000, -e=NAME=value
            if inline.startswith("="):
                inline = inline[1:]
        if name not in _WITH_VALUE:
            if word.startswith("-"):
                raise _bad(name, "is not supported")
            raise BadInput(f"container options: unexpected word {word!r} (options only; the command and the "
                           f"image are given separately)", hint=_HINT)
        if eq:
            value = inline
        elif i < len(words):
            value = words[i]
            i += 1
        else:
            raise _bad(name, "needs a value")
        _WITH_VALUE[name](name, value, out)
    return out
