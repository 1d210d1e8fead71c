"""Small pieces of the update step every off-policy learner shares."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from honing.errors import ConfigError
from honing.finetune.common import OffPolicyConfig


def adam(params: Any, lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel (measured ~10% faster updates on CPU than the default)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def polyak(target: list[torch.Tensor], source: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau source, one fused call for the whole parameter list."""
    with torch.no_grad():
        torch._foreach_lerp_(target, source, tau)


@contextmanager
def frozen(params: Iterable[torch.Tensor]) -> Iterator[None]:
    """No gradients into `params` inside the block (the actor loss must not train the critic)."""
    params = list(params)
    for param in params:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in params:
            param.requires_grad_(True)


def random_heads(config: OffPolicyConfig, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Indices of the `num_target_critics` heads whose minimum forms the TD target (REDQ)."""
    return torch.randperm(config.num_critics, generator=generator)[: config.num_target_critics].to(device)


def sac_policy_step(
    actor_loss: torch.Tensor, log_prob: torch.Tensor, log_alpha: torch.Tensor, target_entropy: float,
    actor_optim: torch.optim.Optimizer, alpha_optim: torch.optim.Optimizer,
) -> None:  # fmt: skip
    """One SAC actor step, then one temperature step moving the entropy towards its target."""
    actor_optim.zero_grad(set_to_none=True)
    actor_loss.backward()
    actor_optim.step()
    alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
    alpha_optim.zero_grad(set_to_none=True)
    alpha_loss.backward()
    alpha_optim.step()


def can_compile(device: torch.device) -> bool:
    """Whether inductor can build kernels for `device` (on a CPU it needs a C++ compiler)."""
    compilers = (os.environ.get("CXX", "g++"), "g++", "clang++")
    return device.type != "cpu" or any(shutil.which(name) for name in compilers)


def require_compiler(config: OffPolicyConfig, device: torch.device) -> None:
    """Refuse ``compile = true`` by name where inductor could not build its CPU kernels."""
    if config.compile and not can_compile(device):
        raise ConfigError("compile = true needs a C++ compiler on CPU (torch.compile's inductor backend builds "
                          "its kernels with one): install g++ or set compile = false")  # fmt: skip
    # several runs in one process (tests, a one-worker sweep) share the compiled code objects; past
    # dynamo's default of 8 variants it would fall back to eager without saying so
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)


def bfloat16_is_fast(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 matmuls natively (CPU: oneDNN's AVX-512/AMX kernels; CUDA: Ampere on)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return True


def warn_slow_precision(config: OffPolicyConfig, device: torch.device) -> None:
    """Say so when ``precision = "bfloat16"`` would make the update slower, not faster.

    A warning, not an error: the maths is the same, and a run resumed on another machine must
    still start. On an AVX2-only CPU the bfloat16 matmuls take a reference path: measured there,
    a compiled rlpd update took 200 ms against float32's 15 ms (BENCHMARKS.md, learner
    throughput), so a 40-minute Meta-World run would take hours.
    """
    if config.precision == "bfloat16" and not bfloat16_is_fast(device):
        where = f"this CPU ({torch.backends.cpu.get_cpu_capability()})" if device.type == "cpu" else str(device)
        warnings.warn(f"precision = bfloat16 on {where}, which has no native bfloat16 matmuls: the update runs "
                      "many times slower than in float32; set precision = float32 (compile = true is the "
                      "speed-up there)", RuntimeWarning, stacklevel=3)  # fmt: skip


class CompiledUpdate:
    """Mixin for learners compiled module by module: ``self.fast(name)`` is attribute `name` as the update calls it.

    For an update that cannot be one function of tensors (dsrl decodes through the diffusion base);
    the others compile their whole update (``fused.py``). With ``compile`` on, the named modules
    (or methods) go through ``torch.compile`` once, at construction; otherwise ``fast`` returns the
    attribute itself. Acting and evaluation keep the eager modules, whose parameters the compiled
    handles share, so checkpoints and snapshots are unchanged.
    """

    _compiled: dict[str, Any]

    def compile_update(self, names: tuple[str, ...], config: OffPolicyConfig, device: torch.device) -> None:
        """Prepare ``fast`` for `names` as `config`'s ``compile`` asks (static shapes: the batch never changes)."""
        require_compiler(config, device)
        compiled = {name: torch.compile(getattr(self, name), dynamic=False) for name in names}
        self._compiled = compiled if config.compile else {}

    def fast(self, name: str) -> Any:
        return self._compiled[name] if name in self._compiled else getattr(self, name)
