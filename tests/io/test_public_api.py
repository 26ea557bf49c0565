"""The data layer's public surface: every exported name exists, importing it stays cheap, layers hold."""

from __future__ import annotations

import inspect
import subprocess
import sys

import scitq.bio
import scitq.io


def test_every_exported_name_of_the_data_layer_exists():
    for module in (scitq.io, scitq.bio):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, (module.__name__, missing)


def test_the_worker_api_has_the_documented_signatures():
    assert list(inspect.signature(scitq.io.download_inputs).parameters)[:3] == ["uris", "dest", "timeout"]
    assert list(inspect.signature(scitq.io.upload_outputs).parameters)[:2] == ["src", "output_uri"]
    assert list(inspect.signature(scitq.io.ResourceCache.materialize).parameters)[1:3] == ["uris", "dest"]
    assert list(inspect.signature(scitq.io.autoclean).parameters)[:3] == ["workdir_base", "threshold_percent", "in_use"]
    assert issubclass(scitq.io.DownloadError, scitq.io.TransferError)
    assert issubclass(scitq.io.UploadError, scitq.io.TransferError)
    assert issubclass(scitq.bio.BioException, scitq.errors.BadInput)


def test_importing_the_data_layer_loads_no_sdk(child_env):
    code = ("import sys, scitq.io, scitq.bio; "
            "print(sorted(m for m in ('fsspec', 's3fs', 'adlfs', 'azure', 'boto3', 'botocore') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env)
    assert res.stdout.strip() == "[]", res.stderr
