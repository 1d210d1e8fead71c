from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from honing.errors import HoningError
from honing.eval import evaluate, wilson_interval, workers
from honing.policies import load_policy


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(successes: int, trials: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(successes, trials)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        wilson_interval(3, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


class ExpertPolicy:
    """The toy expert behind the Policy protocol, recording the first observation of each slot."""

    obs_dim, act_dim = 6, 2

    def __init__(self, scale: float = 1.0) -> None:
        from honing.tasks import get_task

        self.expert, self.scale = get_task("toy/reach").expert(), scale

    def reset(self, env_ids=None) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.stack([self.expert(o) * self.scale for o in obs])


def test_same_seed_same_initial_states_for_different_policies() -> None:
    strong = evaluate(ExpertPolicy(1.0), "toy/reach", episodes=12, seed=5, num_envs=4)
    weak = evaluate(ExpertPolicy(0.2), "toy/reach", episodes=12, seed=5, num_envs=3)
    assert [e.seed for e in strong.episodes] == [e.seed for e in weak.episodes]
    other = evaluate(ExpertPolicy(1.0), "toy/reach", episodes=12, seed=6)
    assert not {e.seed for e in other.episodes} & {e.seed for e in strong.episodes}


@pytest.mark.parametrize(("num_envs", "workers"), [(1, 1), (3, 1), (16, 1), (8, 2), (3, 3)])
def test_results_do_not_depend_on_batching_or_workers(num_envs: int, workers: int, reach_bc_run: Path) -> None:
    policy = load_policy(reach_bc_run)
    reference = evaluate(policy, "toy/reach", episodes=10, seed=0, num_envs=1)
    result = evaluate(policy, "toy/reach", episodes=10, seed=0, num_envs=num_envs, workers=workers)
    assert [(e.seed, e.success, e.length, e.episode_return) for e in result.episodes] == [
        (e.seed, e.success, e.length, e.episode_return) for e in reference.episodes
    ]


class FailingPolicy(ExpertPolicy):
    def act(self, obs: np.ndarray) -> np.ndarray:
        raise RuntimeError("the policy broke")


def test_a_worker_error_reaches_the_caller_by_name() -> None:
    with pytest.raises(HoningError, match="evaluation worker failed: RuntimeError: the policy broke"):
        evaluate(FailingPolicy(1.0), "toy/reach", episodes=4, workers=2)


def test_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "usable_cores", lambda: 4)
    assert workers.worker_count(0, 10) == 4 and workers.worker_count(0, 3) == 3 and workers.worker_count(1, 10) == 1
    with pytest.raises(HoningError, match="eval workers must be >= 0"):
        workers.worker_count(-1, 10)
    monkeypatch.setattr(workers, "can_fork", lambda: False)  # e.g. CUDA initialised: the episodes stay here
    assert workers.worker_count(0, 10) == 1


def test_eval_result_statistics_and_json(tmp_path: Path) -> None:
    result = evaluate(ExpertPolicy(1.0), "toy/reach", episodes=20, seed=0)
    assert result.n == 20 and result.success_rate == 1.0
    assert all(e.first_success_step == e.length for e in result.episodes)  # sparse: stop at success
    low, high = result.interval
    assert high == 1.0 and low == pytest.approx(wilson_interval(20, 20)[0])
    data = json.loads(result.save(tmp_path / "eval.json").read_text())
    assert data["summary"]["success_rate"] == 1.0 and len(data["episodes"]) == 20
    assert "95% Wilson, n=20" in result.describe()
