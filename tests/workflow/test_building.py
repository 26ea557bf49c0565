"""Building a workflow: v1's exceptions, names, gather forms and defaults, checked before anything is sent."""

from __future__ import annotations

import warnings

import pytest

from scitq.path import URI
from scitq.workflow import Step, Workflow, WorkflowException, shell_code


@pytest.fixture(autouse=True)
def quiet(env):
    """No server is needed to describe a workflow (nothing is sent: conftest drops the steps at the end);
    the recruiter warning is tested elsewhere."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def wf(**kw) -> Workflow:
    return Workflow(name="w", flavor="local", max_step_workers=1, **kw)


def test_a_new_step_batch_without_flavor_concurrency_or_maximum_workers_is_refused_like_v1():
    with pytest.raises(WorkflowException, match="A flavor is mandatory as batch b"):
        Workflow(name="w", max_step_workers=1).step(batch="b", command="true", concurrency=1)
    with pytest.raises(WorkflowException, match="A concurrency is mandatory as batch b"):
        wf().step(batch="b", command="true")
    with pytest.raises(WorkflowException, match="maximum_workers is mandatory"):
        Workflow(name="w", flavor="local").step(batch="b", command="true", concurrency=1)


def test_later_steps_of_a_batch_need_no_batch_settings_and_share_the_first_ones():
    w = wf()
    a = w.step(batch="b", command="true", concurrency=3, prefetch=1)
    b = w.step(batch="b", command="false")
    assert (b.concurrency, b.prefetch, b.flavor, b.maximum_workers, b.tasks_per_worker) == (3, 1, "local", 1, 3)
    assert (a.name, b.name, b.batch) == ("b #1", "b #2", "w.b")
    assert wf(shell=True).step(batch="b", command="echo 'hi'", concurrency=1).command == "sh -c 'echo '\"'\"'hi'\"'\"''"
    assert w.previous_step is b


def test_bad_outputs_and_relative_paths_raise_workflow_exceptions():
    w = wf()
    with pytest.raises(WorkflowException, match="output must be a single path, not a list"):
        w.step(batch="b", command="true", concurrency=1, output=["/a", "/b"])
    with pytest.raises(WorkflowException, match="rel_output if Workflow.base_storage is unset"):
        w.step(batch="b", command="true", concurrency=1, rel_output="x")
    with pytest.raises(WorkflowException, match="Cannot specify rel_output and output simultaneously"):
        wf(base_storage="/tmp/x").step(batch="b", command="true", concurrency=1, rel_output="x", output="/y")
    assert w._steps == [] and w._unsent == [], "nothing was added"


def test_deploying_workflows_must_set_max_workflow_workers():
    with pytest.raises(WorkflowException, match='set the "max_workflow_workers" parameter'):
        Workflow(name="w", provider="azure", region="swedencentral")


def test_a_step_cut_by_max_workflow_workers_keeps_the_rest_for_recycling_only():
    w = Workflow(name="w", provider="local", region="here", flavor="local", max_workflow_workers=3,
                 max_step_workers=2)
    w.step(batch="a", command="true", concurrency=1)
    s = w.step(batch="b", command="true", concurrency=1)
    assert (s.maximum_workers, s.extra_workers) == (1, 1)


def test_bad_task_fields_are_refused_when_the_step_is_described():
    with pytest.raises(WorkflowException, match="Docker options"):
        wf().step(batch="b", command="true", concurrency=1, container_options="--rm")
    with pytest.raises(WorkflowException, match="Defect in input"):
        wf().step(batch="b", command="true", concurrency=1, input="s3://")
    with pytest.raises(WorkflowException, match="is not a task"):
        wf().step(batch="b", command="true", concurrency=1, required_tasks=["x"])
    with pytest.raises(WorkflowException, match="remote functions are not supported"):
        wf().step(batch="b", command=print, concurrency=1)


def test_gather_forms_give_steps_outputs_sub_folders_and_actions():
    w = wf(base_storage=URI("s3://bucket/run"))
    for s in ("x", "y"):
        last = w.step(batch="b", command="true", concurrency=1, rel_output=s)
    assert [type(s) for s in last.gather()] == [Step, Step]
    assert last.gather("output") == ["s3://bucket/run/x/", "s3://bucket/run/y/"]
    assert last.gather("output/stats") == ["s3://bucket/run/x/stats", "s3://bucket/run/y/stats"]
    assert last.gather("output|mv:m") == ["s3://bucket/run/x/|mv:m", "s3://bucket/run/y/|mv:m"]
    assert last.gather("output/stats|mv:stats") == ["s3://bucket/run/x/stats|mv:stats",
                                                    "s3://bucket/run/y/stats|mv:stats"]
    with pytest.raises(WorkflowException, match="expected 'step', 'output'"):
        last.gather("input")


def test_inputs_and_resources_may_be_lists_or_uris_and_rel_input_joins_base_storage():
    w = wf(base_storage="/data")
    s = w.step(batch="b", command="true", concurrency=1, input=[URI("s3://b/1"), "s3://b/2"],
               resource=URI("s3://b/r.tgz|untar"))
    t = w.step(batch="b", command="true", rel_input="in/")
    assert (s.input, s.resource, t.input) == ("s3://b/1 s3://b/2", "s3://b/r.tgz|untar", "file:///data/in/")


def test_shell_code_becomes_a_shell_command_carrying_the_script():
    w = wf()
    s = w.step(batch="b", command=shell_code("echo one\necho two\n"), concurrency=1, shell="bash")
    assert s.command.startswith("bash -c ") and "echo two" in s.command


def test_the_path_uri_joins_and_tests_local_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    u = URI(str(tmp_path))
    assert str(u / "d" / "f") == f"file://{tmp_path}/d/f" and repr(URI("s3://b") / "/x") == 'URI("s3://b/x")'
    assert (u / "d").isdir() and (u / "d" / "f").isfile() and not (u / "nope").exists()
    assert u + "/z" == f"file://{tmp_path}/z" and (u / "d").path == f"{tmp_path}/d"
    assert [e.rel_name for e in (u / "d").list()] == ["f"]
    with pytest.raises(Exception, match="complete URI"):
        u / "s3://other"
