"""Behavior-cloning policies: an MLP, an action-chunking MLP, and a diffusion policy, all queued.

Each maps a normalised observation to H normalised actions: the plain MLP is the H = 1, k = 1
case, the diffusion policy samples its chunk by DDIM from an initial noise. A chunked policy
predicts H actions, executes the first k from a per-env queue (refilled when empty), or with
temporal ensembling re-plans every step and averages all still-valid predictions for the
current step (older ones weigh more, as in ACT).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from honing.data.normalization import Normalizer
from honing.policies.diffusion import DiffusionNetwork
from honing.policies.networks import ObsNormalized, mlp
from honing.policies.numpy_forward import numpy_forward
from honing.policies.policy_config import PolicyConfig

__all__ = ["BCModel", "BCNetwork", "BCPolicy", "DiffusionNetwork", "PolicyConfig", "build_bc_network"]


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

    def loss(self, norm_obs: torch.Tensor, norm_chunks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Squared error to the demonstrated (normalised) chunks; `generator` is unused (no sampling)."""
        return nn.functional.mse_loss(self(norm_obs), norm_chunks)

    @torch.no_grad()
    def predict(self, obs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Raw observations -> raw action chunks in [-1, 1] (`noise` is for diffusion policies only)."""
        actions = self(self.normalize_obs(obs)) * self.act_std + self.act_mean
        return actions.clamp(-1.0, 1.0)


BCModel = BCNetwork | DiffusionNetwork
"""Any BC network: ``loss`` trains it, ``predict`` gives raw action chunks."""


def build_bc_network(config: PolicyConfig, obs_dim: int, act_dim: int, normalizer: Normalizer) -> BCModel:
    """The network for `config.kind`: a direct regressor, or a denoiser for ``diffusion``."""
    if config.kind == "diffusion":
        return DiffusionNetwork(config, obs_dim, act_dim, normalizer)
    return BCNetwork(config, obs_dim, act_dim, normalizer)


class BCPolicy:
    """A trained BC network behind the :class:`~honing.policies.base.Policy` protocol.

    A diffusion policy draws its initial noise from its own generator, reseeded at every full
    ``reset()``, so evaluations are reproducible; :meth:`predict_chunk` takes the noise explicitly.
    """

    def __init__(self, network: BCModel, device: torch.device | None = None, seed: int = 0) -> None:
        self.network = network.eval()
        self.device = device or next(network.parameters()).device
        self.network.to(self.device)
        self.config = network.config
        self.obs_dim, self.act_dim = network.obs_dim, network.act_dim
        self._queue: np.ndarray | None = None  # (B, k, A) pending actions per env
        self._queue_left = np.zeros(0, dtype=np.int64)
        self._chunks: np.ndarray | None = None  # (B, H, H, A) recent chunks (ensembling)
        self._ages = np.zeros((0, 0), dtype=np.int64)
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

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
            self._generator.manual_seed(self.seed)
            return
        ids = np.asarray(list(env_ids), dtype=np.int64)
        self._queue_left[ids] = 0
        self._ages[ids] = self.config.horizon

    def predict_chunk(self, obs: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """(B, obs_dim) raw observations -> (B, H, act_dim) raw actions, no queue involved.

        For a diffusion policy, `noise` (B, H, act_dim) is DDIM's initial noise; None draws it
        (std ``sample_noise``) from the policy's generator.
        """
        obs = np.asarray(obs, dtype=np.float32)
        if len(obs) == 1 and isinstance(self.network, BCNetwork) and (forward := numpy_forward(self.network)):
            # one observation (the fine-tuning loop's base action): NumPy, without torch's per-op cost
            out = forward.body(forward.normalize_obs(obs)).reshape(1, self.config.horizon, self.act_dim)
            return np.clip(forward.unnormalize_action(out), -1.0, 1.0)
        tensor = torch.as_tensor(obs, device=self.device)
        noise_t = None
        if isinstance(self.network, DiffusionNetwork):
            if noise is None:
                shape = (len(tensor), *self.network.noise_shape)
                noise_t = torch.randn(shape, generator=self._generator) * self.config.sample_noise
            else:
                noise_t = torch.as_tensor(np.asarray(noise, dtype=np.float32))
            noise_t = noise_t.to(self.device)
        return self.network.predict(tensor, noise_t).cpu().numpy()

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
