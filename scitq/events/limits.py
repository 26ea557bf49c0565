"""Provides the size limits of what users and workers send (a command, each task field, a batch, an output chunk)."""

from __future__ import annotations

from typing import Any

import msgspec

from scitq.errors import BadInput

__all__ = ["MAX_COMMAND", "MAX_FIELD", "MAX_BATCH", "MAX_OUTPUT_CHUNK", "check_entry_size", "check_fields"]

MAX_COMMAND = 1 << 20          # bytes of a task's shell command (1 MiB)
MAX_FIELD = 64 << 10           # bytes of any other text field of a task spec (64 KiB)
MAX_BATCH = 64 << 20           # bytes of one inbox entry's data, e.g. a task_create_many (64 MiB)
MAX_OUTPUT_CHUNK = 1 << 20     # characters of one output stream entry; longer output is split (1 MiB)


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


def check_entry_size(tag: str | None, data: str | None) -> None:
    """Refuse an inbox entry whose data exceeds MAX_BATCH (before decoding it)."""
    n = len(data or "")
    if n > MAX_BATCH:
        raise BadInput(f"command {tag} is {_size(n)}, more than the {_size(MAX_BATCH)} one command may carry",
                       hint="submit the tasks in several calls")


def _check_value(path: str, name: str, value: Any) -> None:
    limit = MAX_COMMAND if name == "command" else MAX_FIELD
    if isinstance(value, str):
        n = len(value.encode())
        if n > limit:
            raise BadInput(f"{path} is {_size(n)}, more than the {_size(limit)} allowed",
                           hint="put large data in a file (an input or a resource) and read it from the command")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", name, item)
    elif isinstance(value, dict):
        n = len(msgspec.json.encode(value))
        if n > limit:
            raise BadInput(f"{path} is {_size(n)}, more than the {_size(limit)} allowed")


def check_fields(cmd: Any) -> None:
    """Refuse a decoded command one of whose task fields is too large, naming the field (`$.tasks[3].command`)."""
    tasks = getattr(cmd, "tasks", None)
    if isinstance(tasks, list):
        for i, spec in enumerate(tasks):
            for name in spec.__struct_fields__:
                _check_value(f"$.tasks[{i}].{name}", name, getattr(spec, name))
    changes = getattr(cmd, "changes", None)
    if isinstance(changes, dict):
        for name, value in changes.items():
            _check_value(f"$.changes.{name}", str(name), value)
