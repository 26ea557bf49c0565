"""The `Client` example of docs/python.md runs as written against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "python.md"
CLIENT_PART = DOC.read_text().split("## `scitq.api.Client`", 1)[1]
BLOCKS = re.findall(r"```python\n(.*?)```", CLIENT_PART, re.S)


def test_the_client_example_of_the_python_doc_runs(procs, env, tmp_path):
    assert BLOCKS
    procs.server()
    for block in BLOCKS:
        res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=60)
        assert res.returncode == 0, res.stderr
