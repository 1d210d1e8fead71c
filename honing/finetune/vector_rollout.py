"""A vector of task environments whose every episode can be rebuilt: for on-policy methods.

Gymnasium's vector env (async: one subprocess per env; sync: in-process) with autoreset
disabled, so honing resets each finished env itself with a seed it draws and records. Together
with the actions taken since, that seed is the whole state of an episode in progress: a resumed
run replays every env's episode exactly (simulators are deterministic), the way the off-policy
loop does for its single env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from honing.tasks import Task


class Replayable(gym.Wrapper):
    """Knows its slot in the vector, so one broadcast ``call`` can replay a different episode in each."""

    def __init__(self, env: gym.Env, slot: int) -> None:
        super().__init__(env)
        self.slot = slot

    def replay(self, seeds: Sequence[int], actions: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
        """Reset with this slot's seed, replay its actions; the observations seen along the way."""
        obs, _ = self.env.reset(seed=int(seeds[self.slot]))
        seen = [obs]
        for action in actions[self.slot]:
            seen.append(self.env.step(action)[0])
        return seen


def _factory(task: Task, slot: int) -> Any:
    return lambda: Replayable(task.make_env(sparse=True), slot)


class VectorRollout:
    """``num_envs`` envs of a task, reset by seed, with each episode's actions recorded."""

    def __init__(self, task: Task, num_envs: int, asynchronous: bool, rng: np.random.Generator) -> None:
        fns = [_factory(task, slot) for slot in range(num_envs)]
        mode = {"autoreset_mode": AutoresetMode.DISABLED}
        self.envs: gym.vector.VectorEnv = AsyncVectorEnv(fns, **mode) if asynchronous else SyncVectorEnv(fns, **mode)  # type: ignore[arg-type]
        self.num_envs, self.rng = num_envs, rng
        self.seeds = np.zeros(num_envs, dtype=np.int64)
        self.actions: list[list[np.ndarray]] = [[] for _ in range(num_envs)]
        self.obs = np.zeros((num_envs, *self.envs.single_observation_space.shape), dtype=np.float32)  # type: ignore[misc]

    def reset(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Start new episodes (all envs, or those in `mask`) with freshly drawn seeds; the envs started."""
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else mask
        started = np.flatnonzero(mask)
        for slot in started:
            self.seeds[slot] = int(self.rng.integers(2**31))
            self.actions[slot] = []
        obs, _ = self.envs.reset(seed=[int(s) for s in self.seeds], options={"reset_mask": mask})
        self.obs[started] = obs[started]
        return started

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env; returns (next obs, reward, terminated, truncated, infos). Finished envs are not
        reset here (call :meth:`reset` with their mask), so `next obs` holds the true final observations."""
        for slot in range(self.num_envs):
            self.actions[slot].append(np.array(actions[slot], dtype=np.float32))
        obs, reward, terminated, truncated, infos = self.envs.step(actions)
        self.obs = np.asarray(obs, dtype=np.float32).copy()
        return self.obs.copy(), np.asarray(reward, np.float32), np.asarray(terminated), np.asarray(truncated), infos

    def state(self) -> dict[str, Any]:
        """Seeds and actions of the episodes in progress (what :meth:`restore` replays)."""
        return {"seeds": [int(s) for s in self.seeds], "lengths": [len(a) for a in self.actions]}

    def restore(self, seeds: Sequence[int], actions: Sequence[Sequence[np.ndarray]]) -> list[list[np.ndarray]]:
        """Rebuild every env's episode in progress; the observations each one went through."""
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.actions = [[np.asarray(a, dtype=np.float32) for a in slot] for slot in actions]
        seen = self.envs.call("replay", list(self.seeds), self.actions)
        self.obs = np.stack([np.asarray(s[-1], dtype=np.float32) for s in seen])
        return [list(s) for s in seen]

    def close(self) -> None:
        self.envs.close()
