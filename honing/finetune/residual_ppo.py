"""Residual PPO on a frozen base policy (ResiP).

After *From Imitation to Refinement: Residual RL for Precise Assembly* (Ankile et al., 2024): a
Gaussian residual policy and a value function, both on [normalised obs, base action], trained
with PPO on a vector of environments while the base (MLP, chunked or diffusion) stays frozen:

    residual  r ~ N(m(s, a_b), σ²),  m = action_scale · tanh(f(s, a_b)) with f's last layer zero,
              σ = action_scale · exp(log_std) fixed;    executed  clip(a_b + r, -1, 1)
    advantage GAE(γ, λ) on rewards scaled by the running std of the discounted return;
              a time-limit truncation bootstraps from V(final obs), a success termination does not
    loss      -min(ρ A, clip(ρ, 1 ± ε) A) + c_v (V - R)²  over `update_epochs` passes of minibatches,
              stopping early when the approximate KL exceeds `target_kl`

At step 0 the deterministic honed policy (the mean residual, zero) *is* the base. Each env slot
keeps its own copy of the base, so chunk queues never mix episodes and a resumed run can replay
every episode in progress exactly. Snapshots are taken between iterations.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from gymnasium.wrappers.utils import RunningMeanStd
from torch import nn

from honing import seeding
from honing.data.dataset import Dataset
from honing.errors import ConfigError, DivergenceError
from honing.finetune.common import FinetuneConfig, require
from honing.finetune.tracker import FinetuneResult, RunTracker, Say
from honing.finetune.updates import adam
from honing.finetune.vector_rollout import VectorRollout
from honing.policies.base import Policy
from honing.policies.networks import mlp
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy
from honing.runs import snapshot as snap
from honing.runs.rundir import RunDir
from honing.tasks import Task


def _small_residual() -> ResidualActorConfig:
    return ResidualActorConfig(action_scale=0.1)


@dataclass
class ResidualPPOConfig(FinetuneConfig):
    """Residual PPO (ResiP, Ankile et al. 2024) on a frozen base, on a Gymnasium vector env."""

    actor: ResidualActorConfig = field(default_factory=_small_residual)
    """Residual mean network and ``action_scale`` (ResiP: 0.1)."""
    log_std: float = -1.0
    """Fixed log-std of the residual, in units of ``action_scale`` (ResiP: ≈ -1)."""
    value_hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of the value network (LayerNorm MLP on [obs, base action])."""
    num_envs: int = 4
    """Environments stepped together (one subprocess each when ``asynchronous``)."""
    asynchronous: bool = True
    """Gymnasium AsyncVectorEnv (envs in subprocesses) or SyncVectorEnv (in-process)."""
    rollout_steps: int = 256
    """Steps per env per iteration: a batch holds ``num_envs * rollout_steps`` transitions."""
    update_epochs: int = 10
    """Passes over each batch (PPO); cut short by ``target_kl``."""
    minibatch_size: int = 256
    """Transitions per gradient step."""
    gamma: float = 0.99
    """Discount factor (ResiP: 0.99-0.999)."""
    gae_lambda: float = 0.95
    """λ of generalised advantage estimation."""
    clip: float = 0.2
    """ε of PPO's clipped ratio."""
    target_kl: float = 0.1
    """Stop an iteration's epochs once the approximate KL to the rollout policy exceeds this (0 = never)."""
    lr: float = 3e-4
    """Adam learning rate of the residual and the value network."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient clipping (global norm)."""
    normalize_rewards: bool = True
    """Divide rewards by the running std of the discounted return (as in ResiP and CleanRL)."""
    snapshot_every: int = 5_000
    """Env steps between training-state snapshots (taken at the next iteration boundary)."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        require(self, ("num_envs", "rollout_steps", "update_epochs", "minibatch_size", "lr", "clip",
                       "snapshot_every"), positive=True)  # fmt: skip
        require(self, ("target_kl", "value_coef", "max_grad_norm"), positive=False)
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ConfigError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if not self.value_hidden_dims or min(self.value_hidden_dims) <= 0:
            raise ConfigError(f"value_hidden_dims must be positive widths, got {self.value_hidden_dims}")


class ValueNetwork(nn.Module):
    """V([normalised obs, base action])."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_dims: tuple[int, ...]) -> None:
        super().__init__()
        self.body = mlp(obs_dim + act_dim, 1, hidden_dims, layer_norm=True)

    def forward(self, norm_obs: torch.Tensor, base_action: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([norm_obs, base_action], dim=-1)).squeeze(-1)


def gae(
    rewards: torch.Tensor, values: torch.Tensor, ended: torch.Tensor, last_value: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns for (T, N) rollouts; `ended[t]` cuts the recursion after step t.

    Truncated steps must already carry γ·V(final obs) in their reward (bootstrapping there),
    terminated ones nothing (no value after success).
    """
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in range(len(rewards) - 1, -1, -1):
        alive = 1.0 - ended[t]
        delta = rewards[t] + gamma * next_value * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


class ResidualPPO:
    """The whole method: rollouts on the vector env, GAE, clipped PPO updates, evaluation, snapshots."""

    def __init__(
        self, base: Policy, task: Task, demos: Dataset, config: ResidualPPOConfig, device: torch.device,
        run: RunDir | None, say: Say | None,
    ) -> None:  # fmt: skip
        self.config, self.device, self.run, self.base = config, device, run, base
        obs_dim, act_dim = base.obs_dim, base.act_dim
        self.actor = ResidualActor(config.actor, obs_dim, act_dim, demos.normalizer()).to(device)
        self.value = ValueNetwork(obs_dim, act_dim, config.value_hidden_dims).to(device)
        self.params = [*self.actor.parameters(), *self.value.parameters()]
        self.optimizer = adam(self.params, config.lr)
        self.std = config.actor.action_scale * math.exp(config.log_std)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = seeding.rng(config.seed, "train")
        self.tracker = RunTracker(task, base, config, run, say)
        self.rollout = VectorRollout(task, config.num_envs, config.asynchronous, self.rng)
        self.bases = [copy.deepcopy(base) for _ in range(config.num_envs)]
        self.return_rms = RunningMeanStd(shape=())
        self.discounted = np.zeros(config.num_envs)
        self.step = self.updates = self.iterations = 0
        self.next_eval = config.eval_every
        self.next_snapshot = config.snapshot_every
        self.recent_success: deque[bool] = deque(maxlen=20)
        self.shield_counts: dict[str, int] = {}
        self.base_action = np.zeros((config.num_envs, act_dim), dtype=np.float32)

    # -- acting ------------------------------------------------------------------------------

    def honed_policy(self, base: Policy) -> ResidualPolicy:
        return ResidualPolicy(base, self.actor, self.device)

    def base_act(self, slot: int, obs: np.ndarray) -> np.ndarray:
        return self.bases[slot].act(obs[None])[0]

    def start(self, slots: np.ndarray) -> None:
        for slot in slots:
            self.bases[slot].reset()
            self.base_action[slot] = self.base_act(slot, self.rollout.obs[slot])

    def norm(self, obs: np.ndarray) -> torch.Tensor:
        return self.actor.normalize_obs(torch.as_tensor(obs, dtype=torch.float32, device=self.device))

    def log_prob(self, mean: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((residual - mean) / self.std).pow(2) - math.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    # -- one iteration -----------------------------------------------------------------------

    def collect(self, steps: int) -> dict[str, torch.Tensor]:
        """`steps` vector steps with the current policy; evaluations fall exactly on their env-step marks."""
        cfg, n = self.config, self.config.num_envs
        keys = ("obs", "base_action", "residual", "log_prob", "value", "reward", "ended")
        buf: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
        for _ in range(steps):
            obs_t = self.norm(self.rollout.obs)
            base_t = torch.as_tensor(self.base_action, device=self.device)
            with torch.no_grad():
                mean = self.actor(obs_t, base_t)
                residual = mean + self.std * torch.randn(mean.shape, generator=self.generator).to(self.device)
                value = self.value(obs_t, base_t)
            action = np.clip(self.base_action + residual.cpu().numpy(), -1.0, 1.0).astype(np.float32)
            next_obs, reward, terminated, truncated, infos = self.rollout.step(action)
            ended = terminated | truncated
            self.discounted = self.discounted * cfg.gamma + reward
            self.return_rms.update(self.discounted)
            self.discounted[ended] = 0.0
            scale = float(np.sqrt(self.return_rms.var + 1e-8)) if cfg.normalize_rewards else 1.0
            reward = reward / scale
            next_base = np.stack([self.base_act(slot, next_obs[slot]) for slot in range(n)])
            cut = truncated & ~terminated
            if cut.any():  # a time limit is not the task's end: bootstrap from the final observation
                with torch.no_grad():
                    final_value = self.value(self.norm(next_obs), torch.as_tensor(next_base, device=self.device))
                reward = reward + cfg.gamma * final_value.cpu().numpy() * cut
            values = (obs_t, base_t, residual, self.log_prob(mean, residual), value,
                      torch.as_tensor(reward, device=self.device),
                      torch.as_tensor(ended, dtype=torch.float32, device=self.device))  # fmt: skip
            for key, item in zip(keys, values, strict=True):
                buf[key].append(item)
            self.base_action = next_base
            if "shield" in infos:  # the shield changed some actions: count per constraint
                for slot in np.flatnonzero(infos["_shield"]):
                    for name in infos["shield"][slot]:
                        self.shield_counts[name] = self.shield_counts.get(name, 0) + 1
            if ended.any():
                success = infos.get("is_success", np.zeros(n, dtype=bool))
                self.recent_success.extend(bool(success[slot]) for slot in np.flatnonzero(ended))
                self.start(self.rollout.reset(ended))
            self.step += n
            if self.next_eval <= self.step < cfg.steps:  # at the budget's end: evaluated after the last update
                self.tracker.record(self.honed_policy, self.step, self.updates)
                self.next_eval += cfg.eval_every
        return {k: torch.stack(v) for k, v in buf.items()}

    def learn(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        with torch.no_grad():
            last_value = self.value(self.norm(self.rollout.obs), torch.as_tensor(self.base_action, device=self.device))
        advantages, returns = gae(batch["reward"], batch["value"], batch["ended"], last_value, cfg.gamma,
                                  cfg.gae_lambda)  # fmt: skip
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in batch.items()}
        flat["advantage"], flat["return"] = advantages.reshape(-1), returns.reshape(-1)
        total = len(flat["advantage"])
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "approx_kl": [], "clip_fraction": []}
        stopped = False
        for _ in range(cfg.update_epochs):
            order = torch.randperm(total, generator=self.generator).to(self.device)
            for start in range(0, total, cfg.minibatch_size):
                index = order[start : start + cfg.minibatch_size]
                mb = {k: v[index] for k, v in flat.items()}
                mean = self.actor(mb["obs"], mb["base_action"])
                log_ratio = self.log_prob(mean, mb["residual"]) - mb["log_prob"]
                ratio = log_ratio.exp()
                adv = mb["advantage"]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
                value_loss = 0.5 * (self.value(mb["obs"], mb["base_action"]) - mb["return"]).pow(2).mean()
                loss = policy_loss + cfg.value_coef * value_loss
                if not torch.isfinite(loss):
                    raise DivergenceError(
                        f"training diverged at env step {self.step} (update {self.updates}): loss = {loss.item()}; "
                        "lower lr or check the rewards"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm > 0:
                    nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                self.optimizer.step()
                self.updates += 1
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean().item()
                stats["policy_loss"].append(policy_loss.item())
                stats["value_loss"].append(value_loss.item())
                stats["approx_kl"].append(approx_kl)
                stats["clip_fraction"].append(((ratio - 1).abs() > cfg.clip).float().mean().item())
                if cfg.target_kl and approx_kl > cfg.target_kl:
                    stopped = True
                    break
            if stopped:
                break
        with torch.no_grad():
            residual_abs = self.actor(flat["obs"], flat["base_action"]).abs().mean().item()
        return {**{k: float(np.mean(v)) for k, v in stats.items()}, "kl_stop": float(stopped),
                "residual_abs": residual_abs}  # fmt: skip

    def train(self) -> FinetuneResult:
        cfg, n = self.config, self.config.num_envs
        while self.step < cfg.steps:
            steps = min(cfg.rollout_steps, math.ceil((cfg.steps - self.step) / n))
            metrics = self.learn(self.collect(steps))
            self.iterations += 1
            success = float(np.mean(self.recent_success)) if self.recent_success else None
            self.tracker.log(kind="train", env_steps=self.step, updates=self.updates, iteration=self.iterations,
                             train_success=success, steps_per_s=round(self.step / max(self.tracker.elapsed(), 1e-9), 1),
                             **metrics, **{f"shield_{k}": v for k, v in self.shield_counts.items()})  # fmt: skip
            self.shield_counts = {}
            if self.run is not None and (self.step >= self.next_snapshot or self.step >= cfg.steps):
                self.save_snapshot()
                while self.next_snapshot <= self.step:
                    self.next_snapshot += cfg.snapshot_every
        if not self.tracker.curve or self.tracker.curve[-1].env_steps != self.step:
            self.tracker.record(self.honed_policy, self.step, self.updates)
        return self.tracker.finish(self.honed_policy)

    # -- snapshots ---------------------------------------------------------------------------

    def save_snapshot(self) -> None:
        assert self.run is not None
        tensors: dict[str, torch.Tensor] = {}
        snap.pack_module("actor", self.actor, tensors)
        snap.pack_module("value", self.value, tensors)
        optimizer = snap.pack_optimizer("optim", self.optimizer, tensors)
        tensors["rng.torch"] = self.generator.get_state()
        for slot, actions in enumerate(self.rollout.actions):
            if actions:
                tensors[f"episode.{slot}"] = torch.as_tensor(np.stack(actions))
        meta = {
            "step": self.step, "updates": self.updates, "iterations": self.iterations,
            "next_eval": self.next_eval, "next_snapshot": self.next_snapshot, "optimizer": optimizer,
            "rng": snap.pack_numpy_rng(self.rng), "episodes": self.rollout.state(),
            "return_rms": [float(self.return_rms.mean), float(self.return_rms.var), float(self.return_rms.count)],
            "discounted": self.discounted.tolist(), "recent_success": list(self.recent_success),
            "tracker": self.tracker.state(), "metrics_lines": self.run.metric_lines(),
        }  # fmt: skip
        snap.save_snapshot(self.run.path / "state", self.step, tensors, meta)

    def restore(self, snapshot: snap.Snapshot) -> None:
        tensors, meta = snapshot.tensors, snapshot.meta
        snap.unpack_module("actor", self.actor, tensors)
        snap.unpack_module("value", self.value, tensors)
        snap.unpack_optimizer("optim", self.optimizer, meta["optimizer"], tensors)
        self.generator.set_state(tensors["rng.torch"])
        snap.unpack_numpy_rng(self.rng, meta["rng"])
        self.step, self.updates, self.iterations = meta["step"], meta["updates"], meta["iterations"]
        self.next_eval, self.next_snapshot = meta["next_eval"], meta["next_snapshot"]
        self.return_rms.mean, self.return_rms.var, self.return_rms.count = meta["return_rms"]
        self.discounted = np.asarray(meta["discounted"], dtype=np.float64)
        self.recent_success = deque(meta["recent_success"], maxlen=20)
        episodes = meta["episodes"]
        actions = [list(tensors[f"episode.{slot}"].numpy()) if length else []
                   for slot, length in enumerate(episodes["lengths"])]  # fmt: skip
        seen = self.rollout.restore(episodes["seeds"], actions)
        for slot, observations in enumerate(seen):  # the bases' chunk queues go through the same episode
            self.bases[slot].reset()
            for obs in observations:
                self.base_action[slot] = self.base_act(slot, obs)
        self.tracker.resumed(meta["tracker"], meta["metrics_lines"], f"{snapshot.path} (env step {self.step})")


def run_residual_ppo(
    base: Policy, task: Task, demos: Dataset, config: ResidualPPOConfig, device: torch.device,
    run: RunDir | None, say: Say | None, resume: bool,
) -> FinetuneResult:  # fmt: skip
    """Fine-tune with residual PPO; with `resume`, continue from the run directory's newest snapshot."""
    torch.manual_seed(config.seed)
    method = ResidualPPO(base, task, demos, config, device, run, say)
    try:
        latest = snap.resume_point(run, resume)
        if latest is not None:
            method.restore(latest)
        else:
            method.tracker.record(method.honed_policy, 0, 0)
            method.start(method.rollout.reset())
        return method.train()
    finally:
        method.rollout.close()  # never leave env subprocesses behind, whatever stopped the run
