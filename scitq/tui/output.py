"""Provides `OutputView`: a task's stdout and stderr as they are written, wrapped, stderr in red, following the end."""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from scitq.tui.table import text_strip

__all__ = ["OutputView"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
MAX_LINES = 50_000
GUTTER = 2


class OutputView(ScrollView, can_focus=True):
    """Chunks of output (any size, cut anywhere) assembled into lines per fd, wrapped to the width;
    stderr lines are red and marked with a bar in the gutter (so they differ without colours too).

    While the view is scrolled to its end it stays there as lines come (`follow`); scrolling up
    stops following, `end` follows again.
    """

    DEFAULT_CSS = """
    OutputView { height: 1fr; background: $surface; }
    OutputView > .output--stderr { color: $error; }
    OutputView > .output--note { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {"output--stderr", "output--note"}
    BINDINGS = [
        Binding("up", "scroll_up", show=False), Binding("down", "scroll_down", show=False),
        Binding("pageup", "page_up", show=False), Binding("pagedown", "page_down", show=False),
        Binding("home", "scroll_home", show=False), Binding("end", "scroll_end", show=False),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[tuple[str, str]] = []      # (fd, text); fd "note" for the view's own lines
        self.open: dict[str, int | None] = {}       # fd -> index of its unfinished last line
        self.wrapped: list[tuple[int, int]] = []    # display rows: (line index, offset in the line)
        self._width = 0
        self.follow = True

    def clear(self) -> None:
        self.lines, self.open, self.wrapped = [], {}, []
        self.follow = True
        self._resize()

    def note(self, text: str) -> None:
        self._add_lines([("note", text)])

    def append(self, fd: str, chunk: str) -> None:
        fd = "stderr" if fd == "stderr" else "stdout"
        chunk = _ANSI.sub("", chunk).replace("\t", "    ")
        pieces = chunk.split("\n")
        first_changed: int | None = None
        new: list[tuple[str, str]] = []
        for i, piece in enumerate(pieces):
            ended = i < len(pieces) - 1
            if not ended and piece == "":
                break
            idx = self.open.get(fd) if i == 0 else None
            if idx is not None and not new:
                self.lines[idx] = (fd, self.lines[idx][1] + piece)
                first_changed = idx
            else:
                new.append((fd, piece))
                idx = len(self.lines) + len(new) - 1
            self.open[fd] = None if ended else idx
        if first_changed is not None:
            self._rewrap_from(first_changed)
        self._add_lines(new)

    def _add_lines(self, new: list[tuple[str, str]]) -> None:
        at_end = self.follow
        start = len(self.lines)
        self.lines.extend(new)
        if len(self.lines) > MAX_LINES:
            drop = len(self.lines) - MAX_LINES
            self.lines = self.lines[drop:]
            self.open = {fd: (i - drop if i is not None and i >= drop else None) for fd, i in self.open.items()}
            self._rewrap_from(0)
        else:
            self._wrap_lines(start)
        self._resize()
        if at_end:
            self.scroll_end(animate=False, immediate=True)

    def _rewrap_from(self, index: int) -> None:
        while self.wrapped and self.wrapped[-1][0] >= index:
            self.wrapped.pop()
        self._wrap_lines(index)
        self._resize()

    @property
    def text_width(self) -> int:
        """Room for text on a line: the width less the 2-cell gutter (red bar on stderr lines)."""
        return max(10, (self._width or 80) - GUTTER)

    def _wrap_lines(self, start: int) -> None:
        width = self.text_width
        for i in range(start, len(self.lines)):
            text = _visible(self.lines[i][1])
            for off in range(0, max(1, len(text)), width):
                self.wrapped.append((i, off))

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, len(self.wrapped))
        self.refresh()

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self.wrapped = []
            self._wrap_lines(0)
            self._resize()
            if self.follow:
                self.scroll_end(animate=False, immediate=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.follow = new >= self.max_scroll_y - 0.5

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = int(self.scroll_offset.y) + y
        base = self.rich_style
        if row >= len(self.wrapped):
            return Strip.blank(width, base)
        i, off = self.wrapped[row]
        fd, text = self.lines[i]
        piece = _visible(text)[off:off + self.text_width]
        style = Style()
        gutter = " " * GUTTER
        if fd == "stderr":
            style = self.get_component_rich_style("output--stderr")
            gutter = "▌" + " " * (GUTTER - 1)
        elif fd == "note":
            style = self.get_component_rich_style("output--note")
        line = Text(gutter, style=style, no_wrap=True, end="")
        line.append(piece)
        return text_strip(line, self.app.console).crop_extend(0, width, None).apply_style(base)


def _visible(text: str) -> str:
    """What a terminal shows of a line: what follows its last carriage return (progress bars)."""
    text = text.rstrip("\r")
    return text.rsplit("\r", 1)[-1]
