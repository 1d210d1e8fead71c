"""Filtered BC (baseline): roll out, keep the successes, retrain BC on demos + successes, repeat.

The simplest way to use a success signal, and the bar any RL fine-tuning must clear. Each round
spends ``round_steps`` env steps rolling out the current policy (with optional Gaussian action
noise for diversity), keeps the successful episodes, and retrains a BC policy of the base's
architecture from scratch on the demos plus every success so far, with the spine's early
stopping. A round without a new success keeps the current policy. The env-step budget is exact:
an episode still running when it is spent is cut and, having not succeeded, dropped. The state is
snapshotted after every round (kept episodes, current policy, RNGs), so a killed run resumes from
the start of the round it was in, with the same numbers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from honing import seeding
from honing.data.dataset import Dataset
from honing.data.demos import rollout
from honing.data.episodes import Episode
from honing.errors import HoningError
from honing.finetune.common import FinetuneConfig, require
from honing.finetune.tracker import FinetuneResult, RunTracker, Say
from honing.policies.base import Policy
from honing.policies.bc import BCConfig, train_bc
from honing.policies.bc_policy import BCPolicy
from honing.policies.dsrl_policy import DSRLPolicy
from honing.runs import snapshot as snap
from honing.runs.rundir import RunDir
from honing.tasks import Task


@dataclass
class FilteredBCConfig(FinetuneConfig):
    """Rounds of rollouts, success filtering and BC retraining."""

    bc: BCConfig = field(default_factory=BCConfig)
    """How each round's BC policy is trained (its architecture is taken from the base)."""
    round_steps: int = 5_000
    """Env steps of rollouts per round (one retraining per round)."""
    rollout_noise: float = 0.1
    """Std of the Gaussian noise added to rollout actions (0 rolls out the policy as is)."""

    def validate(self) -> None:
        super().validate()
        self.bc.validate()
        require(self, ("round_steps",), positive=True)
        require(self, ("rollout_noise",), positive=False)


FIELDS = ("observations", "actions", "rewards", "terminations", "truncations", "successes")


def _pack_episodes(episodes: list[Episode], tensors: dict[str, torch.Tensor]) -> list[int]:
    for name in FIELDS:
        if episodes:
            tensors[f"kept.{name}"] = torch.as_tensor(np.concatenate([getattr(e, name) for e in episodes]))
    return [len(e) for e in episodes]


def _unpack_episodes(lengths: list[int], tensors: dict[str, torch.Tensor]) -> list[Episode]:
    episodes, step, obs = [], 0, 0
    arrays = {name: tensors[f"kept.{name}"].numpy() for name in FIELDS} if lengths else {}
    for length in lengths:
        episodes.append(Episode(arrays["observations"][obs : obs + length + 1],
                                *(arrays[name][step : step + length] for name in FIELDS[1:])))  # fmt: skip
        step, obs = step + length, obs + length + 1
    return episodes


def bc_base(base: Policy) -> BCPolicy:
    """The base as a BC policy (its architecture is retrained), or a clear error."""
    if not isinstance(base, BCPolicy) or isinstance(base, DSRLPolicy):  # a DSRL policy's actor would be lost
        raise HoningError(
            f"filtered-bc retrains a BC policy from scratch, but the base is a {type(base).__name__}; "
            "give it a base written by 'honing bc'"
        )
    return base


def run_filtered_bc(
    base: Policy, task: Task, demos: Dataset, config: FilteredBCConfig, run: RunDir | None, say: Say | None,
    resume: bool = False,
) -> FinetuneResult:  # fmt: skip
    """Rounds of rollouts and retraining; a snapshot after every round makes a killed run resumable."""
    base = bc_base(base)
    tracker = RunTracker(task, base, config, run, say)
    rng = seeding.rng(config.seed, "train")
    noise_rng = seeding.rng(config.seed, "noise")
    bc_config = copy.deepcopy(config.bc)
    bc_config.policy = copy.deepcopy(base.network.config)
    bc_config.device = config.device
    current: BCPolicy = base
    kept: list[Episode] = []
    steps = updates = rounds = 0
    next_eval = config.eval_every

    def honed(_: Policy) -> Policy:
        return current

    def act(obs: np.ndarray) -> np.ndarray:
        return current.act(obs[None])[0]

    def save_snapshot() -> None:
        assert run is not None
        tensors: dict[str, torch.Tensor] = {}
        snap.pack_module("policy", current.network, tensors)
        meta = {"steps": steps, "updates": updates, "rounds": rounds, "next_eval": next_eval,
                "kept": _pack_episodes(kept, tensors), "rng": snap.pack_numpy_rng(rng),
                "noise_rng": snap.pack_numpy_rng(noise_rng), "tracker": tracker.state(),
                "metrics_lines": run.metric_lines()}  # fmt: skip
        snap.save_snapshot(run.path / "state", steps, tensors, meta)

    latest = snap.resume_point(run, resume)
    if latest is not None:
        meta = latest.meta
        network = copy.deepcopy(base.network)
        snap.unpack_module("policy", network, latest.tensors)
        current = BCPolicy(network)
        kept = _unpack_episodes(meta["kept"], latest.tensors)
        steps, updates, rounds, next_eval = meta["steps"], meta["updates"], meta["rounds"], meta["next_eval"]
        snap.unpack_numpy_rng(rng, meta["rng"])
        snap.unpack_numpy_rng(noise_rng, meta["noise_rng"])
        tracker.resumed(meta["tracker"], meta["metrics_lines"], f"{latest.path} (env step {steps}, round {rounds})")
    else:
        tracker.record(honed, 0, 0)
    while steps < config.steps:
        round_end = min(steps + config.round_steps, config.steps)
        new, attempts = 0, 0
        while steps < round_end:
            current.reset()
            seed = int(rng.integers(2**31))
            episode = rollout(task, act, seed, config.rollout_noise, noise_rng, max_steps=round_end - steps)
            steps += len(episode)
            attempts += 1
            if episode.success:
                kept.append(episode)
                new += 1
        rounds += 1
        if new:
            bc_config.seed = config.seed + rounds
            dataset = Dataset(list(demos.episodes) + kept, metadata={"honing_task": task.id})
            result = train_bc(dataset, bc_config)
            current, updates = result.policy, updates + result.steps_run
        tracker.log(kind="train", env_steps=steps, updates=updates, round=rounds, round_successes=new,
                    round_episodes=attempts, train_success=new / attempts, kept_episodes=len(kept))  # fmt: skip
        tracker.say(f"  round {rounds}: {new}/{attempts} rollouts succeeded; BC on {len(demos.episodes) + len(kept)}")
        if steps >= next_eval or steps == config.steps:
            tracker.record(honed, steps, updates)
            next_eval = (steps // config.eval_every + 1) * config.eval_every
        if run is not None:
            save_snapshot()
    return tracker.finish(honed)
