"""Provides the native runner: a command in its own process group, its stdout/stderr streamed as they come.

No thread per pipe: output is read with a selector by whoever waits on the process (the worker's
execution thread), which also bounds how late a chunk can be.
"""

from __future__ import annotations

import codecs
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from typing import Callable

from scitq.worker.orphans import ProcessRecords
from scitq.worker.runner import ExecSpec, OnOutput

__all__ = ["NativeRunner", "NativeProcess", "task_environment"]

EXIT_DRAIN = 2.0   # after the process exits, how long a background child may keep its pipes open
RESOLVED_FOR = 5.0   # how long a command found along PATH is remembered (one look-up, not one per task)
_resolved: dict[tuple[str, str], tuple[str, float]] = {}


def _executable(name: str, path: str) -> str | None:
    """Where `name` is along `path` (looked up again after `RESOLVED_FOR` seconds, or when the file went),
    or None to let the child search PATH itself: a name with a slash, a PATH with a relative entry (which
    depends on the task's directory), or a name not found (the child reports the error as it always did)."""
    now = time.monotonic()
    hit = _resolved.get((name, path))   # only a name and PATH that passed the checks below are remembered
    if hit is not None and now - hit[1] < RESOLVED_FOR and os.access(hit[0], os.X_OK):
        return hit[0]
    if os.sep in name or not all(os.path.isabs(d) for d in path.split(os.pathsep)):
        return None
    found = shutil.which(name, path=path)
    if found is None:
        _resolved.pop((name, path), None)
        return None
    _resolved[(name, path)] = (found, now)
    return found


def task_environment(spec: ExecSpec) -> dict[str, str]:
    """v1's variables (CPU INPUT OUTPUT TEMP RESOURCE), plus PATH/HOME/LANG so ordinary commands work."""
    wd = os.path.join(str(spec.workdir), "")   # plain strings: the same values as `workdir / "input"`...
    environ = os.environ
    env = {k: environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(CPU=str(spec.cpu), INPUT=wd + "input", OUTPUT=wd + "output", TEMP=wd + "tmp",
               RESOURCE=wd + "resource", TMPDIR=wd + "tmp")
    env.update(spec.env)
    return env


class NativeProcess:
    def __init__(self, popen: subprocess.Popen, on_output: OnOutput,
                 on_exit: Callable[[], None] | None = None) -> None:
        self.popen = popen
        self.on_exit = on_exit
        self.ident = str(popen.pid)
        self.on_output = on_output
        self.sel = selectors.DefaultSelector()
        self.decoders = {}
        for pipe, fd in ((popen.stdout, "stdout"), (popen.stderr, "stderr")):
            os.set_blocking(pipe.fileno(), False)
            self.sel.register(pipe, selectors.EVENT_READ, fd)
            self.decoders[fd] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.exited_at: float | None = None

    def _close(self, key: selectors.SelectorKey) -> None:
        self.sel.unregister(key.fileobj)
        rest = self.decoders[key.data].decode(b"", final=True)
        if rest:
            self.on_output(key.data, rest)
        key.fileobj.close()

    def _pump(self, timeout: float) -> None:
        for key, _ in self.sel.select(timeout):
            try:
                data = os.read(key.fileobj.fileno(), 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._close(key)
                continue
            text = self.decoders[key.data].decode(data).replace("\x00", "")
            if text:
                self.on_output(key.data, text)

    def wait(self, timeout: float | None = None) -> int | None:
        """Read output while waiting; the return code once the process ended and its pipes are drained."""
        rc = self._wait(timeout)
        if rc is not None and self.on_exit is not None:
            self.on_exit()
            self.on_exit = None
        return rc

    def _wait(self, timeout: float | None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            left = 3600.0 if deadline is None else deadline - now
            rc = self.popen.poll()
            if rc is not None and self.exited_at is None:
                self.exited_at = now
            if not self.sel.get_map():
                if rc is not None:
                    return rc
                try:
                    return self.popen.wait(max(left, 0))
                except subprocess.TimeoutExpired:
                    return None
            if rc is not None and now - self.exited_at >= EXIT_DRAIN:
                for key in list(self.sel.get_map().values()):   # a background child holds the pipes
                    self._close(key)
                return rc
            if left <= 0:
                return None
            step = min(left, 0.2 if rc is not None else 1.0)
            self._pump(step)

    def send_signal(self, signum: int) -> None:
        # The task's process group has no terminal: the kernel drops SIGTSTP sent to such an
        # (orphaned) group, so a pause is delivered as SIGSTOP, which cannot be ignored.
        if signum == signal.SIGTSTP:
            signum = signal.SIGSTOP
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class NativeRunner:
    def __init__(self, records: ProcessRecords | None = None) -> None:
        self.records = records      # where each attempt's process group is noted while it runs

    def start(self, spec: ExecSpec, on_output: OnOutput) -> NativeProcess:
        """Start `spec.command` (words split like a shell would, no shell unless asked: v1 semantics)."""
        args = shlex.split(spec.command)
        if not args:
            raise ValueError("empty command")
        env = task_environment(spec)
        popen = subprocess.Popen(args, executable=_executable(args[0], env["PATH"]), cwd=spec.workdir, env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
        if self.records is None:
            return NativeProcess(popen, on_output)
        records = self.records
        records.record(spec.task_id, spec.attempt, popen.pid)
        return NativeProcess(popen, on_output, on_exit=lambda: records.forget(spec.task_id, spec.attempt))
