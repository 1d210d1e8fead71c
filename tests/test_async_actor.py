"""The actor-process loop: same data as the synchronous loop at lag 1, exact UTD and bounded lag above."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.kill_resume import CONFIG, comparable
from honing.errors import ConfigError, HoningError
from honing.finetune import finetune, method_config
from honing.finetune.collector import Collector
from honing.finetune.loop import OffPolicyRun
from honing.runs.rundir import read_metrics

SMALL = {**CONFIG, "steps": 1200}
LAG_KEYS = ("policy_lag", "policy_lag_max")


def _config(method: str = "residual-td3", **extra: Any) -> Any:
    values = {**SMALL, **extra}
    if method == "rlpd":
        values.pop("critic_warmup")
    if method == "ibrl":
        values["actor"] = {"hidden_dims": [32], "gaussian": False}
    return method_config(method, values)


def _without_lag(run: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in LAG_KEYS} for m in comparable(run)]


def test_lag_one_collects_and_learns_exactly_like_the_synchronous_loop(
    weak_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base, demos = weak_base
    sync = finetune(base, "toy/reach", demos, config=_config(), out=tmp_path / "sync")
    actor = finetune(base, "toy/reach", demos, config=_config(async_actor=True, max_policy_lag=1), out=tmp_path / "a")
    assert [(p.env_steps, p.success, p.updates) for p in actor.curve] == [
        (p.env_steps, p.success, p.updates) for p in sync.curve
    ]
    assert [e.length for e in actor.honed_eval.episodes] == [e.length for e in sync.honed_eval.episodes]
    assert _without_lag(tmp_path / "a") == _without_lag(tmp_path / "sync")  # every loss, every update
    lags = [m["policy_lag_max"] for m in read_metrics(tmp_path / "a") if "policy_lag_max" in m]
    assert lags and set(lags) == {0}  # lag 1: the actor always acts with the newest weights


@pytest.mark.parametrize("method", ["residual-td3", "rlpd", "ibrl"])
def test_a_lagging_actor_keeps_the_update_count_exact_and_the_lag_bounded(
    method: str, weak_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base, demos = weak_base
    config = _config(method, async_actor=True, max_policy_lag=3, utd=2, steps=700)
    result = finetune(base, "toy/reach", demos, method=method, config=config, out=tmp_path / "run")
    assert result.curve[-1].updates == 2 * (700 - SMALL["learning_starts"])
    train = [m for m in read_metrics(tmp_path / "run") if m.get("kind") == "train"]
    logged = [m for m in train if "policy_lag" in m]
    assert logged and all(0 <= m["policy_lag"] <= m["policy_lag_max"] <= 3 * 2 for m in logged)


def test_a_killed_async_run_resumes_to_the_same_numbers(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At lag 1 the async loop is deterministic, so its resume must reproduce the uninterrupted run;
    the collector state it resumes from travelled from the actor process with the snapshot step."""
    base, demos = weak_base
    config = _config(async_actor=True, max_policy_lag=1)
    whole = finetune(base, "toy/reach", demos, config=config, out=tmp_path / "whole")
    original = OffPolicyRun.learn

    def dying_learn(self: OffPolicyRun) -> None:
        if self.step == 750:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(OffPolicyRun, "learn", dying_learn)
    with pytest.raises(KeyboardInterrupt):
        finetune(base, "toy/reach", demos, config=config, out=tmp_path / "cut")
    monkeypatch.setattr(OffPolicyRun, "learn", original)
    resumed = finetune(base, "toy/reach", demos, out=tmp_path / "cut", resume=True)
    assert [(p.env_steps, p.success, p.updates) for p in resumed.curve] == [
        (p.env_steps, p.success, p.updates) for p in whole.curve
    ]
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")


def test_an_error_in_the_actor_process_reaches_the_learner(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, demos = weak_base
    original = Collector.next

    def failing_next(self: Collector) -> Any:
        if self.step == 500:
            raise RuntimeError("the robot's e-stop is pressed")
        return original(self)

    monkeypatch.setattr(Collector, "next", failing_next)  # inherited by the forked child
    with pytest.raises(HoningError, match="actor process failed: RuntimeError: the robot's e-stop is pressed"):
        finetune(base, "toy/reach", demos, config=_config(async_actor=True), out=tmp_path / "run")


def test_bad_async_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="max_policy_lag must be positive"):
        _config(async_actor=True, max_policy_lag=0).validate()
    with pytest.raises(ConfigError, match=r"dsrl .* no actor process"):
        method_config("dsrl", {"async_actor": True}).validate()
