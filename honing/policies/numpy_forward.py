"""Acting in NumPy: an observation-normalised MLP run on views of its own CPU weights.

Why: the off-policy loop acts on one observation per env step, and at that size torch's per-op
dispatch costs several times the arithmetic. The exploration forward of rlpd's 2x256 actor took
~160 us through torch and ~30 us as these NumPy calls, and in the loop, right after an update
has filled the caches, ~0.45 ms against ~0.2 ms (``python -m benchmarks.acting_forward``,
BENCHMARKS.md). The arrays are views of the parameters and buffers, so an optimiser step or an
actor process's weight pull (both in place) is seen at once; a tensor replaced by another
(``.to()``, ``load_state_dict(assign=True)``) is noticed by its address and the views rebuilt.
Only what is exactly a :func:`honing.policies.networks.mlp` on the CPU in float32, with any dropout
off (eval mode), runs here; anything else (CUDA, another dtype, another layer, dropout in training
mode) keeps the torch forward.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import nn

from honing.data.normalization import STAT_NAMES
from honing.policies.networks import ObsNormalized

Layer = tuple[str, tuple[np.ndarray, ...], float]
"""(kind, arrays, eps): ``("linear", (weight.T, bias), 0)``, ``("norm", (weight, bias), eps)``, ``("relu", (), 0)``."""

_CACHE: weakref.WeakKeyDictionary[nn.Module, NumpyMLP] = weakref.WeakKeyDictionary()


class NumpyMLP:
    """``module.normalize_obs`` and ``module.body`` (Linear / LayerNorm / ReLU) in NumPy, on views of its weights."""

    def __init__(self, module: ObsNormalized) -> None:
        # where each tensor lives, read through the owning dicts (nn.Module's __getattr__ costs ~10x more)
        self.slots = [(m._parameters, name) for m in module.body for name in m._parameters]
        self.slots += [(module._buffers, name) for name in STAT_NAMES]
        self.addresses = self.current()
        self.layers = [layer for m in module.body if (layer := _layer(m)) is not None]
        self.dropouts = [m for m in module.body if isinstance(m, nn.Dropout) and m.p > 0]
        self.stats = {name: _view(module._buffers[name]) for name in STAT_NAMES}  # type: ignore[arg-type]

    def current(self) -> list[int]:
        """The tensors' addresses now (a tensor replaced by another has a new one)."""
        return [slot[name].data_ptr() for slot, name in self.slots]  # type: ignore[union-attr]

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return (obs - self.stats["obs_mean"]) / self.stats["obs_std"]

    def unnormalize_action(self, action: np.ndarray) -> np.ndarray:
        return action * self.stats["act_std"] + self.stats["act_mean"]

    def body(self, x: np.ndarray) -> np.ndarray:
        """The body on (normalised) inputs of shape (in,) or (B, in), as the module computes it."""
        for kind, arrays, eps in self.layers:
            if kind == "linear":
                x = x @ arrays[0] + arrays[1]
            elif kind == "norm":
                centred = x - x.mean(axis=-1, keepdims=True)
                x = centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps) * arrays[0] + arrays[1]
            else:
                x = np.maximum(x, 0.0)
        return x


def numpy_forward(module: ObsNormalized) -> NumpyMLP | None:
    """`module`'s normalisation and body as NumPy calls on its current weights, or None where it must
    stay in torch. Cheap to call every step: the views are rebuilt only when a tensor was replaced."""
    cached = _CACHE.get(module)
    if cached is not None and cached.addresses == cached.current():
        return None if any(m.training for m in cached.dropouts) else cached
    tensors = [*module.body.parameters(), *(module._buffers[name] for name in STAT_NAMES)]
    if any(t is None or t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return None
    for m in module.body:
        plain = isinstance(m, nn.Linear | nn.ReLU) or (isinstance(m, nn.Dropout) and (m.p == 0 or not m.training))
        if not plain and not (isinstance(m, nn.LayerNorm) and m.weight is not None and m.bias is not None):
            return None
    forward = _CACHE[module] = NumpyMLP(module)
    return forward


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


def _layer(module: nn.Module) -> Layer | None:
    if isinstance(module, nn.Linear):
        bias = _view(module.bias) if module.bias is not None else np.zeros(module.out_features, dtype=np.float32)
        return ("linear", (_view(module.weight).T, bias), 0.0)
    if isinstance(module, nn.LayerNorm):
        return ("norm", (_view(module.weight), _view(module.bias)), float(module.eps))
    if isinstance(module, nn.ReLU):
        return ("relu", (), 0.0)
    return None  # Dropout: the identity when it is off (p = 0 or eval mode; checked on every call)
