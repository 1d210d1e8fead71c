"""The Task contract and the wrappers that make any environment honour it.

Every task env, whatever its origin, ends up with: flat float32 observations, actions in
[-1, 1], a step limit, ``info["is_success"]`` (bool) on every step, and optionally the sparse
reward used for fine-tuning (1 on the first success step, then terminate; 0 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

Expert = Callable[[np.ndarray], np.ndarray]
"""A scripted expert: one flat observation in, one action in [-1, 1] out."""


class SuccessInfo(gym.Wrapper):
    """Copy the env's own success flag (``success``, ``is_success``, ...) to ``info["is_success"]``."""

    def __init__(self, env: gym.Env, key: str) -> None:
        super().__init__(env)
        self.key = key

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        info["is_success"] = False
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["is_success"] = bool(info.get(self.key, False))
        return obs, float(reward), bool(terminated), bool(truncated), info


class SparseReward(gym.Wrapper):
    """Reward 1 on the first success step and terminate there; reward 0 otherwise.

    Termination (not truncation) marks success, so bootstrapping stops only where the task is
    actually solved; running out of time is a truncation.
    """

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        success = bool(info["is_success"])
        return obs, float(success), bool(terminated or success), bool(truncated), info


class Float32Obs(gym.ObservationWrapper):
    """Flat float32 observations: what policies and datasets store."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        assert isinstance(space, gym.spaces.Box), "flatten dict observations before Float32Obs"
        low = np.maximum(space.low, np.finfo(np.float32).min).astype(np.float32)
        high = np.minimum(space.high, np.finfo(np.float32).max).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, shape=space.shape, dtype=np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)


class ClipAction(gym.ActionWrapper):
    """Clip actions to [-1, 1] so no caller can push the robot past its limits."""

    def action(self, action: Any) -> np.ndarray:
        return np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)


def standardise(env: gym.Env, success_key: str, max_episode_steps: int) -> gym.Env:
    """Wrap a raw env into the honing contract (dense reward, success flag, step limit)."""
    if isinstance(env.observation_space, gym.spaces.Dict):
        env = gym.wrappers.FlattenObservation(env)
    if not isinstance(env.observation_space, gym.spaces.Box):
        raise TypeError(f"observation space {env.observation_space} is not a Box or Dict of Boxes")
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"action space {space} is not continuous (Box)")
    if not (np.allclose(space.low, -1.0) and np.allclose(space.high, 1.0)):
        env = gym.wrappers.RescaleAction(env, min_action=-1.0, max_action=1.0)
    env = ClipAction(env)
    env = Float32Obs(env)
    env = SuccessInfo(env, success_key)
    return gym.wrappers.TimeLimit(env, max_episode_steps=max_episode_steps)


@dataclass(frozen=True)
class Task:
    """A registered task: how to build its env, how long an episode lasts, who can solve it.

    Attributes:
        id: registry id, e.g. ``metaworld/pick-place``.
        make_raw_env: builds the underlying env (any render mode) before honing's wrappers.
        max_episode_steps: step limit; reaching it is a truncation, never a termination.
        success_key: key of the env's own success flag in ``info``.
        make_expert: builds a scripted expert, or None when the task has none.
        description: one line for ``honing tasks``.
        observation_parts: named slices of the observation, (start, stop), e.g. the end-effector
            position; safety constraints refer to them by name.
        wrappers: applied last, outermost (e.g. an action shield).
    """

    id: str
    make_raw_env: Callable[..., gym.Env]
    max_episode_steps: int
    success_key: str
    make_expert: Callable[[], Expert] | None = None
    description: str = ""
    observation_parts: tuple[tuple[str, int, int], ...] = ()
    wrappers: tuple[Callable[[gym.Env], gym.Env], ...] = ()

    @property
    def has_expert(self) -> bool:
        return self.make_expert is not None

    def make_env(self, sparse: bool = True, render_mode: str | None = None) -> gym.Env:
        """Build the env; seed it through ``env.reset(seed=...)`` as with any Gymnasium env."""
        raw = self.make_raw_env(render_mode=render_mode)
        env = standardise(raw, self.success_key, self.max_episode_steps)
        env = SparseReward(env) if sparse else env
        for wrap in self.wrappers:
            env = wrap(env)
        return env

    @property
    def parts(self) -> dict[str, tuple[int, int]]:
        return {name: (start, stop) for name, start, stop in self.observation_parts}

    def expert(self) -> Expert:
        if self.make_expert is None:
            from honing.errors import TaskError

            raise TaskError(
                f"task {self.id!r} has no scripted expert; bring demonstrations "
                "(import them or record them yourself) instead of 'honing demos'"
            )
        return self.make_expert()

    def spaces(self) -> tuple[int, int]:
        """(observation dim, action dim) of the wrapped env."""
        env = self.make_env()
        try:
            return int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
        finally:
            env.close()
