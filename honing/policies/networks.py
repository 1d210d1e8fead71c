"""Network building blocks shared by BC policies and fine-tuning methods."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from honing.data.normalization import STAT_NAMES, Normalizer


def mlp(
    in_dim: int,
    out_dim: int,
    hidden_dims: Sequence[int],
    layer_norm: bool = True,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Linear -> [LayerNorm] -> ReLU -> [Dropout] blocks, then a linear output layer."""
    layers: list[nn.Module] = []
    previous = in_dim
    for width in hidden_dims:
        layers.append(nn.Linear(previous, width))
        if layer_norm:
            layers.append(nn.LayerNorm(width))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        previous = width
    layers.append(nn.Linear(previous, out_dim))
    return nn.Sequential(*layers)


class ObsNormalized(nn.Module):
    """A network that keeps its dataset statistics as buffers, so a saved network is a whole policy."""

    obs_mean: torch.Tensor
    obs_std: torch.Tensor

    def register_normalizer(self, normalizer: Normalizer) -> None:
        for name, value in normalizer.to_arrays().items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32))

    def normalizer(self) -> Normalizer:
        return Normalizer.from_arrays({k: getattr(self, k).cpu().numpy() for k in STAT_NAMES})

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std
