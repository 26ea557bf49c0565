"""Test helper: a replicated Valkey on loopback (a primary, a replica, three Sentinels), real processes only."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from scitq.server.embedded import free_port, valkey_binary

SERVICE = "scitq"
PASSWORD = "test-password"


class SentinelCluster:
    """Two Valkey nodes (AOF on both, the second a replica of the first) and three Sentinels watching them
    (quorum 2, the primary declared down after `down_after_ms` of silence). The nodes share the password
    of the default user (`masterauth` for the replica, `auth-pass` for the Sentinels)."""

    def __init__(self, workdir: Path, down_after_ms: int = 1000, sentinels: int = 3, quorum: int = 2) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.down_after_ms = down_after_ms
        self.quorum = quorum
        self.node_ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.nodes: dict[int, subprocess.Popen] = {}
        self.sentinels: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://:{PASSWORD}@{hosts}/{SERVICE}"

    def node_client(self, port: int, **kw) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_connect_timeout=1, **kw)

    def _spawn(self, conf: Path, *extra: str) -> subprocess.Popen:
        return subprocess.Popen([valkey_binary(), str(conf), *extra], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start_node(self, port: int, replica_of: int | None = None) -> None:
        d = self.dir / f"node-{port}"
        d.mkdir(exist_ok=True)
        conf = d / "valkey.conf"
        if not conf.exists():   # a restarted node keeps the configuration Sentinel may have rewritten
            lines = ["bind 127.0.0.1", f"port {port}", f"requirepass {PASSWORD}", f"masterauth {PASSWORD}",
                     f"dir {d}", "appendonly yes", "appendfsync everysec", 'save ""',
                     f"logfile {d / 'valkey.log'}"]
            if replica_of is not None:
                lines.append(f"replicaof 127.0.0.1 {replica_of}")
            conf.write_text("\n".join(lines) + "\n")
        self.nodes[port] = self._spawn(conf)
        self._wait(lambda: self.node_client(port).ping(), f"node {port}")

    def start_sentinel(self, port: int, primary: int) -> None:
        d = self.dir / f"sentinel-{port}"
        d.mkdir(exist_ok=True)
        conf = d / "sentinel.conf"
        conf.write_text("\n".join([
            "bind 127.0.0.1", f"port {port}", f"dir {d}", f"logfile {d / 'sentinel.log'}",
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} {self.quorum}",
            f"sentinel auth-pass {SERVICE} {PASSWORD}",
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}",
            f"sentinel failover-timeout {SERVICE} 10000",
            f"sentinel parallel-syncs {SERVICE} 1", ""]))
        self.sentinels[port] = self._spawn(conf, "--sentinel")
        self._wait(lambda: redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping(),
                   f"sentinel {port}")

    def start(self) -> None:
        primary, replica = self.node_ports
        self.start_node(primary)
        self.start_node(replica, replica_of=primary)
        self._wait(lambda: self.node_client(replica).info("replication").get("master_link_status") == "up",
                   "the replica to sync")
        for port in self.sentinel_ports:
            self.start_sentinel(port, primary)
        # every Sentinel knows the replica and the other Sentinels before anything is killed
        self._wait(lambda: all(self._sentinel_sees_all(p) for p in self.sentinel_ports), "the Sentinels to agree")

    def _sentinel_sees_all(self, port: int) -> bool:
        s = redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_connect_timeout=1)
        master = s.execute_command("SENTINEL", "MASTER", SERVICE)
        info = dict(zip(master[::2], master[1::2])) if isinstance(master, list) else master
        return (int(info.get("num-slaves", 0)) >= 1
                and int(info.get("num-other-sentinels", 0)) >= len(self.sentinel_ports) - 1)

    def primary_port(self) -> int:
        s = redis.Redis(host="127.0.0.1", port=self.sentinel_ports[0], decode_responses=True,
                        socket_connect_timeout=1)
        return int(s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)[1])

    def kill_primary(self) -> int:
        """kill -9 the node that is primary now; returns its port."""
        port = self.primary_port()
        p = self.nodes[port]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        return port

    def restart_node(self, port: int, replica_of: int | None = None) -> None:
        """Start a killed node again, as an operator would, here as a replica of `replica_of` (the Sentinels
        would make it one too, but only after a while)."""
        conf = self.dir / f"node-{port}" / "valkey.conf"
        extra = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of is not None else []
        self.nodes[port] = self._spawn(conf, *extra)
        self._wait(lambda: self.node_client(port).ping(), f"node {port}")

    def stop(self) -> None:
        for p in [*self.sentinels.values(), *self.nodes.values()]:
            if p.poll() is None:
                p.terminate()
        for p in [*self.sentinels.values(), *self.nodes.values()]:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    @staticmethod
    def _wait(probe, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if probe():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError, redis.ResponseError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            time.sleep(0.05)
