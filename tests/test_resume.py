"""Resuming a fine-tuning run: same numbers as an uninterrupted run, whatever the kill hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.kill_resume import CONFIG, comparable, kill_and_resume
from honing.errors import CheckpointError, DivergenceError, HoningError
from honing.finetune import finetune, method_config
from honing.finetune.loop import OffPolicyRun
from honing.policies import load_policy
from honing.runs.rundir import read_metrics
from honing.runs.snapshot import load_latest_snapshot

SMALL = {**CONFIG, "steps": 1200}


def _config(method: str = "residual-td3", **options: object) -> object:
    values = {**SMALL, **options}
    if method == "rlpd":
        values.pop("critic_warmup")
    if method == "ibrl":
        values["actor"] = {"hidden_dims": [32], "gaussian": False}
    return method_config(method, values)


class Killed(Exception):
    pass


@pytest.mark.parametrize("method", ["residual-td3", "rlpd", "rlpd+parallel_update", "ibrl"])
def test_a_resumed_run_matches_an_uninterrupted_one(
    method: str, weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, torch_threads: None
) -> None:
    base, demos = weak_base
    method, *flags = method.split("+")  # rlpd's parallel_update: a critic step may still run when the kill comes
    options = {flag: True for flag in flags}
    whole = finetune(base, "toy/reach", demos, method=method, config=_config(method, **options),
                     out=tmp_path / "whole")  # fmt: skip

    original = OffPolicyRun.learn

    def dying_learn(self: OffPolicyRun) -> None:
        if self.step == 750:  # after the step-700 snapshot, mid-way to the next one
            raise Killed
        original(self)

    monkeypatch.setattr(OffPolicyRun, "learn", dying_learn)
    with pytest.raises(Killed):
        finetune(base, "toy/reach", demos, method=method, config=_config(method, **options), out=tmp_path / "cut")
    monkeypatch.setattr(OffPolicyRun, "learn", original)
    assert load_latest_snapshot(tmp_path / "cut" / "state").step == 700  # type: ignore[union-attr]
    resumed = finetune(base, "toy/reach", demos, method=method, out=tmp_path / "cut", resume=True)

    assert [(p.env_steps, p.success, p.updates) for p in resumed.curve] == [
        (p.env_steps, p.success, p.updates) for p in whole.curve
    ]
    assert [e.success for e in resumed.honed_eval.episodes] == [e.success for e in whole.honed_eval.episodes]
    assert [e.length for e in resumed.honed_eval.episodes] == [e.length for e in whole.honed_eval.episodes]
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")  # losses logged identically


def test_resume_refuses_a_changed_config_and_a_missing_run(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base, demos = weak_base
    config = _config()
    config.steps = 400  # type: ignore[attr-defined]
    finetune(base, "toy/reach", demos, config=config, out=tmp_path / "run")
    other = _config()
    with pytest.raises(HoningError, match="keeps the config it started with"):
        finetune(base, "toy/reach", demos, config=other, out=tmp_path / "run", resume=True)
    with pytest.raises(HoningError, match="is a 'residual-td3' run"):
        finetune(base, "toy/reach", demos, method="rlpd", out=tmp_path / "run", resume=True)
    with pytest.raises(HoningError, match="not a fine-tuning run directory"):
        finetune(base, "toy/reach", demos, out=tmp_path / "nowhere", resume=True)
    from honing.data import collect_demos

    collect_demos("toy/reach", episodes=3, noise=0.1, seed=5, out=tmp_path / "other-demos")
    with pytest.raises(HoningError, match="the demonstrations or the base policy differ"):
        finetune(base, "toy/reach", tmp_path / "other-demos", out=tmp_path / "run", resume=True)


def test_a_corrupt_newest_snapshot_falls_back_to_the_previous_one(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base, demos = weak_base
    config = _config()
    config.steps = 400  # type: ignore[attr-defined]
    finetune(base, "toy/reach", demos, config=config, out=tmp_path / "run")
    snapshots = sorted((tmp_path / "run" / "state").glob("step-*"))
    assert [s.name for s in snapshots] == ["step-000000300", "step-000000400"]  # the newest two are kept
    tensors = snapshots[-1] / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-100])  # a torn write
    with pytest.warns(UserWarning, match="skipping a corrupt training state"):
        assert load_latest_snapshot(tmp_path / "run" / "state").step == 300  # type: ignore[union-attr]
    (snapshots[0] / "state.json").write_text("{")
    with pytest.raises(CheckpointError, match="no valid training state"):
        load_latest_snapshot(tmp_path / "run" / "state")


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_result(
    weak_base: tuple[Path, Path], tmp_path: Path
) -> None:
    base, demos = weak_base
    config = _config()
    config.steps = KILL_STEPS  # type: ignore[attr-defined]
    reference = finetune(base, "toy/reach", demos, config=config, out=tmp_path / "whole")
    landed = kill_and_resume(base, demos, tmp_path / "killed", kills=KILLS, seed=0, steps=KILL_STEPS)
    assert len(landed) == KILLS
    assert len({step for step in landed if step >= 0}) >= 3, landed  # kills hit many moments of training
    run = tmp_path / "killed"
    honed = json.loads((run / "eval" / "final_honed.json").read_text())
    assert [e["success"] for e in honed["episodes"]] == [e.success for e in reference.honed_eval.episodes]
    assert [e["length"] for e in honed["episodes"]] == [e.length for e in reference.honed_eval.episodes]
    assert comparable(run) == comparable(tmp_path / "whole")  # every logged step, exactly once
    assert max(m["env_steps"] for m in read_metrics(run)) == KILL_STEPS
    for name in ("best", "last"):
        load_policy(run / "checkpoints" / name)  # validates names, shapes, finite values
    assert load_latest_snapshot(run / "state").step == KILL_STEPS  # type: ignore[union-attr]


KILLS, KILL_STEPS = 20, 3000


def test_divergence_stops_cleanly_and_names_what_is_left(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base, demos = weak_base
    config = method_config("residual-td3", {**SMALL, "critic_lr": 1e12})  # explodes within two updates
    with pytest.raises(DivergenceError, match=r"diverged at env step 302 \(update 2\): critic_loss = inf") as info:
        finetune(base, "toy/reach", demos, config=config, out=tmp_path / "run")
    assert f"last good snapshot: {tmp_path / 'run' / 'state' / 'step-000000300'}" in str(info.value)
    assert load_latest_snapshot(tmp_path / "run" / "state").step == 300  # type: ignore[union-attr]
    load_policy(tmp_path / "run" / "checkpoints" / "best")  # finite: loading validates every value


def test_same_seed_and_config_give_the_same_curve(weak_base: tuple[Path, Path], tmp_path: Path) -> None:
    base, demos = weak_base
    first = finetune(base, "toy/reach", demos, config=_config(), out=tmp_path / "a")
    second = finetune(base, "toy/reach", demos, config=_config(), out=tmp_path / "b")
    assert [(p.env_steps, p.success) for p in first.curve] == [(p.env_steps, p.success) for p in second.curve]
    assert comparable(tmp_path / "a") == comparable(tmp_path / "b")  # losses and Q statistics too
    other = method_config("residual-td3", {**SMALL, "seed": 1})
    third = finetune(base, "toy/reach", demos, config=other, out=tmp_path / "c")
    assert comparable(tmp_path / "c") != comparable(tmp_path / "a")  # the seed matters
    assert [e.seed for e in third.honed_eval.episodes] != [e.seed for e in first.honed_eval.episodes]


def test_filtered_bc_resumes_from_the_round_it_was_in(
    weak_base: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from honing.finetune import filtered_bc

    base, demos = weak_base
    values = {"steps": 1500, "round_steps": 300, "eval_every": 600, "eval_episodes": 5, "final_eval_episodes": 10,
              "bc": {"steps": 200}, "device": "cpu"}  # fmt: skip
    config = method_config("filtered-bc", values)
    whole = finetune(base, "toy/reach", demos, method="filtered-bc", config=config, out=tmp_path / "whole")

    calls = {"n": 0}
    original = filtered_bc.rollout

    def dying_rollout(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 25:  # mid-way through a later round
            raise Killed
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(filtered_bc, "rollout", dying_rollout)
    with pytest.raises(Killed):
        finetune(base, "toy/reach", demos, method="filtered-bc", config=config, out=tmp_path / "cut")
    monkeypatch.setattr(filtered_bc, "rollout", original)
    cut_at = load_latest_snapshot(tmp_path / "cut" / "state").step  # type: ignore[union-attr]
    assert 0 < cut_at < 1500
    resumed = finetune(base, "toy/reach", demos, method="filtered-bc", out=tmp_path / "cut", resume=True)
    assert [(p.env_steps, p.success) for p in resumed.curve] == [(p.env_steps, p.success) for p in whole.curve]
    assert [e.success for e in resumed.honed_eval.episodes] == [e.success for e in whole.honed_eval.episodes]
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")
