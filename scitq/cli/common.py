"""Provides what every scitq command line shares: one-line errors with exit codes, tables, dates."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from scitq.errors import ScitqError
from scitq.io.uri import redact

__all__ = ["ArgParser", "run", "table", "fmt_date", "fail", "redact_logs"]


class ArgParser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def redact_logs() -> None:
    """Make every handler of the root logger hide the credentials of URIs (call after logging.basicConfig)."""
    for handler in logging.getLogger().handlers:
        fmt = handler.formatter
        handler.setFormatter(_Redacting(fmt._fmt if fmt else None, fmt.datefmt if fmt else None))


def fail(prog: str, message: str, code: int = 2) -> int:
    print(redact(f"{prog}: error: {message}"), file=sys.stderr)
    return code


def run(prog: str, body: Callable[[], int | None], debug: bool | None = None) -> int:
    """Run a CLI body: ScitqError -> one line on stderr and its exit code; Ctrl-C -> 130."""
    debug = debug if debug is not None else bool(os.environ.get("SCITQ_DEBUG"))
    try:
        return body() or 0
    except ScitqError as exc:
        if debug:
            raise
        hint = f" ({exc.hint})" if exc.hint else ""
        print(redact(f"{prog}: error: {exc.message}{hint}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except Exception as exc:
        if type(exc).__name__ != "NoPermissionError" or debug:   # redis' ACL refusal: the credential's role
            raise
        print(f"{prog}: error: Redis refused: {str(exc).splitlines()[0]} (this credential's role does not "
              "allow it; see docs/security.md)", file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0


def fmt_date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _cell(value: Any, long: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "X" if value else ""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    text = redact(str(value))
    text = text.replace("\n", "\\n") if not long else text
    if not long and len(text) > 50:
        text = text[:49] + "..."
    return text


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str] | None, long: bool = False,
          out: Any = None) -> None:
    """Print a plain, space-aligned table (tabulate's "plain" look)."""
    out = out or sys.stdout
    cells = [[_cell(v, long) for v in row] for row in rows]
    if headers:
        cells.insert(0, list(headers))
    if not cells:
        return
    ncol = max(len(r) for r in cells)
    widths = [0] * ncol
    for r in cells:
        for i, c in enumerate(r):
            if "\n" not in c:
                widths[i] = max(widths[i], len(c))
    for r in cells:
        line = "  ".join(c.ljust(widths[i]) if i < ncol - 1 else c for i, c in enumerate(r))
        print(line.rstrip(), file=out)
