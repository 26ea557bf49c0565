"""The v1 `Server` surface: names, arguments, styles, shell wrapping, errors."""

from __future__ import annotations

import argparse
import datetime
import inspect

import pytest

from scitq.api.v1 import Server, shell_wrap
from scitq.errors import BadInput, NotFound, Unreachable


def test_shell_true_wraps_the_command_in_sh_c_with_safe_quoting():
    assert shell_wrap("echo $CPU", True) == "sh -c 'echo $CPU'"
    assert shell_wrap("echo 'quoted'", "bash") == "bash -c 'echo '\"'\"'quoted'\"'\"''"
    assert shell_wrap("echo x", False) == "echo x"


def test_v1_method_names_and_arguments_are_all_there():
    expected = {
        "task_create": ["command", "name", "status", "batch", "input", "output", "container", "container_options",
                        "resource", "required_task_ids", "shell", "retry", "download_timeout", "run_timeout",
                        "use_cache"],
        "task_update": ["id", "command", "name", "status", "batch", "input", "output", "container",
                        "container_options", "resource", "required_task_ids", "retry", "download_timeout",
                        "run_timeout", "use_cache"],
        "executions": ["task_id", "status", "latest", "batch", "task_name", "execution_id", "limit", "reverse",
                       "no_output", "trunc"],
        "execution_output": ["id", "output", "error", "output_position", "error_position"],
        "worker_update": ["id", "name", "hostname", "concurrency", "status", "batch", "permanent", "prefetch",
                          "flavor", "task_properties", "asynchronous"],
        "join": ["task_list", "retry", "check"], "batch_stop": ["batch", "signal"], "batch_go": ["batch", "signal"],
        "batch_delete": ["batch"], "task_status": ["task_id_list"], "task_get": ["id"], "task_delete": ["id"],
        "worker_delete": ["id"], "batches": [], "workers": [],
    }
    for name, params in expected.items():
        sig = inspect.signature(getattr(Server, name))
        got = [p for p in sig.parameters if p != "self" and sig.parameters[p].kind != inspect.Parameter.VAR_KEYWORD]
        assert got[:len(params)] == params, name


def test_object_style_gives_namespaces_and_both_styles_give_dates_as_datetimes(procs):
    procs.server()
    t = Server(style="object").task_create("echo hi", name="n1", input=["s3://b/a", "s3://b/b"])
    assert isinstance(t, argparse.Namespace) and t.name == "n1" and t.input == "s3://b/a s3://b/b"
    assert isinstance(t.creation_date, datetime.datetime)
    d = Server().task_get(t.task_id)
    assert isinstance(d["creation_date"], datetime.datetime) and d["status"] == "pending"
    assert d["creation_date"] <= datetime.datetime.utcnow(), "v1 dates are naive UTC datetimes"
    assert Server().task_status([t.task_id]) == ["pending"]


def test_unknown_ids_and_bad_styles_raise_clear_errors(procs):
    procs.server()
    s = Server()
    with pytest.raises(NotFound, match="no task 77"):
        s.task_get(77)
    with pytest.raises(BadInput, match="style must be"):
        Server(style="xml")
    with pytest.raises(BadInput, match="Do not set Docker options"):
        s.task_create("x", container_options="--gpus all")
    with pytest.raises(BadInput, match="unknown task filter"):
        s.tasks(colour="red")
    with pytest.raises(NotFound, match="no worker 77"):
        s.worker_signals(77)
    with pytest.raises(BadInput, match="unknown worker filter"):
        s.workers(colour="red")
    assert s.workers(batch="nobody", status=["running", "paused"]) == []


def test_a_non_persistent_client_raises_unreachable_at_once(env):
    with pytest.raises(Unreachable, match="127.0.0.1:1"):
        Server("redis://127.0.0.1:1/0", persistent=False).tasks()
