"""Provides the native runner: a command in its own process group, its stdout/stderr streamed as they come."""

from __future__ import annotations

import codecs
import os
import shlex
import signal
import subprocess
import threading

from scitq.worker.runner import ExecSpec, OnOutput

__all__ = ["NativeRunner", "NativeProcess", "task_environment"]


def task_environment(spec: ExecSpec) -> dict[str, str]:
    """v1's variables (CPU INPUT OUTPUT TEMP RESOURCE), plus PATH/HOME/LANG so ordinary commands work."""
    wd = spec.workdir
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(CPU=str(spec.cpu), INPUT=str(wd / "input"), OUTPUT=str(wd / "output"), TEMP=str(wd / "tmp"),
               RESOURCE=str(wd / "resource"), TMPDIR=str(wd / "tmp"))
    env.update(spec.env)
    return env


class NativeProcess:
    def __init__(self, popen: subprocess.Popen, on_output: OnOutput) -> None:
        self.popen = popen
        self.ident = str(popen.pid)
        self.readers = [threading.Thread(target=self._read, args=(popen.stdout, "stdout", on_output), daemon=True),
                        threading.Thread(target=self._read, args=(popen.stderr, "stderr", on_output), daemon=True)]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(pipe, fd: str, on_output: OnOutput) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        raw = pipe.fileno()
        while True:
            try:
                data = os.read(raw, 65536)
            except OSError:
                break
            if not data:
                break
            text = decoder.decode(data).replace("\x00", "")
            if text:
                on_output(fd, text)
        rest = decoder.decode(b"", final=True)
        if rest:
            on_output(fd, rest)
        pipe.close()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.readers:
            t.join(timeout=2)   # a background child may keep the pipe open: don't wait for it forever
        return rc

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
    def start(self, spec: ExecSpec, on_output: OnOutput) -> NativeProcess:
        """Start `spec.command` (words split like a shell would, no shell unless asked: v1 semantics)."""
        args = shlex.split(spec.command)
        if not args:
            raise ValueError("empty command")
        popen = subprocess.Popen(args, cwd=spec.workdir, env=task_environment(spec), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        return NativeProcess(popen, on_output)
