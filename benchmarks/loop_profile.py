"""Where a fine-tuning run's time goes: py-spy samples of honing's off-policy loop, by phase.

Runs residual-td3's training loop on metaworld/pick-place (2x256, 2 critics, batch 256, UTD 1,
one thread by default; the same loop as ``benchmarks.learner_throughput``'s end-to-end measurement) under
``py-spy record`` and sums the samples by phase: the updates (TD target, forward passes, backward,
optimiser, replay sampling) and the env side (simulator step, base policy, exploration, n-step
bookkeeping). Writes the table to ``benchmarks/results/profiles/loop-residual-td3-<N>thread.txt``; it is the
profile that decides whether the env side is worth moving to another core.

    python -m benchmarks.loop_profile        # needs: pip install 'honing[bench]' (py-spy)
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import RESULTS, command_line, machine
from honing.runs.atomic import atomic_write_text

LEARN = (("sample_mixed", "replay sampling"), ("target", "TD target (no grad)"), ("actor_loss", "actor loss forward"),
         ("backward", "backward"), ("step", "optimiser step"), ("polyak", "Polyak averaging"))  # fmt: skip
ENV = (("start_episode", "reset / new episode"), ("base_act", "base policy"), ("choose_action", "exploration"),
       ("step", "simulator step"))  # fmt: skip


def phase(frames: list[str]) -> str:
    """The phase a sampled stack belongs to (frames: function names, outermost first)."""
    phases = (("learn", LEARN, "updates", "critic forward + other"), ("next", ENV, "env side", "other"),
              ("ingest", (), "env side", "n-step + replay add"))  # fmt: skip
    for top, table, group, rest_name in phases:
        if top in frames:
            rest = frames[frames.index(top) + 1 :]
            name = next((label for frame, label in table if frame in rest), rest_name)
            return f"{group}: {name}"
    return "setup (imports, demos, warm-up)"


def py_spy() -> str:
    """The py-spy executable (installed with ``honing[bench]``), or exit saying how to get it."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is not installed: pip install 'honing[bench]'")
    return spy


def sampled_stacks(script: str, rate: int = 200, idle: bool = False) -> list[tuple[list[str], int]]:
    """py-spy's samples of ``python -c script``: (qualified function names, outermost first; count).

    With `idle`, samples of threads waiting (on a pipe, a lock) count too: the wall-clock view.
    """
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        command = [py_spy(), "record", "-o", str(raw), "-f", "raw", "-r", str(rate), *(["--idle"] if idle else [])]
        subprocess.run([*command, "--", sys.executable, "-c", script], check=True)
        stacks = []
        for line in raw.read_text().splitlines():
            stack, samples = line.rsplit(" ", 1)
            stacks.append(([frame.split(" (")[0] for frame in stack.split(";")], int(samples)))
    return stacks


def write_phase_table(out: Path, title: str, counts: collections.Counter[str], column: str, footer: str) -> None:
    """A profile file (and the same on stdout): what ran and where, then each phase's share, largest first."""
    total = counts.total()
    rows = [f"# {title}", f"# {command_line()}", f"# {machine()}", "", f"{'phase':<40} {column:>12}"]
    rows += [f"{name:<40} {100 * n / total:>11.1f}%" for name, n in counts.most_common()]
    rows += ["", footer]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(rows) + "\n")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="profiled env steps after the warm-up")
    parser.add_argument(
        "--warmup", type=int, default=300, help="env steps before updates start (few: their env work counts)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out", default=None, help="default: benchmarks/results/profiles/loop-residual-td3-<N>thread.txt"
    )
    args = parser.parse_args()
    out = Path(args.out or RESULTS / "profiles" / f"loop-residual-td3-{args.threads}thread.txt")
    script = (f"import torch; torch.set_num_threads({args.threads}); "
              "from benchmarks.learner_throughput import honing_steps_per_s; "
              f"print(honing_steps_per_s('residual-td3', 1, {args.steps}, {args.warmup}))")  # fmt: skip
    counts: collections.Counter[str] = collections.Counter()
    for frames, samples in sampled_stacks(script):
        counts[phase([frame.split(".")[-1] for frame in frames])] += samples
    loop = collections.Counter({name: n for name, n in counts.items() if not name.startswith("setup")})
    side = sum(n for name, n in loop.items() if name.startswith("env side"))
    write_phase_table(out, f"residual-td3 loop on metaworld/pick-place, UTD 1, {args.threads} thread(s), {args.steps} "
                      f"steps after {args.warmup} warm-up steps (py-spy, 200 Hz)", loop, "% of loop",
                      f"env side in all: {100 * side / loop.total():.1f}% of the loop (includes the warm-up steps' "
                      "env work)")  # fmt: skip


if __name__ == "__main__":
    main()
