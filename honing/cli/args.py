"""Argument types and option groups the subcommands share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Subparsers = Any
"""What ``ArgumentParser.add_subparsers`` returns (argparse keeps its type private)."""


def _number(text: str, kind: Callable[[str], Any], what: str, ok: Callable[[Any], bool]) -> Any:
    """`text` as `kind`, or argparse's one-line error naming what was expected."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    return int(_number(text, int, "a positive integer", lambda value: value > 0))


def non_negative_int(text: str) -> int:
    return int(_number(text, int, "an integer >= 0", lambda value: value >= 0))


def non_negative_float(text: str) -> float:
    return float(_number(text, float, "a number >= 0", lambda value: value >= 0))


def add_run_options(p: argparse.ArgumentParser, config_what: str, example: str, progress_what: str) -> None:
    """Options every training command shares: seed, device, config file, overrides, overwrite, quiet."""
    p.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--config", default=None, help=f"YAML file with {config_what}")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help=f"override a config field, e.g. {example} (repeatable)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace RUN_DIR if it already holds a run")
    p.add_argument("--quiet", action="store_true", help=f"do not print {progress_what} as they happen")


def tracker_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wandb", metavar="PROJECT", default=None, help="also log to this Weights & Biases project")
    p.add_argument("--mlflow", metavar="EXPERIMENT", default=None, help="also log to this MLflow experiment")
