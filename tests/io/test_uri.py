"""The URI grammar `<proto>[@opt…]://<resource>[|<action>]`: what parses, and one clear line for what does not."""

from __future__ import annotations

import pytest

from scitq.errors import BadInput
from scitq.io import check_uri, parse_uri


@pytest.mark.parametrize("uri", [
    "s3://bucket/path/file.fastq.gz", "s3://bucket/folder/", "azure://container/a/b", "az://container/x",
    "ftp://host/pub/file", "ftp://user:pw@host:2121/file", "https://example.org/a?b=c", "gcs://b/k",
    "run+fastq://SRR1234567", "run+fastq@sra://ERR000001", "run+fastq@filter_r1://DRR1", "run+submitted@ftp://ERR1",
    "https@aria2://host/file", "myremote://some/path", "file:///tmp/x", "/tmp/x", "./relative/x", "data.txt",
    "s3://b/k.tar.gz|untar", "s3://b/k.gz|gunzip", "s3://b/k.zip|unzip", "s3://b/k|mv:sub/dir", "/local/x.gz|gunzip",
])
def test_well_formed_uris_are_accepted_unchanged(uri):
    assert check_uri(uri) == uri


@pytest.mark.parametrize("uri, says", [
    ("", "empty URI"),
    ("s3://bucket/a b", "cannot contain spaces"),
    ("s3:/bucket/key", "is not a URI"),
    ("c:data", "did you mean c://data"),
    ("://x", "missing protocol"),
    ("S3://b/k", "bad protocol 'S3'"),
    ("s3://", "nothing after '://'"),
    ("s3:///key", "missing bucket/container name"),
    ("azure:///blob", "missing bucket/container name"),
    ("http:///x", "missing host"),
    ("s3@://b/k", "empty option"),
    ("s3@bad!opt://b/k", "bad option"),
    ("s3@fast://b/k", "unknown option 'fast' for s3://"),
    ("run+fastq@tcp://SRR1", "unknown option 'tcp' for run+fastq"),
    ("run+fastq://not-a-run", "is not a run accession"),
    ("s3://b/k|gzip", "unknown action 'gzip'"),
    ("s3://b/k|gunzip|untar", "only one action"),
    ("s3://b/k|mv:", "mv: needs a folder name"),
    ("s3://b/k|mv:../up", "without '..'"),
    ("s3://b/k|mv:/abs", "relative folder"),
    ("file://relative/path", "file:// needs an absolute path"),
])
def test_malformed_uris_raise_bad_input_naming_the_defect(uri, says):
    with pytest.raises(BadInput) as err:
        check_uri(uri)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_a_plain_path_means_a_local_file():
    u = parse_uri("/data/reads.fastq.gz|gunzip")
    assert (u.proto, u.resource, u.action, u.base) == ("file", "/data/reads.fastq.gz", "gunzip", "/data/reads.fastq.gz")


def test_parsing_separates_protocol_options_resource_and_action():
    u = parse_uri("run+fastq@sra@filter_r1://SRR000001|mv:reads")
    assert u.proto == "run+fastq" and u.opts == ("sra", "filter_r1") and u.resource == "SRR000001"
    assert u.action == "mv:reads" and u.mv_dir == "reads" and u.is_run
    assert u.base == "run+fastq@sra@filter_r1://SRR000001"


def test_a_trailing_slash_names_a_folder_and_join_builds_children():
    u = parse_uri("s3://bucket/folder/")
    assert u.is_dir and u.name == "folder"
    assert u.join("a/b.txt").base == "s3://bucket/folder/a/b.txt"


def test_checking_is_cheap_enough_for_bulk_submission():
    """Checking a URI costs about what parsing it costs (no I/O, no store import): measured against
    urllib's own split of the same URIs in the same run, so a loaded machine slows both alike."""
    import time
    from urllib.parse import urlsplit

    uris = [f"s3://bucket/sample{i}.fastq.gz" for i in range(20000)]

    def best_of_3(fn) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for u in uris:
                fn(u)
            times.append(time.perf_counter() - start)
        return min(times)

    assert best_of_3(check_uri) < 10 * best_of_3(urlsplit)


@pytest.mark.parametrize("text, shown", [
    ("ftp://user:s3cr3t@127.0.0.1/data/x.fq", "ftp://user:***@127.0.0.1/data/x.fq"),
    ("redis://:p@ss@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("cp https://u:pw@h/a b; ls ftp@aria2://me:x@h/f", "cp https://u:***@h/a b; ls ftp@aria2://me:***@h/f"),
    ("https://acct.blob.example/c/f?sv=2021&sig=abc%2Fdef&se=1", "https://acct.blob.example/c/f?sv=2021&sig=***&se=1"),
    ("https://b.s3/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=ff00", "https://b.s3/k?X-Amz-Credential=***&X-Amz-Signature=***"),
    ("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=Zm9v==;", "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=***;"),
    ("ftp://anonymous@h/x s3://bucket/key?versionId=3", "ftp://anonymous@h/x s3://bucket/key?versionId=3"),
    ("user@host.org: no URI here", "user@host.org: no URI here"),
])
def test_credentials_in_uris_are_redacted_and_nothing_else(text, shown):
    from scitq.io.uri import redact
    assert redact(text) == shown
