"""The acting side of the off-policy loop: one env, the frozen base, warm-up noise, exploration.

It is the same object whether it runs in the learner's process (the synchronous loop) or in an
actor process (:mod:`honing.finetune.actor_process`): it returns one :class:`StepRecord` per env
step and never touches replay or updates, so both loops collect exactly the same data for the
same weights and random streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from honing.finetune.common import OffPolicyConfig
from honing.policies.base import Policy
from honing.runs import snapshot as snap
from honing.tasks import Task


class Explorer(Protocol):
    """What acting needs from a learner (the learner itself, or its actor-process copy)."""

    uses_base: bool

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray: ...


@dataclass
class StepRecord:
    """One env step as the learner ingests it (observations raw; the learner normalises)."""

    obs: np.ndarray
    action: np.ndarray
    """The executed action (after the shield, when one changed it)."""
    base_action: np.ndarray
    reward: float
    next_obs: np.ndarray
    next_base_action: np.ndarray
    terminated: bool
    truncated: bool
    success: bool | None
    """Whether the episode succeeded, on its last step; None on every other step."""
    shield: tuple[str, ...] = ()
    """Constraints whose shield changed this step's action."""


class Collector:
    """Steps one env with base + warm-up noise, then with the agent's exploration."""

    def __init__(self, agent: Explorer, task: Task, base: Policy, config: OffPolicyConfig, rng: np.random.Generator):
        self.agent, self.base, self.config, self.rng = agent, base, config, rng
        self.task = task
        self._env: Any = None
        self.zero_action = np.zeros(base.act_dim, dtype=np.float32)
        self.step = 0
        self.episode_seed = 0
        self.episode_actions: list[np.ndarray] = []
        self.obs = np.zeros(base.obs_dim, dtype=np.float32)
        self.base_action = self.zero_action

    @property
    def env(self) -> Any:
        """Made on first use, so an actor process, not its parent, owns the env it steps."""
        if self._env is None:
            self._env = self.task.make_env(sparse=True)
        return self._env

    def base_act(self, obs: np.ndarray) -> np.ndarray:
        return self.base.act(obs[None])[0] if self.agent.uses_base else self.zero_action

    def start_episode(self, seed: int, actions: Sequence[np.ndarray] = ()) -> None:
        """Reset the env with `seed`, then replay `actions` (to rebuild an episode after a resume)."""
        self.episode_seed, self.episode_actions = seed, list(actions)
        self.obs, _ = self.env.reset(seed=seed)
        self.base.reset()
        self.base_action = self.base_act(self.obs)
        for action in self.episode_actions:
            self.obs = self.env.step(action)[0]
            self.base_action = self.base_act(self.obs)

    def new_episode(self) -> None:
        self.start_episode(int(self.rng.integers(2**31)))

    def choose_action(self) -> np.ndarray:
        cfg = self.config
        if self.step > cfg.learning_starts:
            return self.agent.explore(self.obs, self.base_action)
        if self.agent.uses_base:
            noise = self.rng.uniform(-cfg.warmup_noise, cfg.warmup_noise, size=len(self.zero_action))
            return np.clip(self.base_action + noise, -1.0, 1.0).astype(np.float32)
        return self.rng.uniform(-1.0, 1.0, size=len(self.zero_action)).astype(np.float32)

    def next(self) -> StepRecord:
        """Take env step number ``step + 1``; a finished episode is followed by a fresh reset."""
        self.step += 1
        action = self.choose_action()
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_actions.append(action)
        shield: tuple[str, ...] = ()
        if info.get("shield"):  # the shield changed the action: learn from what was executed
            action, shield = info["shield_action"], tuple(info["shield"])
        next_base_action = self.base_act(next_obs)
        done = bool(terminated or truncated)
        record = StepRecord(self.obs, action, self.base_action, float(reward), next_obs, next_base_action,
                            bool(terminated), bool(truncated), bool(info["is_success"]) if done else None,
                            shield)  # fmt: skip
        if done:
            self.new_episode()
        else:
            self.obs, self.base_action = next_obs, next_base_action
        return record

    def begin(self, state: dict[str, Any] | None) -> None:
        """Start collecting: a fresh episode, or the one a snapshot recorded (see :meth:`state`)."""
        if state is None:
            self.new_episode()
        else:
            self.restore(state)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    # -- what a snapshot needs to rebuild this side ------------------------------------------

    def state(self) -> dict[str, Any]:
        """Episode in progress and random streams (numpy-only, so it can cross a process boundary)."""
        agent: Any = self.agent
        return {
            "step": self.step,
            "episode_seed": self.episode_seed,
            "episode_actions": np.stack(self.episode_actions) if self.episode_actions else None,
            "loop_rng": snap.pack_numpy_rng(self.rng),
            "noise_rng": snap.pack_numpy_rng(agent.noise_rng) if hasattr(agent, "noise_rng") else None,
            "generator": agent.generator.get_state().numpy() if hasattr(agent, "generator") else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        agent: Any = self.agent
        snap.unpack_numpy_rng(self.rng, state["loop_rng"])
        if state["noise_rng"] is not None:
            snap.unpack_numpy_rng(agent.noise_rng, state["noise_rng"])
        if state["generator"] is not None:
            agent.generator.set_state(torch.as_tensor(state["generator"]))
        actions = state["episode_actions"]
        self.start_episode(int(state["episode_seed"]), list(actions) if actions is not None else [])
        self.step = int(state["step"])
