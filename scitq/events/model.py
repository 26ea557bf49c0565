"""Provides the model: each entity's fields and statuses declared once, and `derive` for the Structs made from them.

A task field is declared in `TaskFields` and nowhere else: the submit spec (`commands.TaskSpec`), the
edit patch (`TaskPatch`), the `task.submitted` event, the in-memory `Task` (projections) and its view
codec are all built from it. Statuses are `Literal` types; the tuples next to them are the groups the
server compares against (one place each).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union, get_args

import msgspec
from msgspec import NODEFAULT, UNSET, UnsetType

__all__ = [
    "TaskStatus", "ExecutionStatus", "WorkerStatus", "TASK_STATUSES", "EXECUTION_STATUSES", "WORKER_STATUSES",
    "ACTIVE_TASK_STATUSES", "ACTIVE_EXECUTION_STATUSES", "FINISHED_EXECUTION_STATUSES", "SUBMIT_STATUSES",
    "USER_STATUSES", "FINISHED_TASK_STATUSES", "USER_WORKER_STATUSES", "NOT_EDITABLE_STATUSES",
    "NonNeg", "Positive", "Name", "RunFields", "TaskFields", "TASK_FIELDS", "TaskPatch", "LaunchFields",
    "LAUNCH_FIELDS", "CacheFields", "WorkerFields", "WORKER_FIELDS", "RecruiterFields", "RECRUITER_FIELDS",
    "BatchFields", "FlavorFields", "QuotaFields", "FLAVOR_FIELDS", "FLAVOR_TAGS",
    "DeployFields", "DEPLOY_FIELDS", "DeployStatus", "DEPLOY_STATUSES", "LIVE_DEPLOY_STATUSES", "DESTROY_REASONS",
    "DEPLOY_REASONS", "DEFAULT_BATCH", "DEFAULT_FLAVOR", "derive", "filled", "patch_changes",
]

NonNeg = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]

# --- statuses ---------------------------------------------------------------------------------------
TaskStatus = Literal["paused", "waiting", "pending", "assigned", "accepted", "running", "failed", "succeeded",
                     "debug", "blocked"]
ExecutionStatus = Literal["pending", "accepted", "running", "failed", "succeeded", "refused"]
WorkerStatus = Literal["paused", "running", "offline", "failed", "evicted"]

TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)
EXECUTION_STATUSES: tuple[str, ...] = get_args(ExecutionStatus)
WORKER_STATUSES: tuple[str, ...] = get_args(WorkerStatus)

ACTIVE_TASK_STATUSES = ("assigned", "accepted", "running")          # an attempt is held by a worker
ACTIVE_EXECUTION_STATUSES = ("pending", "accepted", "running")      # the attempt has not ended
FINISHED_EXECUTION_STATUSES = ("succeeded", "failed")               # the process ran to its end
SUBMIT_STATUSES = ("pending", "waiting", "paused", "debug")         # what a submission may ask for
# assigned/accepted/running come from workers' reports; a user sets any other status (v1 allowed any)
USER_STATUSES = ("paused", "waiting", "pending", "failed", "succeeded", "debug")
# a task that will not run again unless someone acts (`blocked`: a required task failed for good)
FINISHED_TASK_STATUSES = ("succeeded", "failed", "blocked")
NOT_EDITABLE_STATUSES = ("running",)                # an edit of a running task needs a relaunch (pending)
USER_WORKER_STATUSES = ("running", "paused")                        # what a user or a worker may set

DEFAULT_BATCH = "Default"
DEFAULT_FLAVOR = "local"


# --- the task --------------------------------------------------------------------------------------
class RunFields(msgspec.Struct, kw_only=True):
    """What runs: the command, its container and its data (what a worker reads from a task to run it)."""

    command: str                  # not empty (checked where it enters the server)
    input: str | None = None
    output: str | None = None
    container: str | None = None
    container_options: str | None = None
    resource: str | None = None


class TaskFields(RunFields, kw_only=True):
    """What a user says about a task: given at submission, editable until it starts.

    Add a task field here (with a default); every other shape of the task follows.
    """

    name: str | None = None
    required_task_ids: list[int] = []
    retry: NonNeg = 0
    download_timeout: NonNeg | None = None
    run_timeout: NonNeg | None = None
    use_cache: bool = False
    accept_failure: bool = False  # run even when a required task failed (else the task is blocked)
    uid: NonNeg | None = None
    gid: NonNeg | None = None


TASK_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(TaskFields))


# --- the execution ---------------------------------------------------------------------------------
class LaunchFields(RunFields, kw_only=True):
    """What an attempt ran: the task's `RunFields` as they were when its process started, and its pid
    (the worker reports them, the `execution.started` event keeps them)."""

    pid: str | None = None


LAUNCH_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(LaunchFields))


class CacheFields(msgspec.Struct, kw_only=True):
    """What makes a succeeded attempt reusable by a task with `use_cache`: the hash of what it ran on
    (command, container, options, inputs and resources with their sizes and MD5s) and what it uploaded
    (relative name -> size). The worker reports them with the end of the attempt; the execution keeps them."""

    input_hash: str | None = None
    output_listing: dict[str, int] = {}


# --- the worker ------------------------------------------------------------------------------------
class WorkerFields(msgspec.Struct, kw_only=True):
    """What describes a worker besides its identity and status: set at registration, editable by users."""

    hostname: str = ""
    concurrency: NonNeg
    prefetch: NonNeg = 0
    batch: str = DEFAULT_BATCH
    flavor: str = DEFAULT_FLAVOR
    permanent: bool = True
    task_properties: dict[str, Any] = {}


WORKER_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(WorkerFields))


# --- the recruiter ---------------------------------------------------------------------------------
class RecruiterFields(msgspec.Struct, kw_only=True):
    """What a recruiter of a batch (one per rank) asks for: how many tasks per worker, which workers
    (flavor, region, provider) and how they are set when they join (concurrency, prefetch), when to act
    (`minimum_tasks` pending at least) and how many workers at most in the batch."""

    tasks_per_worker: Positive
    worker_flavor: Name
    worker_concurrency: NonNeg
    worker_region: str | None = None
    worker_provider: str | None = None
    worker_prefetch: NonNeg = 0
    minimum_tasks: NonNeg | None = None
    maximum_workers: NonNeg | None = None


RECRUITER_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(RecruiterFields))


# --- the batch -------------------------------------------------------------------------------------
class BatchFields(msgspec.Struct, kw_only=True):
    """What a batch is: its name, its creation and whether its dispatch is paused (its counts of tasks
    by status follow from the tasks)."""

    name: str
    creation_date: float
    paused: bool = False


# --- the deploy (a machine scitq starts and stops) ----------------------------------------------------
DeployStatus = Literal["requested", "deploying", "running", "failed", "destroying", "destroyed"]
DEPLOY_STATUSES: tuple[str, ...] = get_args(DeployStatus)
LIVE_DEPLOY_STATUSES = ("requested", "deploying", "running")      # a machine is (being) made: it counts as a worker
DEPLOY_REASONS = ("recruiter", "user")                             # who asked for the machine
DESTROY_REASONS = ("idle", "deleted", "evicted", "orphan", "never registered", "deploy failed")


class DeployFields(msgspec.Struct, kw_only=True):
    """What a deploy asks for: a machine of `flavor` in `region` of `provider`, costing `cost` per hour, whose
    worker joins `batch` with `concurrency` and `prefetch`."""

    provider: Name
    region: Name
    flavor: Name
    batch: str = DEFAULT_BATCH
    concurrency: NonNeg = 1
    prefetch: NonNeg = 0
    cost: float = 0.0


DEPLOY_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(DeployFields))


# --- the flavor catalog ----------------------------------------------------------------------------
FLAVOR_TAGS = "GMN"     # G: GPU, M: metal, N: NVMe


class FlavorFields(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One machine size of a provider in one region, as the flavor catalog stores it (v1's flavor and
    flavormetrics in one row): `ram`, `disk` and `gpumem` in GB, `cost` per hour, `eviction` the % chance
    per hour that a spot machine is taken back, `tags` a subset of FLAVOR_TAGS. Key: (provider, region, name)."""

    name: Name
    provider: Name
    region: Name
    cpu: Annotated[int, msgspec.Meta(ge=1)]
    ram: Annotated[float, msgspec.Meta(ge=0)]
    disk: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    bandwidth: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    gpu: str = ""
    gpumem: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    tags: str = ""
    cost: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    eviction: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0


FLAVOR_FIELDS: tuple[str, ...] = tuple(f.name for f in msgspec.structs.fields(FlavorFields))


class QuotaFields(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """The cpus a provider allows in a region (`cpu_limit` None: no quota known) and uses (as the
    provider said at the last catalog update)."""

    provider: Name
    region: Name
    cpu_limit: NonNeg | None = None
    cpu_used: NonNeg = 0


# --- deriving Structs from a declaration -------------------------------------------------------------
Field = tuple  # (name, type) or (name, type, default), as msgspec.defstruct takes them


def _default(f: msgspec.structs.FieldInfo) -> Any:
    if f.default_factory is not NODEFAULT:
        return msgspec.field(default_factory=f.default_factory)
    return f.default


def derive(name: str, source: type[msgspec.Struct], *, bases: tuple[type, ...] = (msgspec.Struct,),
           head: tuple[Field, ...] = (), tail: tuple[Field, ...] = (),
           mode: Literal["same", "nullable", "unset", "view"] = "same", skip: tuple[str, ...] = (),
           module: str | None = None, **config: Any) -> Any:
    """A Struct named `name` with the fields of `source` (but `skip`) between `head` and `tail`, typed by `mode`.

    mode "same": as declared (an event payload); "nullable": each optional field may be null, meaning
    its default (a submission, where clients send null for "not given"); "unset": each field defaults
    to UNSET and may be null (an edit patch: only the fields given are changed); "view": each field may
    be null and defaults to its default, or null when it has none (a read of a view, maybe of some
    fields only).
    """
    fields: list[Field] = list(head)
    for f in msgspec.structs.fields(source):
        if f.name in skip:
            continue
        required = f.default is NODEFAULT and f.default_factory is NODEFAULT
        if mode == "view":
            fields.append((f.name, Union[f.type, None], None if required else _default(f)))
        elif mode == "unset":
            fields.append((f.name, Union[f.type, None, UnsetType], UNSET))
        elif mode == "nullable" and not required:
            fields.append((f.name, Union[f.type, None], None))
        elif required:
            fields.append((f.name, f.type))
        else:
            fields.append((f.name, f.type, _default(f)))
    fields.extend(tail)
    return msgspec.defstruct(name, fields, bases=bases, module=module or __name__, kw_only=True, **config)


@functools.cache
def _defaults(source: type[msgspec.Struct]) -> tuple[tuple[str, Any, Any], ...]:
    """(name, default, default factory) of each field of `source` (NODEFAULT where there is none)."""
    return tuple((f.name, f.default, f.default_factory) for f in msgspec.structs.fields(source))


@functools.cache
def _fill_plan(kind: type[msgspec.Struct], source: type[msgspec.Struct]) -> tuple[tuple[str, ...], tuple]:
    """For `filled`: the fields of `kind` that are not in `source`, and the fields of `source` whose
    default is not None (a null there must be replaced)."""
    own = {name for name, _, _ in _defaults(source)}
    extras = tuple(name for name, _, _ in _defaults(kind) if name not in own)
    fixes = tuple((name, default, factory) for name, default, factory in _defaults(source)
                  if factory is not NODEFAULT or (default is not NODEFAULT and default is not None))
    return extras, fixes


def _or_default(value: Any, default: Any, factory: Any) -> Any:
    if value is not None and value is not UNSET:
        return value
    if factory is not NODEFAULT:
        return factory()
    return value if default is NODEFAULT else default


def filled(values: Any, source: type[msgspec.Struct]) -> dict[str, Any]:
    """The fields of `source` read from `values` (a Struct derived with mode "nullable"), null ones
    replaced by their default."""
    extras, fixes = _fill_plan(type(values), source)
    out = msgspec.structs.asdict(values)
    for name in extras:
        del out[name]
    for name, default, factory in fixes:
        if out[name] is None:
            out[name] = factory() if factory is not NODEFAULT else default
    return out


def patch_changes(patch: Any, source: type[msgspec.Struct], null: Literal["default", "unset"] = "default") -> dict[str, Any]:
    """The fields a patch gives (UNSET ones left out). A null means the field's default (`null="default"`,
    a task edit: `name=None` clears the name) or "not given" (`null="unset"`, a worker edit)."""
    out: dict[str, Any] = {}
    for name, _, _ in _defaults(type(patch)):
        v = getattr(patch, name)
        if v is UNSET or (v is None and null == "unset"):
            continue
        out[name] = v
    for name, default, factory in _defaults(source):
        if name in out:
            out[name] = _or_default(out[name], default, factory)
    return out


TaskPatch = derive(
    "TaskPatch", TaskFields, mode="unset", forbid_unknown_fields=True,
    tail=(("batch", Union[str, None, UnsetType], UNSET), ("status", Union[str, None, UnsetType], UNSET)))
TaskPatch.__doc__ = "An edit of a task: the fields given are changed, the others (UNSET) kept."
