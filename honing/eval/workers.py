"""Evaluation episodes dealt out to forked worker processes, so an evaluation uses every core.

Why: an evaluation steps the simulator tens of thousands of times while the learner waits, on one
core (measured: 44% of a 20k-step residual-td3 run on metaworld/pick-place, 1 thread; see
BENCHMARKS.md, parallel evaluation). An episode depends only on its seed and the policy, so the
seeds are split between workers and the results put back in seed order. The children are forked:
they inherit the policy and the task as they are, and only the episode results travel back.
Forking is skipped where it cannot work (no ``fork`` start method, a daemonic process, CUDA already
initialised: its runtime does not survive a fork), and the episodes then run in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from honing.errors import HoningError

Item = TypeVar("Item")
Result = TypeVar("Result")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked from here (see the module docstring)."""
    return "fork" in mp.get_all_start_methods() and not mp.current_process().daemon and not torch.cuda.is_initialized()


def worker_count(requested: int, tasks: int) -> int:
    """Workers to use for `tasks` pieces of work: `requested` (0: one per usable core), 1 where forking cannot work."""
    if requested < 0:
        raise HoningError(f"eval workers must be >= 0 (0: one per core), got {requested}")
    workers = min(requested or usable_cores(), tasks)
    return workers if workers > 1 and can_fork() else 1


def _child(fn: Callable[[Any], Any], item: Any, conn: Any) -> None:
    torch.set_num_threads(1)  # the workers share the cores between them
    try:
        conn.send(("ok", fn(item)))
    except BaseException as error:  # whatever it was, the parent must hear of it
        conn.send(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))
    finally:
        conn.close()


def fork_map(fn: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[fn(item) for item in items]``, each call in a forked child of its own, all at once."""
    ctx = mp.get_context("fork")
    children: list[tuple[Any, Any]] = []
    try:
        for item in items:
            receive, send = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child, args=(fn, item, send), name="honing-eval", daemon=True)
            process.start()
            send.close()
            children.append((process, receive))
        results: list[Result] = []
        for process, receive in children:
            try:
                message = receive.recv()
            except EOFError:
                process.join()
                raise HoningError(f"an evaluation worker exited (code {process.exitcode}) without a result; "
                                  "rerun with one worker (eval_workers = 1, --workers 1) to see the error "
                                  "in this process") from None  # fmt: skip
            if message[0] == "error":
                raise HoningError(f"an evaluation worker failed: {message[1]} (its traceback:)\n{message[2]}")
            results.append(message[1])
        return results
    finally:
        for process, receive in children:
            receive.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
