"""`scitq-fetch` as a user runs it (a real process): v1 verbs and options, one-line errors, exit codes."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

pytestmark = pytest.mark.xdist_group("s3")


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.fastq").write_text("@b\n")
    return src


def test_copy_uploads_then_downloads_into_the_current_folder_by_default(run_fetch, bucket, tree, tmp_path):
    res = run_fetch("copy", str(tree) + "/", f"s3://{bucket}/proj/")
    assert res.returncode == 0, res.stderr
    (tmp_path / "here").mkdir()
    res = run_fetch("copy", f"s3://{bucket}/proj/a.txt", cwd=tmp_path / "here")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "here" / "a.txt").read_text() == "alpha"


def test_list_rlist_and_nrlist_print_v1_columns(run_fetch, bucket, tree):
    assert run_fetch("-p", "2", "copy", str(tree) + "/", f"s3://{bucket}/p/").returncode == 0
    lines = run_fetch("list", f"s3://{bucket}/p/").stdout.splitlines()
    assert [line.split()[0] for line in lines] == [f"s3://{bucket}/p/a.txt", f"s3://{bucket}/p/sub/b.fastq"]
    assert re.fullmatch(r"\S+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 5", lines[0])
    rlines = run_fetch("rlist", "--md5", f"s3://{bucket}/p/").stdout.splitlines()
    assert rlines[0].split()[0] == "a.txt" and rlines[0].split()[-1] == hashlib.md5(b"alpha").hexdigest()
    assert [line.split()[0] for line in run_fetch("nrlist", f"s3://{bucket}/p/").stdout.splitlines()] == ["a.txt", "sub/"]
    assert [line.split()[0] for line in run_fetch("rlist", "--not-recursive", f"s3://{bucket}/p/").stdout.splitlines()] \
        == ["a.txt", "sub/"]


def test_sync_with_include_and_delete_with_dryrun(run_fetch, bucket, tree):
    res = run_fetch("-v", "sync", str(tree) + "/", f"s3://{bucket}/s/", "--include", "*.fastq")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["sub/b.fastq"]
    res = run_fetch("delete", "--dryrun", f"s3://{bucket}/s/")
    assert res.stdout.strip() == f"would delete s3://{bucket}/s/sub/b.fastq"
    assert run_fetch("delete", f"s3://{bucket}/s/").returncode == 0
    assert run_fetch("list", f"s3://{bucket}/s/").stdout == ""


def test_ncdu_only_file_writes_an_ncdu_export(run_fetch, tree):
    res = run_fetch("ncdu", "--only-file", str(tree))
    assert res.returncode == 0, res.stderr
    export = json.loads(open(res.stdout.strip()).read())
    assert export[0:2] == [1, 0] and export[3][0]["name"] == str(tree)
    names = [x["name"] if isinstance(x, dict) else x[0]["name"] for x in export[3][1:]]
    assert names == ["a.txt", "sub"]


@pytest.mark.parametrize("args", [
    ["copy", "s3:/bucket/x", "/tmp/"],
    ["list", "s3://b/k|explode"],
    ["-p", "0", "copy", "/tmp/a", "/tmp/b"],
    ["copy"],
    ["frobnicate", "x"],
    [],
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(run_fetch, args):
    res = run_fetch(*args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    if args:
        assert len(res.stderr.strip().splitlines()) == 1
        assert res.stderr.startswith("scitq-fetch") and ": error: " in res.stderr


def test_an_unsupported_protocol_is_bad_input(run_fetch, tmp_path):
    res = run_fetch("copy", "nosuch://x/y", str(tmp_path) + "/")
    assert res.returncode == 2 and "This URI protocol is not supported" in res.stderr


def test_a_failed_transfer_is_one_line_and_exit_1(run_fetch, dead_url, tmp_path):
    res = run_fetch("copy", dead_url, str(tmp_path) + "/")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].startswith("scitq-fetch: error: download of http://127.0.0.1:")
    assert "Traceback" not in res.stderr


def test_the_unified_command_runs_the_same_fetch(tmp_path, capsys):
    from scitq.cli.main import main

    (tmp_path / "x.txt").write_text("x")
    assert main(["fetch", "rlist", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split()[0] == "x.txt"
