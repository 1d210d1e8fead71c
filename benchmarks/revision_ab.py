"""Before/after: the learner's updates/s at two git revisions, side by side on one machine.

A speed-up quoted across two benchmark runs mixes the change with the machine (the same VM type
here has measured 119 and 188 GFLOP/s of float32 peak on different days). So each revision is
exported (``git archive``) to a temporary tree, and one worker process per (revision, method,
mode) builds that tree's own learner (``benchmarks.learner_throughput.learner``: 2x256, 2 heads,
batch 256, synthetic replay of metaworld/pick-place's dimensions), compiles it if the mode says
so, and waits. The parent then lets one worker at a time run a timed round, cycling through all
of them, so every arm sees the same machine state; idle workers block on a pipe and cost nothing.

    python -m benchmarks.revision_ab --before c9deac3 --after HEAD
    python -m benchmarks.revision_ab --before c9deac3 --threads 2 --modes eager compiled bf16-compiled

Writes benchmarks/results/revision_ab.json and the before/after table in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, ROOT, command_line, load_results, machine, save_results, update_section

WORKER = """
import sys, time, torch
import honing
from benchmarks import learner_throughput as lt
from honing.finetune.replay import sample_mixed
from honing.tasks import get_task
method, mode, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(threads)
obs_dim, act_dim = get_task(lt.TASK).spaces()
agent = lt.learner(method, lt.SIZES["2x256"], 2, obs_dim, act_dim, mode)
demo, online = lt.synthetic_replay(obs_dim, act_dim)
generator = torch.Generator().manual_seed(0)
step = lambda: agent.update(sample_mixed(demo, online, lt.BATCH, 0.5, generator))
for _ in range(20):  # compilation, and both residual-td3 graphs (with and without the actor step)
    step()
print("ready", honing.__file__, flush=True)
for line in sys.stdin:
    seconds = float(line)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
    print(count, time.perf_counter() - start, flush=True)
"""


def export(revision: str, into: Path) -> tuple[str, Path]:
    """(full commit id, a tree of `revision`'s tracked files under `into`)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
    tree = into / sha[:12]
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return sha, tree


class Worker:
    """One arm: a process holding a warmed-up learner of one tree, timed on demand."""

    def __init__(self, tree: Path, method: str, mode: str, threads: int) -> None:
        self.tree = tree
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": str(threads)}
        self.process = subprocess.Popen([sys.executable, "-c", WORKER, method, mode, str(threads)], cwd=tree,
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        self.updates, self.seconds = 0, 0.0

    def ready(self) -> None:
        word, _, package = self.process.stdout.readline().strip().partition(" ")  # type: ignore[union-attr]
        if word != "ready":
            raise RuntimeError(f"a worker failed before timing (exit code {self.process.wait()}); see its stderr above")
        if not Path(package).resolve().is_relative_to(self.tree.resolve()):  # an installed honing shadowed the tree
            raise RuntimeError(f"a worker of {self.tree.name} imported honing from {package}, not from its tree")

    def round(self, seconds: float) -> None:
        self.process.stdin.write(f"{seconds}\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        count, elapsed = self.process.stdout.readline().split()  # type: ignore[union-attr]
        self.updates, self.seconds = self.updates + int(count), self.seconds + float(elapsed)

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="honing-ab-") as scratch:
        revisions = dict(zip(("before", "after"), (export(r, Path(scratch)) for r in (args.before, args.after)),
                             strict=True))  # fmt: skip
        arms = list(itertools.product(args.threads, args.methods, args.modes, revisions))
        workers = {arm: Worker(revisions[arm[3]][1], arm[1], arm[2], arm[0]) for arm in arms}
        try:
            for worker in workers.values():
                worker.ready()
            for _ in range(args.rounds):
                for worker in workers.values():
                    worker.round(args.seconds / args.rounds)
        finally:
            for worker in workers.values():
                worker.close()
    rates = {arm: worker.updates / worker.seconds for arm, worker in workers.items()}
    results = {
        f"{threads}|{method}|{mode}": {side: round(rates[(threads, method, mode, side)], 1) for side in revisions}
        | {"ratio": round(rates[(threads, method, mode, "after")] / rates[(threads, method, mode, "before")], 2)}
        for threads, method, mode in itertools.product(args.threads, args.methods, args.modes)
    }
    return {"before": revisions["before"][0], "after": revisions["after"][0], "threads": args.threads,
            "seconds_per_arm": args.seconds, "rounds": args.rounds, "updates_per_s": results}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision measured as 'before'")
    parser.add_argument("--after", default="HEAD", help="git revision measured as 'after' (default HEAD)")
    parser.add_argument("--methods", nargs="+", default=["residual-td3", "rlpd"], choices=["residual-td3", "rlpd"])
    parser.add_argument("--modes", nargs="+", default=["eager", "compiled"],
                        choices=["eager", "compiled", "bf16", "bf16-compiled"])  # fmt: skip
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads per worker (arms)")
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per arm, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--out", default=str(RESULTS / "revision_ab.json"))
    parser.add_argument("--section", default="revision-ab",
                        help="BENCHMARKS.md section the table goes to (one per before/after pair kept)")  # fmt: skip
    parser.add_argument("--title", default="the learner at two revisions", help="the section's heading")
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from --out, no timing")
    args = parser.parse_args()
    if args.report_only:
        data = load_results(Path(args.out))
    else:
        data = measure(args) | {"command": command_line(), "machine": machine()}
        save_results(Path(args.out), data)
    rows = ["| threads | method | mode | before updates/s | after updates/s | after / before |", "|---" * 6 + "|"]
    for key, entry in data["updates_per_s"].items():
        threads, method, mode = key.split("|")
        rows.append(f"| {threads} | {method} | {mode} | {entry['before']} | {entry['after']} | {entry['ratio']:.2f}x |")
    body = (
        f"## Before / after: {args.title}\n\n"
        "Updates/s of each revision's own learner (2x256, 2 critic heads, batch 256), one process per arm, "
        f"timed in {data['rounds']} alternating rounds ({data['seconds_per_arm']:g} s per arm in all) on "
        f"one machine at the same time. Before: `{data['before'][:12]}`; after: `{data['after'][:12]}`.\n\n"
        + "\n".join(rows)
        + f"\n\n- Command: `{data['command']}`\n- Machine: {data['machine']}\n"
        f"- Raw results: `{os.path.relpath(args.out, ROOT)}`\n"
    )  # fmt: skip
    update_section(args.section, body)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
