"""Provides the shape shared by the native and Docker runners: what to run, and the handle on what runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

__all__ = ["ExecSpec", "OnOutput", "RunningProcess"]

OnOutput = Callable[[str, str], None]
"""(fd: "stdout" | "stderr", text): called from a background thread as output arrives."""


@dataclass
class ExecSpec:
    """One execution to start: the command frozen at start time and the work dir prepared for it."""

    task_id: int
    attempt: int
    command: str                 # as stored on the task (already `sh -c '...'` when shell=True)
    workdir: Path                # has input/ output/ tmp/ resource/ subdirs
    cpu: int                     # value of the CPU environment variable
    container: str | None = None
    container_options: str = ""
    env: dict[str, str] = field(default_factory=dict)


class RunningProcess(Protocol):
    """A started execution (a process group or a container)."""

    ident: str

    def wait(self, timeout: float | None = None) -> int | None:
        """The return code, or None if still running after `timeout` seconds."""

    def send_signal(self, signum: int) -> None:
        """Deliver a Unix signal (to the whole process group, or mapped for containers)."""

    def kill(self) -> None:
        """Kill it now (SIGKILL to the process group, or docker kill)."""
