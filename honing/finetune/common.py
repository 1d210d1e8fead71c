"""Settings fine-tuning methods share: budget and evaluation for all, replay and returns for off-policy ones."""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

from honing.errors import ConfigError
from honing.policies.ensemble import CriticEnsemble


def require(config: object, names: tuple[str, ...], positive: bool) -> None:
    """Reject fields that are not positive (or, with ``positive=False``, negative), naming the field."""
    for name in names:
        value = getattr(config, name)
        if value <= 0 if positive else value < 0:
            raise ConfigError(f"{name} must be {'positive' if positive else '>= 0'}, got {value}")


@dataclass
class FinetuneConfig:
    """Budget, evaluation schedule, seed and device: what every method's config starts from."""

    steps: int = 100_000
    """Environment steps of online interaction (the sample budget)."""
    eval_every: int = 5_000
    """Env steps between evaluations on the fixed evaluation seeds."""
    eval_episodes: int = 50
    """Episodes per periodic evaluation."""
    final_eval_episodes: int = 100
    """Episodes of the final base-vs-honed evaluation (same seeds for both)."""
    eval_workers: int = 0
    """Processes an evaluation's episodes are dealt out to (0: one per core; 1: in the run's own process)."""
    log_every: int = 1_000
    """Env steps between training-metric lines in metrics.jsonl."""
    seed: int = 0
    """Seed for the environment, networks, noise and sampling."""
    device: str = "auto"
    """auto, cpu, cuda or cuda:N."""
    shield: str | None = None
    """Path of an action-shield spec (YAML, see honing.safety): every training and evaluation action
    passes it; interventions are logged per constraint. None: no shield."""

    def validate(self) -> None:
        require(self, ("steps", "eval_every", "eval_episodes", "final_eval_episodes", "log_every"), positive=True)
        require(self, ("eval_workers",), positive=False)


PRECISIONS = ("float32", "bfloat16")
"""What ``OffPolicyConfig.precision`` accepts."""


@dataclass
class OffPolicyConfig(FinetuneConfig):
    """Shared off-policy settings; off-policy method configs extend this."""

    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 3
    """n of the n-step returns."""
    batch_size: int = 256
    """Transitions per update."""
    demo_fraction: float = 0.5
    """Share of every batch drawn from the demos (symmetric sampling, as in RLPD)."""
    utd: int = 1
    """Updates per environment step (update-to-data ratio) once learning has started."""
    learning_starts: int = 5_000
    """Env steps collected before any update (base + uniform noise of ``warmup_noise``)."""
    warmup_noise: float = 0.2
    """Half-width of the uniform noise added to the base action during ``learning_starts``."""
    buffer_size: int = 1_000_000
    """Capacity of the online replay buffer (transitions)."""
    critic_hidden_dims: tuple[int, ...] = (256, 256)
    """Widths of each critic head."""
    critic_layer_norm: bool = True
    """LayerNorm after every hidden layer of the critic heads (RLPD's critic, which keeps Q in range at
    high UTD); false gives the plain ReLU MLP of SAC's and TD3's critics as Stable-Baselines3 builds
    them, for like-for-like comparisons. Less work per update (no LayerNorm forward and backward): rlpd's
    training loop with ``parallel_update`` ran 1.13x as fast without LayerNorm in actor and critic, side by
    side on a 2-core VM (``python -m benchmarks.sac_side_by_side``, BENCHMARKS.md)."""
    num_critics: int = 2
    """Critic ensemble size (2-10)."""
    num_target_critics: int = 2
    """Heads drawn at random for the min in the TD target (REDQ); 2 = clipped double Q."""
    critic_lr: float = 3e-4
    """Critic learning rate (Adam)."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    snapshot_every: int = 5_000
    """Env steps between training-state snapshots (what ``--resume`` continues from)."""
    async_actor: bool = False
    """Step the env in an actor process while this one updates (both cores busy; Linux). Exactly
    ``utd`` updates per env step as in the synchronous loop; only the acting weights' age differs
    (bounded by ``max_policy_lag``, logged as ``policy_lag``). Not bit-reproducible, so the default
    stays off and tests use the synchronous loop."""
    max_policy_lag: int = 2
    """Env steps the actor process may run ahead of the learner: it acts with weights at most
    ``max_policy_lag * utd`` updates old. 1 waits for every update (no overlap, same data as the
    synchronous loop); 2 already overlaps a whole env step with the previous step's updates."""
    compile: bool = False
    """Compile the whole update with ``torch.compile`` (inductor): residual-td3, ibrl, demo-reg and
    rlpd write it as one function of tensors (``honing.finetune.fused``: target, critic and actor
    steps, temperature, Polyak averaging and Adam), so it becomes one graph of fused kernels, called
    without dynamo's per-call guard check once its first call is verified (``honing.finetune.direct_call``);
    dsrl compiles its networks one by one. Same maths, rounded differently from eager; the first
    updates pay the compilation (20-40 s on CPU, needs a C++ compiler there). Measured on 2 CPU
    cores (BENCHMARKS.md, learner throughput): 1.2-1.6x the updates/s of eager at 2x256 with 2
    critic heads; worth it for any run longer than a few thousand updates."""
    precision: str = "float32"
    """Arithmetic of the update's networks: ``"float32"``, or ``"bfloat16"`` (mixed precision by
    ``torch.autocast``: matmuls and LayerNorm in bfloat16 with float32 accumulation; weights,
    gradients, optimiser state, each critic's output layer, TD targets and losses stay float32).
    Pays on CPUs with bfloat16 matmul instructions (AMX on Intel Xeon 4th generation and later: a
    bfloat16 matmul peak 6.7x the float32 one; AVX512-BF16 on AMD Zen 4: 2.2x; with
    ``compile = true`` 1.65-2.4x the updates/s of float32 eager there, BENCHMARKS.md, learner
    throughput) and on recent GPUs; without them (AVX2 only) its matmuls take a reference path
    many times slower than float32, and the learner warns. Acting and evaluation stay float32."""

    def validate(self) -> None:
        super().validate()
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        require(self, ("n_step", "batch_size", "utd", "buffer_size", "num_critics", "snapshot_every",
                       "max_policy_lag"), positive=True)  # fmt: skip
        if self.async_actor and "fork" not in multiprocessing.get_all_start_methods():
            raise ConfigError("async_actor needs the 'fork' start method (Linux); set async_actor = false here")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 <= self.demo_fraction < 1.0:
            raise ConfigError(f"demo_fraction must be in [0, 1), got {self.demo_fraction}")
        if self.learning_starts < 0:
            raise ConfigError(f"learning_starts must be >= 0, got {self.learning_starts}")
        if not 1 <= self.num_target_critics <= self.num_critics:
            raise ConfigError(
                f"num_target_critics must be in [1, num_critics={self.num_critics}], got {self.num_target_critics}"
            )
        if not 0.0 < self.tau <= 1.0:
            raise ConfigError(f"tau must be in (0, 1], got {self.tau}")


def critic_ensemble(config: OffPolicyConfig, in_dim: int, hidden_dims: tuple[int, ...] | None = None) -> CriticEnsemble:
    """The method's Q-ensemble on `in_dim` inputs as `config` shapes it (`hidden_dims` in place of its widths)."""
    widths = config.critic_hidden_dims if hidden_dims is None else hidden_dims
    return CriticEnsemble(in_dim, widths, config.num_critics, layer_norm=config.critic_layer_norm)


@dataclass
class TD3Config(OffPolicyConfig):
    """TD3 machinery shared by the deterministic-actor methods (residual-td3, ibrl)."""

    actor_lr: float = 1e-4
    """Actor learning rate (Adam); a slow actor protects the base early on."""
    actor_delay: int = 2
    """Critic updates per actor update (TD3 delay; 2-4)."""
    critic_warmup: int = 10_000
    """Critic-only updates before the actor first moves: an actor trained on an untrained critic
    wrecks a good base. Measured on pick-place, seed 0 (BENCHMARKS.md, ``residual-td3[warmup1k]``
    against the default row): with 1 000 the honed policy falls from 72% to 18% at 10k env steps
    and is at 46% at 30k; with 10 000 its low is 32% (20k) and it is at 66% at 30k."""
    explore_noise: float = 0.1
    """Std of the Gaussian exploration noise on the actor's output."""
    target_noise: float = 0.2
    """Std of the target policy smoothing noise."""
    target_noise_clip: float = 0.3
    """Clip of the target policy smoothing noise."""

    def validate(self) -> None:
        super().validate()
        require(self, ("actor_delay",), positive=True)
        require(self, ("critic_warmup", "explore_noise", "target_noise", "target_noise_clip", "actor_lr"), False)
