"""The v1 library `scitq.fetch` keeps its names over the new data layer; progress lines for long transfers."""

from __future__ import annotations

import io
import time

import pytest

from scitq import fetch
from scitq.errors import BadInput
from scitq.io import Cancelled, Watch


def test_v1_names_are_all_there():
    for name in ("get", "put", "copy", "sync", "delete", "recursive_delete", "list_content", "info", "check_uri",
                 "ncdu", "FetchError", "UnsupportedError", "FASTQ_PARITY"):
        assert hasattr(fetch, name), name


def test_v1_functions_work_on_local_paths(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s_1.fastq.gz").write_bytes(b"x")
    (tmp_path / "src" / "s_2.fastq.gz").write_bytes(b"yy")
    fetch.copy(str(tmp_path / "src") + "/", str(tmp_path / "dst") + "/")
    assert [i.rel_name for i in fetch.list_content(str(tmp_path / "dst"))] == ["s_1.fastq.gz", "s_2.fastq.gz"]
    assert fetch.info(str(tmp_path / "dst" / "s_2.fastq.gz")).size == 2
    assert fetch.recursive_delete(str(tmp_path / "dst"), dryrun=True)
    fetch.recursive_delete(str(tmp_path / "dst"))
    assert fetch.list_content(str(tmp_path / "dst")) == []
    assert fetch.FASTQ_PARITY.match("a/s_2.fastq.gz").group(1) == "2"
    with pytest.raises(BadInput):
        fetch.check_uri("s3:/x")


def test_a_watch_draws_a_progress_line_and_stops_transfers_when_cancelled():
    out = io.StringIO()
    watch = Watch(stream=out, every=0.0, label="copy ")
    watch.expect(2048)
    watch.advance(1024)
    watch.file_done()
    watch.finish()
    assert "copy 1.0 KiB/2.0 KiB  50.0%" in out.getvalue() and out.getvalue().endswith("1 file(s)\n")
    watch.cancel("stopped by the worker")
    with pytest.raises(Cancelled, match="stopped by the worker"):
        watch.advance(1)


def test_a_watch_with_a_past_deadline_is_cancelled():
    watch = Watch(deadline=time.monotonic() - 1)
    assert watch.cancelled
    with pytest.raises(Cancelled, match="timed out"):
        watch.check()


def test_the_terminal_watch_is_silent_when_stderr_is_not_a_terminal():
    assert Watch.for_terminal(stream=io.StringIO()).stream is None
