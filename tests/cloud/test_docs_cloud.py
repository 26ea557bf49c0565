"""The Python examples of docs/cloud.md run as written, against a real server, its job runner and the real
`local` provider."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploykit import cloud_env, kill_left_machines, machines  # noqa: E402,F401 (fixtures)

DOC = Path(__file__).resolve().parents[2] / "docs" / "cloud.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "worker_deploy" in b]


def test_the_cloud_doc_has_a_deploy_example():
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_each_deploy_example_of_the_cloud_doc_runs(block, cloud_env, procs, tmp_path):
    procs.server()
    res = subprocess.run([sys.executable, "-W", "ignore", "-c", block], capture_output=True, text=True,
                         env=cloud_env, cwd=tmp_path, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "destroyed; cost 0" in res.stdout
    assert machines(tmp_path) == []
