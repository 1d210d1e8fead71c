"""Deterministic, disjoint seed streams.

Demonstrations, evaluation and training all derive their environment seeds from one user seed,
but through separate streams, so evaluation never replays the initial states the demonstrations
were collected on, and two policies evaluated with the same seed see the same initial states.
"""

from __future__ import annotations

import numpy as np

STREAMS = {"demos": 1, "eval": 2, "train": 3, "split": 4, "noise": 5}


def episode_seeds(seed: int, stream: str, count: int) -> list[int]:
    """`count` environment reset seeds for `stream`, fully determined by `seed`."""
    if stream not in STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; expected one of {sorted(STREAMS)}")
    seq = np.random.SeedSequence(entropy=int(seed), spawn_key=(STREAMS[stream],))
    return [int(s) for s in seq.generate_state(max(count, 1), dtype=np.uint32)[:count]]


def rng(seed: int, stream: str) -> np.random.Generator:
    """A NumPy generator for `stream`, independent of the reset seeds above."""
    if stream not in STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; expected one of {sorted(STREAMS)}")
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(100 + STREAMS[stream],)))
