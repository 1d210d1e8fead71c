from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from honing.cli import build_parser, main


def subcommands(parser: argparse.ArgumentParser | None = None, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every (nested) subcommand, e.g. 'bc' and 'shield check'."""
    parser = parser or build_parser()
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(subcommands(sub, prefix + name + " "))
    return found


def test_every_option_is_described_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name, sub in subcommands().items():
        help_text = sub.format_help()
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, f"'honing {name}' option {action.option_strings or action.dest} has no help"
            for option in action.option_strings:
                assert option in help_text
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in ("tasks", "demos", "bc", "eval", "finetune", "shield", "quickstart"):
        assert name in out
    assert "shield check" in subcommands()


def test_tasks_lists_every_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for task_id in (
        "metaworld/pick-place",
        "metaworld/door-open",
        "fetch/push",
        "fetch/pick-and-place",
        "adroit/door",
        "adroit/relocate",
        "toy/reach",
    ):
        assert task_id in out
    assert "55 tasks" in out


def test_demos_bc_eval_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, run = tmp_path / "demos", tmp_path / "run"
    assert main(["demos", "toy/reach", "--episodes", "30", "--noise", "0.1", "--seed", "1", "--out", str(data)]) == 0
    assert "kept 30 successful episodes" in capsys.readouterr().out
    assert (
        main(
            [
                "bc",
                str(data),
                "--policy",
                "chunked",
                "--steps",
                "300",
                "--out",
                str(run),
                "--quiet",
                "--set",
                "policy.chunk_horizon=6",
                "--set",
                "eval_every=50",
            ]
        )
        == 0
    )
    assert "best validation loss" in capsys.readouterr().out
    assert "chunk_horizon: 6" in (run / "config.yaml").read_text()
    assert main(["eval", str(run), "--episodes", "20", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "toy/reach: success" in out and "95% Wilson, n=20" in out
    assert (run / "eval" / "toy-reach-seed3-n20.json").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demos", "metaworld/pick-plce", "--out", "{tmp}/d"], "unknown task 'metaworld/pick-plce' (did you mean"),
        (["bc", "{tmp}/missing", "--out", "{tmp}/r"], "dataset path '{tmp}/missing' does not exist"),
        (["bc", "{tmp}/corrupt", "--out", "{tmp}/r"], "is corrupt or truncated"),
        (["bc", "{tmp}/reach", "--out", "{tmp}/r", "--task", "metaworld/push"], "recorded on task 'toy/reach'"),
        (["bc", "{tmp}/reach", "--out", "{tmp}/r", "--set", "lrr=1"], "unknown config key 'lrr'"),
        (["eval", "{tmp}/nothing"], "policy path '{tmp}/nothing' does not exist"),
        (["demos", "adroit/door", "--out", "{tmp}/d"], "has no scripted expert"),
        (["finetune", "--resume", "{tmp}/reach"], "is not a fine-tuning run directory"),
        (
            ["finetune", "--resume", "{tmp}/r", "--steps", "5"],
            "continues a run exactly as it was configured; drop steps",
        ),
        (["finetune", "{tmp}/reach"], "finetune needs BASE_DIR and --out"),
    ],
)
def test_bad_input_gets_one_line_error(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from honing.data import collect_demos

    collect_demos("toy/reach", episodes=2, seed=0, out=tmp_path / "reach")
    collect_demos("toy/reach", episodes=2, seed=0, out=tmp_path / "corrupt")
    data_file = tmp_path / "corrupt" / "data" / "main_data.hdf5"
    data_file.write_bytes(data_file.read_bytes()[:1000])
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("honing: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in err


def test_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "honing", "eval", str(tmp_path / "none")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"honing: error: policy path '{tmp_path / 'none'}' does not exist"


def test_honings_own_warnings_are_one_line_and_others_keep_pythons_form(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    from honing.cli import pipeline
    from honing.finetune.rlpd import RLPDConfig, warn_nothing_to_overlap

    def tasks_that_warn(args: argparse.Namespace) -> int:
        warn_nothing_to_overlap(RLPDConfig(parallel_update=True, utd=4))  # honing's, as a run's config would
        warnings.warn_explicit("elsewhere", RuntimeWarning, "/somewhere/else.py", 7)
        return 0

    monkeypatch.setattr(pipeline, "cmd_tasks", tasks_that_warn)
    others: list[tuple[str, str]] = []

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, *rest: object) -> None:
        others.append((str(message), filename))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        assert main(["tasks"]) == 0
        assert warnings.showwarning is show  # put back when the command returns
    assert capsys.readouterr().err.splitlines() == [
        "honing: warning: parallel_update at utd = 4 without actor_every_update: only 1 update in 4 has an actor "
        "step to overlap, the others run the critic's step on one thread, slower than the alternating update on two; "
        "set actor_every_update = true (SAC's own schedule) or parallel_update = false"
    ]
    assert others == [("elsewhere", "/somewhere/else.py")]  # shown as Python (here: the test's hook) shows it
