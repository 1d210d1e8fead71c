"""DSRL-NA: steer a frozen diffusion policy by RL in its initial-noise space.

After *Steering Your Diffusion Policy with Latent Space Reinforcement Learning* (Wagenmaker et
al., 2025), the noise-aliased variant. The agent's action is the DDIM initial noise ``w`` of the
next chunk; the base decodes it and the first ``chunk_execute`` actions run. One transition is one
executed chunk: (s, executed chunk a, R = Σ_i γ^i r_i, γ^steps or 0 at success, s').

    Q^A:    min  Σ_e (Q^A_e(s, a) - y)²,  y = R + γ^k (1 - done) · min_{e ∈ E'} Q^A'_e(s', dec(s', w')),
            w' = action_magnitude · tanh(u), u ~ π_W(s')              (real executed chunks)
    Q^W:    min  Σ_e (Q^W_e(s, w) - mean_e Q^A_e(s, dec(s, w)))²,  w ~ N(0, I)   (distilled: covers
            every noise, including the many that decode to the same chunk)
    π_W:    SAC in noise space:  min  α log π_W(w|s) - mean_e Q^W_e(s, w),  α tuned to a target entropy

During ``learning_starts`` the noise is drawn from N(0, I), so the base acts as itself. Half of
every batch comes from the demos, cut into the same chunk transitions. The base's weights never
change; the deployed policy is the base plus the noise actor (:class:`DSRLPolicy`).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from honing import seeding
from honing.data.dataset import Dataset
from honing.errors import ConfigError, DivergenceError, HoningError
from honing.finetune.common import OffPolicyConfig, critic_ensemble, require
from honing.finetune.replay import NStepTransition, ReplayBuffer, sample_mixed, sparse_demo_view
from honing.finetune.tracker import FinetuneResult, RunTracker, Say
from honing.finetune.updates import CompiledUpdate, adam, frozen, polyak, random_heads, sac_policy_step
from honing.policies.actor import Actor, ActorConfig
from honing.policies.base import Policy
from honing.policies.bc_policy import BCPolicy
from honing.policies.diffusion import DiffusionNetwork
from honing.policies.dsrl_policy import DSRLPolicy
from honing.runs import snapshot as snap
from honing.runs.rundir import RunDir
from honing.tasks import Task


@dataclass
class DSRLConfig(OffPolicyConfig):
    """DSRL-NA (Wagenmaker et al. 2025): SAC in the diffusion base's noise space, Q^A and distilled Q^W."""

    actor: ActorConfig = field(default_factory=ActorConfig)
    """Gaussian noise-space actor (tanh-squashed, times ``action_magnitude``)."""
    action_magnitude: float = 1.5
    """Bound of the steered noise per dimension (DSRL: ≈ 1.5; N(0, I) noise mostly lies within ±2). On
    toy/reach with a 53% diffusion base (20k steps) 0.75 measured better: 75% vs 42% at 1.5."""
    noise_critic_hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of each Q^W head (LayerNorm ensemble, ``num_critics`` heads)."""
    n_step: int = 1
    """One transition already spans one executed chunk (``chunk_execute`` env steps); only 1 is supported."""
    actor_lr: float = 3e-4
    """Noise actor learning rate (Adam)."""
    temperature_lr: float = 3e-4
    """Learning rate of the entropy temperature α."""
    init_temperature: float = 0.05
    """Initial α (as in rlpd, measured there: a large α swamps a sparse reward at low UTD)."""
    target_entropy: float | None = None
    """Entropy target; None means -noise_dim / 2."""

    def validate(self) -> None:
        super().validate()
        self.actor.validate()
        if not self.actor.gaussian:
            raise ConfigError("dsrl's noise actor is SAC's: it needs actor.gaussian = true")
        if self.n_step != 1:
            raise ConfigError(f"dsrl's transitions span one executed chunk: n_step must be 1, got {self.n_step}")
        if self.async_actor:
            raise ConfigError("dsrl steps chunks in its own loop, which has no actor process: set async_actor = false")
        if self.precision != "float32":
            raise ConfigError("dsrl's update decodes through the diffusion base, which bfloat16 has not been "
                              "validated for: set precision = float32")  # fmt: skip
        require(self, ("action_magnitude", "actor_lr", "temperature_lr", "init_temperature"), positive=True)
        if not self.noise_critic_hidden_dims or min(self.noise_critic_hidden_dims) <= 0:
            raise ConfigError(f"noise_critic_hidden_dims must be positive widths, got {self.noise_critic_hidden_dims}")


def diffusion_base(base: Policy) -> tuple[BCPolicy, DiffusionNetwork]:
    """The base's diffusion network, or a clear error for any other base."""
    network = getattr(base, "network", None)
    if not isinstance(base, BCPolicy) or isinstance(base, DSRLPolicy) or not isinstance(network, DiffusionNetwork):
        raise HoningError(
            f"dsrl steers a diffusion policy's initial noise, but the base is a {type(base).__name__}"
            + (f" of kind {network.config.kind!r}" if isinstance(base, BCPolicy) and network is not None else "")
            + "; train one with 'honing bc DATASET --policy diffusion'"
        )
    return base, network


def chunk_transitions(
    observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: bool, k: int, gamma: float
) -> list[NStepTransition]:
    """One transition per demo step: the next k actions as the chunk (the last repeated past the end)."""
    steps, out = len(actions), []
    for t in range(steps):
        index = np.minimum(np.arange(t, t + k), steps - 1)
        span = min(k, steps - t)
        reward = float(sum(gamma**i * rewards[t + i] for i in range(span)))
        done = terminated and t + span == steps
        discount = 0.0 if done else gamma**span
        out.append(NStepTransition(observations[t], actions[index].reshape(-1), np.zeros(0, np.float32), reward,
                                   discount, observations[t + span], np.zeros(0, np.float32)))  # fmt: skip
    return out


class DSRL(CompiledUpdate):
    """Networks, updates, the chunk-level interaction loop, evaluation and snapshots."""

    def __init__(
        self, base: Policy, task: Task, demos: Dataset, config: DSRLConfig, device: torch.device,
        run: RunDir | None, say: Say | None,
    ) -> None:  # fmt: skip
        self.base, self.network = diffusion_base(base)
        self.config, self.device, self.run, self.task = config, device, run, task
        self.k = self.network.config.execute
        obs_dim, act_dim = base.obs_dim, base.act_dim
        self.noise_dim = self.network.config.horizon * act_dim
        self.chunk_dim = self.k * act_dim
        normalizer = self.network.normalizer()  # replay keeps observations as the base normalises them
        self.actor = Actor(config.actor, obs_dim, self.noise_dim, normalizer).to(device)
        with torch.no_grad():  # mean head at zero: at step 0 the steered noise is 0, i.e. the base's own
            last = self.actor.body[-1]
            last.weight[: self.noise_dim].zero_()
            last.bias[: self.noise_dim].zero_()
        self.critic = critic_ensemble(config, obs_dim + self.chunk_dim).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        noise_dims = config.noise_critic_hidden_dims
        self.noise_critic = critic_ensemble(config, obs_dim + self.noise_dim, noise_dims).to(device)
        self.log_alpha = torch.tensor(math.log(config.init_temperature), device=device, requires_grad=True)
        self.target_entropy = config.target_entropy if config.target_entropy is not None else -self.noise_dim / 2
        self.actor_optim = adam(self.actor.parameters(), config.actor_lr)
        self.critic_optim = adam(self.critic.parameters(), config.critic_lr)
        self.noise_critic_optim = adam(self.noise_critic.parameters(), config.critic_lr)
        self.alpha_optim = adam([self.log_alpha], config.temperature_lr)
        self.critic_params = list(self.critic.parameters())
        self.critic_target_params = list(self.critic_target.parameters())
        self.noise_critic_params = list(self.noise_critic.parameters())
        self.compile_update(("critic", "critic_target", "noise_critic", "decode"), config, device)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.rng = seeding.rng(config.seed, "train")
        self.updates = 0
        self.tracker = RunTracker(task, base, config, run, say)
        demo = []
        for episode in demos.episodes:
            observations, actions, rewards, terminated = sparse_demo_view(episode)
            demo += chunk_transitions(normalizer.normalize_obs(observations), actions, rewards, terminated, self.k,
                                      config.gamma)  # fmt: skip
        self.demo_buffer = ReplayBuffer(len(demo), obs_dim, self.chunk_dim, device, base_dim=0)
        self.demo_buffer.add(demo)
        self.demo_digest = hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in self.demo_buffer.data.values()))
        capacity = min(config.buffer_size, config.steps)
        self.online = ReplayBuffer(capacity, obs_dim, self.chunk_dim, device, base_dim=0)
        self.env = task.make_env(sparse=True)
        self.step = 0
        self.next_eval, self.next_snapshot = config.eval_every, config.snapshot_every
        self.recent_success: deque[bool] = deque(maxlen=20)
        self.sums: dict[str, float] = {}
        self.episode_seed = 0
        self.episode_actions: list[np.ndarray] = []
        self.obs = np.zeros(obs_dim, dtype=np.float32)

    # -- networks ----------------------------------------------------------------------------

    def honed_policy(self, base: Policy) -> DSRLPolicy:
        _, network = diffusion_base(base)
        return DSRLPolicy(network, self.actor, self.config.action_magnitude, self.device)

    def decode(self, norm_obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Executed part of the chunk the base decodes from `noise`, flattened (B, k * act_dim), in [-1, 1]."""
        chunks = self.network.sample(norm_obs, noise.view(len(noise), *self.network.noise_shape))
        chunks = (chunks * self.network.act_std + self.network.act_mean).clamp(-1.0, 1.0)
        return chunks[:, : self.k].reshape(len(noise), -1)

    def sample_noise(self, norm_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        squashed, log_prob = self.actor.sample(norm_obs, self.generator)
        return self.config.action_magnitude * squashed, log_prob

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_noise, _ = self.sample_noise(batch["next_obs"])
            q_next = self.fast("critic_target")(batch["next_obs"], self.fast("decode")(batch["next_obs"], next_noise))
            target = (
                batch["reward"]
                + batch["discount"] * q_next[random_heads(cfg, self.generator, self.device)].min(0).values
            )
        q = self.fast("critic")(batch["obs"], batch["action"])
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.critic_optim.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optim.step()
        polyak(self.critic_target_params, self.critic_params, cfg.tau)

        noise = torch.randn((len(q[0]), self.noise_dim), generator=self.generator).to(self.device)
        with torch.no_grad():
            distilled = self.fast("critic")(batch["obs"], self.fast("decode")(batch["obs"], noise)).mean(dim=0)
        noise_loss = (self.fast("noise_critic")(batch["obs"], noise) - distilled).pow(2).mean(dim=1).sum()
        self.noise_critic_optim.zero_grad(set_to_none=True)
        noise_loss.backward()
        self.noise_critic_optim.step()

        steered, log_prob = self.sample_noise(batch["obs"])
        with frozen(self.noise_critic_params):
            actor_loss = (alpha * log_prob - self.fast("noise_critic")(batch["obs"], steered).mean(dim=0)).mean()
        sac_policy_step(actor_loss, log_prob, self.log_alpha, self.target_entropy, self.actor_optim, self.alpha_optim)
        self.updates += 1
        return {"critic_loss": critic_loss.item(), "noise_critic_loss": noise_loss.item(), "q_mean": q.mean().item(),
                "actor_loss": actor_loss.item(), "alpha": alpha.item(), "entropy": -log_prob.mean().item()}  # fmt: skip

    # -- interaction -------------------------------------------------------------------------

    def start_episode(self, seed: int, actions: Sequence[np.ndarray] = ()) -> None:
        self.episode_seed, self.episode_actions = seed, list(actions)
        self.obs, _ = self.env.reset(seed=seed)
        for action in self.episode_actions:
            self.obs = self.env.step(action)[0]

    @torch.no_grad()
    def next_chunk(self, norm_obs: torch.Tensor) -> np.ndarray:
        """N(0, I) noise during warm-up (the base as it is), then a sample from the noise actor."""
        if self.step < self.config.learning_starts:
            noise = torch.randn((1, self.noise_dim), generator=self.generator).to(self.device)
        else:
            noise, _ = self.sample_noise(norm_obs)
        return self.decode(norm_obs, noise)[0].cpu().numpy().reshape(self.k, -1)

    def chunk_step(self) -> None:
        """Execute one chunk (cut short by the episode's end or the budget), store it, learn."""
        cfg = self.config
        norm = self.network.normalize_obs
        obs_t = norm(torch.as_tensor(self.obs[None], dtype=torch.float32, device=self.device))
        chunk = self.next_chunk(obs_t)
        reward, discount, ended, success = 0.0, 1.0, False, False
        for action in chunk:
            self.obs, r, terminated, truncated, info = self.env.step(action)
            self.episode_actions.append(action)
            self.step += 1
            reward += discount * r
            discount *= cfg.gamma
            if terminated:
                discount = 0.0
            if self.step >= self.next_eval:
                self.tracker.record(self.honed_policy, self.step, self.updates)
                self.next_eval += cfg.eval_every
            if terminated or truncated:
                ended, success = True, bool(info["is_success"])
                break
            if self.step >= cfg.steps:
                break
        next_t = norm(torch.as_tensor(self.obs[None], dtype=torch.float32, device=self.device))
        empty = np.zeros(0, np.float32)
        self.online.add([NStepTransition(obs_t[0].cpu().numpy(), chunk.reshape(-1), empty, reward, discount,
                                         next_t[0].cpu().numpy(), empty)])  # fmt: skip
        if ended:
            self.recent_success.append(success)
            self.start_episode(int(self.rng.integers(2**31)))
        if cfg.learning_starts < self.step < cfg.steps:  # the policy evaluated at the budget's end is final
            for _ in range(cfg.utd):
                batch = sample_mixed(self.demo_buffer, self.online, cfg.batch_size, cfg.demo_fraction, self.generator)
                for key, value in self.update(batch).items():
                    if not math.isfinite(value):
                        raise DivergenceError(
                            f"training diverged at env step {self.step} (update {self.updates}): {key} = {value}; "
                            "lower critic_lr or actor_lr, or check the rewards"
                        )
                    self.sums[key] = self.sums.get(key, 0.0) + value
                self.sums["n"] = self.sums.get("n", 0.0) + 1

    def train(self) -> FinetuneResult:
        cfg = self.config
        next_log = cfg.log_every
        while self.step < cfg.steps:
            self.chunk_step()
            if self.step >= next_log:
                n = self.sums.pop("n", 0.0)
                means = {key: value / n for key, value in self.sums.items()} if n else {}
                success = float(np.mean(self.recent_success)) if self.recent_success else None
                speed = round(self.step / max(self.tracker.elapsed(), 1e-9), 1)
                self.tracker.log(kind="train", env_steps=self.step, updates=self.updates, train_success=success,
                                 steps_per_s=speed, **means)  # fmt: skip
                self.sums = {}
                next_log += cfg.log_every
            if self.run is not None and (self.step >= self.next_snapshot or self.step >= cfg.steps):
                self.save_snapshot()
                while self.next_snapshot <= self.step:
                    self.next_snapshot += cfg.snapshot_every
        self.env.close()
        return self.tracker.finish(self.honed_policy)

    # -- snapshots ---------------------------------------------------------------------------

    MODULES = ("actor", "critic", "critic_target", "noise_critic")
    OPTIMIZERS = ("actor_optim", "critic_optim", "noise_critic_optim", "alpha_optim")

    def save_snapshot(self) -> None:
        assert self.run is not None
        tensors: dict[str, torch.Tensor] = {
            "log_alpha": self.log_alpha.detach(),
            "rng.torch": self.generator.get_state(),
        }
        for name in self.MODULES:
            snap.pack_module(name, getattr(self, name), tensors)
        optimizers = {name: snap.pack_optimizer(name, getattr(self, name), tensors) for name in self.OPTIMIZERS}
        size = self.online.size
        for name, tensor in self.online.data.items():
            if size:
                tensors[f"online.{name}"] = tensor[:size]
        if self.episode_actions:
            tensors["episode.actions"] = torch.as_tensor(np.stack(self.episode_actions))
        meta = {"step": self.step, "updates": self.updates, "next_eval": self.next_eval,
                "next_snapshot": self.next_snapshot, "optimizers": optimizers, "rng": snap.pack_numpy_rng(self.rng),
                "online": {"size": size, "position": self.online.position}, "episode_seed": self.episode_seed,
                "recent_success": list(self.recent_success), "sums": self.sums, "tracker": self.tracker.state(),
                "metrics_lines": self.run.metric_lines(), "demo_digest": self.demo_digest.hexdigest()}  # fmt: skip
        snap.save_snapshot(self.run.path / "state", self.step, tensors, meta)

    def restore(self, snapshot: snap.Snapshot) -> None:
        tensors, meta = snapshot.tensors, snapshot.meta
        if meta["demo_digest"] != self.demo_digest.hexdigest():
            raise HoningError(
                f"the demonstrations or the base policy differ from those {snapshot.path.parent.parent} started with; "
                "resume with the original dataset and base"
            )
        with torch.no_grad():
            self.log_alpha.copy_(tensors["log_alpha"])
        self.generator.set_state(tensors["rng.torch"])
        for name in self.MODULES:
            snap.unpack_module(name, getattr(self, name), tensors)
        for name, optimizer_meta in meta["optimizers"].items():
            snap.unpack_optimizer(name, getattr(self, name), optimizer_meta, tensors)
        snap.unpack_numpy_rng(self.rng, meta["rng"])
        size = meta["online"]["size"]
        for name, tensor in self.online.data.items():
            if size:
                tensor[:size] = tensors[f"online.{name}"].to(tensor.device)
        self.online.size, self.online.position = size, meta["online"]["position"]
        actions = list(tensors["episode.actions"].numpy()) if "episode.actions" in tensors else []
        self.start_episode(int(meta["episode_seed"]), actions)
        self.step, self.updates = int(meta["step"]), int(meta["updates"])
        self.next_eval, self.next_snapshot = int(meta["next_eval"]), int(meta["next_snapshot"])
        self.recent_success = deque(meta["recent_success"], maxlen=20)
        self.sums = meta["sums"]
        self.tracker.resumed(meta["tracker"], meta["metrics_lines"], f"{snapshot.path} (env step {self.step})")


def run_dsrl(
    base: Policy, task: Task, demos: Dataset, config: DSRLConfig, device: torch.device,
    run: RunDir | None, say: Say | None, resume: bool,
) -> FinetuneResult:  # fmt: skip
    """Fine-tune with DSRL-NA; with `resume`, continue from the run directory's newest snapshot."""
    torch.manual_seed(config.seed)
    method = DSRL(base, task, demos, config, device, run, say)
    latest = snap.resume_point(run, resume)
    if latest is not None:
        method.restore(latest)
    else:
        method.tracker.record(method.honed_policy, 0, 0)
        method.start_episode(int(method.rng.integers(2**31)))
    return method.train()
