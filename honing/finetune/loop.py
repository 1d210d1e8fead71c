"""The off-policy fine-tuning loop every method shares, so comparisons are fair.

One environment, stepped in lockstep with the learner (deterministic for a seed on CPU):
``learning_starts`` steps of base + uniform noise fill the online buffer, then every env step is
followed by ``utd`` updates on half-demo, half-online batches. Every ``eval_every`` steps the
current honed policy is evaluated on the fixed evaluation seeds; ``checkpoints/best`` and
``checkpoints/last`` are kept. At the end, base and honed are evaluated on the same seeds.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from honing import seeding
from honing.data.episodes import Episode
from honing.data.normalization import Normalizer
from honing.eval.rollout import EvalResult, evaluate
from honing.finetune.common import OffPolicyConfig
from honing.finetune.replay import NStepAccumulator, ReplayBuffer, demo_transitions, sample_mixed
from honing.policies.base import Policy
from honing.policies.checkpoint import save_policy
from honing.runs.rundir import RunDir
from honing.tasks import Task

Say = Callable[[str], Any]


class OffPolicyAgent(Protocol):
    """What the loop needs from a method's learner."""

    device: torch.device
    critic_updates: int

    def explore(self, obs: np.ndarray, base_action: np.ndarray) -> np.ndarray: ...

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]: ...

    def honed_policy(self, base: Policy) -> Policy: ...


@dataclass
class CurvePoint:
    env_steps: int
    success: float
    ci95: tuple[float, float]
    wall_clock_s: float
    updates: int


@dataclass
class FinetuneResult:
    policy: Policy
    base_eval: EvalResult
    honed_eval: EvalResult
    curve: list[CurvePoint] = field(default_factory=list)
    wall_clock_s: float = 0.0
    run_dir: Path | None = None


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
    start = time.time()
    say = say or (lambda message: None)
    eval_base = copy.deepcopy(base)  # evaluation must not disturb the training env's chunk queue
    rng = seeding.rng(config.seed, "train")
    generator = torch.Generator().manual_seed(config.seed)
    obs_dim, act_dim = base.obs_dim, base.act_dim
    train_device = agent.device

    demo = demo_transitions(demos, copy.deepcopy(base), normalizer, config.n_step, config.gamma)
    demo_buffer = ReplayBuffer(len(demo), obs_dim, act_dim, train_device)
    demo_buffer.add(demo)
    online = ReplayBuffer(min(config.buffer_size, config.steps), obs_dim, act_dim, train_device)
    accumulator = NStepAccumulator(config.n_step, config.gamma)
    say(f"demo buffer: {len(demo)} transitions from {len(demos)} episodes; online capacity {online.capacity}")

    def evaluate_now(steps: int) -> EvalResult:
        result = evaluate(agent.honed_policy(eval_base), task, episodes=config.eval_episodes, seed=config.seed)
        point = CurvePoint(steps, result.success_rate, result.interval, round(time.time() - start, 2),
                           agent.critic_updates)  # fmt: skip
        curve.append(point)
        if run is not None:
            run.log(kind="eval", env_steps=steps, success=point.success, ci95_low=point.ci95[0],
                    ci95_high=point.ci95[1], updates=point.updates)  # fmt: skip
        say(f"  step {steps:>7}: {result.describe()}  [{point.wall_clock_s:.0f} s]")
        return result

    curve: list[CurvePoint] = []
    best = evaluate_now(0).success_rate
    if run is not None:
        save_policy(agent.honed_policy(base), run.checkpoints / "best", extra={"task_id": task.id, "env_steps": 0})

    env = task.make_env(sparse=True)
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    base.reset()
    base_action = base.act(obs[None])[0]
    recent_success: deque[bool] = deque(maxlen=20)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for step in range(1, config.steps + 1):
        if step <= config.learning_starts:
            noise = rng.uniform(-config.warmup_noise, config.warmup_noise, size=act_dim)
            action = np.clip(base_action + noise, -1.0, 1.0).astype(np.float32)
        else:
            action = agent.explore(obs, base_action)
        next_obs, reward, terminated, truncated, info = env.step(action)
        next_base_action = base.act(next_obs[None])[0]
        online.add(accumulator.push(
            normalizer.normalize_obs(obs), action, base_action, reward, normalizer.normalize_obs(next_obs),
            next_base_action, terminated, truncated,
        ))  # fmt: skip
        if terminated or truncated:
            recent_success.append(bool(info["is_success"]))
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            base.reset()
            base_action = base.act(obs[None])[0]
        else:
            obs, base_action = next_obs, next_base_action

        if step > config.learning_starts:
            for _ in range(config.utd):
                batch = sample_mixed(demo_buffer, online, config.batch_size, config.demo_fraction, generator)
                for key, value in agent.update(batch).items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1

        if step % config.log_every == 0 and run is not None:
            means = {k: sums[k] / counts[k] for k in sums}
            run.log(kind="train", env_steps=step, updates=agent.critic_updates,
                    train_success=float(np.mean(recent_success)) if recent_success else None,
                    steps_per_s=round(step / (time.time() - start), 1), **means)  # fmt: skip
            sums, counts = {}, {}
        if step % config.eval_every == 0 or step == config.steps:
            result = evaluate_now(step)
            if run is not None:
                extra = {"task_id": task.id, "env_steps": step}
                save_policy(agent.honed_policy(base), run.checkpoints / "last", extra=extra)
                if result.success_rate > best:
                    best = result.success_rate
                    save_policy(agent.honed_policy(base), run.checkpoints / "best", extra=extra)
    env.close()

    say(f"final evaluation on {config.final_eval_episodes} episodes (same seeds for base and honed) ...")
    base_eval = evaluate(eval_base, task, episodes=config.final_eval_episodes, seed=config.seed)
    honed = agent.honed_policy(eval_base)
    honed_eval = evaluate(honed, task, episodes=config.final_eval_episodes, seed=config.seed)
    if run is not None:
        base_eval.save(run.eval_dir / "final_base.json")
        honed_eval.save(run.eval_dir / "final_honed.json")
    return FinetuneResult(policy=agent.honed_policy(base), base_eval=base_eval, honed_eval=honed_eval, curve=curve,
                          wall_clock_s=time.time() - start, run_dir=run.path if run else None)  # fmt: skip
