"""Provides the workflow monitor of `Workflow.run()` on a terminal: one row per step, keys to pause, suspend,
unpause, destroy and quit (v1's urwid monitor, in Textual)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from scitq.tui.format import STATUS_STYLE
from scitq.tui.modals import Confirm

__all__ = ["WorkflowMonitor", "run_monitor", "TASK_COLUMNS", "WORKER_COLUMNS", "recruiter_brief"]

TASK_COLUMNS = (("paused", "PAU"), ("waiting", "WAI"), ("pending", "PEN"), ("assigned", "ASN"),
                ("accepted", "ACC"), ("running", "RUN"), ("failed", "FAI"), ("blocked", "BLK"),
                ("succeeded", "SCS"))
WORKER_COLUMNS = (("paused", "W.PAU"), ("offline", "W.OFF"), ("running", "W.RUN"), ("failed", "W.FAI"))


RECRUITERS_EVERY = 20     # polls between two reads of the recruiters (they change rarely)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def recruiter_brief(rec: Any) -> str:
    """A recruiter in a few characters: `rank:flavor[@provider/region] ×concurrency tasks/w ≤maximum`."""
    where = f"@{_get(rec, 'worker_provider')}/{_get(rec, 'worker_region')}" \
        if _get(rec, "worker_provider") and _get(rec, "worker_region") else ""
    most = _get(rec, "maximum_workers")
    return (f"{_get(rec, 'rank')}:{_get(rec, 'worker_flavor')}{where} ×{_get(rec, 'worker_concurrency')} "
            f"{_get(rec, 'tasks_per_worker')}/w" + (f" ≤{most}" if most is not None else ""))


class Followed(Protocol):
    """What the monitor needs of a workflow (`scitq.workflow.Workflow` is one)."""
    name: str

    def _poll(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], bool, dict[str, int]]: ...
    def _summary(self, totals: dict[str, int]) -> str: ...
    def pause(self, suspend: bool = False) -> None: ...
    def unpause(self) -> None: ...
    def clean(self, force: bool = False) -> None: ...


class WorkflowMonitor(App[dict]):
    """Follows one workflow until every task is finished (then exits with the totals), or until quit
    or destroy (then exits with `None` and `ended_by` says which)."""

    TITLE = "scitq workflow"
    ENABLE_COMMAND_PALETTE = False
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")     # the dialogs' look
    CSS = """
    #steps { height: 1fr; }
    #status { height: 1; padding: 0 1; }
    """
    BINDINGS = [
        Binding("r", "refresh_now", "Refresh"),
        Binding("p", "pause", "Pause"),
        Binding("s", "suspend", "Suspend all"),
        Binding("u", "unpause", "Unpause"),
        Binding("d", "destroy", "Destroy"),
        Binding("q", "quit_workflow", "Quit"),
    ]

    def __init__(self, workflow: Followed, refresh: float = 30.0, poll_every: float = 0.5,
                 exit_when_done: bool = True) -> None:
        super().__init__()
        self.workflow = workflow
        self.refresh_every = refresh
        self.poll_every = poll_every
        self.exit_when_done = exit_when_done
        self.totals: dict[str, int] = {}
        self.over = False
        self.ended_by: str | None = None      # "quit" or "destroy"
        self.message = ""
        self._wake = threading.Event()
        self._lock = threading.Lock()         # one call on the workflow at a time (poll or key)
        self.polls = 0
        self.recruiters: dict[str, list[Any]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable = DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        table.add_column("Step", key="step", width=16)
        for key, label in TASK_COLUMNS:
            table.add_column(label, key=key, width=len(label) + 1)
        for key, label in WORKER_COLUMNS:
            table.add_column(label, key=f"worker.{key}", width=len(label) + 1)
        table.add_column("Recruiters", key="recruiters")
        yield table
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.workflow.name
        self.run_worker(self._follow, thread=True, group="poll", exit_on_error=False)

    # --- following ---------------------------------------------------------------------------------
    def _follow(self) -> None:
        me = get_current_worker()
        while not me.is_cancelled:
            try:
                with self._lock:
                    counts, workers, over, totals = self.workflow._poll()
                    read = getattr(self.workflow, "_recruiters", None)   # optional in `Followed`
                    if read is not None and self.polls % RECRUITERS_EVERY == 0:
                        self.recruiters = read()
            except Exception as exc:   # the server may be away for a while: say so, keep looking
                self.call_from_thread(self._show_status, f"cannot read the workflow: {exc}")
            else:
                self.call_from_thread(self._show, counts, workers, over, totals)
                if over and self.exit_when_done:
                    return
            self._wake.wait(self.poll_every)
            self._wake.clear()

    def _show(self, counts: dict[str, dict[str, int]], workers: dict[str, dict[str, int]], over: bool,
              totals: dict[str, int]) -> None:
        if self.ended_by is not None:
            return
        self.polls += 1
        self.totals, self.over = totals, over
        table = self.query_one("#steps", DataTable)
        for step, c in counts.items():
            w = workers.get(step) or {}
            cells = [Text(step)]
            for key, _label in TASK_COLUMNS:
                n = c.get(key, 0)
                cells.append(Text(str(n) if n else "·", style=STATUS_STYLE.get(key, "") if n else "dim",
                                  justify="right"))
            for key, _label in WORKER_COLUMNS:
                n = w.get(key, 0)
                cells.append(Text(str(n) if n else "·", style="" if n else "dim", justify="right"))
            cells.append(Text("; ".join(recruiter_brief(r) for r in self.recruiters.get(step, [])) or "·",
                              style="" if self.recruiters.get(step) else "dim"))
            if step in table.rows:
                keys = ["step"] + [k for k, _ in TASK_COLUMNS] + [f"worker.{k}" for k, _ in WORKER_COLUMNS] + \
                    ["recruiters"]
                for key, cell in zip(keys, cells):
                    table.update_cell(step, key, cell)
            else:
                table.add_row(*cells, key=step)
        if over:
            self._show_status(self.workflow._summary(totals))
            if self.exit_when_done:
                self.exit(totals)
        elif not self.message:
            left = sum(v for k, v in totals.items() if k not in ("succeeded", "failed", "blocked"))
            self._show_status(f"{left} task(s) to finish")

    def _show_status(self, text: str) -> None:
        self.query_one("#status", Static).update(self.message or text)

    def _say(self, text: str) -> None:
        self.message = text
        self._show_status(text)

    # --- keys --------------------------------------------------------------------------------------------
    def _control(self, what: str, call: Any) -> None:
        def run() -> None:
            try:
                with self._lock:
                    call()
            except Exception as exc:
                self.call_from_thread(self._say, f"{what} failed: {exc}")
            else:
                self.call_from_thread(self._say, f"{what}: done")
            self._wake.set()
        self._say(f"{what} ...")
        self.run_worker(run, thread=True, group="control", exit_on_error=False)

    def action_refresh_now(self) -> None:
        self.message = ""
        self._wake.set()

    def action_pause(self) -> None:
        self._control("pause", lambda: self.workflow.pause())

    def action_suspend(self) -> None:
        self._control("suspend all", lambda: self.workflow.pause(suspend=True))

    def action_unpause(self) -> None:
        self._control("unpause", lambda: self.workflow.unpause())

    def action_destroy(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                def destroy() -> None:
                    self.ended_by = "destroy"
                    try:
                        self.workflow.clean(force=True)
                    except Exception:
                        self.ended_by = None
                        raise
                    self.call_from_thread(self.exit, None)
                self._control("destroy", destroy)
        self.push_screen(Confirm(f"Destroy workflow {self.workflow.name}: delete every step batch and its "
                                 f"tasks?"), answered)

    def action_quit_workflow(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.ended_by = "quit"
                self.exit(None)
        self.push_screen(Confirm(f"Quit the monitor of {self.workflow.name}? (the tasks go on)"), answered)


def run_monitor(workflow: Followed, refresh: float = 30.0) -> dict[str, int]:
    """Run the monitor in this terminal until the workflow is over; returns the task counts per status.
    Quit or destroy raise RuntimeError (v1's behaviour: the script does not go on as if it had finished)."""
    app = WorkflowMonitor(workflow, refresh=refresh)
    totals = app.run()
    if app.ended_by is not None:
        raise RuntimeError(f"workflow {workflow.name}: {app.ended_by} from the monitor")
    if totals is None:     # the app ended otherwise (Ctrl-C): as quit
        raise RuntimeError(f"workflow {workflow.name}: monitor closed")
    print(workflow._summary(totals), flush=True)
    return totals
