"""The Docker runner against a real, private Docker engine: mounts, environment, live output, exit codes,
signals, re-attaching after a worker restart, container bookkeeping and image pulls."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from scitq.errors import BadInput, NotFound, ScitqError
from scitq.worker.docker_runner import LABEL_ATTEMPT, LABEL_TASK, LABEL_WORKER, DockerRunner, ImageUnavailable
from scitq.worker.runner import ExecSpec

pytestmark = [pytest.mark.docker, pytest.mark.xdist_group("docker")]


class Output:
    """Collects (time, fd, text) chunks as a runner delivers them, from any thread."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, fd: str, text: str) -> None:
        with self.lock:
            self.chunks.append((time.time(), fd, text))

    def text(self, fd: str = "stdout") -> str:
        with self.lock:
            return "".join(t for _, f, t in self.chunks if f == fd)

    def wait_for(self, needle: str, fd: str = "stdout", timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while needle not in self.text(fd):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen on {fd} in {timeout}s: {self.text(fd)!r}")
            time.sleep(0.02)
        return time.time()


def make_spec(tmp_path: Path, command: str, image: str, *, task_id: int = 1, attempt: int = 1, cpu: int = 2,
              options: str = "", env: dict | None = None) -> ExecSpec:
    workdir = tmp_path / f"exec-{task_id}-{attempt}"
    for sub in ("input", "output", "tmp", "resource"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    return ExecSpec(task_id=task_id, attempt=attempt, command=command, workdir=workdir, cpu=cpu,
                    container=image, container_options=options, env=env or {})


def container_status(client, cid: str) -> str | None:
    try:
        return client.api.inspect_container(cid)["State"]["Status"]
    except Exception:
        return None


def test_the_command_reads_input_and_writes_output(runner, busybox_image, tmp_path):
    spec = make_spec(tmp_path, "sh -c 'wc -c < /input/reads.fq > /output/count.txt; ls /input'", busybox_image)
    (spec.workdir / "input" / "reads.fq").write_text("ACGT\n" * 10)
    out = Output()
    proc = runner.start(spec, out)
    assert proc.wait(30) == 0
    assert (spec.workdir / "output" / "count.txt").read_text().strip() == "50"
    assert out.text() == "reads.fq\n"


def test_tmp_is_the_execution_tmp_dir_and_resource_is_read_only(runner, busybox_image, tmp_path):
    spec = make_spec(tmp_path, "sh -c 'echo t > /tmp/scratch && cat /resource/db.txt && echo x > /resource/new'",
                     busybox_image)
    (spec.workdir / "resource" / "db.txt").write_text("reference\n")
    out = Output()
    assert runner.start(spec, out).wait(30) != 0
    assert (spec.workdir / "tmp" / "scratch").read_text() == "t\n"
    assert out.text() == "reference\n"
    assert "Read-only file system" in out.text("stderr")
    assert not (spec.workdir / "resource" / "new").exists()


def test_the_environment_has_cpu_the_v1_paths_extra_variables_and_option_variables(runner, busybox_image, tmp_path):
    spec = make_spec(tmp_path, """sh -c 'echo "$CPU|$INPUT|$OUTPUT|$TEMP|$RESOURCE|$EXTRA|$OPT"'""", busybox_image,
                     cpu=3, env={"EXTRA": "from worker"}, options="-e OPT='from options'")
    out = Output()
    assert runner.start(spec, out).wait(30) == 0
    assert out.text() == "3|/input|/output|/tmp|/resource|from worker|from options\n"


def test_plain_command_words_run_without_a_shell_like_docker_run(runner, busybox_image, tmp_path):
    out = Output()
    spec = make_spec(tmp_path, "echo '$CPU' \"two  spaces\"", busybox_image)
    assert runner.start(spec, out).wait(30) == 0
    assert out.text() == "$CPU two  spaces\n"


def test_container_options_user_workdir_entrypoint_and_extra_volume_apply(runner, busybox_image, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "ref.txt").write_text("shared data\n")
    spec = make_spec(tmp_path, "-c 'id -u; pwd; cat /data/ref.txt; touch /data/x'", busybox_image,
                     options=f"-u 65534:65534 -w /output --entrypoint sh -v {shared}:/data:ro --network none")
    out = Output()
    assert runner.start(spec, out).wait(30) != 0
    assert out.text() == "65534\n/output\nshared data\n"
    assert "Read-only file system" in out.text("stderr")


def test_a_container_run_as_another_user_can_write_its_output_and_tmp(runner, busybox_image, tmp_path):
    spec = make_spec(tmp_path, "sh -c 'cat /input/in.txt > /output/out.txt && touch /tmp/t'", busybox_image,
                     options="-u 65534:65534")
    (spec.workdir / "input" / "in.txt").write_text("readable\n")
    out = Output()
    assert runner.start(spec, out).wait(30) == 0, out.text("stderr")
    assert (spec.workdir / "output" / "out.txt").read_text() == "readable\n"
    assert (spec.workdir / "output" / "out.txt").stat().st_uid == 65534


def test_limits_and_privileges_reach_the_engine(runner, busybox_image, tmp_path, docker_client):
    spec = make_spec(tmp_path, "sh -c 'exit 1'", busybox_image,
                     options="--shm-size 64m --init --runtime runc --cpus 1 -m 256m "
                             "--ulimit nofile=512:1024 --add-host db:10.1.2.3 -l team=bio")
    proc = runner.start(spec, Output())
    assert proc.wait(30) == 1        # kept: failed
    info = docker_client.api.inspect_container(proc.ident)
    host = info["HostConfig"]
    assert host["ShmSize"] == 64 * 2**20 and host["Init"] and host["Runtime"] == "runc"
    assert host["NanoCpus"] == 10**9 and host["Memory"] == 256 * 2**20 and host["ExtraHosts"] == ["db:10.1.2.3"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 512, "Hard": 1024}]
    assert info["Config"]["Labels"]["team"] == "bio"


def test_unknown_options_are_refused_before_any_container_is_made(runner, busybox_image, tmp_path, docker_client):
    before = len(docker_client.api.containers(all=True))
    with pytest.raises(BadInput, match="--detonate"):
        runner.start(make_spec(tmp_path, "true", busybox_image, options="--detonate now"), Output())
    assert len(docker_client.api.containers(all=True)) == before


def test_a_command_the_image_lacks_fails_to_start_with_the_engines_reason(runner, busybox_image, tmp_path):
    with pytest.raises(ScitqError, match="no-such-tool"):
        runner.start(make_spec(tmp_path, "no-such-tool --version", busybox_image), Output())
    assert runner.running_containers() == []


def test_output_arrives_live_and_separated_before_the_container_exits(runner, busybox_image, tmp_path):
    spec = make_spec(tmp_path, "sh -c 'echo first; echo oops >&2; sleep 3; echo last'", busybox_image)
    out = Output()
    started = time.time()
    proc = runner.start(spec, out)
    seen = out.wait_for("first", timeout=2.5)
    out.wait_for("oops", fd="stderr", timeout=2.5)
    assert proc.wait(0) is None, "the container should still run"
    assert proc.wait(30) == 0
    ended = time.time()
    assert seen - started < 2.5 and ended - seen > 1.5
    assert out.text() == "first\nlast\n" and out.text("stderr") == "oops\n"


def test_the_exit_code_is_recorded_and_a_failed_container_kept_until_removed(runner, busybox_image, tmp_path,
                                                                              docker_client):
    proc = runner.start(make_spec(tmp_path, "sh -c 'echo bad input >&2; exit 3'", busybox_image, task_id=7), Output())
    assert proc.wait(30) == 3
    kept = runner.running_containers()
    assert [(c["id"], c["task_id"], c["status"], c["exit_code"]) for c in kept] == [(proc.ident, 7, "exited", 3)]
    runner.remove(proc.ident)
    assert container_status(docker_client, proc.ident) is None
    runner.remove(proc.ident)   # removing twice is harmless


def test_a_succeeded_container_is_removed(runner, busybox_image, tmp_path, docker_client):
    proc = runner.start(make_spec(tmp_path, "true", busybox_image), Output())
    assert proc.wait(30) == 0
    assert container_status(docker_client, proc.ident) is None


def counter(n: int = 600) -> str:
    return f"sh -c 'i=0; while [ $i -lt {n} ]; do echo $i; i=$((i+1)); sleep 0.05; done'"


def test_sigtstp_and_sigstop_pause_the_container_and_sigcont_resumes_it(runner, busybox_image, tmp_path,
                                                                         docker_client):
    out = Output()
    proc = runner.start(make_spec(tmp_path, counter(), busybox_image), out)
    out.wait_for("3\n")
    for pause in (signal.SIGTSTP, signal.SIGSTOP):
        proc.send_signal(pause)
        assert container_status(docker_client, proc.ident) == "paused"
        time.sleep(0.3)                       # let the last lines before the pause arrive
        frozen = out.text()
        time.sleep(1.0)
        assert out.text() == frozen, "a paused container must not make progress"
        proc.send_signal(pause)               # pausing twice is harmless
        proc.send_signal(signal.SIGCONT)
        assert container_status(docker_client, proc.ident) == "running"
        deadline = time.monotonic() + 5
        while out.text() == frozen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.text() != frozen, "output resumes after SIGCONT"
    proc.send_signal(signal.SIGCONT)          # resuming a running container is harmless
    proc.kill()
    assert proc.wait(30) == 137


def test_sigterm_stops_the_container_gracefully(runner, busybox_image, tmp_path):
    out = Output()
    cmd = "sh -c 'trap \"echo cleaning up; exit 143\" TERM; echo ready; while true; do sleep 0.1; done'"
    proc = runner.start(make_spec(tmp_path, cmd, busybox_image), out)
    out.wait_for("ready")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert time.monotonic() - t0 < 1, "send_signal must not block for docker stop's grace period"
    assert proc.wait(10) == 143
    assert "cleaning up" in out.text()


def test_sigterm_ignored_is_followed_by_a_kill_after_the_grace_period(runner, busybox_image, tmp_path):
    out = Output()
    proc = runner.start(make_spec(tmp_path, "sh -c 'trap \"\" TERM; echo ready; sleep 60'", busybox_image), out)
    out.wait_for("ready")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 137
    assert runner.stop_grace - 0.5 < time.monotonic() - t0 < runner.stop_grace + 5


def test_sigkill_and_kill_end_the_container_at_once_even_when_paused(runner, busybox_image, tmp_path):
    for how in ("signal", "kill"):
        out = Output()
        proc = runner.start(make_spec(tmp_path, counter(), busybox_image, task_id=2), out)
        out.wait_for("1\n")
        proc.send_signal(signal.SIGTSTP)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGKILL) if how == "signal" else proc.kill()
        assert proc.wait(10) == 137
        assert time.monotonic() - t0 < 5
        proc.kill()                           # killing an ended container is harmless
        runner.remove(proc.ident)


def test_other_signals_cannot_be_sent_to_a_container(runner, busybox_image, tmp_path):
    proc = runner.start(make_spec(tmp_path, "sleep 30", busybox_image), Output())
    for signum in (signal.SIGQUIT, signal.SIGINT, signal.SIGUSR1, signal.SIGHUP):
        with pytest.raises(ValueError, match=f"cannot send signal {int(signum)} to a container"):
            proc.send_signal(signum)
    proc.kill()
    assert proc.wait(10) == 137


def test_containers_carry_scitq_labels_and_are_listed_by_worker(runner, busybox_image, tmp_path, docker_client):
    a = runner.start(make_spec(tmp_path, "sleep 30", busybox_image, task_id=11, attempt=1), Output())
    b = runner.start(make_spec(tmp_path, "sleep 30", busybox_image, task_id=12, attempt=2), Output())
    labels = docker_client.api.inspect_container(a.ident)["Config"]["Labels"]
    assert labels[LABEL_TASK] == "11" and labels[LABEL_ATTEMPT] == "1" and labels[LABEL_WORKER] == runner.worker
    listed = {c["task_id"]: c for c in runner.running_containers()}
    assert set(listed) == {11, 12}
    assert listed[12]["id"] == b.ident and listed[12]["attempt"] == 2 and listed[12]["status"] == "running"
    assert listed[12]["exit_code"] is None and listed[12]["worker"] == runner.worker
    assert listed[12]["image"] == busybox_image
    other = DockerRunner(docker_client, worker=runner.worker + "-other")
    assert other.running_containers() == []
    for p in (a, b):
        p.kill()
        assert p.wait(10) == 137


def test_a_restarted_worker_reattaches_to_its_running_container_and_gets_all_output_and_the_exit_code(
        docker_client, dockerd, busybox_image, tmp_path):
    first = DockerRunner(dockerd.client(), worker="restarting")
    cmd = "sh -c 'for i in 1 2 3 4 5 6 7 8; do echo line $i; echo err $i >&2; sleep 0.4; done; exit 7'"
    before = Output()
    proc = first.start(make_spec(tmp_path, cmd, busybox_image, task_id=21, attempt=3), before)
    before.wait_for("line 2")
    # the worker dies: its runner, client and process handle are gone; the container keeps running
    cid = proc.ident
    first.client.close()
    del first, proc

    again = DockerRunner(dockerd.client(), worker="restarting")
    [found] = again.running_containers()
    assert (found["id"], found["task_id"], found["attempt"], found["status"]) == (cid, 21, 3, "running")
    everything = Output()
    resumed = again.reattach(found["id"], everything)
    assert resumed.ident == cid
    assert resumed.wait(30) == 7
    assert everything.text() == "".join(f"line {i}\n" for i in range(1, 9))
    assert everything.text("stderr") == "".join(f"err {i}\n" for i in range(1, 9))
    assert again.running_containers()[0]["exit_code"] == 7      # failed: kept for debugging
    again.remove(cid)


def test_reattach_since_the_last_chunk_streams_only_what_came_after(runner, busybox_image, tmp_path):
    cmd = "sh -c 'echo early; sleep 1.5; echo late; sleep 0.5'"
    before = Output()
    proc = runner.start(make_spec(tmp_path, cmd, busybox_image), before)
    before.wait_for("early")
    last_chunk_at = before.chunks[-1][0]
    after = Output()
    resumed = runner.reattach(proc.ident, after, since=last_chunk_at)
    assert resumed.wait(30) == 0
    assert after.text() == "late\n"


def test_reattach_to_a_container_that_ended_while_the_worker_was_down(runner, busybox_image, tmp_path,
                                                                       docker_client):
    cid = docker_client.api.create_container(busybox_image, ["sh", "-c", "echo done before; exit 4"],
                                             labels={LABEL_TASK: "31", LABEL_ATTEMPT: "1",
                                                     LABEL_WORKER: runner.worker},
                                             host_config=docker_client.api.create_host_config(network_mode="none"))["Id"]
    docker_client.api.start(cid)
    docker_client.api.wait(cid)
    [found] = runner.running_containers()
    assert found["status"] == "exited" and found["exit_code"] == 4
    out = Output()
    assert runner.reattach(cid, out).wait(10) == 4
    assert out.text() == "done before\n"


def test_reattach_to_a_removed_container_is_not_found(runner):
    with pytest.raises(NotFound, match="no longer exists"):
        runner.reattach("0123456789abcdef" * 4, Output())


def test_the_default_network_is_the_one_the_engine_offers(runner, busybox_image, tmp_path):
    out = Output()
    assert runner.start(make_spec(tmp_path, "cat /proc/net/dev", busybox_image), out).wait(30) == 0
    interfaces = {line.split(":")[0].strip() for line in out.text().splitlines()[2:]}
    assert interfaces == {"lo"}        # this engine has no bridge: containers get no network but loopback
    host = Output()
    assert runner.start(make_spec(tmp_path, "cat /proc/net/dev", busybox_image, options="--network host"),
                        host).wait(30) == 0
    assert len(host.text().splitlines()) >= len(out.text().splitlines())


def test_an_image_is_looked_up_once_per_worker(runner, docker_client, busybox_image):
    docker_client.api.tag(busybox_image, "scitq-test/once", "1")
    runner.ensure_image("scitq-test/once:1")
    docker_client.api.remove_image("scitq-test/once:1")
    runner.ensure_image("scitq-test/once:1")          # cached: the engine is not asked again


def test_a_pull_failure_says_which_image_and_why(runner, tmp_path):
    closed = f"127.0.0.1:{_closed_port()}/nobody/nothing:1"
    with pytest.raises(ImageUnavailable) as err:
        runner.ensure_image(closed)
    assert f"cannot pull image {closed}" in err.value.message and "connection refused" in err.value.message.lower()
    assert "config.json" in err.value.hint
    with pytest.raises(ImageUnavailable):
        runner.start(make_spec(tmp_path, "true", closed), Output())


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def private_image(registry, docker_client):
    """An image only the local private registry has (pushed with credentials, then removed locally)."""
    from dockerd import build_busybox_image
    local = build_busybox_image(docker_client, "scitq-test/private:1", files={"hello.txt": b"from the registry\n"})
    remote = registry.push(docker_client, local, "scitq/private:1")
    for tag in (remote, local):
        docker_client.api.remove_image(tag, force=True)
    return remote


def test_a_private_image_is_pulled_with_the_credentials_of_the_docker_config(
        runner, private_image, registry, tmp_path, monkeypatch, docker_client):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-config"))
    with pytest.raises(ImageUnavailable) as err:
        runner.ensure_image(private_image)
    assert private_image in err.value.message and "auth" in err.value.message.lower()

    monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config(tmp_path / "docker-config")))
    runner.ensure_image(private_image)
    out = Output()
    assert runner.start(make_spec(tmp_path, "cat /hello.txt", private_image), out).wait(30) == 0
    assert out.text() == "from the registry\n"
    docker_client.api.remove_image(private_image, force=True)


def test_a_private_image_is_pulled_with_credentials_given_by_settings(
        docker_client, private_image, registry, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty-config"))
    runner = DockerRunner(docker_client, worker="w-auth", registry_auth={registry.address: registry.auth})
    runner.ensure_image(private_image)
    docker_client.api.inspect_image(private_image)
    docker_client.api.remove_image(private_image, force=True)
