"""The worker's resource cache: one download per worker whatever the number of tasks, threads or
processes asking, kept across restarts, refreshed when the remote changes, hard-linked read-only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from scitq.io import DownloadError, ResourceCache


@pytest.fixture
def resource(web, http_server):
    """(URL of a 'db.txt' resource on the local HTTP server, its file, a function counting its GETs)."""
    url, root = web
    (root / "db.txt").write_text("version 1")
    path = url[len(http_server.url):] + "/db.txt"
    return f"{url}/db.txt", root / "db.txt", lambda: http_server.hits.get(path, 0) + http_server.hits.get("/slow" + path, 0)


def test_a_resource_is_downloaded_once_and_hard_linked_read_only_into_each_task(resource, tmp_path):
    url, _file, gets = resource
    cache = ResourceCache(tmp_path / "resource")
    for task in ("t1", "t2", "t3"):
        linked = cache.materialize([url], tmp_path / task / "resource")
        assert linked == [tmp_path / task / "resource" / "db.txt"]
    assert gets() == 1
    a, b = (tmp_path / "t1" / "resource" / "db.txt").stat(), (tmp_path / "t3" / "resource" / "db.txt").stat()
    assert a.st_ino == b.st_ino and a.st_nlink >= 4
    assert not a.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert cache.state()[url]["status"] == "loaded"


def test_the_cache_survives_a_new_instance_as_after_a_worker_restart(resource, tmp_path):
    url, _file, gets = resource
    ResourceCache(tmp_path / "resource").materialize([url], tmp_path / "t1")
    ResourceCache(tmp_path / "resource").materialize([url], tmp_path / "t2")
    assert gets() == 1 and (tmp_path / "t2" / "db.txt").read_text() == "version 1"


def test_a_remote_change_of_size_is_downloaded_again_and_old_tasks_keep_their_copy(resource, tmp_path):
    url, file, gets = resource
    cache = ResourceCache(tmp_path / "resource")
    cache.materialize([url], tmp_path / "t1")
    file.write_text("version 2, longer")
    cache.materialize([url], tmp_path / "t2")
    assert gets() == 2
    assert (tmp_path / "t2" / "db.txt").read_text() == "version 2, longer"
    assert (tmp_path / "t1" / "db.txt").read_text() == "version 1"
    assert len(list((tmp_path / "resource" / "files").iterdir())) == 1   # the old copy is gone from the cache


def test_a_newer_remote_date_is_downloaded_again(resource, tmp_path):
    url, file, gets = resource
    cache = ResourceCache(tmp_path / "resource")
    cache.materialize([url], tmp_path / "t1")
    file.write_text("version 3")                       # same size
    future = time.time() + 120
    os.utime(file, (future, future))
    cache.materialize([url], tmp_path / "t2")
    assert gets() == 2 and (tmp_path / "t2" / "db.txt").read_text() == "version 3"


def test_reset_forgets_everything_and_the_next_use_downloads_again(resource, tmp_path):
    url, _file, gets = resource
    cache = ResourceCache(tmp_path / "resource")
    cache.materialize([url], tmp_path / "t1")
    cache.reset()
    assert cache.state() == {} and (tmp_path / "t1" / "db.txt").read_text() == "version 1"
    cache.materialize([url], tmp_path / "t2")
    assert gets() == 2


def test_concurrent_threads_wait_for_one_download(resource, http_server, tmp_path):
    url, _file, gets = resource
    slow_url = url.replace(http_server.url, http_server.url + "/slow")
    cache = ResourceCache(tmp_path / "resource")
    errors: list[BaseException] = []

    def task(i: int) -> None:
        try:
            cache.materialize([slow_url], tmp_path / f"t{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=task, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert gets() == 1
    assert all((tmp_path / f"t{i}" / "db.txt").read_text() == "version 1" for i in range(6))


def test_two_worker_processes_wait_for_one_download(resource, http_server, tmp_path, child_env):
    url, _file, gets = resource
    slow_url = url.replace(http_server.url, http_server.url + "/slow")
    http_server.slow = 1.5                               # both processes are surely asking at once
    code = ("import sys; from pathlib import Path; from scitq.io import ResourceCache; "
            "ResourceCache(Path(sys.argv[1])).materialize([sys.argv[2]], Path(sys.argv[3]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "resource"), slow_url, str(tmp_path / f"p{i}")],
                              stderr=subprocess.PIPE, text=True, env=child_env) for i in range(2)]
    try:
        for p in procs:
            assert p.wait(60) == 0, p.stderr.read()
    finally:
        http_server.slow = 0.5
    assert gets() == 1
    assert (tmp_path / "p0" / "db.txt").stat().st_ino == (tmp_path / "p1" / "db.txt").stat().st_ino


def test_several_resources_merge_into_one_folder_with_their_actions(web, tmp_path):
    url, root = web
    with tarfile.open(root / "index.tar.gz", "w:gz") as tar:
        (tmp_path / "idx").mkdir()
        (tmp_path / "idx" / "part1").write_text("p1")
        tar.add(tmp_path / "idx", arcname="idx")
    (root / "genome.fa").write_text(">g\n")
    dest = tmp_path / "task" / "resource"
    ResourceCache(tmp_path / "resource").materialize([f"{url}/index.tar.gz|untar", f"{url}/genome.fa|mv:ref"], dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == ["idx/part1", "ref/genome.fa"]


def test_a_remote_that_cannot_be_checked_anymore_is_served_from_the_cache(resource, tmp_path, http_server):
    url, file, _gets = resource
    cache = ResourceCache(tmp_path / "resource")
    cache.materialize([url], tmp_path / "t1")
    file.unlink()                                        # the remote is gone: the cached copy serves
    cache.materialize([url], tmp_path / "t2")
    assert (tmp_path / "t2" / "db.txt").read_text() == "version 1"


def test_a_resource_that_cannot_be_downloaded_is_a_download_error_recorded_as_failed(dead_url, tmp_path):
    cache = ResourceCache(tmp_path / "resource")
    with pytest.raises(DownloadError) as err:
        cache.materialize([dead_url], tmp_path / "t1")
    assert "nothing.txt" in str(err.value)


def test_a_folder_resource_comes_whole_and_is_refreshed_when_a_file_changes(tmp_path):
    src = tmp_path / "share"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.txt").write_text("x")
    (src / "y.txt").write_text("y")
    cache = ResourceCache(tmp_path / "resource")
    cache.materialize([f"{src}/"], tmp_path / "t1")
    assert (tmp_path / "t1" / "a" / "x.txt").read_text() == "x"
    (src / "y.txt").write_text("yy")
    cache.materialize([f"{src}/"], tmp_path / "t2")
    assert (tmp_path / "t2" / "y.txt").read_text() == "yy"
