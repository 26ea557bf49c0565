"""Provides the one settings model holding every default of scitq (environment `SCITQ_*` overrides)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from scitq.events.model import DEFAULT_BATCH, EXECUTION_STATUSES, TASK_STATUSES, WORKER_STATUSES

__all__ = ["Settings", "settings", "DEFAULT_BATCH", "TASK_STATUS", "EXECUTION_STATUS", "WORKER_STATUS"]

# the statuses are declared with the model (scitq.events.model); these are the v1-style lists of them
TASK_STATUS = list(TASK_STATUSES)
EXECUTION_STATUS = list(EXECUTION_STATUSES)
WORKER_STATUS = list(WORKER_STATUSES)


def _short_hostname() -> str:
    import socket
    return socket.gethostname().split(".")[0] or "scitq"


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "scitq"


class Settings(BaseModel):
    """Every tunable of scitq. Read once from the environment by `Settings.from_env()`."""

    home: Path = Field(default_factory=_default_home, description="SCITQ_HOME: data dir (Valkey data, connection file, worker spool)")
    server: str | None = Field(None, description="SCITQ_SERVER: host (v1 style), redis:// / rediss:// URL, or "
                                "redis+sentinel://[user:pass@]host:port[,host:port...]/service (docs/scaling.md)")
    redis: str | None = Field(None, description="SCITQ_REDIS: Redis URL used by `scitq server` instead of the embedded Valkey")
    redis_password: str | None = Field(None, description="SCITQ_REDIS_PASSWORD: password used with a bare host in SCITQ_SERVER")
    redis_port: int = Field(6379, description="SCITQ_REDIS_PORT: port used with a bare host in SCITQ_SERVER")
    tls_ca: str | None = Field(None, description="SCITQ_TLS_CA: CA certificate file checking a rediss:// server (default: the system CAs)")
    tls_cert: str | None = Field(None, description="SCITQ_TLS_CERT: client certificate file for rediss:// (mutual TLS)")
    tls_key: str | None = Field(None, description="SCITQ_TLS_KEY: key file of SCITQ_TLS_CERT")
    tls_no_verify: bool = Field(False, description="SCITQ_TLS_NO_VERIFY: do not check the rediss:// server's certificate (insecure, warned)")
    # timings (seconds)
    heartbeat_interval: float = Field(2.0, description="SCITQ_HEARTBEAT_INTERVAL: worker heartbeat period")
    eviction_watch: str | None = Field(None, description="SCITQ_EVICTION_WATCH: on a spot machine, the URL of the "
                                       "metadata service's scheduled events the worker polls for its eviction (`azure`: "
                                       "Azure's; unset: no watch); set by the azure provider's bootstrap")
    offline_after: float = Field(15.0, description="SCITQ_OFFLINE_AFTER: silent worker declared offline (v1: 15 s)")
    lost_after: float = Field(600.0, description="SCITQ_LOST_AFTER: offline worker declared lost, its tasks get a new attempt")
    unclaimed_after: float = Field(30.0, description="SCITQ_UNCLAIMED_AFTER: a queue entry read but never claimed is requeued")
    reply_timeout: float = Field(60.0, description="SCITQ_REPLY_TIMEOUT: how long a client waits for the server's answer")
    output_flush: float = Field(5.0, description="SCITQ_OUTPUT_FLUSH: worker sends output at least this often")
    reaper_interval: float = Field(1.0, description="SCITQ_REAPER_INTERVAL: server liveness/timeout checks period")
    wait_replicas: int | None = Field(None, ge=0, description="SCITQ_WAIT_REPLICAS: replicas that must hold a "
                                      "round (WAIT) before the server answers a command, and before a worker forgets "
                                      "a shipped report; default 1 with a redis+sentinel:// URL, else 0 (no WAIT)")
    wait_timeout: float = Field(2.0, gt=0, description="SCITQ_WAIT_TIMEOUT: how long WAIT waits for the replicas; "
                                "past it the command is answered `not acknowledged` (the client retries it)")
    lock_ttl: float = Field(10.0, gt=1.0, description="SCITQ_LOCK_TTL: the server lock's lifetime; a second server "
                            "takes over this long after the first stops refreshing it")
    # worker
    base_workdir: Path | None = Field(None, description="BASE_WORKDIR / SCITQ_WORKDIR: worker work dirs (default SCITQ_HOME/work)")
    autoclean: float = Field(90.0, description="SCITQ_AUTOCLEAN: disk use (%) above which a worker removes its oldest failed work dirs (v1 -a)")
    autoclean_interval: float = Field(30.0, description="SCITQ_AUTOCLEAN_INTERVAL: how often a worker checks its disk")
    outage_log_first: float = Field(10.0, description="SCITQ_OUTAGE_LOG_FIRST: while Redis is unreachable, a worker's first summary line comes after this, then the gap doubles")
    outage_log_interval: float = Field(300.0, description="SCITQ_OUTAGE_LOG_INTERVAL: while Redis is unreachable, a worker logs a summary (spooled entries and bytes) at most this often")
    docker_auth: str | None = Field(None, description='SCITQ_DOCKER_AUTH: registry credentials as JSON, '
                                    '{"host:port": {"username": "...", "password": "..."}} (else ~/.docker/config.json)')
    spool_fsync: str = Field("batch", pattern="^(entry|batch|none)$",
                             description="SCITQ_SPOOL_FSYNC: worker spool durability: `entry` forces each report and "
                             "output chunk to disk before going on, `batch` forces the spool file to disk every "
                             "SCITQ_SPOOL_FSYNC_INTERVAL (a power cut may lose that interval; a crash of the worker "
                             "loses nothing), `none` leaves it to the operating system")
    spool_fsync_interval: float = Field(1.0, description="SCITQ_SPOOL_FSYNC_INTERVAL: with spool_fsync=batch, the "
                                        "longest time a spooled entry waits to be forced to disk")
    spool_memory: int = Field(16 * 1024 * 1024, description="SCITQ_SPOOL_MEMORY: bytes of a worker's unsent backlog "
                              "kept in RAM; the rest waits in the spool file")
    max_deliveries: int = Field(5, description="SCITQ_MAX_DELIVERIES: a task dispatched this many times without finishing is quarantined")
    # history: the ledger archive and packed outputs (docs/scaling.md, "Archive")
    archive: str | None = Field(None, description="SCITQ_ARCHIVE: fsspec URL of the ledger archive (segments, "
                                "snapshots, large outputs), e.g. s3://bucket/scitq (default SCITQ_HOME/archive)")
    archive_keep: int = Field(200_000, ge=1, description="SCITQ_ARCHIVE_KEEP: ledger entries the live stream keeps; "
                              "the server archives older ones (size policy)")
    archive_age: float = Field(0.0, ge=0, description="SCITQ_ARCHIVE_AGE: ledger entries older than this many seconds "
                               "are archived too, however few (age policy; 0: off)")
    archive_segment: int = Field(100_000, ge=1, description="SCITQ_ARCHIVE_SEGMENT: most ledger entries in one archive segment")
    archive_interval: float = Field(300.0, ge=0, description="SCITQ_ARCHIVE_INTERVAL: how often the server checks the "
                                    "archive policy (0: never; `scitq events archive` still runs it)")
    archive_timeout: float = Field(3600.0, ge=0, description="SCITQ_ARCHIVE_TIMEOUT: seconds an archive run may take "
                                   "before the server stops it as hung (the next run takes over; 0: no limit)")
    output_pack: bool = Field(True, description="SCITQ_OUTPUT_PACK: the output of an ended attempt is packed into one "
                              "compressed value")
    output_archive_above: int = Field(1_000_000, ge=0, description="SCITQ_OUTPUT_ARCHIVE_ABOVE: a packed output larger "
                                      "than this many bytes goes to the archive (0: never)")
    remote_uri: str | None = Field(None, description="SCITQ_REMOTE_URI: v1's REMOTE_URI, shared by the server (`scitq-manage config remote`)")
    # cloud: deploy and destroy jobs, release (docs/cloud.md)
    server_name: str = Field(default_factory=_short_hostname, description="SCITQ_SERVER_NAME: deployed workers "
                             "are named `<server_name>-node<N>` (default: this host's short name, as v1)")
    idle_timeout: float = Field(300.0, description="SCITQ_IDLE_TIMEOUT: a deployed worker idle this long (no task "
                                "held, none pending in its batch) is destroyed")
    register_timeout: float = Field(600.0, description="SCITQ_REGISTER_TIMEOUT: a deployed machine whose worker "
                                    "has not registered this long after it ran is destroyed")
    deploy_timeout: float = Field(900.0, description="SCITQ_DEPLOY_TIMEOUT: a deploy or destroy job running longer "
                                  "is stopped (and retried)")
    deploy_retries: int = Field(2, description="SCITQ_DEPLOY_RETRIES: retries of a failed deploy or destroy job "
                                "(v1: 2); auth errors and unsupported flavors are not retried")
    deploy_retry_interval: int = Field(10, description="SCITQ_DEPLOY_RETRY_INTERVAL: seconds between job retries")
    orphan_interval: float = Field(300.0, description="SCITQ_ORPHAN_INTERVAL: how often the providers in use are "
                                   "listed for machines of ours no live deploy owns (destroyed); 0: never")
    jobs: bool = Field(True, description="SCITQ_JOBS: `scitq server` runs the job runner itself (0: run `scitq "
                       "jobs` elsewhere)")
    jobs_redis: str | None = Field(None, description="SCITQ_JOBS_REDIS: URL the job runner connects with (a "
                                   "credential allowed to make worker users: admin's, or a `jobs` user); default: "
                                   "the embedded Valkey's admin URL, or SCITQ_REDIS")
    worker_host: str | None = Field(None, description="SCITQ_WORKER_HOST: host name or address deployed workers "
                                    "reach the Redis at (default: the host of the job runner's URL)")
    # cloud providers (scitq.cloud)
    cloud_prefix: str = Field("scitq", pattern="^[a-z][a-z0-9-]*$",
                              description="SCITQ_CLOUD_PREFIX: machines a provider creates are named `<prefix>-<worker>`; "
                              "only machines carrying it are listed, and so ever deleted")
    local_max_workers: int = Field(4, ge=0, description="SCITQ_LOCAL_MAX_WORKERS: most workers the `local` and `docker` "
                                   "providers run at once (each)")
    docker_worker_image: str | None = Field(None, description="SCITQ_DOCKER_WORKER_IMAGE: image of the `docker` "
                                            "provider's worker containers (with scitq installed, or any image with "
                                            "SCITQ_DOCKER_WORKER_MOUNT_PYTHON=1)")
    docker_worker_mount_python: bool = Field(False, description="SCITQ_DOCKER_WORKER_MOUNT_PYTHON: the `docker` "
                                             "provider mounts this machine's Python, libraries and scitq read-only "
                                             "into the worker image (which then needs only a shell)")
    preferred_regions: str = Field("", description="SCITQ_PREFERRED_REGIONS: v1's PREFERRED_REGIONS, "
                                   "`provider:region,...`: flavor search lists these regions first")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            key = f"SCITQ_{name.upper()}"
            if key in env and env[key] != "":
                values[name] = env[key]
        if "base_workdir" not in values:
            for key in ("SCITQ_WORKDIR", "BASE_WORKDIR"):
                if env.get(key):
                    values["base_workdir"] = env[key]
                    break
        return cls(**values)

    @property
    def workdir(self) -> Path:
        return self.base_workdir or (self.home / "work")

    @property
    def archive_url(self) -> str:
        return self.archive or str(self.home / "archive")

    @property
    def connection_file(self) -> Path:
        return self.home / "connection.json"


def settings() -> Settings:
    """Current settings (re-read from the environment each call: cheap, and tests change it)."""
    return Settings.from_env()
