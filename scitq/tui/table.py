"""Provides `VirtualTable`: a table that draws only the rows on screen and asks for the rows it lacks.

It knows how many rows there are (`count`) and holds only the rows it was given (`fill`). When the
visible window shows rows it does not hold, it posts `NeedRows(start, end)` once; the screen fetches
them (from Redis, in a worker thread) and calls `fill`. 100,000 tasks cost one row of memory per
row seen, and one pipeline per page. Small tables (workers, batches) just `set_rows` everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Sequence

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["Column", "Row", "VirtualTable", "text_strip"]


def text_strip(text: Text, console: Console) -> Strip:
    """A one-line Text as a Strip, its own style included (Text.render leaves it out when it has no spans)."""
    segments = text.render(console)
    if text.style:
        base = text.style if isinstance(text.style, Style) else console.get_style(text.style, default=Style.null())
        segments = Segment.apply_style(segments, base)
    return Strip(list(segments))


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int = 10          # 0: takes the width the other columns leave
    justify: str = "left"


@dataclass
class Row:
    key: Hashable
    cells: Sequence[str | Text]
    style: str = ""


class VirtualTable(ScrollView, can_focus=True):
    """A scrolling table over `count` rows, of which only the visible ones need to be held.

    Messages: `Highlighted` (cursor moved), `Chosen` (enter or double click), `NeedRows` (rows to
    fetch), `HeaderClicked` (sort by this column).
    """

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; background: $surface; scrollbar-gutter: stable; overflow-x: hidden; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; color: $text; }
    VirtualTable > .vtable--cursor { background: $panel-lighten-1; }
    VirtualTable:focus > .vtable--cursor { background: $accent 50%; }
    VirtualTable > .vtable--selected { background: $secondary 35%; }
    VirtualTable > .vtable--missing { color: $text-muted; }
    """
    COMPONENT_CLASSES = {"vtable--header", "vtable--cursor", "vtable--selected", "vtable--missing"}
    BINDINGS = [
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "edge(0)", show=False),
        Binding("end", "edge(1)", show=False),
        Binding("enter", "choose", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        def __init__(self, table: "VirtualTable", index: int, key: Hashable | None) -> None:
            super().__init__()
            self.table, self.index, self.key = table, index, key

    class Chosen(Message):
        def __init__(self, table: "VirtualTable", index: int, key: Hashable | None) -> None:
            super().__init__()
            self.table, self.index, self.key = table, index, key

    class NeedRows(Message):
        def __init__(self, table: "VirtualTable", start: int, end: int) -> None:
            super().__init__()
            self.table, self.start, self.end = table, start, end

    class HeaderClicked(Message):
        def __init__(self, table: "VirtualTable", column: str) -> None:
            super().__init__()
            self.table, self.column = table, column

    def __init__(self, columns: Sequence[Column], *, empty: str = "nothing to show", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = list(columns)
        self.empty = empty
        self.count = 0
        self.rows: dict[int, Row] = {}
        self.selected: set[Hashable] = set()
        self.header_marks: dict[str, str] = {}      # column key -> marker (sort arrow)
        self._asked: tuple[int, int] | None = None
        self._widths: list[int] = [c.width for c in self.columns]

    # --- data ------------------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[Row]) -> None:
        """Hold these rows and only these (small tables)."""
        self.rows = dict(enumerate(rows))
        self._set_count(len(self.rows))
        self.refresh()

    def reset(self, count: int) -> None:
        """`count` rows, none held yet: the visible ones will be asked for."""
        self.rows = {}
        self._asked = None
        self._set_count(count)
        self.refresh()
        self._check_window()

    def fill(self, start: int, rows: Sequence[Row]) -> None:
        for i, row in enumerate(rows):
            self.rows[start + i] = row
        self._asked = None
        self.refresh()
        self._check_window()

    def replace(self, count: int, start: int, rows: Sequence[Row]) -> None:
        """`count` rows in all, of which these from `start`: the rows held before are dropped."""
        self.rows = {start + i: row for i, row in enumerate(rows)}
        self._asked = None
        self._set_count(count)
        self.refresh()
        self.call_after_refresh(self._check_window)

    def count_to(self, count: int) -> None:
        """Rows were added at the end: the rows held stay."""
        self._set_count(count)
        self.refresh()
        self.call_after_refresh(self._check_window)

    def row(self, index: int | None = None) -> Row | None:
        return self.rows.get(self.cursor if index is None else index)

    @property
    def current_key(self) -> Hashable | None:
        row = self.row()
        return row.key if row else None

    def move_to_key(self, key: Hashable) -> bool:
        for i, row in self.rows.items():
            if row.key == key:
                self.cursor = i
                return True
        return False

    def visible_range(self) -> tuple[int, int]:
        top = int(self.scroll_offset.y)
        height = max(1, self.size.height - 1)
        return top, min(self.count, top + height)

    def _set_count(self, count: int) -> None:
        self.count = count
        self.virtual_size = Size(self.scrollable_content_region.width, count + 1)   # columns always fit
        if self.cursor >= count:
            self.cursor = max(0, count - 1)

    def _check_window(self) -> None:
        start, end = self.visible_range()
        if start >= end:
            return
        missing = [i for i in range(start, end) if i not in self.rows]
        if not missing:
            return
        want = (missing[0], missing[-1] + 1)
        if self._asked == want:
            return
        self._asked = want
        self.post_message(self.NeedRows(self, *want))

    # --- geometry --------------------------------------------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self._set_count(self.count)
        self.call_after_refresh(self._check_window)

    def _layout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        fixed = sum(c.width for c in self.columns if c.width) + len(self.columns)
        flex = [i for i, c in enumerate(self.columns) if not c.width]
        room = max(8, (width - fixed) // max(1, len(flex))) if flex else 0
        self._widths = [c.width or room for c in self.columns]

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.call_after_refresh(self._check_window)

    def watch_cursor(self, old: int, new: int) -> None:
        self._show_cursor()
        self.call_after_refresh(self._show_cursor)    # again once a new row count is laid out
        self.refresh()
        row = self.rows.get(new)
        self.post_message(self.Highlighted(self, new, row.key if row else None))

    def _show_cursor(self) -> None:
        top, _end = self.visible_range()
        height = max(1, self.size.height - 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    # --- keys and mouse ----------------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        if self.count:
            self.cursor = min(self.count - 1, max(0, self.cursor + step))

    def action_page(self, step: int) -> None:
        self.action_cursor(step * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        if self.count:
            self.cursor = self.count - 1 if end else 0

    def action_choose(self) -> None:
        if self.count:
            self.post_message(self.Chosen(self, self.cursor, self.current_key))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for col, w in zip(self.columns, self._widths):
                if x <= event.x < x + w + 1:
                    self.post_message(self.HeaderClicked(self, col.key))
                    return
                x += w + 1
            return
        index = int(self.scroll_offset.y) + event.y - 1
        if 0 <= index < self.count:
            self.cursor = index
            if event.chain >= 2:
                self.post_message(self.Chosen(self, index, self.current_key))

    # --- drawing ---------------------------------------------------------------------------------
    def _line(self, cells: Sequence[Any], style: str | Style = "") -> Text:
        line = Text(style=style, no_wrap=True, end="")
        for col, width, cell in zip(self.columns, self._widths, cells):
            t = cell.copy() if isinstance(cell, Text) else Text(str(cell if cell is not None else ""))
            t.truncate(width, overflow="ellipsis")
            t.align(col.justify, width)  # type: ignore[arg-type]
            line.append_text(t)
            line.append(" ")
        return line

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            labels = [c.label + self.header_marks.get(c.key, "") for c in self.columns]
            text = self._line(labels)
            style = self.get_component_rich_style("vtable--header")
        else:
            index = int(scroll_y) + y - 1
            style = Style()
            if index >= self.count:
                if self.count == 0 and y == 1:
                    text = Text(f" {self.empty}", style="italic")
                    style = self.get_component_rich_style("vtable--missing")
                else:
                    return Strip.blank(width, base)
            else:
                row = self.rows.get(index)
                if row is None:
                    text = Text(" …")
                    style = self.get_component_rich_style("vtable--missing")
                else:
                    text = self._line(row.cells, row.style)
                    if row.key in self.selected:
                        style += self.get_component_rich_style("vtable--selected")
                if index == self.cursor:
                    style += self.get_component_rich_style("vtable--cursor")
        strip = text_strip(text, self.app.console).crop_extend(scroll_x, scroll_x + width, None)
        return strip.apply_style(base + style)
