"""A task's scripted expert, with optional Gaussian action noise, behind the Policy protocol.

Lets the expert be measured by the same evaluation (same seeds, same statistics) as any
learned policy: the reference line every BC and fine-tuning number is read against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from honing import seeding
from honing.tasks import Task, get_task


class ScriptedPolicy:
    """Expert actions plus N(0, noise^2), clipped to [-1, 1]."""

    def __init__(self, task: Task | str, noise: float = 0.0, seed: int = 0) -> None:
        self.task = get_task(task) if isinstance(task, str) else task
        self.expert = self.task.expert()
        self.noise = noise
        self.rng = seeding.rng(seed, "noise")
        self.obs_dim, self.act_dim = self.task.spaces()

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        """The experts are memoryless: nothing to clear."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        actions = np.stack([self.expert(o) for o in np.atleast_2d(obs)]).astype(np.float32)
        if self.noise > 0:
            actions += self.noise * self.rng.standard_normal(actions.shape).astype(np.float32)
        return np.clip(actions, -1.0, 1.0)
