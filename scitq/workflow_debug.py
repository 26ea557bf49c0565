"""Provides `debug_run`: v1's interactive workflow debugger (`Workflow(debug=True).run()`).

Tasks of a debug workflow are created `debug` (never started by themselves). The debugger proposes
one runnable task at a time (its parents done, a child of the previous one first), shows its
command, container, resources and inputs, starts it on a worker of its batch, streams its stdout
and stderr live, then asks what next: continue, retry, quit (remaining tasks stay `debug`) or exit
to normal mode (remaining tasks are released and `run()` follows them as usual).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scitq.workflow import Workflow

__all__ = ["debug_run", "DEBUG_INTERVAL"]

DEBUG_INTERVAL = 0.5          # seconds between two looks at the running task (v1: 2)
MAX_COMMAND_DISPLAY = 60
PAGE = 20


def _f(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _color(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if sys.stdout.isatty() else text


def red_print(message: str, **kw: Any) -> None:
    print(_color("31", str(message)), **kw, flush=True)


def blue_print(message: str, **kw: Any) -> None:
    print(_color("34", str(message)), **kw, flush=True)


def ask(message: str, choices: str | list[str], one_char: bool = True, default: Any = True) -> str:
    """v1's prompt: repeat until the answer is one of `choices`; Enter takes the first choice (or `default`).
    End of input (stdin closed) answers `q`."""
    choices = list(choices)
    fallback = choices[0] if default is True else default
    while True:
        try:
            answer = input(message)
        except EOFError:
            print()
            return "q"
        answer = answer.strip().lower() or (fallback or "")
        if one_char and answer:
            answer = answer[0]
        if answer in choices:
            return answer


class _Debugger:
    def __init__(self, wf: "Workflow") -> None:
        self.wf = wf
        self.server = wf.server
        ids = wf._task_ids()
        tasks = [t for t in self.server.tasks(task_id=ids) if _f(t, "status") == "debug"]
        self.todo: dict[int, Any] = {_f(t, "task_id"): t for t in tasks}
        self.requires: dict[int, set[int]] = {tid: set(_f(t, "required_task_ids") or []) for tid, t in self.todo.items()}
        self.children: dict[int, list[int]] = {}
        for tid, reqs in self.requires.items():
            for r in reqs:
                self.children.setdefault(r, []).append(tid)
        statuses = self.server.task_status(sorted({r for reqs in self.requires.values() for r in reqs}))
        self.done: set[int] = {r for r, st in zip(sorted({r for reqs in self.requires.values() for r in reqs}),
                                                  statuses) if st == "succeeded"}

    def runnable(self) -> list[Any]:
        return [t for tid, t in self.todo.items() if self.requires[tid] <= self.done]

    def choose(self, previous: Any) -> Any:
        if previous is not None:
            for tid in self.children.get(_f(previous, "task_id"), []):
                if tid in self.todo and self.requires[tid] <= self.done:
                    return self.todo[tid]
        ready = self.runnable()
        return ready[0] if ready else None

    def show(self, task: Any) -> None:
        print("----------------------------------------------------------")
        print(f"task        | [{_f(task, 'task_id')}] {_f(task, 'name')}")
        print(f"command     | {_f(task, 'command')}")
        print(f"container   | {_f(task, 'container')}")
        print(f"resource    | {_f(task, 'resource')}")
        print(f"input       | {_f(task, 'input')}")
        print("----------------------------------------------------------", flush=True)

    def pick_another(self) -> Any:
        """The list of runnable tasks, 20 at a time; returns a task, or 'q' / 'x'."""
        ready = self.runnable()
        page = PAGE
        while True:
            shown = ready[page - PAGE:page]
            for i, t in enumerate(shown):
                print(f"{i + 1}) [{_f(t, 'task_id')}] {_f(t, 'name')} : {str(_f(t, 'command'))[:MAX_COMMAND_DISPLAY]}")
            more = len(ready) > page
            answer = ask("Please type the task number you want me to launch or [q] to quit, [x] to exit and "
                         "continue in non debug" + (" or [m] for more" if more else "") + ": ",
                         [str(i) for i in range(1, len(shown) + 1)] + ["m", "q", "x"], one_char=False,
                         default=False)
            if answer == "m":
                page = page + PAGE if more else PAGE
                continue
            if answer in ("q", "x"):
                return answer
            return shown[int(answer) - 1]

    def worker_news(self, batch: str, said: str | None) -> str:
        workers = self.server.workers()
        here = [w for w in workers if _f(w, "batch") == batch]
        state = "present" if here else "absent"
        if state != said:
            print(f"A worker for this batch is {state}", end="")
            if state == "present":
                print(flush=True)
            elif hasattr(self.server, "recruiters"):
                recruiters = list(self.server.recruiters(batch=batch))
                if not recruiters:
                    red_print(r": /!\ WARNING there are no recruiters so you should manually add a worker")
                elif any(_f(r, "worker_provider") and _f(r, "worker_region") for r in recruiters):
                    print(" but there is an active recruiter", flush=True)
                else:
                    print(", there are recycling only recruiters", flush=True)
            else:
                red_print(f": /!\\ WARNING no worker serves {batch}: start one with `scitq worker -b {batch}`")
        return state

    def launch(self, task: Any) -> str:
        """Run one task to its end, streaming its output; returns what to do next: c, q or x."""
        tid, name, batch = _f(task, "task_id"), _f(task, "name"), _f(task, "batch")
        before = {_f(e, "execution_id") for e in self.server.executions(task_id=tid, no_output=True)}
        self.server.task_update(tid, status="pending", retry=0)
        print(f"task [{tid}] {name} is pending...", flush=True)
        previous, said, current = "pending", None, None
        out_pos = err_pos = 1
        while True:
            status = _f(self.server.task_get(tid), "status")
            if status != previous:
                previous = status
                print(f"task [{tid}] {name} changed to {status} status...", flush=True)
            if status in ("pending", "assigned", "accepted", "waiting", "paused"):
                if status == "pending":
                    said = self.worker_news(batch, said)
                time.sleep(DEBUG_INTERVAL)
                continue
            if current is None:
                fresh = [e for e in self.server.executions(task_id=tid, no_output=True)
                         if _f(e, "execution_id") not in before]
                current = _f(fresh[-1], "execution_id") if fresh else None
            if current is not None:
                got = self.server.execution_output(current, output_position=out_pos, error_position=err_pos)
                if _f(got, "error"):
                    err_pos += len(_f(got, "error"))
                    red_print(_f(got, "error"), end="")
                if _f(got, "output"):
                    out_pos += len(_f(got, "output"))
                    blue_print(_f(got, "output"), end="")
            if status == "running":
                time.sleep(DEBUG_INTERVAL)
                continue
            if status == "failed":
                if ask("Task failed, should we retry? [Y]es or [n]o ", "yn") == "y":
                    before.add(current)
                    current, out_pos, err_pos = None, 1, 1
                    self.server.task_update(tid, status="pending")
                    continue
                del self.todo[tid]
                return "c"
            if status == "succeeded":
                self.done.add(tid)
            answer = ask(f"Task is now {status}, should we [C]ontinue in debug mode, [r]etry it anyway, [q]uit "
                         f"debug mode and stop, or e[x]it debug mode and continue in normal mode? ", "crqx")
            if answer == "r":
                self.done.discard(tid)
                before.add(current)
                current, out_pos, err_pos = None, 1, 1
                self.server.task_update(tid, status="pending")
                continue
            if answer in ("c", "x"):
                self.todo.pop(tid, None)
            return answer

    def to_normal(self) -> Any:
        """Release every remaining debug task (waiting for its parents, or pending) and follow them normally."""
        print("Setting all debug tasks to pending", flush=True)
        # the server releases a task set waiting whose parents already succeeded, and blocks it when one failed
        for tid in self.todo:
            self.server.task_update(tid, status="waiting" if self.requires[tid] else "pending")
        self.wf.debug = False
        return self.wf.run()

    def run(self) -> Any:
        previous = None
        try:
            while self.todo:
                task = self.choose(previous)
                if task is None:
                    ask("Dead end: some tasks remain but they have unmet requirements, must give up, press Enter",
                        ["", "q"], default="")
                    return False
                self.show(task)
                answer = ask(f"About to launch task [{_f(task, 'task_id')}] {_f(task, 'name')}, should I run it? "
                             f"[Y]es/[n]o another task/[q]uit debuger and stop/e[x]it debuger continuing in "
                             f"normal mode ", "ynqx")
                if answer == "n":
                    answer = self.pick_another()
                    if answer not in ("q", "x"):
                        task, answer = answer, "y"
                if answer == "q":
                    return False
                if answer == "x":
                    return self.to_normal()
                previous = task
                nxt = self.launch(task)
                if nxt == "q":
                    return False
                if nxt == "x":
                    return self.to_normal()
        except KeyboardInterrupt:
            print("\ndebugger interrupted: the remaining tasks stay in debug", flush=True)
            return False
        print("That's all folks! No more tasks to debug", flush=True)
        return None


def debug_run(wf: "Workflow") -> Any:
    """v1's `Workflow.__debug_run__`: the interactive loop over the workflow's debug tasks."""
    return _Debugger(wf).run()
