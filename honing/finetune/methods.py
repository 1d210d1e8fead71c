"""Registry of fine-tuning methods: a new method is one file plus one line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from honing.data.dataset import Dataset
from honing.finetune.common import OffPolicyConfig
from honing.finetune.loop import FinetuneResult, Say, run_off_policy
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config
from honing.policies.base import Policy
from honing.runs.rundir import RunDir
from honing.tasks import Task

Runner = Callable[[Policy, Task, Dataset, Any, torch.device, RunDir | None, Say | None], FinetuneResult]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    config_cls: type[OffPolicyConfig]
    run: Runner


def _run_residual_td3(
    base: Policy, task: Task, demos: Dataset, config: ResidualTD3Config, device: torch.device,
    run: RunDir | None, say: Say | None,
) -> FinetuneResult:  # fmt: skip
    torch.manual_seed(config.seed)
    normalizer = demos.normalizer()
    agent = ResidualTD3(config, base.obs_dim, base.act_dim, normalizer, device)
    return run_off_policy(agent, task, base, demos.episodes, normalizer, config, run=run, say=say)


METHODS: dict[str, Method] = {
    "residual-td3": Method(
        "residual-td3",
        "ResFiT: TD3 learns a bounded residual on top of the frozen base policy (half-demo batches, n-step, REDQ)",
        ResidualTD3Config,
        _run_residual_td3,
    ),
}
