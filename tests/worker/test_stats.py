"""The heartbeat's disk and network figures, read from /proc-like files."""

from __future__ import annotations

import json

from scitq.api.client import _v1_stats
from scitq.projections.views import WorkerView
from scitq.worker import stats


def test_disk_bytes_count_whole_disks_only(tmp_path):
    (tmp_path / "block").mkdir()
    for name in ("vda", "nvme0n1", "loop0", "dm-0"):
        (tmp_path / "block" / name).mkdir()
    (tmp_path / "diskstats").write_text(
        " 253 0 vda 10 0 100 0 20 0 200 0 0 0 0\n"
        " 253 1 vda1 10 0 100 0 20 0 200 0 0 0 0\n"        # a partition: already in vda
        " 259 0 nvme0n1 1 0 8 0 1 0 16 0 0 0 0\n"
        "   7 0 loop0 5 0 50 0 5 0 50 0 0 0 0\n"           # loop and device-mapper: the same bytes again
        " 254 0 dm-0 5 0 50 0 5 0 50 0 0 0 0\n"
        "garbage\n")
    assert stats._disk_bytes(str(tmp_path / "diskstats"), str(tmp_path / "block")) == (108 * 512, 216 * 512)
    assert stats._disk_bytes(str(tmp_path / "missing"), str(tmp_path / "block")) == (0, 0)


def test_network_bytes_leave_out_the_loopback(tmp_path):
    (tmp_path / "dev").write_text(
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
        "    lo: 999 9 0 0 0 0 0 0 999 9 0 0 0 0 0 0\n"
        "  eth0: 1000 10 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n"
        "  eth1: 24 1 0 0 0 0 0 0 12 1 0 0 0 0 0 0\n")
    assert stats._net_bytes(str(tmp_path / "dev")) == (1024, 312)


def test_speeds_are_per_second_since_the_previous_call_and_never_negative():
    stats._counters.pop("test", None)
    assert stats._speed("test", 10.0, (1000, 0)) == (0.0, 0.0)
    assert stats._speed("test", 12.0, (3000, 500)) == (1000.0, 250.0)
    assert stats._speed("test", 13.0, (0, 500)) == (0.0, 0.0)     # counters reset (reboot, wrap)


def test_the_heartbeat_carries_the_io_fields_and_v1_stats_json(tmp_path):
    got = stats.collect_stats(tmp_path)
    for key in ("disk_read", "disk_write", "disk_read_total", "disk_write_total", "net_recv", "net_sent",
                "net_recv_total", "net_sent_total"):
        assert isinstance(got[key], int) and got[key] >= 0
    w = {"loadavg": "0.1 0.2 0.3", "disk": 42.0, "disk_read": 2_000_000, "disk_write": 1_000_000,
         "disk_read_total": 3_000_000_000, "disk_write_total": 0, "net_recv": 500_000, "net_sent": 0,
         "net_recv_total": 1_000_000_000, "net_sent_total": 0}
    v1 = json.loads(_v1_stats(WorkerView(**w)))
    assert v1 == {"load": "0.1 0.2 0.3",
                  "disk": {"speed": "2.0/1.0 Mb/s", "usage": ["/:42.0"], "counter": "3.0/0.0 Gb"},
                  "network": {"speed": "0.0/0.5 Mb/s", "counter": "0.0/1.0 Gb"}}
    assert _v1_stats(WorkerView(disk_read=None)) is None


def test_heartbeat_counters_are_read_whether_ints_or_floats_and_garbage_is_blank():
    from scitq.api.client import _count
    assert [_count(v) for v in ("1234", "1234.6", "", None, "n/a", "-5")] == [1234, 1235, None, None, None, 0]
