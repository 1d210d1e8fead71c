"""The Policy protocol every base policy and every honed policy implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Batched, stateful-if-needed control policy.

    ``act`` takes a batch of raw observations (one row per environment slot, in a fixed order)
    and returns actions in [-1, 1]. Policies with memory (action-chunk queues) keep one state
    per slot; ``reset(env_ids)`` clears the slots whose episodes start again (all when None).
    """

    obs_dim: int
    act_dim: int

    def reset(self, env_ids: Sequence[int] | None = None) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...
