"""What the worker calls around a task: download_inputs before it (failure = v1's -1001) and
upload_outputs after it (failure = -1000), against real servers."""

from __future__ import annotations

import gzip
import os
import time

import pytest

from scitq.io import DownloadError, TransferError, UploadError, download_inputs, list_content, upload_outputs


@pytest.mark.xdist_group("s3")
def test_inputs_from_several_protocols_land_in_the_input_folder_with_their_actions(bucket, web, ftp_dir, tmp_path):
    import boto3

    boto3.client("s3").put_object(Bucket=bucket, Key="in/r.fastq.gz", Body=gzip.compress(b"@r\nA\n+\n!\n"))
    url, www = web
    (www / "ref.fa").write_text(">ref\n")
    ftp_uri, ftp_root = ftp_dir
    (ftp_root / "db").mkdir()
    (ftp_root / "db" / "x.idx").write_text("index")
    (tmp_path / "local.txt").write_text("local")
    dest = tmp_path / "input"
    download_inputs([f"s3://{bucket}/in/r.fastq.gz|gunzip", f"{url}/ref.fa|mv:refs", f"{ftp_uri}/db/",
                     str(tmp_path / "local.txt")], dest)
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == ["local.txt", "r.fastq", "refs/ref.fa", "x.idx"]


def test_no_input_is_fine_and_creates_the_folder(tmp_path):
    download_inputs([], tmp_path / "input")
    assert (tmp_path / "input").is_dir()


def test_an_unreachable_input_is_a_transfer_error_naming_it(dead_url, tmp_path):
    with pytest.raises(TransferError) as err:
        download_inputs([dead_url], tmp_path / "input")
    assert isinstance(err.value, DownloadError)
    assert "nothing.txt" in str(err.value) and "\n" not in str(err.value)


def test_a_malformed_input_uri_is_a_download_error_too(tmp_path):
    with pytest.raises(DownloadError, match="bad input URI"):
        download_inputs(["s3://b/k|explode"], tmp_path / "input")


def test_the_download_timeout_stops_waiting(web, http_server, tmp_path):
    url, www = web
    (www / "big.bin").write_bytes(b"x" * 1000)
    http_server.slow = 3.0
    try:
        start = time.monotonic()
        with pytest.raises(DownloadError, match="timed out after 0.3 s"):
            download_inputs([url.replace(http_server.url, http_server.url + "/slow") + "/big.bin"],
                            tmp_path / "input", timeout=0.3)
        assert time.monotonic() - start < 2.5
    finally:
        http_server.slow = 0.5


@pytest.mark.xdist_group("s3")
def test_outputs_are_every_regular_file_recursively_symlinks_and_fifos_skipped(bucket, tmp_path):
    out = tmp_path / "output"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "result.txt").write_text("r")
    (out / "sub" / "deeper" / "table.tsv").write_text("t")
    (out / "link.txt").symlink_to(out / "result.txt")
    os.mkfifo(out / "pipe")
    rels = upload_outputs(out, f"s3://{bucket}/task1")
    assert rels == ["result.txt", "sub/deeper/table.tsv"]
    assert [e.rel_name for e in list_content(f"s3://{bucket}/task1/")] == rels


def test_an_empty_output_folder_uploads_nothing(tmp_path, ftp_dir):
    (tmp_path / "output").mkdir()
    assert upload_outputs(tmp_path / "output", ftp_dir[0]) == []


@pytest.mark.xdist_group("ftp")
def test_partial_outputs_are_uploaded_and_the_failure_says_which_did_not_make_it(ftp_dir, tmp_path):
    ftp_uri, ftp_root = ftp_dir
    (ftp_root / "b.txt").mkdir()                     # the server cannot store a file named b.txt
    out = tmp_path / "output"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (out / name).write_text(name)
    with pytest.raises(UploadError) as err:
        upload_outputs(out, ftp_uri, rounds=2)
    assert err.value.uploaded == ["a.txt", "c.txt"] and err.value.failed == ["b.txt"]
    assert "1 of 3 file(s) failed" in str(err.value) and "b.txt" in str(err.value)
    assert (ftp_root / "a.txt").read_text() == "a.txt"


def test_an_output_uri_that_cannot_be_written_is_an_upload_error(web, tmp_path):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "x").write_text("x")
    with pytest.raises(UploadError, match="download only"):
        upload_outputs(tmp_path / "output", web[0] + "/out/")
