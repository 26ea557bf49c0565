"""Every operation on local paths (plain and file://), and the actions applied to downloads."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from scitq.errors import BadInput
from scitq.io import TransferError, copy, delete, get, info, list_content, put, sync


def make_tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha", "sub/b.txt": b"bravo!", "sub/deep/c.bin": os.urandom(3000)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_get_copies_a_file_into_an_existing_folder(tmp_path):
    (tmp_path / "src.txt").write_text("hello")
    (tmp_path / "out").mkdir()
    files = get(str(tmp_path / "src.txt"), tmp_path / "out")
    assert files == [tmp_path / "out" / "src.txt"] and files[0].read_text() == "hello"


def test_get_to_a_new_name_writes_that_file(tmp_path):
    (tmp_path / "src.txt").write_text("hello")
    get(f"file://{tmp_path}/src.txt", tmp_path / "renamed.txt")
    assert (tmp_path / "renamed.txt").read_text() == "hello"


def test_get_of_a_folder_uri_brings_its_whole_content(tmp_path):
    expected = make_tree(tmp_path / "src")
    get(f"{tmp_path}/src/", f"{tmp_path}/dst/")
    got = {str(p.relative_to(tmp_path / "dst")): p.read_bytes() for p in (tmp_path / "dst").rglob("*") if p.is_file()}
    assert got == expected


def test_get_of_a_missing_file_is_a_transfer_error_naming_it(tmp_path):
    with pytest.raises(TransferError) as err:
        get(str(tmp_path / "missing.txt"), tmp_path)
    assert "missing.txt" in str(err.value) and "not found" in str(err.value)


def test_a_failed_download_leaves_no_partial_file(tmp_path):
    with pytest.raises(TransferError):
        get(str(tmp_path / "missing.txt"), tmp_path / "out.txt")
    assert list(tmp_path.iterdir()) == []


def test_put_of_a_folder_writes_every_file_under_the_target(tmp_path):
    expected = make_tree(tmp_path / "src")
    written = put(tmp_path / "src", f"file://{tmp_path}/dst/")
    assert len(written) == 3
    assert (tmp_path / "dst" / "sub" / "deep" / "c.bin").read_bytes() == expected["sub/deep/c.bin"]


def test_put_into_a_folder_uri_keeps_the_file_name(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    put(tmp_path / "x.txt", f"{tmp_path}/dst/")
    assert (tmp_path / "dst" / "x.txt").read_text() == "x"


def test_put_refuses_an_action_on_the_destination(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(BadInput, match="actions apply to downloads only"):
        put(tmp_path / "x.txt", f"{tmp_path}/dst.gz|gunzip")


def test_copy_between_two_local_paths_works_without_file_scheme(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    copy(str(tmp_path / "x.txt"), str(tmp_path / "y.txt"))
    assert (tmp_path / "y.txt").read_text() == "x"


def test_list_content_is_recursive_with_v1_attributes_and_md5_on_demand(tmp_path):
    files = make_tree(tmp_path)
    entries = list_content(str(tmp_path), md5=True)
    assert [e.rel_name for e in entries] == sorted(files)
    by_name = {e.rel_name: e for e in entries}
    assert by_name["a.txt"].size == 5 and by_name["a.txt"].md5 == hashlib.md5(b"alpha").hexdigest()
    assert by_name["a.txt"].name == f"file://{tmp_path / 'a.txt'}", "v1: names are absolute file:// URIs"
    assert by_name["a.txt"].modification_date is not None and by_name["a.txt"].creation_date is not None
    assert all(e.md5 is None for e in list_content(str(tmp_path)))


def test_list_content_not_recursive_shows_folders_with_a_slash(tmp_path):
    make_tree(tmp_path)
    assert [e.rel_name for e in list_content(str(tmp_path), no_rec=True)] == ["a.txt", "sub/"]


def test_info_gives_size_type_and_md5(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    i = info(str(tmp_path / "x.txt"), md5=True)
    assert (i.size, i.type, i.md5) == (5, "file", hashlib.md5(b"hello").hexdigest())
    assert info(str(tmp_path)).type == "dir"


def test_sync_copies_only_what_is_missing_or_different_and_never_deletes(tmp_path):
    make_tree(tmp_path / "src")
    (tmp_path / "dst" / "sub").mkdir(parents=True)
    (tmp_path / "dst" / "a.txt").write_bytes(b"alpha")          # same size: kept
    (tmp_path / "dst" / "sub" / "b.txt").write_bytes(b"old")    # different size: replaced
    (tmp_path / "dst" / "extra.txt").write_text("mine")         # only on the destination: kept
    copied = sync(f"{tmp_path}/src/", f"{tmp_path}/dst/")
    assert copied == ["sub/b.txt", "sub/deep/c.bin"]
    assert (tmp_path / "dst" / "sub" / "b.txt").read_bytes() == b"bravo!"
    assert (tmp_path / "dst" / "extra.txt").exists()
    assert sync(f"{tmp_path}/src/", f"{tmp_path}/dst/") == []


def test_sync_with_include_copies_only_matching_names(tmp_path):
    make_tree(tmp_path / "src")
    assert sync(f"{tmp_path}/src/", f"{tmp_path}/dst/", include=["*.txt"]) == ["a.txt", "sub/b.txt"]


def test_delete_dry_run_lists_without_deleting_then_deletes(tmp_path):
    make_tree(tmp_path / "d")
    planned = delete(f"{tmp_path}/d/", include=["*.txt"], dryrun=True)
    assert sorted(os.path.basename(p) for p in planned) == ["a.txt", "b.txt"]
    assert (tmp_path / "d" / "a.txt").exists()
    delete(f"{tmp_path}/d/", include=["*.txt"])
    assert [p.name for p in (tmp_path / "d").rglob("*") if p.is_file()] == ["c.bin"]


def test_gunzip_action_leaves_the_decompressed_file(tmp_path):
    (tmp_path / "r.fastq.gz").write_bytes(gzip.compress(b"@read\nACGT\n+\n!!!!\n"))
    files = get(f"{tmp_path}/r.fastq.gz|gunzip", f"{tmp_path}/out/")
    assert files == [tmp_path / "out" / "r.fastq"]
    assert files[0].read_bytes().startswith(b"@read") and not (tmp_path / "out" / "r.fastq.gz").exists()


@pytest.mark.parametrize("name, mode", [("db.tar", "w"), ("db.tar.gz", "w:gz"), ("db.tgz", "w:gz")])
def test_untar_action_unpacks_and_removes_the_archive(tmp_path, name, mode):
    with tarfile.open(tmp_path / name, mode) as tar:
        for rel, data in {"db/index.txt": b"idx", "db/part/1.bin": b"one"}.items():
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    get(f"{tmp_path}/{name}|untar", f"{tmp_path}/out/")
    assert (tmp_path / "out" / "db" / "part" / "1.bin").read_bytes() == b"one"
    assert not (tmp_path / "out" / name).exists()


def test_unzip_action_unpacks_and_removes_the_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / "ref.zip", "w") as zf:
        zf.writestr("ref/genome.fa", ">chr1\nACGT\n")
    get(f"{tmp_path}/ref.zip|unzip", f"{tmp_path}/out/")
    assert (tmp_path / "out" / "ref" / "genome.fa").read_text().startswith(">chr1")
    assert not (tmp_path / "out" / "ref.zip").exists()


def test_mv_action_places_the_download_in_a_sub_folder(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    (tmp_path / "out").mkdir()
    get(f"{tmp_path}/x.txt|mv:sub/dir", tmp_path / "out")
    assert (tmp_path / "out" / "sub" / "dir" / "x.txt").read_text() == "x"


def test_a_corrupt_archive_fails_with_one_line(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(TransferError) as err:
        get(f"{tmp_path}/bad.tar.gz|untar", f"{tmp_path}/out/")
    assert "untar of bad.tar.gz failed" in str(err.value)


def test_two_inputs_bringing_the_same_files_at_once_both_succeed(tmp_path):
    """A folder and its sub-folder moved to the same place (docs/workflow.md's gather does this): the two
    downloads write the same targets in parallel; each has its own temporary name, so neither loses its file."""
    from scitq.io import download_inputs
    src = tmp_path / "count"
    (src / "stats").mkdir(parents=True)
    for i in range(300):
        (src / "stats" / f"s{i}.stat").write_text(f"{i}\n" * 2000)
    dest = tmp_path / "input"
    for _ in range(3):
        download_inputs([f"file://{src}/", f"file://{src}/stats|mv:stats"], dest)
        assert sorted(p.name for p in (dest / "stats").iterdir()) == sorted(f"s{i}.stat" for i in range(300))
        assert not [p for p in dest.rglob("*") if "scitq-part" in p.name]
