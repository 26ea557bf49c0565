"""v1's task_properties on the worker: a running task of a batch the worker was recycled out of weighs what
the recycling said against its concurrency. Pure: no Redis."""

from __future__ import annotations

import pytest

from scitq.worker.slot import weight


@pytest.mark.parametrize("batch,own,props,expected", [
    ("a", "b", {"a": [2.0, 1]}, 2.0),           # recycled out of a into b: a's tasks weigh 2
    ("b", "b", {"b": [2.0, 1]}, 1.0),           # tasks of its own batch always weigh 1
    ("a", "b", {}, 1.0),                        # nothing said: 1
    ("", "b", {"a": [2.0, 1]}, 1.0),            # batch not known yet (starting): 1
    ("a", "b", {"a": "junk"}, 1.0),             # an entry of the wrong shape is ignored
    ("a", "b", {"a": [-1, 1]}, 1.0),
])
def test_a_running_task_weighs_what_the_workers_task_properties_say_for_its_batch(batch, own, props, expected):
    assert weight(batch, own, props) == expected
