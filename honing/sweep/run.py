"""Run a sweep's trials on a local process pool or on Ray, and collect them into sweep.json + report.

A trial whose run directory already holds a finished run is not run again, and one that was
interrupted is resumed from its newest snapshot, so re-running a sweep finishes what is left.
A trial that fails is recorded with its error; the others go on.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honing.errors import HoningError
from honing.runs.atomic import atomic_write_text
from honing.sweep.spec import SweepSpec, Trial

Say = Callable[[str], Any]


@dataclass
class SweepResult:
    spec: SweepSpec
    trials: list[dict[str, Any]]
    json_path: Path
    report_path: Path | None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["status"] == "failed"]


def run_trial(trial: Trial) -> dict[str, Any]:
    """Run (or resume, or skip when finished) one trial; never raises, failures are recorded."""
    import torch

    from honing.eval.report import load_run
    from honing.finetune import finetune, method_config

    torch.set_num_threads(trial.threads)
    run_dir = Path(trial.run_dir)
    summary: dict[str, Any] = {"task": trial.task, "method": trial.method, "seed": trial.seed,
                               "overrides": trial.overrides, "run_dir": trial.run_dir}  # fmt: skip
    start = time.time()
    try:
        finished = (run_dir / "eval" / "final_honed.json").is_file()
        if not finished:
            resume = (run_dir / "finetune.json").is_file()
            config = None if resume else method_config(trial.method, trial.values)
            demos = trial.demos or _recorded_demos(trial.base)
            finetune(trial.base, trial.task, demos, method=trial.method, config=config, out=run_dir, resume=resume)
        run = load_run(run_dir)
    except Exception as exc:  # a trial's failure is data for the sweep, not the end of it
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {**summary, "status": "failed", "error": f"{type(exc).__name__}: {message}"}
    base_successes, base_n = run.base
    return {
        **summary,
        "status": "skipped (finished before)" if finished else "done",
        "base_success": base_successes / base_n if base_n else None,
        "final_success": run.final,
        "curve": [[steps, rate] for steps, rate, *_ in run.curve],
        "wall_clock_s": run.curve[-1][4] if run.curve else time.time() - start,
    }


def _recorded_demos(base: str) -> str:
    from honing.policies import read_policy_config

    demos = read_policy_config(base).get("dataset")
    if not demos:
        raise HoningError(f"{base} does not record its demonstrations; give the task a 'demos' entry")
    return str(demos)


def _local(trials: list[Trial], workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        yield from map(run_trial, trials)
        return
    context = multiprocessing.get_context("spawn")  # no forked torch/MuJoCo state in the workers
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(run_trial, trial) for trial in trials]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()


def _ray(trials: list[Trial], address: str, cpus: float, gpus: float, workers: int) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise HoningError("--ray-address needs Ray: pip install 'honing[ray]' (or pip install ray)") from None
    started = not ray.is_initialized()
    if started:
        if address == "local":  # a Ray instance on this machine, sized like the local pool
            ray.init(num_cpus=max(1, int(workers * cpus)), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(run_trial)
        pending = [remote.remote(trial) for trial in trials]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    spec: SweepSpec,
    ray_address: str | None = None,
    workers: int | None = None,
    say: Say | None = None,
    report: bool = True,
) -> SweepResult:
    """Run every trial of `spec`; `ray_address` ('local', 'auto' or host:port) runs them as Ray tasks.

    Writes ``<out>/sweep.json`` after every finished trial and ``<out>/report.html`` at the end.
    """
    from honing.eval.report import build_report

    say = say or (lambda message: None)
    trials = spec.trials()
    workers = workers or spec.workers
    spec.out.mkdir(parents=True, exist_ok=True)
    json_path = spec.out / "sweep.json"
    where = f"Ray at {ray_address}" if ray_address else f"{workers} local worker(s)"
    say(f"{len(trials)} trials on {where} -> {spec.out}")
    stream = _ray(trials, ray_address, spec.cpus, spec.gpus, workers) if ray_address else _local(trials, workers)
    results: list[dict[str, Any]] = []
    for result in stream:
        results.append(result)
        shown = result.get("error") or f"base {result['base_success']:.0%} -> honed {result['final_success']:.0%}"
        say(f"[{len(results)}/{len(trials)}] {result['run_dir']}: {result['status']}: {shown}")
        order = {t.run_dir: i for i, t in enumerate(trials)}
        results.sort(key=lambda r: order[r["run_dir"]])
        atomic_write_text(json_path, json.dumps({"spec": spec.to_dict(), "trials": results}, indent=1))
    report_path = None
    finished = [r["run_dir"] for r in results if r["status"] != "failed"]
    if report and finished:
        report_path = spec.out / "report.html"
        atomic_write_text(report_path, build_report(finished, fmt="html", link_base=spec.out))
    return SweepResult(spec, results, json_path, report_path)
