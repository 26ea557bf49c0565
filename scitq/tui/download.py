"""Provides saving task output to files, named as v1 named its downloads: one attempt (`o`), or every
execution of many tasks in one zip (`z`, v1's *Download all*).

Nothing here imports textual: the screens call these functions from worker threads.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable

from scitq.tui.source import Source

__all__ = ["output_names", "save_attempt", "zip_outputs", "ZIP_NAME", "ZIP_CHUNK"]

ZIP_NAME = "scitq_outputs.zip"
ZIP_CHUNK = 100          # tasks read per pipeline (their outputs are held in memory meanwhile)


def output_names(task_id: int, execution_id: int) -> tuple[str, str]:
    """The stdout and stderr file names of one execution (v1's)."""
    return f"output-std-{task_id}-execution-{execution_id}.txt", f"output-err-{task_id}-execution-{execution_id}.txt"


def save_attempt(source: Source, task_id: int, execution_id: int, attempt: int, folder: str | Path = ".") -> list[str]:
    """Write the stdout and stderr of one attempt as two files in `folder`; returns their names."""
    names = output_names(task_id, execution_id)
    for name, text in zip(names, source.output_text(task_id, attempt)):
        with open(Path(folder) / name, "w") as fh:
            fh.write(text)
    return list(names)


def zip_outputs(source: Source, task_ids: list[int], path: str | Path = ZIP_NAME,
                progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
    """Write `output-<task>/output-std-<task>-execution-<exec>.txt` and `output-err-…` for every execution of
    these tasks into the zip at `path` (written aside, then renamed: never half a zip). Returns how many
    tasks had output files and how many executions were written."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    tasks = executions = 0
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for i in range(0, len(task_ids), ZIP_CHUNK):
                chunk = task_ids[i:i + ZIP_CHUNK]
                attempts = source.attempts_of(chunk)
                pairs = [(t, e, a) for t in chunk for e, a in attempts.get(t, [])]
                texts = source.output_texts([(t, a) for t, _e, a in pairs])
                for (t, e, _a), (out, err) in zip(pairs, texts):
                    for name, text in zip(output_names(t, e), (out, err)):
                        zf.writestr(f"output-{t}/{name}", text)
                    executions += 1
                tasks += sum(1 for t in chunk if attempts.get(t))
                progress(min(len(task_ids), i + ZIP_CHUNK), len(task_ids))
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return tasks, executions
