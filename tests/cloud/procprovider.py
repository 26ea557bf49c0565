"""A provider for tests that starts real `scitq worker` processes on this machine (a stand-in for `local`).

Machines are process groups recorded as pid files in $SCITQ_TEST_MACHINES; `create` waits
$SCITQ_TEST_DEPLOY_DELAY seconds first (a deploy takes time: the chaos test kills the server then),
$SCITQ_TEST_MAX_MACHINES caps them (QuotaError past it). The worker runs with the Bootstrap's own
credential URL, given in its environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from scitq.cloud.provider import Bootstrap, Flavor, Instance, Quota, QuotaError, machine_name


class ProcProvider:
    name = "local"
    prefix = "proc"

    def __init__(self) -> None:
        self.dir = Path(os.environ["SCITQ_TEST_MACHINES"])
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max = int(os.environ.get("SCITQ_TEST_MAX_MACHINES", "4"))

    def regions(self) -> list[str]:
        return ["local"]

    def flavors(self, region: str | None = None) -> list[Flavor]:
        return [Flavor(name="local", provider="local", region="local", cpu=1, ram=1.0)]

    def quotas(self) -> list[Quota]:
        return [Quota(provider="local", region="local", cpu_limit=self.max, cpu_used=len(self.list()))]

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.dir / f"{name}.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def create(self, flavor: str, region: str, boot: Bootstrap, *, timeout: float = 600.0) -> Instance:
        name = machine_name(self.prefix, boot.worker)
        if len(self.list()) >= self.max:
            raise QuotaError(f"at most {self.max} local machines", provider="local", region=region)
        time.sleep(float(os.environ.get("SCITQ_TEST_DEPLOY_DELAY", "0")))
        env = {**os.environ, "SCITQ_SERVER": boot.server_url}
        args = [sys.executable, "-m", "scitq.cli.main", "worker", "-n", boot.worker, "-C", str(boot.concurrency),
                "-p", str(boot.prefetch), "-f", boot.flavor] + (["-b", boot.batch] if boot.batch else [])
        log = open(self.dir / f"{name}.log", "ab")
        p = subprocess.Popen(args, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        (self.dir / f"{name}.pid").write_text(str(p.pid))
        with open(self.dir / "created.log", "a") as f:
            f.write(f"{name}\n")
        return Instance(name=name, provider="local", region="local", flavor=flavor, id=str(p.pid),
                        ipv4="127.0.0.1")

    def delete(self, name: str, region: str) -> None:
        pid = self._pid(name)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        (self.dir / f"{name}.pid").unlink(missing_ok=True)

    def list(self) -> list[Instance]:
        out = []
        for f in sorted(self.dir.glob(f"{self.prefix}-*.pid")):
            name = f.name[:-4]
            pid = self._pid(name)
            if pid is not None:
                out.append(Instance(name=name, provider="local", region="local", flavor="local", id=str(pid),
                                    ipv4="127.0.0.1"))
        return out
