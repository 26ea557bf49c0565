"""Disk autoclean: past the threshold, the oldest work dirs no task uses are removed, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

from scitq.io import ResourceCache, autoclean, disk_usage_percent


def make_dirs(base: Path, names: list[str]) -> list[Path]:
    out = []
    for age, name in enumerate(names):
        d = base / name
        (d / "output").mkdir(parents=True)
        (d / "output" / "log").write_text(name)
        t = 1_000_000 + age * 100            # oldest first
        os.utime(d, (t, t))
        out.append(d)
    return out


def test_below_the_threshold_nothing_is_removed(tmp_path):
    make_dirs(tmp_path, ["a", "b"])
    assert autoclean(tmp_path, 99.0, set(), usage=lambda p: 50.0) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_oldest_unused_dirs_go_first_until_usage_is_below_the_threshold(tmp_path):
    a, b, c, d = make_dirs(tmp_path, ["a", "b", "c", "d"])

    def usage(_p: Path) -> float:                  # 95 % used, each removal frees 4 %
        return 95.0 - 4.0 * sum(not x.exists() for x in (a, b, c, d))

    removed = autoclean(tmp_path, 90.0, {a}, usage=usage)
    assert removed == [b, c]                       # a is in use, so b then c (oldest first)
    assert a.exists() and d.exists()


def test_the_resource_cache_and_hidden_dirs_are_never_removed(tmp_path):
    ResourceCache(tmp_path / "resource")
    (tmp_path / ".spool").mkdir()
    old, = make_dirs(tmp_path, ["old"])
    removed = autoclean(tmp_path, 0.0, set(), usage=lambda p: 100.0)
    assert removed == [old]
    assert (tmp_path / "resource").is_dir() and (tmp_path / ".spool").is_dir()


def test_disk_usage_is_a_percentage_of_the_real_file_system(tmp_path):
    assert 0.0 < disk_usage_percent(tmp_path) <= 100.0
