"""What is particular to each protocol: credentials and endpoints, download-only HTTP, rclone remotes,
and the clear errors when a protocol cannot work here."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from scitq.errors import BadInput
from scitq.io import TransferError, Unsupported, get, info, list_content, put


# --- S3 ----------------------------------------------------------------------------------------------
@pytest.mark.xdist_group("s3")
def test_s3_endpoint_setting_points_at_an_s3_compatible_store(bucket, s3_env, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("SCITQ_S3_ENDPOINT", s3_env["AWS_ENDPOINT_URL"])
    (tmp_path / "x.txt").write_text("x")
    put(tmp_path / "x.txt", f"s3://{bucket}/x.txt")
    assert info(f"s3://{bucket}/x.txt").size == 1


@pytest.mark.xdist_group("s3")
def test_s3_missing_bucket_is_a_transfer_error_naming_the_uri(s3_env, tmp_path):
    with pytest.raises(TransferError) as err:
        get("s3://no-such-bucket-here/x.txt", f"{tmp_path}/")
    assert "s3://no-such-bucket-here/x.txt" in str(err.value)


@pytest.mark.xdist_group("s3")
def test_s3_unreachable_endpoint_fails_after_retries_in_one_line(s3_env, monkeypatch, tmp_path, dead_url):
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_url.rsplit("/", 1)[0])
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    start = time.monotonic()
    with pytest.raises(TransferError) as err:
        get("s3://bucket/x.txt", f"{tmp_path}/")
    assert "\n" not in str(err.value) and time.monotonic() - start < 30


# --- Azure -------------------------------------------------------------------------------------------
@pytest.mark.xdist_group("azure")
def test_az_is_the_same_store_as_azure(container, tmp_path):
    (tmp_path / "x.txt").write_text("via az")
    put(tmp_path / "x.txt", f"az://{container}/p/x.txt")
    assert [e.name for e in list_content(f"azure://{container}/p/")] == [f"azure://{container}/p/x.txt"]


def test_azure_without_credentials_is_bad_input_with_a_hint():
    with pytest.raises(BadInput) as err:
        list_content("azure://container/path/")
    assert "no credentials" in str(err.value) and "AZURE_STORAGE_CONNECTION_STRING" in err.value.hint


# --- FTP ---------------------------------------------------------------------------------------------
@pytest.mark.xdist_group("ftp")
def test_ftp_credentials_in_the_uri_log_in_as_that_user(ftp_server, tmp_path):
    (tmp_path / "x.txt").write_text("alice's")
    put(tmp_path / "x.txt", f"ftp://alice:s3cret@127.0.0.1:{ftp_server.port}/mine/x.txt")
    assert (ftp_server.user_root / "mine" / "x.txt").read_text() == "alice's"


@pytest.mark.xdist_group("ftp")
def test_ftp_wrong_password_is_a_transfer_error(ftp_server, tmp_path):
    with pytest.raises(TransferError) as err:
        list_content(f"ftp://alice:wrong@127.0.0.1:{ftp_server.port}/")
    assert "\n" not in str(err.value)


# --- HTTP --------------------------------------------------------------------------------------------
def test_http_download_and_info(web, tmp_path):
    url, root = web
    (root / "ref.fa").write_bytes(b">x\nACGT\n")
    assert get(f"{url}/ref.fa", f"{tmp_path}/")[0].read_bytes() == b">x\nACGT\n"
    i = info(f"{url}/ref.fa")
    assert i.size == 8 and i.modification_date is not None


def test_http_is_download_only(web, tmp_path):
    (tmp_path / "x").write_text("x")
    with pytest.raises(Unsupported, match="download only"):
        put(tmp_path / "x", f"{web[0]}/x")
    with pytest.raises(Unsupported, match="cannot be listed"):
        list_content(f"{web[0]}/")


def test_http_404_is_not_retried_and_names_the_url(web, http_server, tmp_path):
    with pytest.raises(TransferError, match="not found"):
        get(f"{web[0]}/absent.txt", f"{tmp_path}/")
    assert http_server.hits[web[0].split(str(http_server.port))[1] + "/absent.txt"] == 1


def test_http_unreachable_is_retried_as_a_public_source_then_fails(dead_url, tmp_path, monkeypatch):
    tries = []
    import scitq.io.retry as retry

    monkeypatch.setattr(retry, "sleep", lambda s: tries.append(s))
    with pytest.raises(TransferError) as err:
        get(dead_url, f"{tmp_path}/")
    assert len(tries) == 2                       # SCITQ_IO_PUBLIC_RETRIES=3 tries, 2 sleeps between
    assert tries[1] == 2 * tries[0]              # doubling back-off
    assert "nothing.txt" in str(err.value)


# --- GCS and rclone ----------------------------------------------------------------------------------
def test_gcs_without_gcsfs_says_which_package_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gcsfs(name, *args, **kwargs):
        if name == "gcsfs":
            raise ImportError("no gcsfs")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gcsfs)
    with pytest.raises(Unsupported) as err:
        list_content("gcs://bucket/x/")
    assert "gcsfs" in str(err.value)


def test_an_unknown_protocol_is_not_supported_in_one_line(tmp_path):
    with pytest.raises(Unsupported) as err:
        get("nosuchremote://a/b", f"{tmp_path}/")
    assert str(err.value).startswith("This URI protocol is not supported: nosuchremote://")


@pytest.fixture
def rclone_remote(tmp_path, monkeypatch) -> tuple[str, Path]:
    if not shutil.which("rclone"):
        if os.environ.get("CI"):
            pytest.fail("rclone is not installed: .ci/install-io.sh installs it")
        pytest.skip("rclone is not installed")
    root = tmp_path / "remote-root"
    root.mkdir()
    conf = tmp_path / "rclone.conf"
    conf.write_text("[mystore]\ntype = alias\nremote = " + str(root) + "\n")
    monkeypatch.setenv("RCLONE_CONFIG", str(conf))
    return "mystore://", root


def test_an_rclone_remote_serves_its_protocol_name(rclone_remote, tmp_path):
    base, root = rclone_remote
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.txt").write_text("through rclone")
    (tmp_path / "src" / "y.txt").write_text("yy")
    put(tmp_path / "src", base + "dir/")
    assert (root / "dir" / "x.txt").read_text() == "through rclone"
    entries = list_content(base + "dir/", md5=True)
    assert [(e.rel_name, e.size) for e in entries] == [("x.txt", 14), ("y.txt", 2)]
    assert entries[0].name == "mystore://dir/x.txt" and entries[0].md5
    assert get(base + "dir/x.txt", f"{tmp_path}/back/")[0].read_text() == "through rclone"
    assert info(base + "dir/y.txt").size == 2
    with pytest.raises(TransferError, match="nope"):
        get(base + "dir/nope.txt", f"{tmp_path}/back/")
