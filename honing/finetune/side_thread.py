"""A second thread for a learner's update, so that two independent steps run on two cores at once.

Why: on a 2-core CPU one update at two intra-op threads gains only ~1.5x over one thread (its
matmuls are small; rlpd 2x256 bf16-compiled, 328 against 487 updates/s, BENCHMARKS.md, learner
throughput), while the critic's and the actor's steps of a simultaneous actor-critic
update share no writes, so each can have a core to itself at one thread. Torch's kernels release
Python's interpreter lock, and so do compiled graphs built with ``release_gil``
(``honing.finetune.direct_call``), so a plain thread is enough: no process, no copies of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch


def one_thread() -> None:
    """Torch at one intra-op thread in this process from now on, the calling thread included.

    For the whole run, not around each step: a thread that goes back to two intra-op threads leaves
    an OpenMP worker spinning after every parallel region, on the core the other step is using, and
    the steps slow each other down.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class SideThread:
    """One worker thread, started on first use, whose torch runs at one intra-op thread."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="honing-update",
                                            initializer=one_thread)  # fmt: skip
        return self._pool.submit(fn, *args)
