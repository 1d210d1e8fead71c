"""Helpers shared by benchmark scripts: machine description, JSON results, BENCHMARKS.md sections."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing as mp
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from honing.runs.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
METAWORLD_TASKS = [  # the benchmark suite: easy (button, drawer, door) to hard (pick-place, push, peg insertion)
    "metaworld/pick-place",
    "metaworld/push",
    "metaworld/door-open",
    "metaworld/drawer-open",
    "metaworld/button-press-topdown",
    "metaworld/peg-insert-side",
]


def machine() -> str:
    """CPU model and vector ISA, core count, memory, Python and torch versions: what a number was measured on.

    The ISA is part of the name because one CPU model name covers VMs with and without AVX-512
    (bfloat16 matmuls differ by an order of magnitude between them), and so are the family and
    model numbers: VMs report "AMD EPYC" for both Zen 4 (family 25) and Zen 5 (family 26), whose
    bfloat16 peaks differ by ~2x at equal core count.
    """
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]  # one processor's block
        fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first.splitlines())}
        cpu = fields.get("model name") or cpu
        if "cpu family" in fields and "model" in fields:
            cpu = f"{cpu}, family {fields['cpu family']} model {fields['model']}"
        flags = set(fields.get("flags", "").split())
    except OSError:
        pass
    isa = [torch.backends.cpu.get_cpu_capability(), *sorted(flags & {"avx512_bf16", "amx_bf16"})]
    cpu = f"{cpu} ({', '.join(isa)})"
    memory = ""
    try:
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}{gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, {platform.system()}"
    )


def command_line() -> str:
    """The command that reproduces this run, as typed from the repository root."""
    module = os.path.relpath(sys.argv[0], ROOT).removesuffix(".py").replace(os.sep, ".")
    return " ".join(["python", "-m", module, *(shlex.quote(a) for a in sys.argv[1:])])


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_results(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive lock beside `path`, so parallel benchmark processes can read-merge-write one file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_section(name: str, body: str) -> None:
    """Replace the block between ``<!-- name:start -->`` and ``<!-- name:end -->`` in BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.is_file() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(BENCHMARKS_MD, text)


def provenance(data: dict[str, Any], name: str) -> list[str]:
    """The lines that end a BENCHMARKS.md section: the command that made it, the machine, its JSON."""
    return [f"- Command: `{data['command']}`", f"- Machine: {data['machine']}",
            f"- Raw results: `benchmarks/results/{name}.json`"]  # fmt: skip


def pct(rate: float, low: float, high: float) -> str:
    return f"{100 * rate:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def with_threads(threads: int, run: Callable[[], float | None]) -> float | None:
    """`run` on `threads` torch threads (a spawned process starts at torch's default)."""
    torch.set_num_threads(threads)
    return run()


def in_fresh_process(threads: int, run: Callable[[], float | None]) -> float | None:
    """`run` in a new Python process of its own: nothing of the arms before it (their models,
    compiled graphs, allocator state) shares its process, as with separate training runs."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(with_threads, threads, run).result()
