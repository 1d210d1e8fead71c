"""Settings every off-policy fine-tuning method shares (replay, returns, schedule, evaluation)."""

from __future__ import annotations

from dataclasses import dataclass

from honing.errors import ConfigError


@dataclass
class OffPolicyConfig:
    """Shared off-policy settings; method configs extend this."""

    steps: int = 100_000
    """Environment steps of online interaction (the sample budget)."""
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
    """Widths of each critic head (LayerNorm MLP)."""
    num_critics: int = 2
    """Critic ensemble size (2-10)."""
    num_target_critics: int = 2
    """Heads drawn at random for the min in the TD target (REDQ); 2 = clipped double Q."""
    critic_lr: float = 3e-4
    """Critic learning rate (Adam)."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    eval_every: int = 5_000
    """Env steps between evaluations on the fixed evaluation seeds."""
    eval_episodes: int = 50
    """Episodes per periodic evaluation."""
    final_eval_episodes: int = 100
    """Episodes of the final base-vs-honed evaluation (same seeds for both)."""
    log_every: int = 1_000
    """Env steps between training-metric lines in metrics.jsonl."""
    seed: int = 0
    """Seed for the environment, networks, noise and sampling."""
    device: str = "auto"
    """auto, cpu, cuda or cuda:N."""

    def validate(self) -> None:
        positive = ("steps", "n_step", "batch_size", "utd", "buffer_size", "num_critics", "eval_every",
                    "eval_episodes", "final_eval_episodes", "log_every")  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
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
