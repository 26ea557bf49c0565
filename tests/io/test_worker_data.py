"""Task data end to end: a real worker fetches inputs and resources and uploads outputs (local, S3, Azure)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from helpers import wait_for
from scitq.lib import Server


def done(s: Server, tid: int) -> dict:
    wait_for(lambda: s.task_get(tid)["status"] in ("succeeded", "failed"), timeout=60, what=f"task {tid}")
    return s.executions(task_id=tid)[-1]


def make_tar(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def data_env() -> dict[str, str]:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
             "AZURE_STORAGE_CONNECTION_STRING")
    return {k: os.environ[k] for k in names if k in os.environ}


def test_local_inputs_an_untarred_resource_and_outputs_with_partial_outputs_on_failure(procs, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha\n")
    make_tar(src / "ref.tar.gz", {"ref/genome.fa": b">chr1\nACGT\n"})
    out = tmp_path / "results"
    procs.server()
    procs.worker("dw", concurrency=2, prefetch=1)
    s = Server()
    t = s.task_create("cat $INPUT/a.txt; cat $RESOURCE/ref/genome.fa; cp $INPUT/a.txt $OUTPUT/b.txt; "
                      "mkdir $OUTPUT/sub; echo deep > $OUTPUT/sub/c.txt", shell=True,
                      input=f"file://{src}/a.txt", resource=f"file://{src}/ref.tar.gz|untar", output=f"file://{out}/ok/")
    ex = done(s, t["task_id"])
    assert ex["status"] == "succeeded", ex["error"]
    assert ex["output"] == "alpha\n>chr1\nACGT\n"
    assert (out / "ok" / "b.txt").read_text() == "alpha\n" and (out / "ok" / "sub" / "c.txt").read_text() == "deep\n"
    assert sorted(ex["output_files"].split()) == ["b.txt", "sub/c.txt"]
    bad = s.task_create("echo partial > $OUTPUT/part.txt; exit 5", shell=True, output=f"file://{out}/bad/")
    ex = done(s, bad["task_id"])
    assert ex["status"] == "failed" and ex["return_code"] == 5
    assert (out / "bad" / "part.txt").read_text() == "partial\n", "outputs are uploaded on failure too"


def test_an_unreachable_input_fails_the_task_with_minus_1001(procs, tmp_path):
    procs.server()
    procs.worker("dw")
    s = Server()
    t = s.task_create("true", input="http://127.0.0.1:1/nothing.txt")
    ex = done(s, t["task_id"])
    assert ex["status"] == "failed" and ex["return_code"] == -1001
    assert "input download failed" in ex["error"]


@pytest.mark.xdist_group("s3")
def test_inputs_from_s3_and_azure_and_outputs_back_to_s3(procs, bucket, container, tmp_path):
    import boto3
    from azure.storage.blob import BlobServiceClient

    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.put_object(Bucket=bucket, Key="in/reads.txt", Body=b"from-s3\n")
    BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"]) \
        .get_blob_client(container, "in/meta.txt").upload_blob(b"from-azure\n")
    procs.server()
    procs.worker("dw", concurrency=2, extra_env=data_env())
    s = Server()
    ids = [s.task_create("cat $INPUT/reads.txt $INPUT/meta.txt > $OUTPUT/joined.txt", shell=True,
                         input=[f"s3://{bucket}/in/reads.txt", f"azure://{container}/in/meta.txt"],
                         output=f"s3://{bucket}/out/{i}/")["task_id"] for i in range(3)]
    for tid in ids:
        assert done(s, tid)["status"] == "succeeded", s.executions(task_id=tid)[-1]["error"]
    for i in range(3):
        body = s3.get_object(Bucket=bucket, Key=f"out/{i}/joined.txt")["Body"].read()
        assert body == b"from-s3\nfrom-azure\n"


def test_an_output_that_cannot_be_uploaded_fails_the_task_with_minus_1000(procs, tmp_path):
    quick = {k: os.environ[k] for k in os.environ if k.startswith("SCITQ_IO_")}
    procs.server()
    procs.worker("dw", extra_env=quick)
    s = Server()
    t = s.task_create("echo result > $OUTPUT/r.txt", shell=True, output="ftp://127.0.0.1:1/out/")
    ex = done(s, t["task_id"])
    assert ex["status"] == "failed" and ex["return_code"] == -1000
    assert "output upload failed" in ex["error"]
