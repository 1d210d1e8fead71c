"""Network building blocks shared by BC policies and fine-tuning methods."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


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
