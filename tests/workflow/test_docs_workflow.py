"""The Python examples of docs/workflow.md run as written, against a real server and real workers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "workflow.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def step_batches(block: str) -> list[str]:
    """The scitq batches an example's steps use: `<workflow name>.<step batch>`."""
    name = re.search(r"Workflow\(name=['\"]([^'\"]+)", block).group(1)
    return [f"{name}.{b}" for b in dict.fromkeys(re.findall(r"batch=['\"]([^'\"]+)", block))]


def test_the_workflow_doc_has_python_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_each_python_example_of_the_workflow_doc_runs(block, procs, env, tmp_path):
    procs.server()
    for i, batch in enumerate(step_batches(block)):
        procs.worker(f"w{i}", concurrency=4, batch=batch)
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", block], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr + failed_outputs()


def failed_outputs() -> str:
    """What the failed executions printed, and where they ran (shown when an example fails)."""
    from scitq.lib import Server
    s = Server()
    lines = []
    for ex in s.executions(status="failed"):
        lines.append(f"\nexecution {ex['execution_id']} of task {ex['task_id']} on worker {ex.get('worker_id')}: "
                     f"rc {ex.get('return_code')}\n{ex.get('output')}\n{ex.get('error')}")
    return "".join(lines)
