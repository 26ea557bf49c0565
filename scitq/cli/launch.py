"""Provides `scitq-launch`: queue one task from the shell with v1's options."""

from __future__ import annotations

import os
import re
import sys

from scitq.api.v1 import Server
from scitq.cli.common import run
from scitq.errors import BadInput, NotFound
from scitq.io.uri import redact

__all__ = ["main", "parse"]

PROG = "scitq-launch"
USAGE = """usage: scitq-launch [options] [--] COMMAND [ARGS...]

Queue COMMAND as a scitq task. Options (all before the command):
  -n, --name NAME            task name
  -b, --batch BATCH          batch (default: Default)
  -i, --input URI            input URI, downloaded into $INPUT (repeatable)
  -r, --resource URI         resource URI, shared per worker, in $RESOURCE (repeatable)
  -o, --output URI           output folder URI: $OUTPUT is uploaded there after the task
  -R, --requirements IDS     task ids (space or comma separated) to wait for (repeatable)
  -d, --docker IMAGE         run in this Docker image
  -O, --option OPTS          extra docker run options (needs -d)
  -u, --uid UID, -g, --gid GID   run as this uid/gid
  --retry N                  automatic retries on failure
  --run-timeout S            kill the task after S seconds of running
  --download-timeout S       fail the task if its inputs take more than S seconds
  --use-cache                reuse an identical previous successful execution
  -s, --server SERVER        scitq server (host or redis:// URL; default $SCITQ_SERVER or the local server)
  -t, --test                 print the command that would be sent, queue nothing
  --                         end of options (the command may start with -)
  -h, --help                 this help

Example: scitq-launch -b demo sh -c 'echo $CPU'
"""

_SINGLE = {"-n": "name", "--name": "name", "-b": "batch", "--batch": "batch", "-o": "output", "--output": "output",
           "-d": "docker", "--docker": "docker", "-O": "option", "--option": "option", "-u": "uid", "--uid": "uid",
           "-g": "gid", "--gid": "gid", "-s": "server", "--server": "server", "--retry": "retry",
           "--run-timeout": "run_timeout", "--download-timeout": "download_timeout"}
_MULTI = {"-i": "input", "--input": "input", "-r": "resource", "--resource": "resource",
          "-R": "requirements", "--requirements": "requirements"}
_FLAGS = {"-t": "test", "--test": "test", "--use-cache": "use_cache"}
_INTS = ("uid", "gid", "retry", "run_timeout", "download_timeout")


def _quote(word: str) -> str:
    if re.search(r"\s", word) and not (word.startswith("'") and word.endswith("'")):
        return "'" + word.replace("'", "'\"'\"'") + "'"
    return word


def parse(argv: list[str]) -> dict:
    opts: dict = {"input": [], "resource": [], "requirements": []}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if word in ("-h", "--help"):
            raise SystemExit(_usage(0))
        name, value = word, None
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
        if name in _FLAGS:
            opts[_FLAGS[name]] = True
            i += 1
            continue
        if name in _SINGLE or name in _MULTI:
            if value is None:
                if i + 1 >= len(argv):
                    raise BadInput(f"option {name} needs a value")
                value = argv[i + 1]
                i += 2
            else:
                i += 1
            if name in _SINGLE:
                key = _SINGLE[name]
                if key in opts:
                    raise BadInput(f"{name} option was set twice.")
                opts[key] = value
            else:
                opts[_MULTI[name]].append(value)
            continue
        if word.startswith("-") and word != "-":
            raise BadInput(f"unknown option {word} (put -- before a command starting with -)")
        break
    command = argv[i:]
    if not command:
        raise BadInput("no command given")
    opts["command"] = " ".join(_quote(w) for w in command)
    for key in _INTS:
        if key in opts:
            try:
                opts[key] = int(opts[key])
            except ValueError:
                raise BadInput(f"--{key.replace('_', '-')} takes a whole number, not {opts[key]!r}") from None
            if opts[key] < 0:
                raise BadInput(f"--{key.replace('_', '-')} cannot be negative")
    if "option" in opts and "docker" not in opts:
        raise BadInput("Do not set Docker options if you do not specify a docker.")
    reqs = []
    for chunk in opts.pop("requirements"):
        for r in re.split(r"[\s,]+", chunk.strip()):
            if r:
                if not r.isdigit():
                    raise BadInput(f"requirement {r!r} is not a task id")
                reqs.append(int(r))
    opts["requirements"] = reqs
    return opts


def _usage(code: int) -> int:
    (sys.stdout if code == 0 else sys.stderr).write(USAGE)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        return _usage(2)

    def body() -> int:
        try:
            return queue(argv)
        except BadInput as exc:   # v1's first words, which scripts grep: "Syntax error : ..."
            if isinstance(exc, NotFound) or os.environ.get("SCITQ_DEBUG"):
                raise
            message = exc.message if exc.message.startswith("Syntax error : ") else f"Syntax error : {exc.message}"
            print(redact(message + (f" ({exc.hint})" if exc.hint else "")), file=sys.stderr)
            return exc.exit_code

    return run(PROG, body)


def queue(argv: list[str]) -> int:
    """Parse the command line and queue the task; prints its id."""
    try:
        opts = parse(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if opts.get("test"):
        print(redact(f"Command that would be sent: {opts['command']}"))
        return 0
    from scitq.api.v1 import _check_uris
    _check_uris({"input": " ".join(opts["input"]) or None, "resource": " ".join(opts["resource"]) or None,
                 "output": opts.get("output")})
    server = Server(opts.get("server"), persistent=False)
    task = server.task_create(
        opts["command"], name=opts.get("name"), batch=opts.get("batch"), input=opts["input"] or None,
        output=opts.get("output"), container=opts.get("docker"), container_options=opts.get("option", ""),
        resource=opts["resource"] or None, required_task_ids=opts["requirements"] or None,
        retry=opts.get("retry"), download_timeout=opts.get("download_timeout"),
        run_timeout=opts.get("run_timeout"), use_cache=opts.get("use_cache"), uid=opts.get("uid"),
        gid=opts.get("gid"))
    print(f"Task queued with task id: {task['task_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
