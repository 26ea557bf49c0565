"""Provides the attempt runner: one held attempt from its data to its final report (prefetch, start, follow)."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import redis

from scitq import keys
from scitq.errors import ScitqError
from scitq.projections.views import TaskView
from scitq.settings import Settings
from scitq.worker import cache
from scitq.worker.data import TaskDataError, fetch_inputs, fetch_resources, push_outputs
from scitq.worker.engines import Engines
from scitq.worker.output import OutputBuffer
from scitq.worker.reporter import Reporter
from scitq.worker.runner import ExecSpec, RunningProcess
from scitq.worker.slot import Slot, read_task
from scitq.worker.spool import Spool
from scitq.worker.workdirs import WorkDirs

__all__ = ["AttemptRunner", "AGENT_FAILED", "START_FAILED"]

log = logging.getLogger("scitq.worker")

START_FAILED = 127     # the command or image could not be started
AGENT_FAILED = -1002   # the worker itself failed on this attempt


class AttemptRunner:
    """Runs attempts handed over by the agent, each on a thread of the agent's; `on_done(slot)` after each."""

    def __init__(self, r: redis.Redis, cfg: Settings, reporter: Reporter, spool: Spool, workdirs: WorkDirs,
                 engines: Engines, *, cpu: Callable[[], int], keep_clean: Callable[[], int],
                 on_done: Callable[[Slot], None]) -> None:
        self.r = r
        self.cfg = cfg
        self.reporter = reporter
        self.spool = spool
        self.workdirs = workdirs
        self.engines = engines
        self.cpu = cpu                  # the CPU variable of a task: the machine's CPUs over the concurrency
        self.keep_clean = keep_clean    # how many emptied work dirs to keep for reuse
        self.on_done = on_done

    # --- the claim --------------------------------------------------------------------------------
    def claim_fields(self, slot: Slot) -> dict[str, str]:
        """`entry` and `queue` for the next report about `slot` when its claim was not reported yet (that
        report then claims its queue entry), else nothing."""
        with slot.lock:
            if slot.claim_reported:
                return {}
            slot.claim_reported = True
        return {"entry": slot.entry, "queue": slot.queue}

    def ensure_claimed(self, slot: Slot) -> None:
        """Report the claim of `slot` unless done: every report but `started` needs it before."""
        fields = self.claim_fields(slot)
        if fields:
            self.reporter.report("claimed", slot.task_id, slot.attempt, **fields)

    # --- before the start -----------------------------------------------------------------------
    def prefetch(self, slot: Slot) -> None:
        """Fetch a claimed task's inputs while it waits for a slot (v1: accepted = downloading)."""
        try:
            view = read_task(self.r, slot.task_id)
            if view is None or view.attempt != slot.attempt or slot.cancelled:
                return
            slot.accepted = True
            self.ensure_claimed(slot)
            self.reporter.report("accepted", slot.task_id, slot.attempt)
            slot.workdir = self.workdirs.make()
            if view.input:
                fetch_inputs(view.input, slot.workdir / "input", _timeout(view))
                slot.inputs_done = view.input
        except TaskDataError as exc:
            slot.data_error = exc       # reported when the task would start (inputs may be edited meanwhile)
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        except Exception as exc:  # noqa: BLE001 - never kill the agent over one task's data
            log.exception("task %s: prefetch failed", slot.task_id)
            slot.data_error = TaskDataError(-1001, f"input download failed: {exc}")

    def _fetch_data(self, slot: Slot, view: TaskView) -> None:
        """At start: the inputs current now (downloaded again if edited since the prefetch), the resources."""
        wd = slot.workdir
        assert wd is not None
        inputs = view.input or ""
        if inputs and (slot.inputs_done != inputs or slot.data_error is not None):
            if not slot.accepted:
                slot.accepted = True
                self.ensure_claimed(slot)
                self.reporter.report("accepted", slot.task_id, slot.attempt)
            fetch_inputs(inputs, wd / "input", _timeout(view))
        if view.resource:
            fetch_resources(view.resource, self.workdirs.resources, wd / "resource")

    # --- one attempt ----------------------------------------------------------------------------
    def run(self, slot: Slot, view: TaskView) -> None:
        """Start a held attempt confirmed against `view` (its task now), follow it to its end."""
        out = OutputBuffer(self.spool, keys.worker_output(self.reporter.worker, slot.task_id, slot.attempt),
                           self.cfg.output_flush)
        rc: int | None = None
        try:
            if slot.preparing is not None:
                slot.preparing.join()
            if slot.workdir is None:
                slot.workdir = self.workdirs.make()
            digest = cache.input_hash(view) if view.get("use_cache") else None
            if digest is not None and self._cached(slot, view, digest, out):
                rc = 0
                return
            try:
                self._fetch_data(slot, view)
            except TaskDataError as exc:
                out.write("stderr", f"{exc}\n")
                rc = exc.code
                self._finish(slot, out, rc)
                return
            proc = self._start(slot, view, out)
            rc = self._follow(slot, view, proc, out, announce=True, digest=digest)
        except _Cancelled:
            pass
        except Exception as exc:  # the agent itself failed on this task: say so, and give it back
            rc = self._crashed(slot, out, exc)
        finally:
            self._end(slot, rc)

    def follow_container(self, slot: Slot, view: TaskView | None, runner: Any, container_id: str,
                         since: float | None) -> None:
        """Follow a container started by an earlier run of this worker (`view`: None if it could not be read)."""
        out = OutputBuffer(self.spool, keys.worker_output(self.reporter.worker, slot.task_id, slot.attempt),
                           self.cfg.output_flush)
        rc: int | None = None
        try:
            slot.proc = proc = runner.reattach(container_id, out.write, since=since)
            announce = view is not None and view.status != "running"   # its start was never reported
            rc = self._follow(slot, view or TaskView(), proc, out, announce=announce)
        except Exception as exc:  # noqa: BLE001
            rc = self._crashed(slot, out, exc)
        finally:
            self._end(slot, rc)

    def _start(self, slot: Slot, view: TaskView, out: OutputBuffer) -> RunningProcess | None:
        """The process of the attempt, or None when it could not start (the reason is in its stderr)."""
        assert slot.workdir is not None
        container = view.container or None
        spec = ExecSpec(task_id=slot.task_id, attempt=slot.attempt, command=view.command or "",
                        workdir=slot.workdir, cpu=self.cpu(), container=container,
                        container_options=view.container_options or "")
        runner = self.engines.for_container(container)
        with slot.lock:
            if slot.cancelled:
                raise _Cancelled()
            try:
                slot.proc = proc = runner.start(spec, out.write)
            except (FileNotFoundError, PermissionError, ValueError, ScitqError) as exc:
                proc = None
                out.write("stderr", f"{type(exc).__name__}: {exc}\n")
            slot.state = "running"
        return proc

    def _cached(self, slot: Slot, view: TaskView, digest: str, out: OutputBuffer) -> bool:
        """End the attempt at once when an earlier succeeded execution hashes the same and its outputs
        are still there (copied when this task's output folder differs); False: the task must run."""
        ex = cache.find_reusable(self.r, digest)
        if ex is None or slot.cancelled:
            return False
        try:
            files = cache.reuse(ex, view.output)
        except Exception as exc:  # noqa: BLE001 - the copy failed: run the task instead
            log.warning("task %s: cached outputs of execution %s not copied (%s): running it",
                        slot.task_id, ex["execution_id"], exc)
            return False
        out.write("stdout", f"Cached from execution {ex['execution_id']}\n")
        self._finish(slot, out, 0, output_files=files, cached_from=ex["execution_id"], input_hash=digest)
        return True

    def _follow(self, slot: Slot, view: TaskView, proc: RunningProcess | None, out: OutputBuffer,
                announce: bool, digest: str | None = None) -> int:
        """Report the start (once), wait for the process (run timeout), upload outputs, report the end."""
        if announce:   # also the claim, when the attempt starts before its claim was reported
            self.reporter.report("started", slot.task_id, slot.attempt, command=view.command or "",
                                 container=view.container or None,
                                 container_options=view.container_options, input=view.input,
                                 output=view.output, resource=view.resource,
                                 pid=proc.ident if proc else None, **self.claim_fields(slot))
        if proc is None:
            return self._finish(slot, out, START_FAILED)
        rc, timed_out = self._wait(proc, view.run_timeout or None, out)
        output_files: list[str] = []
        if view.output and not slot.cancelled and slot.workdir is not None:
            try:
                output_files = push_outputs(slot.workdir / "output", view.output)
            except TaskDataError as exc:
                out.write("stderr", f"{exc}\n")
                rc = exc.code
                output_files = exc.uploaded
        if digest is not None and rc == 0 and slot.workdir is not None:
            return self._finish(slot, out, rc, timed_out=timed_out, output_files=output_files, input_hash=digest,
                                output_listing=cache.output_listing(slot.workdir / "output"))
        return self._finish(slot, out, rc, timed_out=timed_out, output_files=output_files)

    def _wait(self, proc: RunningProcess, run_timeout: int | None, out: OutputBuffer) -> tuple[int, bool]:
        """The return code, the process killed past `run_timeout` seconds; output sent on time meanwhile."""
        rc: int | None = None
        timed_out = False
        started = time.monotonic()
        while rc is None:
            step = out.every
            if run_timeout:
                left = started + run_timeout - time.monotonic()
                if left <= 0 and not timed_out:
                    timed_out = True
                    out.write("stderr", f"scitq: run timeout of {run_timeout}s reached, killing\n")
                    proc.kill()
                    left = 5
                step = min(step, max(left, 0.05))
            rc = proc.wait(step)
            out.flush_if_due()
        return rc, timed_out

    # --- the end --------------------------------------------------------------------------------
    def _finish(self, slot: Slot, out: OutputBuffer, rc: int, **extra: Any) -> int:
        out.flush()
        self.ensure_claimed(slot)
        if not slot.cancelled:
            slot.ended = True
            self.reporter.report("finished", slot.task_id, slot.attempt, return_code=rc, **extra)
        return rc

    def _crashed(self, slot: Slot, out: OutputBuffer, exc: Exception) -> int:
        log.exception("task %s: the worker failed to run it", slot.task_id)
        out.write("stderr", f"scitq worker error: {exc}\n")
        out.flush()
        self.ensure_claimed(slot)
        slot.ended = True
        self.reporter.report("finished", slot.task_id, slot.attempt, return_code=AGENT_FAILED)
        return AGENT_FAILED

    def _end(self, slot: Slot, rc: int | None) -> None:
        with slot.lock:
            slot.state = "done"
        if slot.workdir is not None and (rc == 0 or slot.cancelled):
            self.workdirs.release(slot.workdir, self.keep_clean())
        elif slot.workdir is not None:
            self.workdirs.done(slot.workdir)
        self.on_done(slot)


def _timeout(view: TaskView) -> float | None:
    return float(view.download_timeout) if view.download_timeout is not None else None


class _Cancelled(Exception):
    pass
