"""Replay for residual off-policy RL: n-step transitions with cached base actions.

Transitions are stored already reduced to n-step form, with the base policy's action at both
ends cached, so an update never re-runs the base or recomputes returns:

    (obs, executed action, base action, R = sum_i gamma^i r_i, discount, next obs, next base action)

``discount`` is gamma^k for a k-step window, or 0 when the window ends in a termination (success).
A time-limit truncation is not a termination: it still bootstraps from the last observation.
Observations are stored normalised (once, at insertion).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from honing.data.episodes import Episode
from honing.data.normalization import Normalizer
from honing.errors import DatasetError
from honing.policies.base import Policy

FIELDS = ("obs", "action", "base_action", "reward", "discount", "next_obs", "next_base_action")


@dataclass
class NStepTransition:
    obs: np.ndarray
    action: np.ndarray
    base_action: np.ndarray
    reward: float
    discount: float
    next_obs: np.ndarray
    next_base_action: np.ndarray


class NStepAccumulator:
    """Turns one env's step stream into n-step transitions (flushing at every episode end)."""

    def __init__(self, n: int, gamma: float) -> None:
        self.n, self.gamma = n, gamma
        self.pending: deque[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = deque()

    def push(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        base_action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        next_base_action: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> list[NStepTransition]:
        self.pending.append((obs, action, base_action, float(reward)))
        emitted = []
        if terminated or truncated:
            while self.pending:
                emitted.append(self._emit(next_obs, next_base_action, terminated))
        elif len(self.pending) == self.n:
            emitted.append(self._emit(next_obs, next_base_action, False))
        return emitted

    def _emit(self, next_obs: np.ndarray, next_base_action: np.ndarray, terminated: bool) -> NStepTransition:
        steps = len(self.pending)
        ret = sum(self.gamma**i * entry[3] for i, entry in enumerate(self.pending))
        obs, action, base_action, _ = self.pending.popleft()
        discount = 0.0 if terminated else self.gamma**steps
        return NStepTransition(obs, action, base_action, ret, discount, next_obs, next_base_action)


class ReplayBuffer:
    """Preallocated ring buffer of n-step transitions on the training device.

    All fields live side by side in one (capacity, width) tensor, and ``data`` holds a column view
    per field: a batch is then one row gather per buffer, not one per field (measured: a mixed
    batch of 256 in ~30 us against ~170 us for the 14 gathers and 7 concatenations per field).
    """

    def __init__(
        self, capacity: int, obs_dim: int, act_dim: int, device: torch.device, base_dim: int | None = None
    ) -> None:
        """`base_dim` (default `act_dim`) is the width of the cached base actions; 0 for methods with none."""
        self.capacity, self.device = capacity, device
        base = act_dim if base_dim is None else base_dim
        shapes = {"obs": (obs_dim,), "next_obs": (obs_dim,), "action": (act_dim,), "base_action": (base,),
                  "next_base_action": (base,), "reward": (), "discount": ()}  # fmt: skip
        self.layout = tuple((name, shape) for name, shape in shapes.items())
        width = sum(shape[0] if shape else 1 for shape in shapes.values())
        self.storage = torch.zeros((capacity, width), dtype=torch.float32, device=device)
        self.data = self.fields(self.storage)
        self.size = 0
        self.position = 0

    def __len__(self) -> int:
        return self.size

    def fields(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named column views of `rows` (rows of `storage`, or a batch gathered from them)."""
        views, start = {}, 0
        for name, shape in self.layout:
            stop = start + (shape[0] if shape else 1)
            views[name] = rows[:, start:stop] if shape else rows[:, start]
            start = stop
        return views

    def add(self, transitions: Sequence[NStepTransition]) -> None:
        width = self.storage.shape[1]
        for transition in transitions:  # one row write per transition, not one per field
            row = np.concatenate([np.asarray(getattr(transition, name), dtype=np.float32).reshape(-1)
                                  for name, _ in self.layout])  # fmt: skip
            if len(row) != width:
                widths = {name: np.size(getattr(transition, name)) for name, _ in self.layout}
                raise ValueError(f"transition fields {widths} do not fit this buffer's layout {dict(self.layout)}")
            self.storage[self.position] = torch.from_numpy(row)
            self.position = (self.position + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample_rows(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """`batch_size` stored rows drawn uniformly with replacement (one gather)."""
        index = torch.randint(0, self.size, (batch_size,), generator=generator, device="cpu").to(self.device)
        return self.storage.index_select(0, index)

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.fields(self.sample_rows(batch_size, generator))


def sample_mixed(
    demo: ReplayBuffer, online: ReplayBuffer, batch_size: int, demo_fraction: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Symmetric sampling: a fixed share of every batch from the demos, the rest from online data."""
    if demo.layout != online.layout:
        raise ValueError("sample_mixed needs demo and online buffers of the same field widths")
    n_demo = round(batch_size * demo_fraction) if len(online) else batch_size
    parts = []
    if n_demo:
        parts.append(demo.sample_rows(n_demo, generator))
    if batch_size - n_demo:
        parts.append(online.sample_rows(batch_size - n_demo, generator))
    return demo.fields(torch.cat(parts) if len(parts) > 1 else parts[0])


def sparse_demo_view(episode: Episode) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Observations, actions, sparse rewards and termination of a demo cut at its first success.

    Whatever reward a demo was recorded with, fine-tuning sees the same sparse signal as online:
    1 on the first success step, which terminates the episode.
    """
    steps = len(episode)
    if episode.success:
        steps = int(np.argmax(episode.successes)) + 1
    rewards = np.zeros(steps, dtype=np.float32)
    if episode.success:
        rewards[-1] = 1.0
    terminated = bool(episode.success or episode.terminations[steps - 1])
    return episode.observations[: steps + 1], episode.actions[:steps], rewards, terminated


def demo_transitions(
    episodes: Sequence[Episode],
    base: Policy | None,
    normalizer: Normalizer,
    n_step: int,
    gamma: float,
) -> list[NStepTransition]:
    """n-step transitions from demos, their base actions relabelled by replaying the base.

    The demonstrated action stays the executed action. The base is reset at the start of each
    demo episode and fed that episode's observations in order, so a chunked base's queue is in
    the state it would have been in had it driven the robot through the same states.
    """
    if not episodes:
        raise DatasetError("fine-tuning needs at least one demonstration episode")
    transitions = []
    for episode in episodes:
        observations, actions, rewards, terminated = sparse_demo_view(episode)
        if base is not None:
            base.reset()
            base_actions = np.stack([base.act(o[None])[0] for o in observations])
        else:
            base_actions = np.zeros((len(observations), actions.shape[1]), dtype=np.float32)
        normed = normalizer.normalize_obs(observations)
        accumulator = NStepAccumulator(n_step, gamma)
        last = len(actions) - 1
        for t in range(len(actions)):
            transitions += accumulator.push(
                normed[t], actions[t], base_actions[t], rewards[t], normed[t + 1], base_actions[t + 1],
                terminated=terminated and t == last, truncated=(not terminated) and t == last,
            )  # fmt: skip
    return transitions
