"""Q-ensemble computed in one batched pass: one ``baddbmm`` per layer for all heads.

An ensemble of E LayerNorm MLPs stored as stacked weights (E, in, out). Looping over heads in
Python would launch E times as many small kernels; stacking keeps the cost of a 10-head ensemble
close to one wide network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class EnsembleLinear(nn.Module):
    """E independent linear layers applied as one batched matmul."""

    def __init__(self, ensemble: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(ensemble, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim)  # the default init of nn.Linear, per head
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, in) -> (E, B, out)."""
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleHead(EnsembleLinear):
    """The one-output layer (E, B, in) -> (E, B, 1) as a product and a sum, not a matmul.

    Why: a matmul with one output column runs far under the matmul peak (profiled at ~0.1 ms
    per call at 2x256, batch 256: as long as a quarter of a 256x256 layer), while a product
    and a sum fuse into the kernel that computes the last hidden layer under ``torch.compile``.
    Same weights and state-dict keys as `EnsembleLinear`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight.transpose(1, 2)).sum(dim=-1, keepdim=True) + self.bias


class EnsembleLayerNorm(nn.Module):
    """LayerNorm with a separate scale and shift per head."""

    def __init__(self, ensemble: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ensemble, 1, dim))
        self.bias = nn.Parameter(torch.zeros(ensemble, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


class CriticEnsemble(nn.Module):
    """Q(obs, action) for E heads at once: input (B, obs+act), output (E, B).

    LayerNorm after every hidden layer by default (RLPD's critic); without it, `layer_norm=False`,
    each head is the plain ReLU MLP of SAC and TD3 as Stable-Baselines3 builds them.
    """

    def __init__(self, in_dim: int, hidden_dims: Sequence[int], ensemble: int, layer_norm: bool = True) -> None:
        super().__init__()
        self.ensemble = ensemble
        layers: list[nn.Module] = []
        previous = in_dim
        for width in hidden_dims:
            layers.append(EnsembleLinear(ensemble, previous, width))
            if layer_norm:
                layers.append(EnsembleLayerNorm(ensemble, width))
            layers.append(nn.ReLU())
            previous = width
        layers.append(EnsembleHead(ensemble, previous, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, norm_obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([norm_obs, action], dim=-1).unsqueeze(0).expand(self.ensemble, -1, -1)
        *hidden, head = self.body
        for layer in hidden:
            x = layer(x)
        # the output layer in float32 even under autocast: TD errors near convergence are smaller
        # than bfloat16's resolution of Q (~0.4%), and its cost is one column per head
        with torch.autocast(x.device.type, enabled=False):
            return head(x.float()).squeeze(-1)
