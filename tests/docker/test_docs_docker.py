"""The Python example of docs/docker.md runs as written against a real engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]

ROOT = Path(__file__).resolve().parents[2]


def test_the_python_example_of_the_docker_doc_runs(dockerd, busybox_image, tmp_path):
    doc = (ROOT / "docs" / "docker.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {**os.environ, **dockerd.environ, "IMAGE": busybox_image,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[stdout] CPU=2\n3 lines\n"
