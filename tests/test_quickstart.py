from __future__ import annotations

from pathlib import Path

import pytest

from honing import quickstart
from honing.errors import HoningError
from honing.quickstart import QuickstartConfig, run_quickstart


def test_quickstart_runs_demos_bc_eval_and_finetuning(tmp_path: Path) -> None:
    lines: list[str] = []
    config = QuickstartConfig(task="toy/reach", demos=10, noise=0.1, bc_steps=300, eval_episodes=10,
                              finetune_steps=600, seed=0, fast_learner=False)  # fmt: skip
    result = run_quickstart(config, tmp_path / "qs", say=lines.append)
    text = "\n".join(lines)
    assert "[4/4] residual RL fine-tuning for 600 env steps (sparse success reward, float32 learner)" in text
    assert "base  (BC): success" in text and "honed     : success" in text and "95% Wilson, n=10" in text
    assert result.honed_eval is not None and result.honed_eval.n == 10
    assert (tmp_path / "qs" / "demos" / "data" / "metadata.json").is_file()
    assert (tmp_path / "qs" / "bc" / "checkpoints" / "best" / "model.safetensors").is_file()
    assert (tmp_path / "qs" / "finetune" / "checkpoints" / "last" / "base" / "config.json").is_file()
    with pytest.raises(HoningError, match="already exists and is not empty"):
        run_quickstart(config, tmp_path / "qs", say=lines.append)


def test_quickstart_can_stop_after_bc(tmp_path: Path) -> None:
    lines: list[str] = []
    config = QuickstartConfig(task="toy/reach", demos=5, bc_steps=100, eval_episodes=5, finetune_steps=0)
    result = run_quickstart(config, tmp_path / "qs", say=lines.append)
    assert result.honed_eval is None and "[3/3] evaluating" in "\n".join(lines)
    assert not (tmp_path / "qs" / "finetune").exists()


@pytest.mark.parametrize(("bf16", "compiler"), [(True, True), (False, True), (False, False)])
def test_quickstart_learner_is_the_fastest_this_machine_runs(bf16: bool, compiler: bool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(quickstart, "bfloat16_is_fast", lambda device: bf16)
    monkeypatch.setattr(quickstart, "can_compile", lambda device: compiler)
    config = quickstart.quickstart_finetune_config(QuickstartConfig())
    assert (config.precision, config.compile) == ("bfloat16" if bf16 else "float32", compiler)
    assert (config.steps, config.learning_starts, config.critic_warmup) == (100_000, 5_000, 10_000)  # the defaults
    reference = quickstart.quickstart_finetune_config(QuickstartConfig(finetune_steps=600, fast_learner=False))
    assert (reference.precision, reference.compile) == ("float32", False)
    assert (reference.learning_starts, reference.critic_warmup) == (100, 150)  # actor updates within 600 steps
