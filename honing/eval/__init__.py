"""Evaluation: rollouts on fixed seeds and success statistics with intervals."""

from honing.eval.rollout import EpisodeResult, EvalResult, evaluate
from honing.eval.stats import wilson_interval

__all__ = ["EpisodeResult", "EvalResult", "evaluate", "wilson_interval"]
