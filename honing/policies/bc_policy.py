"""Behavior-cloning policies: an MLP, and an action-chunking MLP with a per-env action queue.

Both are one network mapping a normalised observation to H normalised actions: the plain MLP
is the H = 1, k = 1 case. A chunked policy predicts H actions, executes the first k from a
per-env queue (refilled when empty), or with temporal ensembling re-plans every step and
averages all still-valid predictions for the current step (older ones weigh more, as in ACT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from honing.data.normalization import Normalizer
from honing.errors import ConfigError
from honing.policies.networks import ObsNormalized, mlp


@dataclass
class PolicyConfig:
    """Architecture of a BC policy (stored in the checkpoint's config.json)."""

    kind: Literal["mlp", "chunked"] = "mlp"
    """``mlp`` predicts one action; ``chunked`` predicts ``chunk_horizon`` actions (action chunking)."""
    hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of the hidden layers."""
    layer_norm: bool = True
    """LayerNorm after each hidden layer (stabilises training on small datasets)."""
    dropout: float = 0.1
    """Dropout after each hidden layer: regularises BC on a handful of demos."""
    chunk_horizon: int = 8
    """H: actions predicted per query (chunked only)."""
    chunk_execute: int = 4
    """k: actions executed from each chunk before re-planning (chunked only)."""
    temporal_ensemble: bool = False
    """Re-plan every step and average overlapping predictions (chunked only; ignores k)."""
    ensemble_decay: float = 0.01
    """m in w = exp(m * age): how much more older predictions weigh in the ensemble."""

    @property
    def horizon(self) -> int:
        return 1 if self.kind == "mlp" else self.chunk_horizon

    @property
    def execute(self) -> int:
        return 1 if self.kind == "mlp" else self.chunk_execute

    def validate(self) -> None:
        if not self.hidden_dims or min(self.hidden_dims) <= 0:
            raise ConfigError(f"hidden_dims must be positive widths, got {self.hidden_dims}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.kind == "chunked":
            if self.chunk_horizon < 1:
                raise ConfigError(f"chunk_horizon must be >= 1, got {self.chunk_horizon}")
            if not 1 <= self.chunk_execute <= self.chunk_horizon:
                raise ConfigError(
                    f"chunk_execute must be in [1, chunk_horizon={self.chunk_horizon}], got {self.chunk_execute}"
                )


class BCNetwork(ObsNormalized):
    """Normalised observation -> H normalised actions, with the dataset statistics as buffers."""

    def __init__(self, config: PolicyConfig, obs_dim: int, act_dim: int, normalizer: Normalizer) -> None:
        super().__init__()
        self.config, self.obs_dim, self.act_dim = config, obs_dim, act_dim
        self.body = mlp(obs_dim, config.horizon * act_dim, config.hidden_dims, config.layer_norm, config.dropout)
        self.register_normalizer(normalizer)

    def forward(self, norm_obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) normalised observations -> (B, H, act_dim) normalised actions."""
        return self.body(norm_obs).view(-1, self.config.horizon, self.act_dim)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations -> raw action chunks in [-1, 1]."""
        actions = self(self.normalize_obs(obs)) * self.act_std + self.act_mean
        return actions.clamp(-1.0, 1.0)


class BCPolicy:
    """A trained BC network behind the :class:`~honing.policies.base.Policy` protocol."""

    def __init__(self, network: BCNetwork, device: torch.device | None = None) -> None:
        self.network = network.eval()
        self.device = device or next(network.parameters()).device
        self.network.to(self.device)
        self.config = network.config
        self.obs_dim, self.act_dim = network.obs_dim, network.act_dim
        self._queue: np.ndarray | None = None  # (B, k, A) pending actions per env
        self._queue_left = np.zeros(0, dtype=np.int64)
        self._chunks: np.ndarray | None = None  # (B, H, H, A) recent chunks (ensembling)
        self._ages = np.zeros((0, 0), dtype=np.int64)

    @property
    def horizon(self) -> int:
        return self.config.horizon

    def _allocate(self, batch: int) -> None:
        h, k, a = self.config.horizon, self.config.execute, self.act_dim
        self._queue = np.zeros((batch, k, a), dtype=np.float32)
        self._queue_left = np.zeros(batch, dtype=np.int64)
        self._chunks = np.zeros((batch, h, h, a), dtype=np.float32)
        self._ages = np.full((batch, h), h, dtype=np.int64)  # age >= H means "no prediction"

    def reset(self, env_ids: Sequence[int] | None = None) -> None:
        """Forget queued actions (all envs, or just `env_ids`): an episode never inherits another's plan."""
        if self._queue is None or env_ids is None:
            self._queue = None
            return
        ids = np.asarray(list(env_ids), dtype=np.int64)
        self._queue_left[ids] = 0
        self._ages[ids] = self.config.horizon

    def predict_chunk(self, obs: np.ndarray) -> np.ndarray:
        """(B, obs_dim) raw observations -> (B, H, act_dim) raw actions, no queue involved."""
        tensor = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        return self.network.predict(tensor).cpu().numpy()

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim == 1:
            obs = obs[None]
        batch = obs.shape[0]
        if self._queue is None or self._queue.shape[0] != batch:
            self._allocate(batch)
        if self.config.kind == "chunked" and self.config.temporal_ensemble:
            return self._act_ensembled(obs)
        return self._act_queued(obs)

    def _act_queued(self, obs: np.ndarray) -> np.ndarray:
        assert self._queue is not None
        k = self.config.execute
        empty = np.flatnonzero(self._queue_left == 0)
        if empty.size:
            chunks = self.predict_chunk(obs[empty])
            self._queue[empty] = chunks[:, :k]
            self._queue_left[empty] = k
        position = k - self._queue_left
        actions = self._queue[np.arange(obs.shape[0]), position]
        self._queue_left -= 1
        return actions.copy()

    def _act_ensembled(self, obs: np.ndarray) -> np.ndarray:
        assert self._chunks is not None
        h = self.config.horizon
        self._chunks = np.roll(self._chunks, 1, axis=1)
        self._ages = np.roll(self._ages, 1, axis=1) + 1
        self._chunks[:, 0] = self.predict_chunk(obs)
        self._ages[:, 0] = 0
        valid = self._ages < h  # (B, H)
        step_index = np.minimum(self._ages, h - 1)
        candidates = np.take_along_axis(self._chunks, step_index[:, :, None, None], axis=2)[:, :, 0]  # (B, H, A)
        weights = np.where(valid, np.exp(self.config.ensemble_decay * self._ages), 0.0)
        weights /= weights.sum(axis=1, keepdims=True)
        return (weights[:, :, None] * candidates).sum(axis=1).astype(np.float32)
