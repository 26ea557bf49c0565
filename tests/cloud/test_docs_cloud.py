"""The examples of docs/cloud.md run as written against a real server (the `local` provider, no double)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "cloud.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", DOC, re.S | re.M)      # (language, text) of each fenced block

pytestmark = pytest.mark.xdist_group("cloud-local")


def test_the_python_example_of_the_cloud_doc_runs(procs, env, tmp_path):
    blocks = [text for lang, text in BLOCKS if lang == "python"]
    assert blocks
    procs.server()
    for block in blocks:
        res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, env=env, cwd=tmp_path,
                             timeout=120)
        assert res.returncode == 0, res.stderr


def test_the_command_examples_of_the_cloud_doc_run(procs, env):
    procs.server()
    commands = [line.split("  #")[0].strip().removeprefix("$ ") for lang, block in BLOCKS if lang == ""
                for line in block.splitlines() if line.startswith(("scitq", "$ scitq"))]
    assert commands[0] == "scitq flavors update local"
    for command in commands:
        res = run_cli(*shlex.split(command), env=env)
        assert res.returncode == 0, (command, res.stderr)
    listing = run_cli(*shlex.split(commands[-1]), env=env).stdout.splitlines()
    assert listing[0].split()[:3] == ["name", "provider", "region"] and listing[1].split()[:3] == [
        "local", "local", "local"]
