"""Provides the dashboard's dialogs: confirm, choose one of a few, type a value, edit a command, help."""

from __future__ import annotations

from typing import Any, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

__all__ = ["Confirm", "Choose", "Prompt", "EditCommand", "Help", "AddWorker"]


class Confirm(ModalScreen[bool]):
    """Yes/no; `y` or enter confirms, `n` or escape cancels."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class Choose(ModalScreen[Any]):
    """One of a few labelled values (enter picks, escape cancels and answers None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, Any]]) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(self.title_text, classes="question")
            yield OptionList(*[Option(label, id=str(i)) for i, (label, _v) in enumerate(self.choices)])

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 0
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


class Prompt(ModalScreen["str | None"]):
    """A one-line value (enter submits, escape cancels), completed from `suggestions`."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", suggestions: Sequence[str] = (), placeholder: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.value = value
        self.suggestions = list(suggestions)
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="box"):
            yield Label(self.title_text, classes="question")
            yield Input(self.value, placeholder=self.placeholder,
                        suggester=SuggestFromList(self.suggestions, case_sensitive=True) if self.suggestions else None)
            if self.suggestions:
                yield Static(Text("existing: " + ", ".join(self.suggestions[:12]), style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditCommand(ModalScreen["str | None"]):
    """A multi-line editor for a task's command: ctrl+s saves, escape cancels."""

    BINDINGS = [Binding("ctrl+s", "save", "Save"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, command: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical(classes="box wide"):
            yield Label(self.title_text, classes="question")
            yield TextArea(self.command, id="command", soft_wrap=True, show_line_numbers=False)
            yield Label(Text("ctrl+s save · escape cancel · the server refuses a task already started",
                             style="dim"))

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_save(self) -> None:
        text = self.query_one(TextArea).text.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Help(ModalScreen[None]):
    """Every key of the current screen and of the whole dashboard."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, sections: Sequence[tuple[str, Sequence[tuple[str, str]]]], notes: str = "") -> None:
        super().__init__(classes="dialog")
        self.sections = list(sections)
        self.notes = notes

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right")
        table.add_column()
        for title, rows in self.sections:
            table.add_row(Text(title, style="bold underline"), "")
            for key, what in rows:
                table.add_row(key, what)
            table.add_row("", "")
        with VerticalScroll(classes="box wide"):
            yield Label("scitq dashboard — keys", classes="question")
            yield Static(table)
            if self.notes:
                yield Static(Text(self.notes, style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)


class AddWorker(ModalScreen["dict[str, Any] | None"]):
    """v1's "Add worker" form: concurrency (1), prefetch (0), flavor, region, provider, batch, number (1).

    Flavor, region and provider may be `auto` (the flavor `auto:cpu>=8:ram>=30`); `flavors` completes the
    flavor and the region and provider are filled in when the flavor's are unique. Enter or "Add" answers the
    fields (checked: a flavor and a region are needed, numbers are numbers); escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    FIELDS = (("concurrency", "Concurrency", "1"), ("prefetch", "Prefetch", "0"), ("flavor", "Flavor", ""),
              ("region", "Region", ""), ("provider", "Provider", ""), ("batch", "Batch", ""), ("number", "Number", "1"))

    def __init__(self, flavors: Sequence[tuple[str, str, str]] = (), batches: Sequence[str] = ()) -> None:
        super().__init__(classes="dialog")
        self.flavors = list(flavors)          # (flavor, region, provider) of the catalog
        self.batches = list(batches)

    def compose(self) -> ComposeResult:
        names = sorted({f for f, _, _ in self.flavors})
        regions = sorted({r for _, r, _ in self.flavors}) + ["auto"]
        providers = sorted({p for _, _, p in self.flavors}) + ["auto"]
        suggest = {"flavor": names + ["auto"], "region": regions, "provider": providers, "batch": self.batches}
        with Vertical(classes="box"):
            yield Label("Add worker", classes="question")
            for name, label, value in self.FIELDS:
                with Horizontal(classes="field"):
                    yield Label(f"{label:>12} ", classes="field-label")
                    yield Input(value, id=f"add-{name}", placeholder=label.lower(),
                                suggester=SuggestFromList(suggest[name], case_sensitive=True)
                                if suggest.get(name) else None)
            yield Label("", id="add-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#add-flavor", Input).focus()

    def _value(self, name: str) -> str:
        return self.query_one(f"#add-{name}", Input).value.strip()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "add-flavor":
            return
        where = {(r, p) for f, r, p in self.flavors if f == event.value.strip()}
        if len(where) == 1:
            (region, provider), = where
            self.query_one("#add-region", Input).value = region
            self.query_one("#add-provider", Input).value = provider

    def answer(self) -> dict[str, Any] | None:
        """The form's fields, or None (and the error shown) when one is missing or wrong."""
        error = ""
        out: dict[str, Any] = {}
        if not self._value("flavor"):
            error = "Flavor must be specified"
        elif not self._value("region"):
            error = "Region must be specified"
        elif not self._value("provider"):
            error = "Provider must be specified"
        else:
            for name in ("concurrency", "prefetch", "number"):
                try:
                    out[name] = int(self._value(name) or 0)
                except ValueError:
                    error = f"{name.capitalize()} must be a number"
                    break
            if not error and out["number"] < 1:
                error = "Number must be at least 1"
        if error:
            self.query_one("#add-error", Label).update(error)
            return None
        out.update(flavor=self._value("flavor"), region=self._value("region"), provider=self._value("provider"),
                   batch=self._value("batch") or None)
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        got = self.answer()
        if got is not None:
            self.dismiss(got)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
            return
        got = self.answer()
        if got is not None:
            self.dismiss(got)

    def action_cancel(self) -> None:
        self.dismiss(None)
