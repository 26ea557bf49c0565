"""Provides `Actions`: every change the dashboard can ask for, as `Client` commands answered by the server.

Each method returns the server's answer or raises the server's `ScitqError` (one line, shown as a
notification). The dashboard calls them from worker threads.
"""

from __future__ import annotations

from typing import Any, Callable

from scitq.api.client import Client
from scitq.errors import Conflict
from scitq.events.worker import CLEAN, RESET_RESOURCES, RESTART

__all__ = ["Actions", "PAUSE_CHOICES", "GO_CHOICES", "SIGNAL_CHOICES", "CLEAN", "RESTART", "RESET_RESOURCES"]

# (label, signal) offered when pausing or resuming a batch (v1: pause "Only batch" / "Both", stop, break)
PAUSE_CHOICES = [
    ("Pause: start nothing new, running tasks go on", 0),
    ("Pause and stop running tasks (SIGSTOP, they stay paused)", 19),
    ("Pause and terminate running tasks (SIGTERM)", 15),
    ("Pause and kill running tasks (SIGKILL)", 9),
]
GO_CHOICES = [
    ("Go: start new tasks again", 0),
    ("Go and continue paused tasks (SIGCONT)", 18),
]
SIGNAL_CHOICES = [
    ("term  SIGTERM (15)", 15),
    ("kill  SIGKILL (9)", 9),
    ("stop  SIGSTOP (19)", 19),
    ("cont  SIGCONT (18)", 18),
    ("int   SIGINT (2)", 2),
    ("quit  SIGQUIT (3)", 3),
    ("tstp  SIGTSTP (20)", 20),
]


class Actions:
    """Commands to the server through `Client`; `read_only` refuses them all (the dashboard also hides them)."""

    def __init__(self, client: Client, read_only: bool = False) -> None:
        self.client = client
        self.read_only = read_only

    def _send(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.read_only:
            raise Conflict("the dashboard is read-only")
        return method(*args, **kwargs)

    # --- workers -----------------------------------------------------------------------------------
    def worker_update(self, worker_id: int, **changes: Any) -> Any:
        return self._send(self.client.update_worker, int(worker_id), **changes)

    def worker_delete(self, worker_id: int) -> Any:
        return self._send(self.client.delete_worker, int(worker_id))

    def worker_deploy(self, **fields: Any) -> Any:
        """Deploy new workers (v1's "Add worker"): provider, region, flavor, number, batch, concurrency, prefetch."""
        return self._send(self.client.deploy_workers, **fields)

    def job_retry(self, job_id: str, op: str, worker: str) -> Any:
        """Run a failed job again: a deploy is asked for again (recorded in the ledger), a destroy requeued."""
        if op == "deploy":
            return self._send(self.client.retry_deploy, worker)
        from scitq import jobqueue
        return self._send(jobqueue.retry, jobqueue.connection(self.client.r), job_id)

    def job_delete(self, job_id: str) -> Any:
        from scitq import jobqueue
        return self._send(jobqueue.delete, jobqueue.connection(self.client.r), job_id)

    def worker_signal(self, worker_id: int, signal: int) -> Any:
        """An order to the worker itself (v1's signals): CLEAN, RESTART or RESET_RESOURCES."""
        return self._send(self.client.signal_worker, int(worker_id), int(signal))

    # --- batches -----------------------------------------------------------------------------------
    def batch_stop(self, batch: str, signal: int = 0) -> Any:
        return self._send(self.client.stop_batch, batch, int(signal))

    def batch_go(self, batch: str, signal: int = 0) -> Any:
        return self._send(self.client.go_batch, batch, int(signal))

    def batch_relaunch_failed(self, batch: str) -> Any:
        return self._send(self.client.relaunch_failed, batch)

    def batch_delete(self, batch: str) -> Any:
        return self._send(self.client.delete_batch, batch)

    # --- tasks -------------------------------------------------------------------------------------
    def task_edit(self, task_id: int, command: str) -> Any:
        return self._send(self.client.update_task, int(task_id), command=command)

    def task_relaunch(self, task_id: int) -> Any:
        return self._send(self.client.relaunch_tasks, [int(task_id)])

    def task_pause(self, task_id: int) -> Any:
        return self._send(self.client.set_task_status, int(task_id), "paused")

    def task_resume(self, task_id: int) -> Any:
        return self._send(self.client.set_task_status, int(task_id), "pending")

    def task_delete(self, task_id: int) -> Any:
        return self._send(self.client.delete_tasks, [int(task_id)])

    def task_signal(self, task_id: int, signal: int) -> Any:
        return self._send(self.client.signal_task, int(task_id), int(signal))
