"""A stand-in arm for ``benchmarks.sac_side_by_side``'s worker processes, in a module of its own so a
spawned process imports nothing heavy to run it (no torch, no simulator)."""

from __future__ import annotations

import time
from typing import Any


def stamping_worker(conn: Any, arm: str, warmup: int, mode: str, threads: int) -> None:
    """A stand-in arm for :func:`benchmarks.sac_side_by_side.run_cycles`: it answers each burst with the
    moment it ran it, so the caller's order of bursts can be read back; the "dies" arm fails at its third."""
    conn.send("ready")
    bursts = 0
    while conn.recv() is not None:
        bursts += 1
        if arm == "dies" and bursts == 3:
            raise SystemExit(1)
        conn.send(time.perf_counter())
