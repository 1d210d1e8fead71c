"""Registry of fine-tuning methods: a new method is one file plus one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from honing.data.dataset import Dataset
from honing.finetune.common import FinetuneConfig, OffPolicyConfig
from honing.finetune.demo_reg import DemoReg, DemoRegConfig
from honing.finetune.dsrl import DSRLConfig, diffusion_base, run_dsrl
from honing.finetune.filtered_bc import FilteredBCConfig, bc_base, run_filtered_bc
from honing.finetune.ibrl import IBRL, IBRLConfig
from honing.finetune.loop import run_off_policy
from honing.finetune.residual_ppo import ResidualPPOConfig, run_residual_ppo
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config
from honing.finetune.rlpd import RLPD, RLPDConfig
from honing.finetune.tracker import FinetuneResult, Say
from honing.policies.base import Policy
from honing.runs.rundir import RunDir
from honing.tasks import Task

Runner = Callable[[Policy, Task, Dataset, Any, torch.device, RunDir | None, Say | None, bool], FinetuneResult]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    config_cls: type[FinetuneConfig]
    run: Runner
    check_base: Callable[[Policy], object] | None = None
    """Raises a clear error for a base the method cannot use, before any run directory is made."""


def off_policy(agent_cls: Callable[..., Any]) -> Runner:
    """A runner that builds `agent_cls` and drives it with the shared off-policy loop."""

    def run(
        base: Policy, task: Task, demos: Dataset, config: OffPolicyConfig, device: torch.device,
        run_dir: RunDir | None, say: Say | None, resume: bool,
    ) -> FinetuneResult:  # fmt: skip
        torch.manual_seed(config.seed)
        normalizer = demos.normalizer()
        agent = agent_cls(config, base.obs_dim, base.act_dim, normalizer, device)
        return run_off_policy(agent, task, base, demos.episodes, normalizer, config, run_dir, say, resume)

    return run


def _filtered_bc(
    base: Policy, task: Task, demos: Dataset, config: FilteredBCConfig, device: torch.device,
    run_dir: RunDir | None, say: Say | None, resume: bool,
) -> FinetuneResult:  # fmt: skip
    return run_filtered_bc(base, task, demos, config, run_dir, say, resume)


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "residual-td3",
            "ResFiT: TD3 learns a bounded residual on top of the frozen base policy (half-demo batches, n-step, REDQ)",
            ResidualTD3Config,
            off_policy(ResidualTD3),
        ),
        Method(
            "rlpd",
            "baseline (RLPD): SAC from scratch, half-demo batches, LayerNorm critic ensemble; the base is not used",
            RLPDConfig,
            off_policy(RLPD),
        ),
        Method(
            "ibrl",
            "baseline: the frozen base and a TD3 actor both propose; the higher-Q action is executed and bootstrapped",
            IBRLConfig,
            off_policy(IBRL),
        ),
        Method(
            "filtered-bc",
            "baseline: roll out, keep the successes, retrain BC on demos + successes, repeat",
            FilteredBCConfig,
            _filtered_bc,
            bc_base,
        ),
        Method(
            "demo-reg",
            "TD3 whose actor is pulled towards the BC policy (TD3+BC regulariser, optional decay); deploys alone",
            DemoRegConfig,
            off_policy(DemoReg),
        ),
        Method(
            "residual-ppo",
            "ResiP: PPO learns a Gaussian residual on the frozen base over a vector of envs (GAE, clip, KL stop)",
            ResidualPPOConfig,
            run_residual_ppo,
        ),
        Method(
            "dsrl",
            "DSRL-NA: SAC in a diffusion base's initial-noise space (Q^A on executed chunks, Q^W distilled)",
            DSRLConfig,
            run_dsrl,
            diffusion_base,
        ),
    )
}
