"""Provides the Jobs screen: the deploy and destroy jobs (v1's jobs table), the machines, and v1's "Add worker".

One line per job, newest first: what it does to which worker, its status, its progress and the last line of its
log (or its error), when it was last updated. Keys: `a` adds workers (the form of v1's web UI), `r` retries a
failed job (a deploy is asked for again, under a new worker name; a destroy is run again), `d` forgets a job
that does not run. The jobs are read from RQ every few seconds and when the ledger says a machine changed.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget

from scitq.tui.modals import AddWorker, Confirm
from scitq.tui.screens.base import LiveScreen
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["JobsScreen"]

COLUMNS = [Column("job", "Job", 15), Column("target", "Target", 22), Column("status", "Status", 10),
           Column("progress", "Progress", 14), Column("machine", "Machine", 30), Column("updated", "Updated", 10),
           Column("details", "Details", 0)]
STATUS_STYLE = {"queued": "#90a4ae", "scheduled": "#fdd835", "started": "#42a5f5", "finished": "#66bb6a",
                "failed": "bold red", "canceled": "dim", "stopped": "dim", "deferred": "#90a4ae"}
WHAT = {"deploy": "Deploy worker", "destroy": "Destroy worker", "sweep": "List machines"}
ACTIONS = {"add", "retry", "delete"}


def _bar(pct: int, width: int = 10) -> Text:
    full = max(0, min(width, round(pct * width / 100)))
    return Text("█" * full + "░" * (width - full) + f" {pct:>3}%", style="#42a5f5")


class JobsScreen(LiveScreen):
    """Deploy and destroy jobs with their progress; add workers, retry or delete a job."""

    MODE = "jobs"
    TITLE_TEXT = "Jobs"
    BINDINGS = [
        Binding("a", "add", "Add worker"),
        Binding("r", "retry", "Retry failed"),
        Binding("d,delete", "delete", "Delete job", key_display="d"),
    ]
    KEY_NOTES = [("", "Machine: the deploy's flavor, region and provider at its price per hour, and its status")]

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no deploy or destroy job yet: `a` adds workers", id="jobs")
        self.jobs: list[Any] = []
        self.deploys: dict[str, Any] = {}

    def body(self) -> Iterable[Widget]:
        yield self.table

    def on_mount(self) -> None:
        super().on_mount()
        self.table.focus()
        self.set_interval(2.0, lambda: self.touch(Touched.all()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTIONS and self.dash.read_only:
            return False
        return True

    def on_ledger(self, touched: Touched) -> None:
        if touched.everything or touched.worker_set or touched.worker_changes:
            self.touch(touched)

    def fetch(self, touched: Touched, request: Any) -> Any:
        return self.dash.source.jobs(), self.dash.source.deploys()

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        jobs, deploys = data
        self.jobs = jobs
        self.deploys = {d.worker: d for d in deploys}
        key = self.table.current_key
        self.table.set_rows(self._row(j) for j in jobs)
        if key is not None:
            self.table.move_to_key(key)
        failed = sum(1 for j in jobs if j.status == "failed")
        running = sum(1 for j in jobs if j.status == "started")
        self.bar.say(Text(f"{len(jobs)} jobs · {running} running · {failed} failed",
                          style="bold red" if failed else ""))

    def _row(self, j: Any) -> Row:
        d = self.deploys.get(j.worker)
        machine = ""
        if d is not None:
            machine = f"{d.flavor} {d.provider}/{d.region} {d.cost or 0:g}/h {d.status}"
        detail = j.error or (j.log.splitlines()[-1] if j.log else "")
        when = j.ended or j.created
        return Row(j.id, [
            WHAT.get(j.op, j.op), Text(j.worker, style="bold"),
            Text(j.status, style=STATUS_STYLE.get(j.status, "")), _bar(j.progress),
            machine, self.dash.clock.time(when), Text(detail[:200], style="red" if j.error else ""),
        ])

    # --- actions ---------------------------------------------------------------------------------
    def _current(self) -> Any:
        key = self.table.current_key
        return next((j for j in self.jobs if j.id == key), None)

    def action_add(self) -> None:
        def read() -> None:
            try:
                flavors = [(f.name, f.region, f.provider) for f in self.dash.source.client.catalog()[0]]
            except Exception:   # no catalog (or offline): the form still takes typed values
                flavors = []
            try:
                batches = self.dash.source.batch_names()
            except Exception:
                batches = []
            self._call(self._show_form, flavors, batches)
        self.run_worker(read, thread=True, group="add-worker", exit_on_error=False)

    def _show_form(self, flavors: list[tuple[str, str, str]], batches: list[str]) -> None:
        def done(fields: dict[str, Any] | None) -> None:
            if fields is not None:
                n = fields["number"]
                self.dash.act(f"deploying {n} worker(s)", self.dash.actions.worker_deploy, **fields)
        self.app.push_screen(AddWorker(flavors, batches), done)

    def action_retry(self) -> None:
        j = self._current()
        if j is None:
            return
        if j.status != "failed":
            self.dash.notify(f"job {j.id} is {j.status}: only a failed job is retried", severity="warning")
            return
        self.dash.act(f"job {j.id} retried", self.dash.actions.job_retry, j.id, j.op, j.worker)

    def action_delete(self) -> None:
        j = self._current()
        if j is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.dash.act(f"job {j.id} deleted", self.dash.actions.job_delete, j.id)
        self.app.push_screen(Confirm(f"Delete job {j.id} ({j.status})?", yes="Delete"), done)
