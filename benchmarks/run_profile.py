"""Where a whole fine-tuning run's wall-clock goes: py-spy samples by phase, evaluation included.

``benchmarks.loop_profile`` looks inside the training loop; this looks at a run as
``benchmarks.finetune_metaworld`` makes it (residual-td3 on metaworld/pick-place, seed 0, the BC base
built if missing): the periodic and final evaluations, the updates, the env side, compilation,
snapshots and checkpoints. Waiting threads are sampled too (``py-spy --idle``), so the shares are
of the wall-clock. It is the profile that showed evaluation taking a large share of a run while the
second core idled (``honing.eval.workers``).

    python -m benchmarks.run_profile --steps 20000 --set precision=bfloat16 --set compile=true --set eval_workers=1

Writes ``benchmarks/results/profiles/run-residual-td3-<N>thread.txt``.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.loop_profile import sampled_stacks, write_phase_table

RATE = 100
"""py-spy samples per second."""
EVALUATION = "evaluation (periodic and final)"
PHASES = (  # the first that a sample's stack holds names its phase (compilation happens inside an update)
    ("evaluate", EVALUATION), ("_compile", "compilation"), ("save_snapshot", "snapshots"),
    ("save_policy", "checkpoints"), ("OffPolicyRun.learn", "updates"), ("Collector.next", "env side: acting"),
    ("OffPolicyRun.ingest", "env side: n-step + replay add"),
)  # fmt: skip


def phase(frames: list[str]) -> str | None:
    """The phase of one sample (None: outside the fine-tuning call)."""
    if not any(frame.endswith("finetune") for frame in frames):
        return None
    return next((label for name, label in PHASES if any(frame.endswith(name) for frame in frames)), "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000, help="env steps of the run (default 20000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="residual-td3 config field")
    parser.add_argument("--workdir", default="runs/benchmark", help="where the demos, the base and the run go")
    parser.add_argument("--out", default=None, help="default: profiles/run-residual-td3-<N>thread.txt in the results")
    args = parser.parse_args()
    out = Path(args.out or RESULTS / "profiles" / f"run-residual-td3-{args.threads}thread.txt")
    script = (f"import argparse, torch; from pathlib import Path; torch.set_num_threads({args.threads}); "
              "from benchmarks.finetune_metaworld import run_one; "
              f"run_one('metaworld/pick-place', 'residual-td3', 0, argparse.Namespace(steps={args.steps}, "
              f"eval_every=5000, eval_episodes=50, set={args.set!r}, base='mlp', tag='profile'), "
              f"Path({args.workdir!r}))")  # fmt: skip
    counts: collections.Counter[str] = collections.Counter()
    for frames, samples in sampled_stacks(script, rate=RATE, idle=True):
        if (name := phase(frames)) is not None:
            counts[name] += samples
    write_phase_table(out, f"residual-td3 run on metaworld/pick-place, seed 0, {args.steps} env steps, evaluation "
                      f"every 5000 (50 episodes), {args.threads} thread(s), overrides {args.set or 'none'} (py-spy "
                      f"--idle, {RATE} Hz)", counts, "% of the run",
                      f"fine-tuning call: {counts.total() / RATE:.0f} s of samples, evaluation "
                      f"{counts[EVALUATION] / RATE:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
