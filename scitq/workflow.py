"""Provides v1's workflow API: `Workflow`, `Step`, `shell_code`, `WorkflowException` (pipelines as plain Python).

A workflow is steps of tasks; each step batch `b` becomes the scitq batch `<workflow name>.<b>`;
tasks are named `<b> #<n>` unless named; later steps depend on earlier ones (`required_tasks`).

Tasks are sent to the server in groups, not one round trip each: a step is only a description
until its task id is needed (reading `step.task_id` or any server-side field, `run()`, `clean()`,
`pause()`, every `SEND_EVERY` steps, and at exit). A group is sent in waves, one per depth of the
dependency graph still unsent (a parent must have its id before its dependants are sent).

Each new step batch gets its recruiters on the server (`Server.recruiter_create`): rank 1, and the
rank 2 recycle-only one when `max_workflow_workers` cut the step's maximum; the server moves idle
workers of the step's flavor into the batch while it has pending tasks. When the workflow's tasks are
all done (`run()` returns) or it is cleaned, its workers go back to the batch Default. Server-side
parts that come later are called through plain seams, each warning once when the server does not
offer them yet. `use_cache` is carried on the tasks (the workers reuse earlier executions). `run()` on a terminal will open a monitor; for now it prints progress lines.
"""

from __future__ import annotations

import atexit
import os
import shlex
import sys
import time
import warnings
import weakref
from signal import SIGCONT, SIGTSTP
from typing import Any, Iterable

from scitq import fetch
from scitq.api.v1 import Server, shell_wrap
from scitq.errors import ScitqError
from scitq.path import URI
from scitq.settings import DEFAULT_BATCH

__all__ = ["Workflow", "Step", "shell_code", "WorkflowException", "WorkflowWarning", "Unset", "SEND_EVERY"]

DEFAULT_REFRESH = 30
SEND_EVERY = 2000                # unsent steps that trigger a send on their own
FINISHED = ("failed", "succeeded", "blocked")
WORKER_STATUS = ("paused", "offline", "running", "failed")


class Unset:
    """Marks a step argument not given (so that an explicit None still overrides the workflow default)."""


def coalesce(a: Any, b: Any) -> Any:
    return b if a is Unset else a


class WorkflowException(ScitqError):
    """A workflow or step is described wrongly (v1 name); nothing was sent for it."""


class WorkflowWarning(UserWarning):
    """Something the workflow asked for is not available on this server yet (it runs without it)."""


def _warn_once(owner: Any, key: str, message: str) -> None:
    said = owner.__dict__.setdefault("_warned", set())
    if key not in said:
        said.add(key)
        warnings.warn(message, WorkflowWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The stack level of the first frame outside this module (so a warning names the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("scitq.workflow"):
        frame, level = frame.f_back, level + 1
    return level


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


class Batch:
    """One step batch of a workflow: its shared settings and its recruiters (v1 class, same fields)."""

    def __init__(self, name: str, shortname: str, flavor: str | None, concurrency: int, provider: str | None,
                 region: str | None, tasks_per_worker: int | None, maximum_workers: int | None,
                 prefetch: int | None, server: Server, extra_workers: int = 0, workflow: "Workflow | None" = None):
        self.name = name
        self.shortname = shortname
        self.flavor = flavor
        self.concurrency = concurrency
        self.provider = provider
        self.region = region
        self.tasks_per_worker = tasks_per_worker
        self.maximum_workers = maximum_workers
        self.prefetch = prefetch
        self.server = server
        self.extra_workers = extra_workers
        self._workflow = workflow
        self._steps: list[Step] = []
        self._ranks: list[int] = []
        self._recruit_due = True       # created with the batch's first tasks (when the steps are sent)

    # --- recruiters (a server without them is warned about once) --------------------------------
    def _recruiters_available(self) -> bool:
        if hasattr(self.server, "recruiter_create"):
            return True
        _warn_once(self._workflow or self, "recruiters",
                   f"recruiters are not available on this scitq server yet: no worker is moved to "
                   f"{self.name} automatically; start one with `scitq worker -b {self.name}` or move one "
                   f"with Server.worker_update(id, batch='{self.name}')")
        return False

    def flush(self) -> None:
        """Create the recruiters of a new batch, once (the workflow does it before sending its steps)."""
        if self._recruit_due:
            self.recruit()

    def recruit(self) -> None:
        """Create the rank 1 recruiter and, when the workflow cap cut this step, the rank 2 recycle-only one."""
        self._recruit_due = False
        self._ranks = []
        if self._create_recruiter(1, self.maximum_workers, self.provider, self.region):
            self._ranks.append(1)
        if self.extra_workers > 0 and self._create_recruiter(2, self.extra_workers, None, None):
            self._ranks.append(2)

    def _create_recruiter(self, rank: int, maximum_workers: int | None, provider: str | None,
                          region: str | None) -> bool:
        if not maximum_workers or maximum_workers <= 0 or not self._recruiters_available():
            return False
        self.server.recruiter_create(batch=self.name, rank=rank, tasks_per_worker=self.tasks_per_worker,
                                     flavor=self.flavor, concurrency=self.concurrency, region=region,
                                     provider=provider, prefetch=self.prefetch, maximum_workers=maximum_workers)
        return True

    def clean(self) -> None:
        """Delete this batch's recruiters."""
        if hasattr(self.server, "recruiters") and hasattr(self.server, "recruiter_delete"):
            for rec in self.server.recruiters(batch=self.name):
                self.server.recruiter_delete(self.name, rank=_field(rec, "rank"))
        self._ranks = []

    def destroy(self) -> None:
        self.server.batch_delete(self.name)

    def pause(self, signal: int = 0) -> None:
        self.server.batch_stop(self.name, signal=signal)
        if hasattr(self.server, "recruiter_delete"):
            for rank in self._ranks:
                self.server.recruiter_delete(self.name, rank=rank)
        self._ranks = []

    def unpause(self, signal: int = 0) -> None:
        self.server.batch_go(self.name, signal=signal)
        self.recruit()


# fields a Step reads from its task (v1 maps every task field onto the step)
_TASK_FIELDS = ("task_id", "name", "command", "status", "batch", "input", "output", "container",
                "container_options", "resource", "required_task_ids", "retry", "download_timeout",
                "run_timeout", "use_cache", "accept_failure", "blocked_by", "creation_date", "modification_date",
                "status_date")
_BATCH_FIELDS = ("flavor", "concurrency", "provider", "region", "tasks_per_worker", "maximum_workers",
                 "prefetch", "extra_workers", "server")


class Step:
    """One task of a workflow, seen with its step batch's settings (v1's hybrid Task factory + Batch view).

    Task fields (`task_id`, `name`, `command`, `input`, `output`, `status`, ...) and batch settings
    (`concurrency`, `flavor`, `maximum_workers`, ...) read as attributes. Reading `task_id` (or a
    field only the server knows) sends the workflow's unsent tasks first.
    """

    def __init__(self, workflow: "Workflow", batch: Batch, spec: dict[str, Any], requires: list[Any]) -> None:
        self._workflow = workflow
        self._batch = batch
        self._spec = spec                       # task_create arguments, without required_task_ids
        self._requires = requires               # ints and Steps (ids resolved when sent)
        self._task: dict[str, Any] | None = None
        self._task_id: int | None = None
        batch._steps.append(self)

    # --- attributes -------------------------------------------------------------------------------
    @property
    def task_id(self) -> int:
        if self._task_id is None:
            self._workflow._send()
        assert self._task_id is not None
        return self._task_id

    @property
    def sent(self) -> bool:
        """Whether the task is on the server (it has its id)."""
        return self._task_id is not None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _BATCH_FIELDS:
            return getattr(self._batch, name)
        if self._task is not None and name in self._task:
            return self._task[name]
        if name == "command":
            return shell_wrap(self._spec["command"], self._spec.get("shell") or False)
        if name in ("name", "batch", "input", "output", "container", "container_options",
                    "resource", "retry", "download_timeout", "run_timeout", "use_cache"):
            return self._spec.get(name)
        if name == "accept_failure" and self._task is None:
            return bool(self._spec.get("accept_failure"))
        if name == "status" and self._task is None:
            return self._spec.get("status") or ("waiting" if self._requires else "pending")
        if name == "required_task_ids" and self._task is None:
            return [r if isinstance(r, int) else r.task_id for r in self._requires]
        if name in _TASK_FIELDS and self._task is None:
            self.refresh()
            return self._task.get(name) if self._task else None
        raise AttributeError(f"a Step has no attribute {name!r}")

    def __repr__(self) -> str:
        tid = self._task_id if self._task_id is not None else "unsent"
        return f"<Step {self._spec.get('name')!r} of {self._batch.name} (task {tid})>"

    def refresh(self) -> None:
        """Read the task again from the server (status, dates...)."""
        task = self._batch.server.task_get(self.task_id)
        self._task = vars(task) if not isinstance(task, dict) else task

    # --- gathering ----------------------------------------------------------------------------------
    def gather(self, attribute: str = "step") -> list[Any]:
        """All the steps of this step's batch (`'step'`), or their outputs (`'output'`), a sub-folder of
        each output (`'output/sub'`), an output with an action (`'output|mv:x'`), or both
        (`'output/stats|mv:stats'`). Always a list, so gathers add up (`a.gather('output') + b.gather(...)`)."""
        steps = self._batch._steps
        if attribute == "step":
            return list(steps)
        if attribute == "output" or attribute.startswith("output/") or attribute.startswith("output|"):
            missing = [s for s in steps if not s.output]
            if missing:
                raise WorkflowException(f"cannot gather {attribute!r}: step {missing[0].name!r} has no output")
            tail = attribute[len("output"):].lstrip("/")    # outputs end with '/'
            return [s.output + tail for s in steps]
        raise WorkflowException(f"gather({attribute!r}): expected 'step', 'output', 'output/<sub-folder>' "
                                f"or 'output|<action>'")

    # --- task helpers ---------------------------------------------------------------------------------
    def _latest(self) -> Any:
        exs = self._batch.server.executions(task_id=self.task_id, latest=True)
        return exs[-1] if exs else None

    def get_output(self) -> str | None:
        """stdout of the latest execution (None if the task never ran)."""
        ex = self._latest()
        return None if ex is None else _field(ex, "output")

    def get_error(self) -> str | None:
        """stderr of the latest execution (None if the task never ran)."""
        ex = self._latest()
        return None if ex is None else _field(ex, "error")

    def clean(self) -> None:
        """Delete the task."""
        self._batch.server.task_delete(self.task_id)

    def download(self, destination: str | None = None) -> None:
        """Download this step's output into `destination` (default: the current folder)."""
        if not self.output:
            raise WorkflowException(f"step {self.name!r} has no output to download")
        fetch.get(self.output, destination or os.getcwd())


class Workflow:
    """A pipeline: `wf.step(...)` adds tasks, `wf.run()` follows them to the end, `wf.clean()` tidies up."""

    def __init__(self, name: str, max_step_workers: int | None = None, server: str | None = None,
                 provider: str | None = None, region: str | None = "auto", flavor: str | None = None,
                 shell: bool | str = False, max_workflow_workers: int | None = None, retry: int | None = None,
                 rounds: int | None = None, prefetch: int | None = None, container: str | None = None,
                 container_options: str = "", download_timeout: int | None = None, run_timeout: int | None = None,
                 use_cache: bool = False, base_storage: URI | str | None = None, debug: bool = False) -> None:
        if not isinstance(name, str) or not name or "/" in name or any(c.isspace() for c in name):
            raise WorkflowException(f"bad workflow name {name!r}: it must be non-empty, without '/' or spaces")
        if region and provider and not max_workflow_workers:
            raise WorkflowException('For security, set the "max_workflow_workers" parameter if provider and '
                                    'region are set')
        if max_step_workers and max_workflow_workers and max_step_workers > max_workflow_workers:
            warnings.warn(f"Inconsistant settings: max_step_workers ({max_step_workers}) is above "
                          f"max_workflow_workers ({max_workflow_workers})", WorkflowWarning,
                          stacklevel=_caller_level())
        self.name = name
        self.server = server if isinstance(server, Server) else Server(server, style="object")
        self.provider, self.region, self.flavor, self.shell = provider, region, flavor, shell
        self.max_step_workers, self.max_workflow_workers = max_step_workers, max_workflow_workers
        self.retry, self.rounds, self.prefetch = retry, rounds, prefetch
        self.container, self.container_options = container, container_options
        self.download_timeout, self.run_timeout, self.use_cache = download_timeout, run_timeout, use_cache
        self.base_storage = base_storage if isinstance(base_storage, URI) or base_storage is None \
            else URI(base_storage)
        self.debug = debug
        self._steps: list[Step] = []
        self._unsent: list[Step] = []
        self._batches: dict[str, Batch] = {}
        self._counters: dict[str, int] = {}
        self._current_workers = 0
        self._paused: bool | int = False
        self._cleaned = False
        self._quit = False
        _LIVE.add(self)

    # --- building ---------------------------------------------------------------------------------
    def step(self, batch: str, command: Any, concurrency: int | None = None, prefetch: Any = Unset,
             provider: Any = Unset, region: Any = Unset, flavor: Any = Unset, name: str | None = None,
             tasks_per_worker: int | None = None, rounds: int | None = None, shell: Any = Unset,
             maximum_workers: Any = Unset, input: Any = None, output: Any = None, resource: Any = None,
             rel_output: str | None = None, rel_input: str | None = None, required_tasks: Any = None,
             container: Any = Unset, container_options: Any = Unset, retry: Any = Unset,
             download_timeout: Any = Unset, run_timeout: Any = Unset, use_cache: Any = Unset,
             args: dict | None = None, accept_failure: bool = False) -> Step:
        """Add one task to the step batch `batch` (created by its first step: concurrency, flavor and
        maximum_workers are needed then). Returns its `Step`."""
        if not isinstance(batch, str) or not batch or "/" in batch or any(c.isspace() for c in batch):
            raise WorkflowException(f"bad step batch name {batch!r}: it must be non-empty, without '/' or spaces")
        provider = coalesce(provider, self.provider)
        region = coalesce(region, self.region)
        flavor = coalesce(flavor, self.flavor)
        shell = coalesce(shell, self.shell)
        use_cache = coalesce(use_cache, self.use_cache)
        prefetch = coalesce(prefetch, self.prefetch)
        maximum_workers = coalesce(maximum_workers, self.max_step_workers)
        new_batch = batch not in self._batches
        if new_batch:
            self._new_batch(batch, concurrency, flavor, provider, region, prefetch, tasks_per_worker, rounds,
                            maximum_workers, _checking=True)
        # --- the task ---
        if isinstance(output, (list, tuple)):
            raise WorkflowException(f"Task {name} error: output must be a single path, not a list")
        if rel_output and output:
            raise WorkflowException("Cannot specify rel_output and output simultaneously")
        if rel_input and input:
            raise WorkflowException("Cannot specify rel_input and input simultaneously")
        if (rel_output or rel_input) and self.base_storage is None:
            raise WorkflowException(f"Cannot specify {'rel_output' if rel_output else 'rel_input'} if "
                                    f"Workflow.base_storage is unset")
        if input is None and rel_input:
            input = str(self.base_storage / rel_input)
        if output is None and rel_output:
            output = str(self.base_storage / rel_output)
        output = _as_text(output)
        if output and not output.endswith("/"):
            output += "/"
        input, resource = _as_text(input), _as_text(resource)
        container = coalesce(container, self.container)
        if isinstance(command, shell_code):
            resource = " ".join(x for x in (resource, command._resource(self.server)) if x)
            command, shell = command._command(shell=shell, container=container is not None), False
        elif callable(command):
            raise WorkflowException(f"function {getattr(command, '__name__', command)} cannot be a command here: "
                                    f"remote functions are not supported, use a shell command or shell_code")
        elif not isinstance(command, str) or not command.strip():
            raise WorkflowException(f"step {batch}: command must be a non-empty string")
        requires = _requirements(required_tasks)
        number = self._counters.get(batch, 0) + 1
        spec = {"command": command, "name": name if name is not None else f"{batch} #{number}",
                "batch": f"{self.name}.{batch}", "input": input, "output": output, "container": container,
                "container_options": coalesce(container_options, self.container_options) or "",
                "resource": resource, "shell": shell, "retry": coalesce(retry, self.retry),
                "download_timeout": coalesce(download_timeout, self.download_timeout),
                "run_timeout": coalesce(run_timeout, self.run_timeout), "use_cache": bool(use_cache),
                "status": "debug" if self.debug else None}
        check = getattr(self.server, "_spec", None)
        if check is not None:    # the same checks as task_create, now rather than when sent
            try:
                check(**spec)
            except ScitqError as exc:
                raise WorkflowException(f"step {spec['name']!r}: {exc.message}", exc.hint) from None
        if new_batch:
            self._new_batch(batch, concurrency, flavor, provider, region, prefetch, tasks_per_worker, rounds,
                            maximum_workers)
        self._counters[batch] = number
        if accept_failure:
            spec["accept_failure"] = True
        step = Step(self, self._batches[batch], spec, requires)
        self._steps.append(step)
        self._unsent.append(step)
        if len(self._unsent) >= SEND_EVERY:
            self._send()
        return step

    def _new_batch(self, batch: str, concurrency, flavor, provider, region, prefetch, tasks_per_worker, rounds,
                   maximum_workers, _checking: bool = False) -> None:
        if maximum_workers is None:
            raise WorkflowException(f"maximum_workers is mandatory if workflow.max_step_workers is unset and "
                                    f"batch {batch} is not already defined")
        if flavor is None:
            raise WorkflowException(f"A flavor is mandatory as batch {batch} is not already defined")
        if concurrency is None:
            raise WorkflowException(f"A concurrency is mandatory as batch {batch} is not already defined")
        if _checking:
            return
        if tasks_per_worker is None:
            tasks_per_worker = concurrency if rounds is None else concurrency * rounds
        extra = 0
        if provider and region and maximum_workers + self._current_workers > (self.max_workflow_workers or 0):
            wanted = maximum_workers
            maximum_workers = min(max((self.max_workflow_workers or 0) - self._current_workers, 0), wanted)
            extra = max(wanted - maximum_workers, 0)
        self._current_workers += maximum_workers
        self._batches[batch] = Batch(name=f"{self.name}.{batch}", shortname=batch, flavor=flavor,
                                     concurrency=concurrency, provider=provider, region=region,
                                     tasks_per_worker=tasks_per_worker, maximum_workers=maximum_workers,
                                     prefetch=prefetch, server=self.server, extra_workers=extra, workflow=self)

    @property
    def previous_step(self) -> Step | None:
        """The last step created."""
        return self._steps[-1] if self._steps else None

    # --- sending ---------------------------------------------------------------------------------------
    def _send(self) -> int:
        """Send every unsent step: one `task_create_many` per wave of steps whose parents have ids.
        Returns the number of waves."""
        for b in self._batches.values():
            b.flush()
        waves = 0
        while self._unsent:
            ready = [s for s in self._unsent if all(isinstance(r, int) or r.sent for r in s._requires)]
            if not ready:
                raise WorkflowException("some steps require steps of another workflow that were never sent")
            specs = []
            for s in ready:
                spec = {k: v for k, v in s._spec.items() if v is not None}
                reqs = [r if isinstance(r, int) else r._task_id for r in s._requires]
                if reqs:
                    spec["required_task_ids"] = reqs
                specs.append(spec)
            ids = self.server.task_create_many(specs)
            for s, tid in zip(ready, ids):
                s._task_id = int(tid)
            sent = set(map(id, ready))
            self._unsent = [s for s in self._unsent if id(s) not in sent]
            waves += 1
        return waves

    # --- following -------------------------------------------------------------------------------
    def _task_ids(self) -> list[int]:
        self._send()
        return [s._task_id for s in self._steps if s._task_id is not None]

    def _counts(self) -> tuple[dict[str, dict[str, int]], list[Step]]:
        """Task counts per step batch and status, and the steps still to finish (the server blocks the
        dependants of a task failed for good and releases `accept_failure` ones: `blocked` is finished)."""
        steps = [s for s in self._steps if s._task_id is not None]
        statuses = self.server.task_status([s._task_id for s in steps])
        counts: dict[str, dict[str, int]] = {b.shortname: {} for b in self._batches.values()}
        remaining = []
        for s, st in zip(steps, statuses):
            if st is None:
                continue    # deleted
            counts[s._batch.shortname][st] = counts[s._batch.shortname].get(st, 0) + 1
            if st not in FINISHED:
                remaining.append(s)
        return counts, remaining

    def _workers(self) -> dict[str, dict[str, int]]:
        names = {b.name: b.shortname for b in self._batches.values()}
        out: dict[str, dict[str, int]] = {short: {} for short in names.values()}
        for w in self.server.workers(batch=list(names)):
            d = out[names[_field(w, "batch")]]
            d[_field(w, "status")] = d.get(_field(w, "status"), 0) + 1
        return out

    def _recruiters(self) -> dict[str, list[Any]]:
        """The recruiters of each step batch (as the server has them), by step, in rank order."""
        names = {b.name: b.shortname for b in self._batches.values()}
        out: dict[str, list[Any]] = {short: [] for short in names.values()}
        for rec in self.server.recruiters(batch=list(names)):
            out[names[_field(rec, "batch")]].append(rec)
        return out

    def _progress_line(self, counts: dict[str, dict[str, int]], workers: dict[str, dict[str, int]]) -> str:
        parts = []
        for short, c in counts.items():
            tasks = " ".join(f"{k}={v}" for k, v in sorted(c.items(), key=lambda kv: _ORDER.get(kv[0], 99)))
            ws = workers.get(short) or {}
            wtxt = ", ".join(f"{k}={v}" for k, v in sorted(ws.items())) or "none"
            parts.append(f"{short}: {tasks or 'no task'} (workers: {wtxt})")
        return f"[{self.name}] " + " | ".join(parts)

    def run(self, refresh: float = DEFAULT_REFRESH) -> dict[str, int] | bool | None:
        """Follow the workflow until every task is finished (succeeded, failed, or blocked by a failed
        parent). Prints a progress line when counts change, and every `refresh` seconds. Returns the
        task counts per status. With `debug=True`, the interactive debugger instead."""
        if self.debug:
            from scitq.workflow_debug import debug_run
            return debug_run(self)
        self._send()
        if sys.stdout.isatty() and os.environ.get("SCITQ_WORKFLOW_MONITOR") != "0":
            return self._monitor(refresh)
        return self._plain_run(refresh)

    def _monitor(self, refresh: float) -> dict[str, int]:
        """The terminal monitor (scitq.tui.workflow_monitor): one row per step, keys for pause, suspend,
        unpause, destroy and quit. Quitting or destroying from it raises RuntimeError, as in v1."""
        from scitq.tui.workflow_monitor import run_monitor
        totals = run_monitor(self, refresh)
        self._release_workers()
        return totals

    def _poll(self) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], bool, dict[str, int]]:
        """One look at the workflow: task counts per step and status, worker counts per step and status,
        whether it is over, and the totals."""
        counts, remaining = self._counts()
        totals: dict[str, int] = {}
        for c in counts.values():
            for k, v in c.items():
                totals[k] = totals.get(k, 0) + v
        return counts, self._workers(), not remaining, totals

    def _summary(self, totals: dict[str, int]) -> str:
        blocked = totals.get("blocked", 0)
        cost = self.cost()
        return (f"[{self.name}] all tasks done: {totals.get('succeeded', 0)} succeeded, {totals.get('failed', 0)} "
                f"failed" + (f", {blocked} blocked by a failed parent" if blocked else "")
                + (f"; cost {cost:.4f}" if cost else ""))

    def cost(self) -> float:
        """What the deployed machines' time in the workflow's step batches cost so far (flavor price per hour
        x hours; 0 without deployed machines)."""
        names = {b.name for b in self._batches.values()}
        if not names:
            return 0.0
        try:
            costs = self.server.client.batch_costs()
        except Exception:  # noqa: BLE001 - an older server's views: no cost known
            return 0.0
        return sum(v for k, v in costs.items() if k in names)

    def _plain_run(self, refresh: float) -> dict[str, int]:
        last_line, last_print, delay = None, 0.0, 0.2
        while True:
            counts, workers, over, totals = self._poll()
            line = self._progress_line(counts, workers)
            now = time.monotonic()
            if line != last_line or now - last_print >= refresh:
                print(line, flush=True)
                last_line, last_print = line, now
            if over or self._quit:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0, max(refresh, 0.2))
        if not over:
            left = sum(v for k, v in totals.items() if k not in FINISHED)
            print(f"[{self.name}] quit: {left} task(s) not finished", flush=True)
            return totals
        print(self._summary(totals), flush=True)
        self._release_workers()
        return totals

    def _release_workers(self) -> None:
        """The workers still in the workflow's step batches go back to the pool (batch Default), where
        any recruiter may recycle them: none is left in a finished batch."""
        names = [b.name for b in self._batches.values()]
        if not names:
            return
        for w in self.server.workers(batch=names):
            self.server.worker_update(_field(w, "worker_id"), batch=DEFAULT_BATCH)

    # --- control -----------------------------------------------------------------------------------
    def pause(self, suspend: bool = False) -> None:
        """Stop starting tasks of every step batch (and with `suspend`, pause the running ones: SIGTSTP)."""
        self._send()
        if not self._paused:
            signal = SIGTSTP if suspend else 0
            self._paused = SIGTSTP if suspend else True
            for b in self._batches.values():
                b.pause(signal)

    def unpause(self) -> None:
        """Undo `pause` (resuming suspended tasks); if not paused, set the paused workers of the steps running."""
        if self._paused:
            signal = SIGCONT if self._paused == SIGTSTP else 0
            for b in self._batches.values():
                b.unpause(signal)
            self._paused = False
        else:
            names = [b.name for b in self._batches.values()]
            for w in self.server.workers(batch=names, status="paused"):
                self.server.worker_update(_field(w, "worker_id"), status="running")

    def clean(self, force: bool = False, download_logs: bool = True, log_destination: Any = Unset) -> None:
        """Once: write each task's latest stdout/stderr to `<log_destination>/<task name>_output.log` and
        `_error.log` (default folder: the workflow name; None: no logs), delete the succeeded tasks and the
        recruiters. `force=True` deletes every step batch instead (all tasks)."""
        if self._cleaned:
            return
        if log_destination is Unset:
            log_destination = self.name
        self._send()
        if force:
            for b in self._batches.values():
                b.destroy()
        else:
            for task in self.server.tasks(task_id=[s._task_id for s in self._steps]):
                task_id, task_name = _field(task, "task_id"), _field(task, "name")
                if download_logs and log_destination is not None:
                    os.makedirs(log_destination, exist_ok=True)
                    exs = self.server.executions(task_id=task_id, latest=True)
                    if exs:
                        base = os.path.join(log_destination, task_name or f"task_{task_id}")
                        for suffix, key in (("_output.log", "output"), ("_error.log", "error")):
                            text = _field(exs[-1], key)
                            if text is not None:
                                with open(base + suffix, "a") as f:
                                    f.write(text)
                if _field(task, "status") == "succeeded":
                    self.server.task_delete(task_id)
            for b in self._batches.values():
                b.clean()
        self._release_workers()
        self._cleaned = True

    def quit(self) -> None:
        """Make `run()` return at its next look, without waiting for the tasks."""
        self._quit = True

    def download(self, uri_list: Any = None, destination: str | None = None) -> None:
        """Download every step's output into `<destination>/<step name>/` (default: the current folder),
        or the URIs of `uri_list` into `destination`."""
        destination = destination or os.getcwd()
        if uri_list is None:
            for s in self._steps:
                if s.output:
                    target = os.path.join(destination, s.name)
                    os.makedirs(target, exist_ok=True)
                    fetch.get(s.output, target)
        else:
            for uri in uri_list if isinstance(uri_list, (list, tuple)) else [uri_list]:
                fetch.get(str(uri), destination)


_ORDER = {s: i for i, s in enumerate(("paused", "debug", "waiting", "pending", "assigned", "accepted", "running",
                                       "failed", "blocked", "succeeded"))}


def _field(obj: Any, key: str) -> Any:
    """A field of what Server returns, in either style (dict or object)."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _requirements(required: Any) -> list[Any]:
    """v1 `required_tasks`: an int, a Step, anything with a `task_id`, or a list of those."""
    if required is None:
        return []
    items: Iterable[Any] = required if isinstance(required, (list, tuple, set)) else [required]
    out: list[Any] = []
    for r in items:
        if isinstance(r, Step):
            out.append(r if not r.sent else r._task_id)
        elif isinstance(r, bool):
            raise WorkflowException(f"required_tasks: {r!r} is not a task")
        elif isinstance(r, int):
            out.append(r)
        elif isinstance(r, dict) and "task_id" in r:
            out.append(int(r["task_id"]))
        elif hasattr(r, "task_id"):
            out.append(int(r.task_id))
        else:
            raise WorkflowException(f"required_tasks: {r!r} is not a task (expected a Step, a task id, "
                                    f"an object with a task_id, or a list of those)")
    return out


class shell_code:
    """A multi-line shell script used as a step's command: `wf.step(..., command=shell_code(script))`.

    The script is run by `shell` (else the step's shell, else `sh`). When the server has a remote
    folder for scripts (`Server.config_remote()`), it is uploaded there under its hash and given as a
    resource (v1: `<shell> /resource/<hash>`); otherwise it travels inside the command itself.
    """

    def __init__(self, code_string: str, shell: str | None = None) -> None:
        import hashlib
        self.code = code_string
        self.shell = shell
        self.hash = hashlib.blake2s(code_string.encode()).hexdigest()
        self.uri: str | None = None

    def _remote(self, server: Server) -> str | None:
        config_remote = getattr(server, "config_remote", None)
        return config_remote() if config_remote is not None else None

    def _resource(self, server: Server) -> str | None:
        remote = self._remote(server)
        if not remote:
            return None
        if self.uri is None:
            import tempfile
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, self.hash)
                with open(path, "w") as f:
                    f.write(self.code)
                self.uri = str(URI(remote) / self.hash)
                fetch.copy(path, self.uri)
        return self.uri

    def _command(self, shell: Any = None, container: bool = True) -> str:
        sh = self.shell or (shell if isinstance(shell, str) else "sh")
        if self.uri is None:
            return f"{sh} -c {shlex.quote(self.code)}"
        return f"{sh} /resource/{self.hash}" if container else f"{sh} -c '. $RESOURCE/{self.hash}'"


_LIVE: "weakref.WeakSet[Workflow]" = weakref.WeakSet()


@atexit.register
def _send_at_exit() -> None:
    """A script that ends without run() still gets its tasks sent (v1 sent each at once). At exit,
    one try only: an unreachable server is said, not waited for."""
    for wf in list(_LIVE):
        if not wf._unsent:
            continue
        wf.server.persistent = False
        try:
            wf._send()
        except Exception as exc:     # noqa: BLE001 - at exit, say it and go on with the others
            print(f"scitq: workflow {wf.name}: {len(wf._unsent)} task(s) not sent: {exc}", file=sys.stderr)
