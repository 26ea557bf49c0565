"""The job runner with its own `jobs` credential (least privilege) runs deploy and destroy jobs: real server,
real `scitq jobs` process, the real `local` provider."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploykit import cloud_env, kill_left_machines, machines, worker_users  # noqa: E402,F401 (fixtures)
from helpers import wait_for  # noqa: E402
from scitq import access  # noqa: E402
from scitq.lib import Server  # noqa: E402


def test_a_job_runner_with_a_jobs_user_deploys_and_destroys_but_cannot_write_the_ledger(cloud_env, procs, r,
                                                                                     tmp_path):
    prefix = cloud_env["SCITQ_SERVER_NAME"]
    user, password, _ = access.add(r, "jobs", prefix)
    try:
        url = access.url_for(cloud_env["SCITQ_SERVER"], user, password)
        procs.env["SCITQ_JOBS"] = "0"
        procs.server()
        procs.spawn("jobs", log="jobs.log", extra_env={"SCITQ_SERVER": url})
        s = Server()
        [name] = s.worker_deploy(1, "b", "local", "local", 1, "local")["workers"]
        wait_for(lambda: [w["name"] for w in s.workers()] == [name], timeout=60,
                 what="the worker deployed by the jobs user:\n" + (tmp_path / "jobs.log").read_text())
        assert worker_users(r, prefix) == [f"worker-{name}"]
        s.worker_delete(s.workers()[0]["worker_id"])
        wait_for(lambda: machines(tmp_path) == [] and worker_users(r, prefix) == [], timeout=60,
                 what="the machine destroyed and its credential revoked")
        import redis
        jobs = redis.Redis.from_url(url, decode_responses=True)
        probe = access.probe(jobs)
        assert not probe.writes_ledger
    finally:
        access.revoke(r, user)
