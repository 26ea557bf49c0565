"""One contract, every remote store: the same operations behave the same on S3 (moto_server),
Azure Blob (Azurite) and FTP (pyftpdlib, anonymous and with a user), all real servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from scitq.io import TransferError, copy, delete, get, info, list_content, put, sync

TREE = {"a.txt": b"alpha", "sub/b.txt": b"bravo!", "sub/deep/c.bin": os.urandom(70_000)}


def make_tree(root: Path) -> Path:
    for rel, data in TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def local_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_file_put_then_got_comes_back_identical(remote, tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01payload")
    assert put(tmp_path / "x.bin", remote) == [remote + "x.bin"]
    files = get(remote + "x.bin", f"{tmp_path}/back/")
    assert files[0].read_bytes() == b"\x00\x01payload"


def test_a_folder_put_then_got_with_a_trailing_slash_comes_back_whole(remote, tmp_path):
    written = put(make_tree(tmp_path / "src"), remote)
    assert sorted(written) == sorted(remote + rel for rel in TREE)
    get(remote, f"{tmp_path}/dst/")
    assert local_tree(tmp_path / "dst") == TREE


def test_listing_is_recursive_by_default_and_shows_folders_otherwise(remote, tmp_path):
    put(make_tree(tmp_path / "src"), remote)
    entries = list_content(remote)
    assert [(e.rel_name, e.size) for e in entries] == sorted((rel, len(d)) for rel, d in TREE.items())
    assert all(e.name == remote + e.rel_name for e in entries)
    assert all(e.modification_date is not None for e in entries)
    assert [e.rel_name for e in list_content(remote, no_rec=True)] == ["a.txt", "sub/"]


def test_listing_with_md5_gives_the_true_md5_where_the_store_keeps_one(remote, tmp_path):
    put(make_tree(tmp_path / "src"), remote)
    for e in list_content(remote, md5=True):
        assert e.md5 in (None, hashlib.md5(TREE[e.rel_name]).hexdigest())
    if remote.startswith("s3://"):
        assert all(e.md5 for e in list_content(remote, md5=True))


def test_info_gives_size_and_type(remote, tmp_path):
    put(make_tree(tmp_path / "src"), remote)
    i = info(remote + "sub/b.txt")
    assert (i.size, i.type) == (6, "file")


def test_a_missing_object_is_a_transfer_error_that_names_it(remote, tmp_path):
    with pytest.raises(TransferError) as err:
        get(remote + "nope.txt", f"{tmp_path}/")
    assert "nope.txt" in str(err.value)
    assert not any(tmp_path.iterdir())


def test_copy_from_remote_to_remote_goes_through_a_local_folder(remote, tmp_path):
    put(make_tree(tmp_path / "src"), remote + "one/")
    copy(remote + "one/", remote + "two/")
    assert [e.rel_name for e in list_content(remote + "two/")] == sorted(TREE)
    copy(remote + "one/a.txt", remote + "three/renamed.txt")
    assert info(remote + "three/renamed.txt").size == 5


def test_sync_fills_the_gaps_in_both_directions_and_never_deletes(remote, tmp_path):
    src = make_tree(tmp_path / "src")
    (tmp_path / "extra.txt").write_text("only remote")
    put(tmp_path / "extra.txt", remote)
    assert sync(str(src) + "/", remote) == sorted(TREE)
    assert sync(str(src) + "/", remote) == []
    assert "extra.txt" in [e.rel_name for e in list_content(remote)]
    assert sync(remote, f"{tmp_path}/mirror/", include=["*.txt"]) == ["a.txt", "extra.txt", "sub/b.txt"]


def test_delete_with_dry_run_changes_nothing_then_deletes_the_matching_files(remote, tmp_path):
    put(make_tree(tmp_path / "src"), remote)
    planned = delete(remote, include=["*.txt"], dryrun=True)
    assert sorted(planned) == [remote + "a.txt", remote + "sub/b.txt"]
    assert len(list_content(remote)) == 3
    delete(remote, include=["*.txt"])
    assert [e.rel_name for e in list_content(remote)] == ["sub/deep/c.bin"]
    delete(remote + "sub/deep/c.bin")
    assert list_content(remote) == [] or all(e.type == "dir" for e in list_content(remote))
