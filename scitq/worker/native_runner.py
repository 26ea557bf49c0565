"""Provides the native runner: a command in its own process group, its stdout/stderr streamed as they come.

No thread per pipe: output is read with `poll` by whoever waits on the process (the worker's
execution thread), which also bounds how late a chunk can be. The pipes are plain descriptors (no file
objects) and standard input is one /dev/null opened once: on each task's path, the fewest system calls.
"""

from __future__ import annotations

import codecs
import os
import select
import shlex
import shutil
import signal
import subprocess
import time
from typing import Callable

from scitq.worker.orphans import ProcessRecords, boot_ticks
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
                 on_exit: Callable[[], None] | None = None, pipes: tuple[int, int] | None = None) -> None:
        """`pipes`: the read ends of the process's stdout and stderr (owned from now on); by default those
        of `popen` (started with `stdout=PIPE, stderr=PIPE`)."""
        self.popen = popen
        self.on_exit = on_exit
        self.ident = str(popen.pid)
        self.on_output = on_output
        if pipes is None:
            assert popen.stdout is not None and popen.stderr is not None
            pipes = (os.dup(popen.stdout.fileno()), os.dup(popen.stderr.fileno()))
            popen.stdout.close()
            popen.stderr.close()
        self.poller = select.poll()
        self.open: dict[int, str] = {}    # pipe not at its end yet -> "stdout" | "stderr"
        for fd, name in zip(pipes, ("stdout", "stderr")):
            self.poller.register(fd, select.POLLIN)
            self.open[fd] = name
        self.decoders: dict[str, codecs.IncrementalDecoder] = {}   # made at the first output of a stream
        self.exited_at: float | None = None
        self.exit_fd: int | None = None   # a pidfd of the process, opened once its pipes are closed (-1: none)

    def _decode(self, name: str, data: bytes, final: bool = False) -> str:
        decoder = self.decoders.get(name)
        if decoder is None:
            if final:
                return ""
            decoder = self.decoders[name] = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return decoder.decode(data, final=final)

    def _close(self, fd: int) -> None:
        self.poller.unregister(fd)
        name = self.open.pop(fd)
        rest = self._decode(name, b"", final=True)
        if rest:
            self.on_output(name, rest)
        os.close(fd)

    def _pump(self, timeout: float) -> None:
        # poll wants milliseconds; it is only ever asked for ready pipes, so a read never blocks
        for fd, _ in self.poller.poll(max(0, int(timeout * 1000 + 0.999))):
            if fd not in self.open:
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self._close(fd)
                continue
            name = self.open[fd]
            text = self._decode(name, data).replace("\x00", "")
            if text:
                self.on_output(name, text)

    def wait(self, timeout: float | None = None) -> int | None:
        """Read output while waiting; the return code once the process ended and its pipes are drained."""
        rc = self._wait(timeout)
        if rc is not None and self.exit_fd is not None and self.exit_fd >= 0:
            os.close(self.exit_fd)
            self.exit_fd = -1
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
            if not self.open:
                return rc if rc is not None else self._wait_exit(max(left, 0))
            if rc is not None and now - self.exited_at >= EXIT_DRAIN:
                for fd in list(self.open):   # a background child holds the pipes
                    self._close(fd)
                return rc
            if left <= 0:
                return None
            step = min(left, 0.2 if rc is not None else 1.0)
            self._pump(step)

    def _wait_exit(self, timeout: float) -> int | None:
        """The return code of a process whose pipes are closed, waited for on a pidfd (woken at the exit, where
        `Popen.wait` with a timeout polls with sleeps); None if it still runs after `timeout` seconds."""
        if self.exit_fd is None:
            try:
                self.exit_fd = os.pidfd_open(self.popen.pid)
            except (AttributeError, OSError):   # before Linux 5.3
                self.exit_fd = -1
        if self.exit_fd < 0:
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
        exited = select.poll()
        exited.register(self.exit_fd, select.POLLIN)
        exited.poll(int(timeout * 1000 + 0.999))
        return self.popen.poll()

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
        self._devnull = -1          # standard input of every task, opened at the first start

    def _stdin(self) -> int:
        if self._devnull < 0:
            self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._devnull

    def start(self, spec: ExecSpec, on_output: OnOutput) -> NativeProcess:
        """Start `spec.command` (words split like a shell would, no shell unless asked: v1 semantics)."""
        args = shlex.split(spec.command)
        if not args:
            raise ValueError("empty command")
        env = task_environment(spec)
        out_r, out_w = os.pipe()      # (not inherited by other children: close-on-exec until dup'ed to 1/2)
        err_r, err_w = os.pipe()
        before = boot_ticks() if self.records is not None else 0
        try:
            popen = subprocess.Popen(args, executable=_executable(args[0], env["PATH"]), cwd=spec.workdir,
                                     env=env, stdin=self._stdin(), stdout=out_w, stderr=err_w,
                                     start_new_session=True)
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        if self.records is None:
            return NativeProcess(popen, on_output, pipes=(out_r, err_r))
        records = self.records
        records.record(spec.task_id, spec.attempt, popen.pid, started=(before, boot_ticks()))
        return NativeProcess(popen, on_output, on_exit=lambda: records.forget(spec.task_id, spec.attempt),
                             pipes=(out_r, err_r))
