"""Provides every Redis key name scitq uses: one place to read, one place to change (see docs/redis.md)."""

from __future__ import annotations

PREFIX = "scitq"

# --- the ledger and the server's inputs --------------------------------------------------------
EVENTS = f"{PREFIX}:events"                       # stream: the ledger, written by the server only
INBOX = f"{PREFIX}:inbox"                         # stream: commands from users and workers
REJECTED = f"{PREFIX}:rejected"                   # stream: bad inbox/outbox entries set aside, with reasons
SERVER_CURSOR = f"{PREFIX}:server:cursor"         # hash: input stream -> last id applied (atomic with events)
SERVER_LOCK = f"{PREFIX}:server:lock"             # string with TTL: the one running server instance
SERVER_ALIVE = f"{PREFIX}:server:alive"           # string with TTL: refreshed by the server loop
SERVER_EPOCH = f"{PREFIX}:server:epoch"           # counter: incremented by every server lock acquisition
SET_ASIDE = f"{PREFIX}:events:set-aside"          # hash: ledger entry id -> why it was skipped (unknown/corrupt)
CHECKPOINT = f"{PREFIX}:view:checkpoint"          # string: id of the last event folded into the views
SHARED_CONFIG = f"{PREFIX}:config"                # hash: what the server shares with clients (rclone, remote)
ARCHIVE = f"{PREFIX}:archive"                     # hash: the ledger archive (url, last_id, trimmed_below, ...)
ARCHIVE_LOCK = f"{PREFIX}:archive:lock"           # string with TTL: the one archive run in progress


def reply(command_id: str) -> str:
    """List holding the server's answer to one inbox command (short TTL)."""
    return f"{PREFIX}:reply:{command_id}"


def idempotency(key: str) -> str:
    """String holding the answer already given to an idempotency key (24 h TTL)."""
    return f"{PREFIX}:idem:{key}"


# --- dispatch ----------------------------------------------------------------------------------
QUEUE_GROUP = "workers"


def queue(batch: str) -> str:
    """Stream of tasks ready for the workers of `batch` (one consumer group, QUEUE_GROUP)."""
    return f"{PREFIX}:queue:{batch}"


# --- workers -----------------------------------------------------------------------------------
def worker_outbox(name: str) -> str:
    """Stream of facts reported by worker `name` (claimed, started, finished...)."""
    return f"{PREFIX}:worker:{name}:outbox"


def worker_of_outbox(stream: str) -> str | None:
    """The worker name in an outbox key (the inverse of `worker_outbox`); None for any other key."""
    head, tail = f"{PREFIX}:worker:", ":outbox"
    if stream.startswith(head) and stream.endswith(tail) and len(stream) > len(head) + len(tail):
        return stream[len(head):-len(tail)]
    return None


def worker_alive(name: str) -> str:
    """String with TTL refreshed by worker `name` while it is alive."""
    return f"{PREFIX}:worker:{name}:alive"


def worker_stats(name: str) -> str:
    """Hash of the last load/memory/disk figures reported by worker `name` (not in the ledger)."""
    return f"{PREFIX}:worker:{name}:stats"


def worker_control(name: str) -> str:
    """Stream of orders from the server to worker `name` (signals, cancellations)."""
    return f"{PREFIX}:worker:{name}:control"


def worker_reply(name: str, command_id: str) -> str:
    """List holding the server's answer to a registration worker `name` sent through its outbox (short TTL)."""
    return f"{PREFIX}:worker:{name}:reply:{command_id}"


WORKER_ANNOUNCE = f"{PREFIX}:workers:announce"    # stream: names whose outboxes the server reads (field `name`)


# --- output ------------------------------------------------------------------------------------
def worker_output(name: str, task_id: int, attempt: int) -> str:
    """Stream of stdout/stderr chunks (fields `fd`, `text`) of one attempt of a task, run by worker `name`:
    a key of the worker's own, so a worker may write the output of no other worker's executions. Readers find
    it in the execution's view (field `stream`)."""
    return f"{PREFIX}:worker:{name}:out:{task_id}:{attempt}"


def output(task_id: int, attempt: int) -> str:
    """The output stream of one attempt before output keys were per worker (still read for old executions,
    and for those whose view names no stream)."""
    return f"{PREFIX}:output:{task_id}:{attempt}"


def output_packed(task_id: int, attempt: int) -> str:
    """String: the compacted output of a finished attempt (its chunks in one compressed value, or where
    in the archive they are); chunks written after it are still in `output(task_id, attempt)`."""
    return f"{PREFIX}:output-packed:{task_id}:{attempt}"


# --- projections (views) -----------------------------------------------------------------------
VIEW_PREFIX = f"{PREFIX}:view:"


def task_view(task_id: int) -> str:
    return f"{PREFIX}:view:task:{task_id}"


def execution_view(execution_id: int) -> str:
    return f"{PREFIX}:view:execution:{execution_id}"


def worker_view(worker_id: int) -> str:
    return f"{PREFIX}:view:worker:{worker_id}"


def batch_view(batch: str) -> str:
    return f"{PREFIX}:view:batch:{batch}"


WORKERS_ALL = f"{PREFIX}:view:workers"             # zset: worker ids
WORKERS_BY_NAME = f"{PREFIX}:view:workers:byname"  # hash: worker name -> worker id
BATCHES_ALL = f"{PREFIX}:view:batches"             # set: batch names
SERVER_STATE = f"{PREFIX}:view:state"              # hash: the server's id counters and paused-offline workers
CACHE_INDEX = f"{PREFIX}:view:cache"               # hash: input hash -> last succeeded execution id (use_cache)


def recruiter_view(batch: str, rank: int) -> str:
    """Hash: the recruiter of `batch` with rank `rank` (a batch name holds no '/')."""
    return f"{PREFIX}:view:recruiter:{recruiter_member(batch, rank)}"


def recruiter_member(batch: str, rank: int) -> str:
    """The member naming a recruiter in RECRUITERS_ALL: `<batch>/<rank>`."""
    return f"{batch}/{rank}"


RECRUITERS_ALL = f"{PREFIX}:view:recruiters"       # set: `<batch>/<rank>` of every recruiter

# the flavor catalog (rows as JSON of scitq.events.model.FlavorFields / QuotaFields)
FLAVORS_VIEW = f"{PREFIX}:view:flavors"           # hash: `<provider>/<region>/<name>` -> the flavor's row
QUOTAS_VIEW = f"{PREFIX}:view:quotas"             # hash: `<provider>/<region>` -> the region's cpu quota


def deploy_view(worker: str) -> str:
    """Hash: the machine deployed for worker `worker` (kept after it is destroyed, with what it cost)."""
    return f"{PREFIX}:view:deploy:{worker}"


DEPLOYS_ALL = f"{PREFIX}:view:deploys"             # set: worker names of every deploy
BATCH_COSTS = f"{PREFIX}:view:costs"               # hash: batch -> cost of the machine time it closed (float)


def tasks_by_status(status: str) -> str:
    """Set of the task ids in `status`; for the statuses finished tasks gather in (`succeeded`, `failed`:
    scitq.projections.views.BITMAP_STATUSES), a bitmap whose bit n is task n."""
    return f"{PREFIX}:view:tasks:status:{status}"


# the tasks of a batch are bitmaps of BATCH_CHUNK task ids each (a chunk's bitmap is at most BATCH_CHUNK/8
# bytes, whatever the batch's ids: a batch pays only for the stretches of ids where it has tasks)
BATCH_CHUNK = 4096


def tasks_by_batch(batch: str) -> str:
    """Set of the chunks (task id // BATCH_CHUNK) where `batch` has (or had) tasks: see `batch_chunk`."""
    return f"{PREFIX}:view:tasks:batch:{batch}"


def batch_chunk(batch: str, chunk: int) -> str:
    """Bitmap of the tasks of `batch` with ids from chunk * BATCH_CHUNK on: its bit n is task
    chunk * BATCH_CHUNK + n."""
    return f"{PREFIX}:view:tasks:batchbits:{chunk}:{batch}"


def batch_of_chunk(key: str) -> tuple[str, int] | None:
    """(batch, chunk) of a `batch_chunk` key (its inverse); None for any other key."""
    head = f"{PREFIX}:view:tasks:batchbits:"
    if not key.startswith(head):
        return None
    chunk, sep, batch = key[len(head):].partition(":")
    return (batch, int(chunk)) if sep and chunk.isdigit() else None


def tasks_by_name(name: str) -> str:
    return f"{PREFIX}:view:tasks:name:{name}"


def view_patterns() -> list[str]:
    """Glob patterns covering every projection key (used by rebuild to drop them)."""
    return [f"{PREFIX}:view:*"]


# --- deploy and destroy jobs (RQ) ---------------------------------------------------------------------
# RQ builds its own key names under a prefix read from the environment (RQ_KEY_PREFIX) when it is first
# imported: `scitq.jobqueue` sets it to JOBS_PREFIX, so every RQ key is `scitq:rq:...` (queues, jobs,
# registries, workers), covered by the server's and the job runner's ACL patterns.
JOBS_PREFIX = f"{PREFIX}:rq"
JOBS_QUEUE = "cloud"                               # the RQ queue of deploy and destroy jobs
JOBS_PATTERN = f"{JOBS_PREFIX}:*"


# --- key patterns for access control (ACL users per role, see scitq/access.py) ---------------------
def glob_escape(text: str) -> str:
    """`text` with the glob characters of Redis patterns escaped, so it matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


ALL_PATTERN = f"{PREFIX}:*"                        # every scitq key
VIEW_PATTERN = f"{PREFIX}:view:*"                  # every projection key (same as view_patterns())
QUEUE_PATTERN = queue("*")                         # every batch's queue stream
REPLY_PATTERN = reply("*")                         # every reply list
OUTPUT_PATTERN = f"{PREFIX}:output:*"              # every output stream (see output())


def worker_pattern(name: str) -> str:
    """Every key of worker `name` alone: its outbox, alive, stats, control, reply and output keys (see
    worker_outbox())."""
    return worker_outbox(glob_escape(name)).rsplit(":", 1)[0] + ":*"
