"""Scatter/gather workflows with outputs under `base_storage`, run by real workers on local files."""

from __future__ import annotations

import pytest

from scitq.workflow import Workflow


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    return d


def test_a_two_step_scatter_gather_with_rel_output_collects_every_sample(server, procs, store):
    procs.worker("w1", concurrency=3, batch="sg.count")
    procs.worker("w2", concurrency=1, batch="sg.total")
    wf = Workflow(name="sg", shell=True, flavor="local", max_step_workers=2, base_storage=str(store))
    for sample in ("a", "b", "c", "d"):
        step1 = wf.step(batch="count", concurrency=3, rel_output=f"{sample}/count",
                        command=f"echo {sample} > $OUTPUT/{sample}.txt && mkdir -p $OUTPUT/stats && "
                                f"echo 1 > $OUTPUT/stats/{sample}.stat")
    step2 = wf.step(batch="total", concurrency=1, rel_output="total",
                    input=step1.gather("output") + step1.gather("output/stats|mv:stats"),
                    required_tasks=step1.gather(),
                    command="cat $INPUT/*.txt > $OUTPUT/all.txt && ls $INPUT/stats > $OUTPUT/stats.txt")
    assert step1.output == f"file://{store}/d/count/"
    counts = wf.run(refresh=5)
    assert counts == {"succeeded": 5}
    assert sorted((store / "total" / "all.txt").read_text().split()) == ["a", "b", "c", "d"]
    assert (store / "total" / "stats.txt").read_text().split() == ["a.stat", "b.stat", "c.stat", "d.stat"]
    assert step2.required_task_ids == [s.task_id for s in step1.gather()]
    assert step2.get_output() == "" and step2.get_error() == ""
    step2.refresh()
    assert step2.status == "succeeded"
    step2.download(str(store / "copy"))
    assert (store / "copy" / "all.txt").exists()


def test_gathering_a_sub_folder_without_action_brings_its_content_to_the_input_root(server, procs, store):
    procs.worker("w1", concurrency=2, batch="sub.make")
    procs.worker("w2", concurrency=1, batch="sub.use")
    wf = Workflow(name="sub", shell=True, flavor="local", max_step_workers=1, base_storage=str(store))
    for i in range(2):
        make = wf.step(batch="make", concurrency=2, rel_output=f"m{i}",
                       command=f"mkdir $OUTPUT/stats && echo {i} > $OUTPUT/stats/s{i} && echo x > $OUTPUT/big{i}")
    use = wf.step(batch="use", concurrency=1, input=make.gather("output/stats"), required_tasks=make.gather(),
                  command="ls $INPUT")
    wf.run(refresh=5)
    assert use.get_output().split() == ["s0", "s1"]
