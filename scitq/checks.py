"""Provides the checks of what a user says about a task, run by the server on every command (and by a
client that wants to refuse early: same code, same message)."""

from __future__ import annotations

from typing import Any

from scitq.container_options import parse_container_options
from scitq.errors import BadInput
from scitq.io import check_uri

__all__ = ["check_task_fields", "URI_FIELDS"]

URI_FIELDS = ("input", "output", "resource")


def check_task_fields(values: dict[str, Any], where: str = "") -> None:
    """Check what a submission or an edit says about a task (URIs, container options) the same way for
    every client; BadInput names the field."""
    for key in URI_FIELDS:
        value = values.get(key)
        if not value:
            continue
        for uri in str(value).split():
            try:
                check_uri(uri)
            except BadInput as exc:
                raise BadInput(f"{where}Syntax error : Defect in {key}: {exc.message}", exc.hint) from None
    if values.get("container_options"):
        try:
            parse_container_options(values["container_options"])
        except BadInput as exc:
            raise BadInput(f"{where}{exc.message}", exc.hint) from None
    if "command" in values and not (values["command"] or "").strip():
        raise BadInput(f"{where}empty command")
