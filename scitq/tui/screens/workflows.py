"""Provides the Workflows screen: the step batches (`<workflow>.<step>`) of each workflow, what each step
needs, its task counts and its workers, and under the table the cursor step's recruiters and the workers
they recruited; pause/go, relaunch and delete as on the Batches screen."""

from __future__ import annotations

from typing import Any, Iterable

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from scitq.tui.format import STATUS_STYLE, progress_bar
from scitq.tui.screens.batches import COUNTED, BatchesScreen, _SHORT
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["WorkflowsScreen", "split_step", "describe_recruiter"]

COLUMNS = [Column("workflow", "Workflow", 14), Column("step", "Step", 12), Column("state", "State", 8),
           Column("progress", "Progress", 21)]
COLUMNS += [Column(s, _SHORT[s], 6, "right") for s in COUNTED]
COLUMNS += [Column("needs", "Needs", 16), Column("workers", "Workers", 0)]


def split_step(batch: str) -> tuple[str, str] | None:
    """('workflow', 'step') of a step batch `workflow.step`; None for any other batch."""
    workflow, dot, step = batch.partition(".")
    return (workflow, step) if dot and workflow and step else None


def describe_recruiter(rec: Any) -> str:
    """One recruiter in words: `rank 1: flavor b2-7 from ovh/GRA11, concurrency 2 (prefetch 1), 2 tasks per
    worker, at most 3 workers, from 10 pending tasks` (`…, recycle only` without a provider and a region)."""
    provider, region = rec.worker_provider, rec.worker_region
    text = f"rank {rec.rank}: flavor {rec.worker_flavor}"
    if provider and region:
        text += f" from {provider}/{region}"
    elif provider or region:
        text += f" from {provider}" if provider else f" in region {region}"
    text += f", concurrency {rec.worker_concurrency}"
    if rec.worker_prefetch:
        text += f" (prefetch {rec.worker_prefetch})"
    text += f", {rec.tasks_per_worker} task{'s' if rec.tasks_per_worker != 1 else ''} per worker"
    if rec.maximum_workers is not None:
        text += f", at most {rec.maximum_workers} worker{'s' if rec.maximum_workers != 1 else ''}"
    if rec.minimum_tasks:
        text += f", from {rec.minimum_tasks} pending tasks"
    if not (provider and region):
        text += ", recycle only"
    return text


class WorkflowsScreen(BatchesScreen):
    """One line per step batch, grouped by workflow, its steps in the order they were created; a workflow
    exists while one of its step batches does."""

    MODE = "workflows"
    TITLE_TEXT = "Workflows"
    KEY_NOTES = [("enter", "the step's tasks"),
                 ("", "Needs: the steps whose tasks this step's tasks require (read from its first and last task)"),
                 ("", "under the table: the cursor step's recruiters (v1's fields) and the workers now in the step")]
    DEFAULT_CSS = """
    #step-detail { height: auto; max-height: 6; padding: 0 1; background: $boost; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no workflow yet: scitq.workflow creates step batches "
                                                "named <workflow>.<step>", id="workflows")
        self.needs: dict[str, list[str]] = {}
        self.recruiters: dict[str, list[Any]] = {}
        self.detail = Static("", id="step-detail")

    def body(self) -> Iterable[Widget]:
        yield self.table
        yield self.detail

    def fetch(self, touched: Touched, request: Any) -> Any:
        batches, workers = super().fetch(touched, request)
        steps = [b["batch"] for b in batches if split_step(b["batch"])]
        source = self.dash.source
        return (batches, workers, source.step_needs(steps) if steps else {},
                source.recruiters(steps) if steps else [])

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        batches, workers, needs, recruiters = data
        self.needs = needs
        self.recruiters = {}
        for rec in recruiters:
            self.recruiters.setdefault(rec.batch, []).append(rec)
        super().apply(touched, request, (batches, workers))

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._describe()

    def _describe(self) -> None:
        """Under the table: the cursor step's recruiters, one line each, and the workers now in the step."""
        name = self.table.current_key
        if not isinstance(name, str):
            self.detail.update("")
            return
        t = Text.assemble(("Recruiters of ", "dim"), (name, "bold"))
        recs = self.recruiters.get(name, [])
        if not recs:
            t.append(": none (no worker is moved here by the server)", style="dim")
        for rec in recs:
            t.append("\n  " + describe_recruiter(rec))
        workers = self.workers_of.get(name, [])
        t.append("\nWorkers in the step: ", style="dim")
        t.append(", ".join(workers) if workers else "none")
        self.detail.update(t)

    def _redraw(self) -> None:
        key = self.table.current_key
        steps = [b for b in self.batches if split_step(b["batch"])]
        steps.sort(key=lambda b: (split_step(b["batch"])[0], float(b.get("creation_date") or 0), b["batch"]))
        self.table.set_rows(self._row(b) for b in steps)
        if key is not None:
            self.table.move_to_key(key)
        self._describe()

    def _row(self, b: dict[str, Any]) -> Row:
        name = b["batch"]
        workflow, step = split_step(name) or ("", name)
        paused = bool(b.get("batch_paused"))
        counts = [Text(f"{b.get(s) or 0:,}" if b.get(s) else "·", style=STATUS_STYLE[s] if b.get(s) else "dim")
                  for s in COUNTED]
        needs = []
        for parent in self.needs.get(name, []):
            split = split_step(parent)
            needs.append(split[1] if split and split[0] == workflow else parent)
        return Row(name, [
            Text(workflow, style="bold"), Text(step, style="bold"),
            Text("paused", style="bold #fdd835") if paused else Text("running", style="#42a5f5"),
            progress_bar(b, 15), *counts, ", ".join(needs) or Text("·", style="dim"),
            ", ".join(self.workers_of.get(name, [])),
        ])
