"""Grids of fine-tuning runs (tasks x methods x seeds x config overrides), on a local process pool
or a Ray cluster, collected into one JSON and one report."""

from honing.sweep.run import SweepResult, run_sweep
from honing.sweep.spec import SweepSpec, Trial, load_sweep_spec

__all__ = ["SweepResult", "SweepSpec", "Trial", "load_sweep_spec", "run_sweep"]
