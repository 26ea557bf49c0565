"""Work dirs and the clean order: a dir just handed out to a starting task is never taken for an unused one."""

from __future__ import annotations

from types import SimpleNamespace

from scitq.worker.workdirs import WorkDirs


def workdirs(tmp_path) -> WorkDirs:
    return WorkDirs(tmp_path / "work", SimpleNamespace(docker_started=False))   # no container to remove


def test_a_work_dir_handed_out_but_not_yet_named_by_a_slot_survives_a_clean(tmp_path):
    wd = workdirs(tmp_path)
    starting = wd.make()                       # the attempt has it; its slot does not name it yet
    assert wd.clean(0, in_use=set()) == []
    assert starting.is_dir() and (starting / "input").is_dir()


def test_a_failed_attempt_s_kept_dir_is_cleanable_once_the_attempt_ended(tmp_path):
    wd = workdirs(tmp_path)
    failed = wd.make()
    (failed / "output" / "partial").write_text("x")
    wd.done(failed)
    assert wd.clean(0, in_use=set()) == [failed]
    assert not failed.exists()


def test_a_released_empty_dir_is_reused_and_protected_again_when_handed_out(tmp_path):
    wd = workdirs(tmp_path)
    first = wd.make()
    wd.release(first, keep=1)
    again = wd.make()
    assert again == first
    wd.clean(0, in_use=set())
    assert again.is_dir()
