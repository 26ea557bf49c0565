"""run+fastq:// and run+submitted://: the run's files are found through the ENA portal (a local HTTP
server answering with ENA's recorded JSON shape), fetched from FTP (pyftpdlib) and MD5-checked;
without ENA the SRA method is used."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from scitq.io import TransferError, get

pytestmark = pytest.mark.xdist_group("ftp")

R1 = gzip.compress(b"@r1\nACGT\n+\n!!!!\n")
R2 = gzip.compress(b"@r2\nTTTT\n+\n!!!!\n")


@pytest.fixture
def ena(http_server, ftp_server, monkeypatch):
    """Publish runs: files on the FTP server under vol1/, their rows on the fake ENA portal."""
    monkeypatch.setenv("SCITQ_ENA_URL", http_server.url + "/ena/portal/api")
    http_server.routes.clear()

    def publish(run: str, files: dict[str, bytes], *, prefix: str = "fastq", md5s: list[str] | None = None,
                rows: list[dict] | None = None) -> None:
        folder = ftp_server.anon_root / "vol1" / run
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        locations = ";".join(f"127.0.0.1:{ftp_server.port}/vol1/{run}/{n}" for n in files)
        md5 = ";".join(md5s if md5s is not None else [hashlib.md5(d).hexdigest() for d in files.values()])
        row = {"run_accession": run, f"{prefix}_ftp": locations, f"{prefix}_md5": md5, f"{prefix}_aspera": ""}
        body = json.dumps(rows if rows is not None else [row]).encode()
        http_server.routes[f"/ena/portal/api/filereport?accession={run}&"] = (200, body, "application/json")

    return publish


def test_run_fastq_fetches_every_read_file_listed_by_ena(ena, tmp_path):
    ena("SRR000001", {"SRR000001_1.fastq.gz": R1, "SRR000001_2.fastq.gz": R2})
    files = get("run+fastq://SRR000001", f"{tmp_path}/")
    assert sorted(p.name for p in files) == ["SRR000001_1.fastq.gz", "SRR000001_2.fastq.gz"]
    assert (tmp_path / "SRR000001_2.fastq.gz").read_bytes() == R2


def test_filter_r1_keeps_only_read_one(ena, tmp_path):
    ena("SRR000002", {"SRR000002_1.fastq.gz": R1, "SRR000002_2.fastq.gz": R2})
    files = get("run+fastq@filter_r1://SRR000002", f"{tmp_path}/")
    assert [p.name for p in files] == ["SRR000002_1.fastq.gz"]


def test_actions_apply_to_run_files(ena, tmp_path):
    ena("SRR000003", {"SRR000003.fastq.gz": R1})
    get("run+fastq://SRR000003|gunzip", f"{tmp_path}/")
    assert (tmp_path / "SRR000003.fastq").read_bytes().startswith(b"@r1")


def test_a_file_whose_md5_differs_from_ena_is_retried_then_fails(ena, tmp_path):
    ena("SRR000004", {"SRR000004.fastq.gz": R1}, md5s=["0" * 32])
    with pytest.raises(TransferError) as err:
        get("run+fastq@ftp://SRR000004", f"{tmp_path}/")
    assert "MD5" in str(err.value)
    assert not (tmp_path / "SRR000004.fastq.gz").exists()


def test_run_submitted_uses_the_submitted_files(ena, tmp_path):
    ena("ERR000005", {"sample.bam": b"BAM\x01"}, prefix="submitted")
    assert get("run+submitted://ERR000005", f"{tmp_path}/")[0].read_bytes() == b"BAM\x01"


def test_an_empty_ena_answer_falls_back_to_sra_which_says_what_it_needs(ena, http_server, tmp_path, monkeypatch):
    http_server.routes["/ena/portal/api/filereport?accession=SRR000006&"] = (200, b"[]", "application/json")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))      # no fasterq-dump
    with pytest.raises(TransferError) as err:
        get("run+fastq://SRR000006", f"{tmp_path}/")
    assert "fasterq-dump" in str(err.value)


@pytest.fixture
def fake_fasterq_dump(tmp_path, monkeypatch) -> Path:
    """sra-tools cannot be installed here: a stand-in `fasterq-dump` writes the two FASTQ files a
    paired run gives (the download of the .sra file before it is real)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "fasterq-dump"
    tool.write_text("#!/bin/sh\n# args: -f -F --split-files -O DIR FILE\n"
                    "out=$5; run=$(basename \"$6\" .sra)\n"
                    "test -s \"$6\" || exit 3\n"
                    "printf '@a\\nAC\\n+\\n!!\\n' > \"$out/${run}_1.fastq\"\n"
                    "printf '@b\\nGT\\n+\\n!!\\n' > \"$out/${run}_2.fastq\"\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return tool


def test_the_sra_method_downloads_the_run_and_dumps_gzipped_fastq(ena, http_server, fake_fasterq_dump, tmp_path,
                                                                   monkeypatch):
    (http_server.root / "sra" / "SRR000007").mkdir(parents=True)
    (http_server.root / "sra" / "SRR000007" / "SRR000007").write_bytes(b"NCBI.sra")
    monkeypatch.setenv("SCITQ_SRA_URL", http_server.url + "/sra")
    files = get("run+fastq@sra@filter_r1://SRR000007", f"{tmp_path}/")
    assert [p.name for p in files] == ["SRR000007_1.fastq.gz"]
    assert gzip.decompress(files[0].read_bytes()) == b"@a\nAC\n+\n!!\n"
    assert not (tmp_path / "SRR000007.sra").exists()


def test_unreachable_ena_goes_to_sra(monkeypatch, dead_url, tmp_path):
    monkeypatch.setenv("SCITQ_ENA_URL", dead_url)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(TransferError, match="sra"):
        get("run+fastq://SRR000008", f"{tmp_path}/")
