"""examples/fastp_like.py runs as shipped: natively, and in the busybox image on the private Docker engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastp_like.py"


def fastq(path: Path, lengths: list[int]) -> None:
    path.write_text("".join(f"@r{i}\n{'A' * n}\n+\n{'I' * n}\n" for i, n in enumerate(lengths)))


def make_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    fastq(data / "s1.fastq", [50, 10, 40])
    fastq(data / "s2.fastq", [5, 35])
    return data


def check_results(res: subprocess.CompletedProcess, results: Path) -> None:
    assert res.returncode == 0, res.stdout + res.stderr
    assert (results / "report" / "report.txt").read_text() == "s1 3 2\ns2 2 1\ntotal reads kept: 3\n"
    assert (results / "s1" / "filter" / "s1.filtered.fastq").read_text().count("\n") == 8
    assert (results / "logs" / "filter:s2_output.log").read_text() == "s2: 1 of 2 reads kept\n"
    assert "total reads kept: 3" in res.stdout


def test_the_fastp_like_example_filters_each_sample_and_gathers_a_report(procs, env, tmp_path):
    procs.server()
    procs.worker("w1", concurrency=4, batch="qc.filter")
    procs.worker("w2", concurrency=1, batch="qc.report")
    results = tmp_path / "results"
    res = subprocess.run([sys.executable, "-W", "ignore", str(EXAMPLE), str(make_data(tmp_path)), str(results)],
                         env=env, capture_output=True, text=True, timeout=180)
    check_results(res, results)


@pytest.mark.docker
@pytest.mark.xdist_group("docker")
def test_the_fastp_like_example_runs_in_the_busybox_image_too(procs, env, tmp_path, request):
    dockerd = request.getfixturevalue("dockerd")      # skipped where no Docker engine can run
    image = request.getfixturevalue("busybox_image")
    procs.env.update(dockerd.environ)
    procs.server()
    procs.worker("w1", concurrency=2, batch="qcd.filter")
    procs.worker("w2", concurrency=1, batch="qcd.report")
    results = tmp_path / "results"
    res = subprocess.run([sys.executable, "-W", "ignore", str(EXAMPLE), str(make_data(tmp_path)), str(results),
                          "--container", image, "--name", "qcd"], env=env, capture_output=True, text=True,
                         timeout=300)
    check_results(res, results)
