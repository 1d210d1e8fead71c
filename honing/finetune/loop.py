"""The off-policy fine-tuning loop every off-policy method shares, so comparisons are fair.

One environment, stepped in lockstep with the learner (deterministic for a seed on CPU):
``learning_starts`` steps of warm-up fill the online buffer (base + uniform noise for methods
built on the base, uniform random actions for methods that learn from scratch), then every env
step is followed by ``utd`` updates on half-demo, half-online batches. Evaluation, checkpoints and
the final comparison are the :class:`~honing.finetune.tracker.RunTracker`'s.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

from honing import seeding
from honing.data.episodes import Episode
from honing.data.normalization import Normalizer
from honing.finetune.common import OffPolicyConfig
from honing.finetune.replay import NStepAccumulator, ReplayBuffer, demo_transitions, sample_mixed
from honing.finetune.tracker import FinetuneResult, RunTracker, Say
from honing.policies.base import Policy
from honing.runs.rundir import RunDir
from honing.tasks import Task


class OffPolicyAgent(Protocol):
    """What the loop needs from a method's learner."""

    device: torch.device
    critic_updates: int
    uses_base: bool
    """False for methods that learn from scratch: no base actions are computed or cached."""

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray: ...

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...

    def honed_policy(self, base: Policy) -> Policy: ...


def run_off_policy(
    agent: OffPolicyAgent,
    task: Task,
    base: Policy,
    demos: Sequence[Episode],
    normalizer: Normalizer,
    config: OffPolicyConfig,
    run: RunDir | None = None,
    say: Say | None = None,
) -> FinetuneResult:
    tracker = RunTracker(task, base, config, run, say)
    rng = seeding.rng(config.seed, "train")
    generator = torch.Generator().manual_seed(config.seed)
    obs_dim, act_dim = base.obs_dim, base.act_dim
    train_device = agent.device
    zero_action = np.zeros(act_dim, dtype=np.float32)

    def base_act(obs: np.ndarray) -> np.ndarray:
        return base.act(obs[None])[0] if agent.uses_base else zero_action

    demo_base = copy.deepcopy(base) if agent.uses_base else None
    demo = demo_transitions(demos, demo_base, normalizer, config.n_step, config.gamma)
    demo_buffer = ReplayBuffer(len(demo), obs_dim, act_dim, train_device)
    demo_buffer.add(demo)
    online = ReplayBuffer(min(config.buffer_size, config.steps), obs_dim, act_dim, train_device)
    accumulator = NStepAccumulator(config.n_step, config.gamma)
    tracker.say(f"demo buffer: {len(demo)} transitions from {len(demos)} episodes; online capacity {online.capacity}")

    tracker.record(agent.honed_policy, 0, 0)
    env = task.make_env(sparse=True)
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    base.reset()
    base_action = base_act(obs)
    recent_success: deque[bool] = deque(maxlen=20)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for step in range(1, config.steps + 1):
        if step > config.learning_starts:
            action = agent.explore(obs, base_action)
        elif agent.uses_base:
            noise = rng.uniform(-config.warmup_noise, config.warmup_noise, size=act_dim)
            action = np.clip(base_action + noise, -1.0, 1.0).astype(np.float32)
        else:
            action = rng.uniform(-1.0, 1.0, size=act_dim).astype(np.float32)
        next_obs, reward, terminated, truncated, info = env.step(action)
        next_base_action = base_act(next_obs)
        online.add(accumulator.push(
            normalizer.normalize_obs(obs), action, base_action, reward, normalizer.normalize_obs(next_obs),
            next_base_action, terminated, truncated,
        ))  # fmt: skip
        if terminated or truncated:
            recent_success.append(bool(info["is_success"]))
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            base.reset()
            base_action = base_act(obs)
        else:
            obs, base_action = next_obs, next_base_action

        if step > config.learning_starts:
            for _ in range(config.utd):
                batch = sample_mixed(demo_buffer, online, config.batch_size, config.demo_fraction, generator)
                for key, value in agent.update(batch).items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1

        if step % config.log_every == 0:
            means = {k: sums[k] / counts[k] for k in sums}
            tracker.log(kind="train", env_steps=step, updates=agent.critic_updates,
                        train_success=float(np.mean(recent_success)) if recent_success else None,
                        steps_per_s=round(step / tracker.elapsed(), 1), **means)  # fmt: skip
            sums, counts = {}, {}
        if step % config.eval_every == 0 or step == config.steps:
            tracker.record(agent.honed_policy, step, agent.critic_updates)
    env.close()
    return tracker.finish(agent.honed_policy)
