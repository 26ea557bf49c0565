"""v1's sample helpers against a local server answering like ENA and NCBI, and on real folders."""

from __future__ import annotations

from argparse import Namespace

import pytest

from scitq.bio import (BioException, Depth, ena_get_samples, filter_by, filter_by_layout, find_library_layout,
                       sra_get_samples, uri_get_samples, user_friendly_depth)
from scitq.bio.genetics import snake_header
from scitq.errors import BadInput


@pytest.fixture
def project(bio):
    bio.ena["PRJEB1"] = [bio.ena_row("ERR001", "SAMEA1", "PAIRED"), bio.ena_row("ERR002", "SAMEA1", "PAIRED"),
                         bio.ena_row("ERR003", "SAMEA2", "SINGLE", "AMPLICON")]
    bio.sra["PRJNA1"] = [bio.runinfo_row("SRR001", "SAMN1", "PAIRED"), bio.runinfo_row("SRR002", "SAMN2", "SINGLE"),
                         bio.runinfo_row("SRR003", "SAMN2", "SINGLE", "AMPLICON")]
    return bio


def test_ena_samples_group_runs_by_sample_with_run_fastq_uris(project):
    samples = ena_get_samples("PRJEB1")
    assert {k: [r.run_accession for r in v] for k, v in samples.items()} == {"SAMEA1": ["ERR001", "ERR002"],
                                                                           "SAMEA2": ["ERR003"]}
    run = samples["SAMEA1"][0]
    assert isinstance(run, Namespace) and run.uri == "run+fastq://ERR001" and run.library_layout == "PAIRED"
    assert run.fastq_ftp.endswith("ERR001_2.fastq.gz")


def test_ena_samples_filter_by_layout_and_strategy(project):
    assert list(ena_get_samples("PRJEB1", library_layout="SINGLE")) == ["SAMEA2"]
    assert list(ena_get_samples("PRJEB1", library_strategy="WGS")) == ["SAMEA1"]


def test_an_unknown_ena_project_is_a_bio_exception_which_is_bad_input(project):
    with pytest.raises(BioException, match="No such bioproject PRJEB999"):
        ena_get_samples("PRJEB999")
    with pytest.raises(BadInput, match="Invalid accession: nonsense"):
        ena_get_samples("nonsense")


def test_sra_samples_come_from_esearch_then_efetch_runinfo(project):
    samples = sra_get_samples("PRJNA1")
    assert {k: [r.run for r in v] for k, v in samples.items()} == {"SAMN1": ["SRR001"], "SAMN2": ["SRR002", "SRR003"]}
    run = samples["SAMN1"][0]
    assert run.uri == "run+fastq@sra://SRR001" and run.sample_accession == "SAMN1"
    assert (run.library_layout, run.size_mb, run.tax_id, run.release_date, run.sra_study) == \
        ("PAIRED", "1", "408170", "2020-01-01 10:00:00", "SRP1")
    assert any("esearch.fcgi" in r for r in project.requests) and any("efetch.fcgi" in r for r in project.requests)


def test_sra_samples_filter_like_ena(project):
    assert list(sra_get_samples("PRJNA1", library_layout="SINGLE", library_strategy="AMPLICON")) == ["SAMN2"]


def test_an_unknown_sra_project_is_a_bio_exception(project):
    with pytest.raises(BioException, match="No such bioproject PRJNA404"):
        sra_get_samples("PRJNA404")


def test_an_unreachable_service_is_a_bio_exception_naming_it(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SCITQ_ENA_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(BioException, match="EBI ENA cannot be reached"):
        ena_get_samples("PRJEB1")


@pytest.mark.parametrize("header, snake", [("Run", "run"), ("ReleaseDate", "release_date"), ("size_MB", "size_mb"),
                                           ("LibraryLayout", "library_layout"), ("BioSample", "bio_sample"),
                                           ("TaxID", "tax_id"), ("SRAStudy", "sra_study"),
                                           ("spots_with_mates", "spots_with_mates"), ("avgLength", "avg_length")])
def test_runinfo_headers_become_v1_snake_case(header, snake):
    assert snake_header(header) == snake


def test_folder_samples_are_grouped_by_folder_with_their_layout(tmp_path):
    for sample, files in {"s1": ["r_1.fastq.gz", "r_2.fastq.gz"], "s2": ["x_1.fastq.gz", "x_2.fastq.gz"],
                          "s3": ["only.fastq.gz"]}.items():
        (tmp_path / sample).mkdir()
        for f in files:
            (tmp_path / sample / f).write_bytes(b"@")
    samples = uri_get_samples(str(tmp_path) + "/")
    assert sorted(samples) == ["s1", "s2", "s3"]
    assert [r.library_layout for r in samples["s1"]] == ["PAIRED", "PAIRED"]
    assert samples["s3"][0].library_layout == "SINGLE" and samples["s3"][0].uri == f"file://{tmp_path / 's3' / 'only.fastq.gz'}"


def test_folder_samples_in_one_folder_are_grouped_by_common_prefix(tmp_path):
    for s in ("sampleA", "sampleB", "sampleC"):
        for r in (1, 2):
            (tmp_path / f"{s}_R{r}.fq.gz").write_bytes(b"@")
    samples = uri_get_samples(str(tmp_path), ending=".fastq.gz")       # falls back to .fq.gz
    assert sorted(samples) == ["sampleA_R", "sampleB_R", "sampleC_R"]
    assert all(len(v) == 2 and v[0].library_layout == "PAIRED" for v in samples.values())


def test_a_folder_without_fastq_is_a_bio_exception(tmp_path):
    (tmp_path / "notes.txt").write_text("n")
    with pytest.raises(BioException, match="does not seem to contain sample files"):
        uri_get_samples(str(tmp_path))


def runs(*specs):
    return {s: [Namespace(library_layout=l, uri=u, library_strategy="WGS") for l, u in v] for s, v in specs}


def test_library_layout_is_the_majority_vote_and_a_tie_is_an_error():
    samples = runs(("a", [("PAIRED", "run+fastq://SRR1")]), ("b", [("PAIRED", "run+fastq://SRR2")]),
                   ("c", [("SINGLE", "run+fastq://SRR3")]))
    assert find_library_layout(samples) == "PAIRED"
    with pytest.raises(BioException, match="Cannot decide"):
        find_library_layout(runs(("a", [("PAIRED", "x")]), ("b", [("SINGLE", "y")])))


def test_filtering_for_single_keeps_read_one_of_paired_runs():
    samples = runs(("a", [("PAIRED", "run+fastq://SRR1")]), ("b", [("SINGLE", "run+fastq://SRR2")]),
                   ("c", [("PAIRED", "s3://b/c_1.fastq.gz"), ("PAIRED", "s3://b/c_2.fastq.gz")]))
    single = filter_by_layout(samples, paired=False)
    assert single["a"][0].uri == "run+fastq@filter_r1://SRR1" and samples["a"][0].uri == "run+fastq://SRR1"
    assert [r.uri for r in single["c"]] == ["s3://b/c_1.fastq.gz"]
    assert list(filter_by_layout(samples, paired=False, use_only_r1=False)) == ["b"]
    assert sorted(filter_by_layout(samples, paired=True)) == ["a", "c"]


def test_filter_by_keeps_runs_with_equal_attributes_and_drops_empty_samples():
    samples = runs(("a", [("PAIRED", "x")]), ("b", [("SINGLE", "y")]))
    assert list(filter_by(samples, library_layout="SINGLE", library_strategy="WGS")) == ["b"]


@pytest.mark.parametrize("text, depth", [("10M", Depth(10_000_000)), ("2x10M", Depth(10_000_000, True)),
                                         ("10Mx2", Depth(10_000_000, True)), ("100kx1", Depth(100_000, False)),
                                         ("1x3g", Depth(3_000_000_000, False)), ("500", Depth(500))])
def test_user_friendly_depth(text, depth):
    assert user_friendly_depth(text) == depth


def test_depth_helpers_and_a_bad_depth_string():
    d = user_friendly_depth("2x10M")
    assert d.to_tuple() == (10_000_000, True) and d.total_read_number == 20_000_000 and not d.single
    with pytest.raises(BioException, match="does not look like a depth"):
        user_friendly_depth("ten million")
