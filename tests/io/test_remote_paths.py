"""Names from a remote listing never write outside the destination (an object key may hold `..` or a leading `/`)."""

from __future__ import annotations

import boto3
import pytest

from scitq.io import ResourceCache
from scitq.io.errors import DownloadError, TransferError
from scitq.io.transfer import get, sync

pytestmark = pytest.mark.xdist_group("s3")

EVIL = ["d/../../../outside/.bashrc", "d/ok/../../../../escape2.txt"]


def put_keys(s3_env, bucket: str, keys: list[str]) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"evil " + k.encode())


def written_outside(root, inside) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not p.resolve().is_relative_to(inside.resolve()))


@pytest.mark.parametrize("key", EVIL)
def test_an_object_key_climbing_out_of_an_input_folder_is_refused_and_nothing_is_written_outside(s3_env, bucket,
                                                                                                  tmp_path, key):
    put_keys(s3_env, bucket, ["d/good.txt", key])
    work = tmp_path / "work" / "task-1" / "input"
    work.mkdir(parents=True)
    with pytest.raises(DownloadError, match="outside") as err:
        get(f"s3://{bucket}/d/", str(work) + "/")
    assert "\n" not in str(err.value)
    assert written_outside(tmp_path, work) == []


def test_a_resource_folder_with_a_climbing_key_is_refused_and_writes_nothing_outside_the_cache(s3_env, bucket,
                                                                                                 tmp_path):
    put_keys(s3_env, bucket, ["r/data.txt", "r/../../../../outside/.bashrc"])
    cache = ResourceCache(tmp_path / "work" / "resources")
    task = tmp_path / "work" / "task-1" / "resource"
    task.mkdir(parents=True)
    with pytest.raises(DownloadError, match="outside"):
        cache.materialize([f"s3://{bucket}/r/"], task)
    assert written_outside(tmp_path, tmp_path / "work") == []


def test_sync_to_a_local_folder_refuses_a_climbing_key(s3_env, bucket, tmp_path):
    put_keys(s3_env, bucket, ["s/a.txt", "s/../../outside/.bashrc"])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(TransferError, match="outside"):
        sync(f"s3://{bucket}/s/", f"file://{dest}/")
    assert written_outside(tmp_path, dest) == []


def test_ordinary_nested_keys_still_download_into_the_folder(s3_env, bucket, tmp_path):
    put_keys(s3_env, bucket, ["n/a/b/c.txt", "n/top.txt", "n/x..y.txt"])
    files = get(f"s3://{bucket}/n/", str(tmp_path) + "/")
    assert sorted(str(p.relative_to(tmp_path)) for p in files) == ["a/b/c.txt", "top.txt", "x..y.txt"]
