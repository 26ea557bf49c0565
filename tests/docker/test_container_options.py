"""Container options are read like `docker run` reads them, into docker SDK arguments, and refused when unknown."""

from __future__ import annotations

import pytest

from scitq.errors import BadInput
from scitq.container_options import parse_container_options


def test_no_options_give_no_arguments():
    assert parse_container_options("") == {}
    assert parse_container_options(None) == {}


def test_the_usual_options_become_sdk_arguments():
    got = parse_container_options("--gpus all -u 1000:1000 -e A=1 --env B='two words' -v /data:/data:ro "
                                  "--network host -w /analysis --entrypoint /bin/sh --shm-size 2g --privileged")
    assert got == {
        "device_requests": [{"driver": "", "count": -1, "device_ids": [], "capabilities": [["gpu"]], "options": {}}],
        "user": "1000:1000",
        "environment": {"A": "1", "B": "two words"},
        "volumes": ["/data:/data:ro"],
        "network_mode": "host",
        "working_dir": "/analysis",
        "entrypoint": "/bin/sh",
        "shm_size": "2g",
        "privileged": True,
    }


def test_equals_forms_and_glued_short_options_are_read_as_docker_does():
    assert parse_container_options("--user=0:0 --network=none -eX=1 -e=Y=2 --privileged=false") == {
        "user": "0:0", "network_mode": "none", "environment": {"X": "1", "Y": "2"}, "privileged": False}


def test_gpu_requests_by_count_and_by_device():
    assert parse_container_options("--gpus 2")["device_requests"][0]["count"] == 2
    req = parse_container_options("--gpus '\"device=0,2\",capabilities=compute'")["device_requests"][0]
    assert req["device_ids"] == ["0", "2"] and req["capabilities"] == [["compute", "gpu"]] and req["count"] == 0


def test_resource_limits_and_extras():
    got = parse_container_options("--cpus 1.5 -m 4g --ulimit nofile=1024:2048 --init --read-only "
                                  "--add-host db:10.0.0.2 --tmpfs /scratch:size=1g --cap-add SYS_PTRACE -l team=bio")
    assert got["nano_cpus"] == 1_500_000_000 and got["mem_limit"] == "4g" and got["init"] and got["read_only"]
    assert got["ulimits"] == [{"name": "nofile", "soft": 1024, "hard": 2048}]
    assert got["extra_hosts"] == {"db": "10.0.0.2"} and got["tmpfs"] == {"/scratch": "size=1g"}
    assert got["cap_add"] == ["SYS_PTRACE"] and got["labels"] == {"team": "bio"}


def test_rm_is_accepted_and_ignored_since_scitq_removes_succeeded_containers_itself():
    assert parse_container_options("--rm") == {}


def test_an_empty_entrypoint_clears_the_image_entrypoint():
    assert parse_container_options("--entrypoint ''") == {"entrypoint": [""]}


@pytest.mark.parametrize("opts, named", [
    ("--foo", "--foo"),
    ("--gpus all --mystery 3", "--mystery"),
    ("-x", "-x"),
    ("-it", "-it"),
    ("-d", "-d"),
    ("--name job", "--name"),
    ("-p 80:80", "-p"),
    ("-e", "-e"),
    ("--shm-size lots", "--shm-size"),
    ("--cpus many", "--cpus"),
    ("-v /only-one-part", "-v"),
    ("-v /a:relative", "-v"),
    ("-v /a:/input", "-v"),
    ("-v /a:/b:sideways", "-v"),
    ("--gpus 0", "--gpus"),
    ("--gpus colour=red", "--gpus"),
    ("--privileged=maybe", "--privileged"),
    ("-l scitq.task=3", "-l"),
])
def test_unknown_refused_or_malformed_options_are_bad_input_naming_the_option(opts, named):
    with pytest.raises(BadInput) as err:
        parse_container_options(opts)
    assert f"container option {named}:" in str(err.value)
    assert err.value.hint and "supported options" in err.value.hint


def test_a_stray_word_is_refused_with_a_reason():
    with pytest.raises(BadInput, match="unexpected word 'ubuntu'"):
        parse_container_options("-u 0 ubuntu")


def test_unbalanced_quotes_are_refused():
    with pytest.raises(BadInput, match="No closing quotation"):
        parse_container_options("-e 'A=1")


def test_options_are_never_interpreted_by_a_shell():
    got = parse_container_options("-e 'X=$(touch /tmp/pwned); `id`'")
    assert got == {"environment": {"X": "$(touch /tmp/pwned); `id`"}}


@pytest.mark.parametrize("opts", ["-e AWS_SECRET_ACCESS_KEY", "--env HOME", "-eSCITQ_SERVER", "--env=PATH"])
def test_an_environment_name_without_a_value_is_refused_since_it_would_copy_the_workers_variable(opts, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    with pytest.raises(BadInput, match="has no value: a task never receives the worker's environment"):
        parse_container_options(opts)
