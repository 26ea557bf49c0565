"""Provides rclone remotes as stores: `<remote>://a/b` is `<remote>:a/b` of the rclone configuration.

Used for any protocol name scitq does not serve itself, when the `rclone` binary is installed and
its configuration (`RCLONE_CONFIG`, `/etc/rclone.conf` or `~/.config/rclone/rclone.conf`) has a
section of that name.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import time
from datetime import datetime

from scitq.io.config import io_settings
from scitq.io.errors import Unsupported
from scitq.io.progress import Watch
from scitq.io.stores import Entry
from scitq.io.uri import URI

__all__ = ["RcloneStore", "rclone_store", "rclone_remotes"]


def rclone_remotes(config: str | None) -> set[str]:
    if not config or not os.path.exists(config):
        return set()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config)
    except configparser.Error:
        return set()
    return set(parser.sections())


def rclone_store(uri: URI) -> "RcloneStore":
    config = io_settings().rclone_config
    exe = shutil.which("rclone")
    if exe is None or uri.proto not in rclone_remotes(config):
        why = "rclone is not installed" if exe is None else f"no rclone remote named {uri.proto!r}"
        raise Unsupported(f"This URI protocol is not supported: {uri.proto}:// ({why})",
                          hint="use s3://, azure://, ftp://, http(s)://, file:// or configure an rclone remote")
    return RcloneStore(exe, config or "", uri.proto)


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    if "." in text:   # rclone gives nanoseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = head + "." + digits[:6] + tail[len(digits):]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class RcloneStore:
    public = False
    writable = True

    def __init__(self, exe: str, config: str, remote: str) -> None:
        self.exe, self.config, self.remote = exe, config, remote

    def path_of(self, uri: URI) -> str:
        return uri.resource

    def uri_of(self, path: str) -> str:
        return f"{self.remote}://{path.lstrip('/')}"

    def _target(self, path: str) -> str:
        return f"{self.remote}:{path}"

    def _run(self, *args: str) -> str:
        cmd = [self.exe, "--config", self.config, *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=max(io_settings().timeout, 60) * 10)
        if res.returncode != 0:
            err = (res.stderr.strip().splitlines() or ["rclone failed"])[-1]
            if "not found" in err.lower() or "doesn't exist" in err.lower() or res.returncode == 3:
                raise FileNotFoundError(err)
            raise ConnectionError(f"rclone {args[0]}: {err}")
        return res.stdout

    def _entry(self, item: dict, root: str, rel: str) -> Entry:
        is_dir = bool(item.get("IsDir"))
        path = f"{root.rstrip('/')}/{rel}" if rel and root else (rel or root)
        md5 = (item.get("Hashes") or {}).get("md5") or None
        date = _date(item.get("ModTime"))
        return Entry(name=self.uri_of(path) + ("/" if is_dir else ""), rel_name=rel + ("/" if is_dir and rel else ""),
                     size=0 if is_dir else max(int(item.get("Size") or 0), 0), creation_date=date,
                     modification_date=date, md5=md5, type="dir" if is_dir else "file", path=path)

    def info(self, path: str) -> Entry:
        out = self._run("lsjson", "--stat", "--hash", "--hash-type", "md5", self._target(path.rstrip("/")))
        item = json.loads(out)
        entry = self._entry(item, path.rstrip("/"), "")
        entry.rel_name = item.get("Name", entry.rel_name)
        return entry

    def list(self, path: str, recursive: bool) -> list[Entry]:
        root = path.rstrip("/")
        args = ["lsjson", "--hash", "--hash-type", "md5"] + (["-R", "--files-only"] if recursive else [])
        items = json.loads(self._run(*args, self._target(root)) or "[]")
        return sorted((self._entry(i, root, i["Path"]) for i in items), key=lambda e: e.rel_name)

    def _transfer(self, src: str, dst: str, watch: Watch, local: str, expect: int) -> None:
        watch.expect(expect)
        proc = subprocess.Popen([self.exe, "--config", self.config, "copyto", src, dst],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen = 0
        try:
            while proc.poll() is None:
                time.sleep(0.05)
                if local and os.path.exists(local):
                    size = os.path.getsize(local)
                    watch.advance(max(size - seen, 0))
                    seen = max(seen, size)
                else:
                    watch.check()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            line = (err.strip().splitlines() or ["rclone copyto failed"])[-1]
            if "not found" in line.lower() or proc.returncode == 3:
                raise FileNotFoundError(line)
            raise ConnectionError(f"rclone copyto: {line}")
        if local and os.path.exists(local):
            watch.advance(max(os.path.getsize(local) - seen, 0))

    def download(self, path: str, local: str, watch: Watch) -> None:
        parent = os.path.dirname(local)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._transfer(self._target(path), local, watch, local, 0)

    def upload(self, local: str, path: str, watch: Watch) -> None:
        self._transfer(local, self._target(path), watch, "", os.path.getsize(local))
        watch.advance(os.path.getsize(local))

    def remove(self, path: str) -> None:
        self._run("deletefile", self._target(path))

    def md5(self, path: str) -> str | None:
        return self.info(path).md5
