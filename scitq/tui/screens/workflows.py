"""Provides the Workflows screen: the step batches (`<workflow>.<step>`) of each workflow, what each step
needs, its task counts and its workers; pause/go, relaunch and delete as on the Batches screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from scitq.tui.format import STATUS_STYLE, progress_bar
from scitq.tui.screens.batches import COUNTED, BatchesScreen, _SHORT
from scitq.tui.table import Column, Row, VirtualTable
from scitq.tui.touch import Touched

__all__ = ["WorkflowsScreen", "split_step"]

COLUMNS = [Column("workflow", "Workflow", 14), Column("step", "Step", 12), Column("state", "State", 8),
           Column("progress", "Progress", 21)]
COLUMNS += [Column(s, _SHORT[s], 6, "right") for s in COUNTED]
COLUMNS += [Column("needs", "Needs", 16), Column("workers", "Workers", 0)]


def split_step(batch: str) -> tuple[str, str] | None:
    """('workflow', 'step') of a step batch `workflow.step`; None for any other batch."""
    workflow, dot, step = batch.partition(".")
    return (workflow, step) if dot and workflow and step else None


class WorkflowsScreen(BatchesScreen):
    """One line per step batch, grouped by workflow, its steps in the order they were created; a workflow
    exists while one of its step batches does."""

    MODE = "workflows"
    TITLE_TEXT = "Workflows"
    KEY_NOTES = [("enter", "the step's tasks"),
                 ("", "Needs: the steps whose tasks this step's tasks require (read from its first and last task)")]

    def __init__(self) -> None:
        super().__init__()
        self.table = VirtualTable(COLUMNS, empty="no workflow yet: scitq.workflow creates step batches "
                                                "named <workflow>.<step>", id="workflows")
        self.needs: dict[str, list[str]] = {}

    def fetch(self, touched: Touched, request: Any) -> Any:
        batches, workers = super().fetch(touched, request)
        steps = [b["batch"] for b in batches if split_step(b["batch"])]
        return batches, workers, self.dash.source.step_needs(steps) if steps else {}

    def apply(self, touched: Touched, request: Any, data: Any) -> None:
        batches, workers, needs = data
        self.needs = needs
        super().apply(touched, request, (batches, workers))

    def _redraw(self) -> None:
        key = self.table.current_key
        steps = [b for b in self.batches if split_step(b["batch"])]
        steps.sort(key=lambda b: (split_step(b["batch"])[0], float(b.get("creation_date") or 0), b["batch"]))
        self.table.set_rows(self._row(b) for b in steps)
        if key is not None:
            self.table.move_to_key(key)

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
