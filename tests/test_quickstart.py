from __future__ import annotations

from pathlib import Path

import pytest

from honing.errors import HoningError
from honing.quickstart import QuickstartConfig, run_quickstart


def test_quickstart_runs_demos_bc_eval_and_finetuning(tmp_path: Path) -> None:
    lines: list[str] = []
    config = QuickstartConfig(task="toy/reach", demos=10, noise=0.1, bc_steps=300, eval_episodes=10,
                              finetune_steps=600, seed=0)  # fmt: skip
    result = run_quickstart(config, tmp_path / "qs", say=lines.append)
    text = "\n".join(lines)
    assert "[4/4] residual RL fine-tuning" in text
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
