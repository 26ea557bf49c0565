"""Credentials inside URIs are never printed by the command lines: task lists, outputs, history, errors."""

from __future__ import annotations

from helpers import run_cli, wait_for
from scitq.lib import Server
from scitq.server.embedded import free_port

SECRETS = ("s3cr3t", "hunter2", "sigvalue", "Zm9vYmFy")


def assert_redacted(res) -> str:
    text = res.stdout + res.stderr
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} printed by {res.args}:\n{text}"
    return text


def test_the_cli_never_prints_a_password_or_a_signature_found_in_a_uri(procs, env):
    for k, v in (("SCITQ_IO_RETRY_DELAY", "0.01"), ("SCITQ_IO_RETRY_MAX_DELAY", "0.05"), ("SCITQ_IO_RETRIES", "2")):
        env[k] = procs.env[k] = v
    procs.server()
    procs.worker("w1")
    s = Server()
    port = free_port()          # nothing listens there: the download fails, and its error names the URI
    failing = s.task_create("ls /input", input=f"ftp://user:s3cr3t@127.0.0.1:{port}/data/r1.fq",
                            output=f"https://127.0.0.1:{port}/up/?sig=sigvalue&sv=1")
    echoing = s.task_create("echo fetched https://u:hunter2@127.0.0.1/x AccountKey=Zm9vYmFy;", shell=True)
    for t in (failing, echoing):
        wait_for(lambda t=t: s.task_get(t["task_id"])["status"] in ("succeeded", "failed"), timeout=90,
                 what=f"task {t['task_id']} to end")
    shown = [
        run_cli("scitq-manage", "task", "list", "-L", env=env),
        run_cli("scitq-manage", "task", "list", env=env),
        run_cli("scitq-manage", "task", "output", "-i", str(failing["task_id"]), env=env),
        run_cli("scitq-manage", "task", "output", "-i", str(echoing["task_id"]), "-o", env=env),
        run_cli("scitq-manage", "execution", "list", "-L", env=env),
        run_cli("scitq", "events", "history", "--task", str(failing["task_id"]), env=env),
        run_cli("scitq", "events", "history", "--task", str(echoing["task_id"]), "--json", env=env),
        run_cli("scitq-fetch", "list", f"ftp://user:s3cr3t@127.0.0.1:{port}/data/", env=env),
        run_cli("scitq-launch", "--test", "-i", f"ftp://user:hunter2@127.0.0.1:{port}/x", "echo",
                "https://h/f?X-Amz-Signature=sigvalue", env=env),
    ]
    texts = [assert_redacted(res) for res in shown]
    assert "ftp://user:***@127.0.0.1" in texts[0] and "sig=***" in texts[0]
    assert "https://u:***@127.0.0.1/x" in texts[3] and "AccountKey=***" in texts[3]
    assert "ftp://user:***@" in texts[5]
    assert shown[7].returncode != 0 and "ftp://user:***@" in texts[7]
