"""Caching (`use_cache`) on S3: a local moto server on loopback stands in for S3 (the cloud cannot run
here); real server, real workers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid

import pytest

from scitq.lib import Server
from scitq.workflow import Workflow

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    exe = shutil.which("moto_server")
    assert exe, "moto[server] is a test dependency"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "moto_server did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture
def s3(moto, monkeypatch):
    values = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
              "AWS_ENDPOINT_URL": moto}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    import boto3

    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto)
    client.create_bucket(Bucket=bucket)
    return values, client, bucket


def _pipeline(bucket):
    wf = Workflow(name="s3c", shell=True, flavor="local", max_step_workers=2, use_cache=True,
                  base_storage=f"s3://{bucket}/res")
    for s in ("a", "b"):
        up = wf.step(batch="up", concurrency=2, input=f"s3://{bucket}/in/{s}.txt", rel_output=f"{s}/up",
                     command=f"tr a-z A-Z < $INPUT/{s}.txt > $OUTPUT/{s}.up")
    total = wf.step(batch="total", concurrency=1, input=up.gather("output"), required_tasks=up.gather(),
                    rel_output="total", command="cat $INPUT/*.up > $OUTPUT/all.txt")
    return wf, up, total


def _ran() -> int:
    return sum(1 for e in Server().executions(no_output=True) if e["worker_id"] is not None)


def test_on_s3_a_second_identical_run_runs_nothing_and_a_changed_input_reruns_its_branch(server, procs, s3):
    env, client, bucket = s3
    for s in ("a", "b"):
        client.put_object(Bucket=bucket, Key=f"in/{s}.txt", Body=f"sample {s}\n".encode())
    procs.worker("w1", concurrency=2, batch="s3c.up", extra_env=env)
    procs.worker("w2", concurrency=1, batch="s3c.total", extra_env=env)
    assert _pipeline(bucket)[0].run(refresh=5) == {"succeeded": 3}
    assert _ran() == 3
    wf, _, total = _pipeline(bucket)
    assert wf.run(refresh=5) == {"succeeded": 3}
    assert _ran() == 3 and total.get_output().startswith("Cached from execution ")
    client.put_object(Bucket=bucket, Key="in/a.txt", Body=b"sample a, edited\n")
    assert _pipeline(bucket)[0].run(refresh=5) == {"succeeded": 3}
    assert _ran() == 5
    body = client.get_object(Bucket=bucket, Key="res/total/all.txt")["Body"].read()
    assert body == b"SAMPLE A, EDITED\nSAMPLE B\n"
