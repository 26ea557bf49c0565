"""The examples of docs/data.md run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_data_doc_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_each_python_example_of_the_data_doc_runs(block, child_env, tmp_path):
    res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, env=child_env, cwd=tmp_path,
                         timeout=60)
    assert res.returncode == 0, res.stderr
