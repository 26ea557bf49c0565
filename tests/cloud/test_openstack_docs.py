"""docs/cloud-openstack.md is in step with the provider: its examples run as written and its settings table
names exactly the variables the provider reads (no cloud involved)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import scitq.cloud.openstack as module

DOC = Path(__file__).resolve().parents[2] / "docs" / "cloud-openstack.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_each_python_example_of_the_openstack_doc_runs(block, tmp_path):
    res = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(os.environ), timeout=120)
    assert res.returncode == 0, res.stderr


def test_the_doc_has_examples_and_its_printed_error_is_the_real_one(capsys):
    assert len(BLOCKS) >= 2
    [printed] = re.findall(r"print\(exc\)\s+# (.*)", TEXT)
    with pytest.raises(module.BadInput) as caught:
        module.OpenStackConfig.from_env({"OVH_REGIONS": "GRA11 BHS5", "OVH_CPUQUOTAS": "64"})
    assert str(caught.value) == printed.strip()


def test_the_settings_table_names_every_variable_the_provider_reads_and_no_other():
    source = Path(module.__file__).read_text()
    read = set(re.findall(r"\"((?:SCITQ_OPENSTACK|SCITQ_OVH|OVH)_[A-Z_]+)\"", source)) | {"SCITQ_CLOUD_PREFIX"}
    read -= set(dir(module))      # constants such as OVH_CATALOG_URL are not variables
    table = set(re.findall(r"^\| `([A-Z_]+)` \|", TEXT, re.M))
    assert table == read
