"""Provides the commands users send to `scitq:inbox` and the facts workers send to their outbox.

Both are msgspec Structs decoded with validation: a malformed entry is refused with a message that
names the field (e.g. "Expected `int`, got `str` - at `$.tasks[0].retry`").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, UnsetType

from scitq.errors import BadInput
from scitq.events.model import (
    CacheFields, FlavorFields, LaunchFields, Name, NonNeg, Positive, QuotaFields, RecruiterFields, TaskFields,
    WorkerFields, derive,
)

__all__ = [
    "TaskSpec", "COMMAND_TYPES", "FACT_TYPES", "decode_command", "decode_fact", "encode",
    "NonNeg",
]


class Cmd(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


TaskSpec = derive(
    "TaskSpec", TaskFields, bases=(Cmd,), mode="nullable", module=__name__, forbid_unknown_fields=True,
    tail=(("batch", Union[str, None], None), ("status", Union[str, None], None)))
TaskSpec.__doc__ = "One task of a submission: the fields of `TaskFields`, null meaning the default."


class SubmitTasks(Cmd, kw_only=True, forbid_unknown_fields=True):
    tasks: list[TaskSpec]


class UpdateTask(Cmd, kw_only=True, forbid_unknown_fields=True):
    task_id: int
    changes: dict[str, Any]


class TaskIds(Cmd, kw_only=True, forbid_unknown_fields=True):
    task_ids: list[int]


class SetStatus(Cmd, kw_only=True, forbid_unknown_fields=True):
    task_id: int
    status: str
    retry: NonNeg | None = None


class SignalTask(Cmd, kw_only=True, forbid_unknown_fields=True):
    task_id: int
    signal: int


class BatchCmd(Cmd, kw_only=True, forbid_unknown_fields=True):
    batch: Name
    signal: int = 0


RegisterWorker = derive(
    "RegisterWorker", WorkerFields, bases=(Cmd,), mode="nullable", module=__name__, forbid_unknown_fields=True,
    head=(("name", Name),),
    tail=(("status", str, "running"), ("incarnation", str, ""),
          # [[task_id, attempt], ...] still running on the worker (re-attached)
          ("held", list[list[int]], msgspec.field(default_factory=list))))
RegisterWorker.__doc__ = ("A worker process registers (or comes back) with the fields of `WorkerFields` "
                          "(null meaning the default).")

UpdateWorker = derive(
    "UpdateWorker", WorkerFields, bases=(Cmd,), mode="unset", module=__name__, forbid_unknown_fields=True,
    head=(("worker_id", int),),
    tail=(("name", Union[Name, None, UnsetType], UNSET), ("status", Union[str, None, UnsetType], UNSET)))
UpdateWorker.__doc__ = "A user edits a worker: the fields given (not null) are changed."


class WorkerId(Cmd, kw_only=True, forbid_unknown_fields=True):
    worker_id: int


class SignalWorker(Cmd, kw_only=True, forbid_unknown_fields=True):
    worker_id: int
    signal: int


class RecruiterKey(Cmd, kw_only=True, forbid_unknown_fields=True):
    batch: Name
    rank: Positive = 1


CreateRecruiter = derive(
    "CreateRecruiter", RecruiterFields, bases=(RecruiterKey,), mode="nullable", module=__name__,
    forbid_unknown_fields=True)
CreateRecruiter.__doc__ = ("Create (or replace) the recruiter (batch, rank) with the fields of `RecruiterFields` "
                           "(null meaning the default).")

UpdateRecruiter = derive(
    "UpdateRecruiter", RecruiterFields, bases=(RecruiterKey,), mode="unset", module=__name__,
    forbid_unknown_fields=True)
UpdateRecruiter.__doc__ = "Change the fields given of the recruiter (batch, rank) (null clears an optional one)."


class DeployWorkers(Cmd, kw_only=True, forbid_unknown_fields=True):
    """Deploy `number` machines (v1 `worker_deploy`); flavor, region and provider may be `auto` (the flavor
    `auto:<protofilters>`)."""
    number: Positive = 1
    batch: Union[str, None] = None
    provider: Name
    region: Name
    flavor: Name
    concurrency: NonNeg = 1
    prefetch: NonNeg = 0


class DeployReport(Cmd, kw_only=True, forbid_unknown_fields=True):
    """What a deploy or destroy job did for the machine of `worker` (sent by the job runner)."""
    worker: Name
    step: Literal["started", "succeeded", "failed", "destroyed"]
    attempt: Positive = 1
    instance: str = ""
    ipv4: str = ""
    kind: str = ""
    message: str = ""
    final: bool = True


class DeployOrphans(Cmd, kw_only=True, forbid_unknown_fields=True):
    """The workers whose machines `provider` runs (in `regions`: worker -> region), as its list found them."""
    provider: Name
    machines: dict[str, str] = {}


class DeployKey(Cmd, kw_only=True, forbid_unknown_fields=True):
    worker: Name


class UpdateFlavorCatalog(Cmd, kw_only=True, forbid_unknown_fields=True):
    """Replace the catalog of `provider` by what it offers now (v1 updater semantics): its rows of the
    `regions` given (every region when empty) that are not in `flavors` are removed, the others added or
    changed; likewise its quotas."""
    provider: Name
    regions: list[str] = []
    flavors: list[FlavorFields] = []
    quotas: list[QuotaFields] = []


class Rebuild(Cmd, kw_only=True, forbid_unknown_fields=True):
    verify: bool = True
    from_zero: bool = False      # replay from the first entry, not from the archive's latest snapshot


class ArchiveLedger(Cmd, kw_only=True, forbid_unknown_fields=True):
    """Run the ledger archive now (`keep`, `age`: the policy's settings unless given)."""
    keep: int | None = None
    age: float | None = None
    trim: bool = True


COMMAND_TYPES: dict[str, type[Cmd]] = {
    "task.submit": SubmitTasks,
    "task.update": UpdateTask,
    "task.delete": TaskIds,
    "task.relaunch": TaskIds,
    "task.set_status": SetStatus,
    "task.signal": SignalTask,
    "batch.stop": BatchCmd,
    "batch.go": BatchCmd,
    "batch.delete": BatchCmd,
    "batch.relaunch_failed": BatchCmd,
    "worker.register": RegisterWorker,
    "worker.update": UpdateWorker,
    "worker.delete": WorkerId,
    "worker.signal": SignalWorker,
    "recruiter.create": CreateRecruiter,
    "recruiter.update": UpdateRecruiter,
    "recruiter.delete": RecruiterKey,
    "worker.deploy": DeployWorkers,
    "deploy.report": DeployReport,
    "deploy.orphans": DeployOrphans,
    "deploy.retry": DeployKey,
    "admin.rebuild": Rebuild,
    "flavor.update_catalog": UpdateFlavorCatalog,
    "admin.archive": ArchiveLedger,
}


# --- facts from workers (outbox) ---------------------------------------------------------------
class Fact(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    task_id: int
    attempt: Positive


class Claimed(Fact, kw_only=True, forbid_unknown_fields=True):
    """The worker read this attempt's queue entry (`entry`, in the queue of batch `queue`). The server
    acknowledges the entry when it applies the claim: until then the entry stays pending in the
    consumer group, so a worker that dies before its claim reaches the server loses nothing."""
    entry: Annotated[str, msgspec.Meta(pattern=r"^([0-9]{1,15}(-[0-9]{1,15})?)?$")] = ""
    queue: str = ""


class Accepted(Fact, kw_only=True, forbid_unknown_fields=True):
    pass


Started = derive("Started", LaunchFields, bases=(Fact,), module=__name__, forbid_unknown_fields=True,
                 tail=(("entry", Annotated[str, msgspec.Meta(pattern=r"^([0-9]{1,15}(-[0-9]{1,15})?)?$")], ""),
                       ("queue", str, "")))
Started.__doc__ = ("The worker started the attempt's process with these `LaunchFields`. With `entry` (and `queue`),"
                   " it is also the claim of that queue entry (see `Claimed`): the worker started the attempt"
                   " without reporting its claim first.")


Finished = derive("Finished", CacheFields, bases=(Fact,), module=__name__, forbid_unknown_fields=True,
                  head=(("return_code", int), ("timed_out", bool, False), ("output_files", list[str], []),
                        ("cached_from", Union[int, None], None)))
Finished.__doc__ = ("The attempt ended with `return_code`; with `cached_from`, it did not run: the outputs of that "
                    "succeeded execution (same input hash) stand for it.")


class HandBack(Fact, kw_only=True, forbid_unknown_fields=True):
    reason: str = ""


class Holding(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Sent with the heartbeat: every (task, attempt) the worker holds (claimed, starting or running, its end
    not yet reported). It travels in the outbox after the worker's earlier reports, so the server compares
    it with what those reports made it believe."""
    held: list[tuple[int, int]] = []


class Evicted(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The worker's provider announced that its machine is taken back (an Azure Spot `Preempt`): the server
    requeues what it holds without using a retry and destroys the machine (v1 §4.7)."""
    reason: str = ""


FACT_TYPES: dict[str, type[Fact] | type[Holding] | type[Evicted]] = {
    "claimed": Claimed,
    "accepted": Accepted,
    "started": Started,
    "finished": Finished,
    "handback": HandBack,
    "holding": Holding,
    "evicted": Evicted,
}

_ENC = msgspec.json.Encoder()


def encode(obj: msgspec.Struct | dict) -> str:
    return _ENC.encode(obj).decode()


def _decode(kind: str, tag: str | None, data: str | None, types: dict[str, type]) -> Any:
    if not tag:
        raise BadInput(f"{kind} entry has no type")
    cls = types.get(tag)
    if cls is None:
        raise BadInput(f"unknown {kind} {tag!r}")
    try:
        return msgspec.json.decode(data or "{}", type=cls)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadInput(f"bad {kind} {tag}: {exc}") from None


def decode_command(tag: str | None, data: str | None) -> Cmd:
    return _decode("command", tag, data, COMMAND_TYPES)


def decode_fact(tag: str | None, data: str | None) -> Fact | Holding | Evicted:
    return _decode("worker report", tag, data, FACT_TYPES)
