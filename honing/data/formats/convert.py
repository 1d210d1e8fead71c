"""``import_dataset`` / ``export_dataset``: one entry per format, each a reader or a writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from honing.data.dataset import Dataset, check_dataset_task, load_dataset, save_dataset, validate_episodes
from honing.data.formats.lerobot import read_lerobot, write_lerobot
from honing.data.formats.minari_export import write_minari
from honing.data.formats.npz import read_npz, write_npz
from honing.data.formats.robomimic import read_robomimic
from honing.errors import DatasetError, close_matches

IMPORT_FORMATS = {
    "npz": "NumPy .npz: honing's flat layout or D4RL-style arrays",
    "lerobot": "LeRobot dataset folder (meta/info.json + parquet), state-based",
    "robomimic": "robomimic HDF5 file, low-dimensional observations",
}
EXPORT_FORMATS = {
    "npz": "NumPy .npz in honing's flat layout (bit-exact round trip)",
    "lerobot": "LeRobot v2.1 folder (parquet per episode; bit-exact round trip)",
    "minari": "a Minari dataset id, loadable with minari.load_dataset",
}


@dataclass
class ImportResult:
    path: Path
    dataset: Dataset
    notes: list[str] = field(default_factory=list)


def _check_format(fmt: str, known: dict[str, str], verb: str) -> None:
    if fmt not in known:
        raise DatasetError(f"cannot {verb} format {fmt!r}{close_matches(fmt, known)}; formats: {', '.join(known)}")


def guess_format(source: Path) -> str:
    """npz by suffix, robomimic by HDF5 suffix, lerobot by its meta/info.json."""
    if source.suffix == ".npz":
        return "npz"
    if source.suffix in (".hdf5", ".h5"):
        return "robomimic"
    if (source / "meta" / "info.json").is_file():
        return "lerobot"
    raise DatasetError(f"cannot tell the format of {source}; pass --format ({', '.join(IMPORT_FORMATS)})")


def import_dataset(
    source: str | Path,
    out: str | Path,
    fmt: str | None = None,
    task_id: str | None = None,
    obs_keys: list[str] | None = None,
    overwrite: bool = False,
) -> ImportResult:
    """Read `source` in `fmt` (guessed when None) and write it as a honing (Minari) dataset at `out`.

    With `task_id`, the episodes are checked against the task's shapes and the dataset records
    that task, so ``honing bc``/``finetune`` can use it without ``--task``.
    """
    source, out = Path(source), Path(out)
    if not source.exists():
        raise DatasetError(f"{source} does not exist")
    fmt = fmt or guess_format(source)
    _check_format(fmt, IMPORT_FORMATS, "import")
    if obs_keys and fmt == "npz":
        raise DatasetError("--obs-keys applies to lerobot and robomimic imports, not npz")
    if out.exists() and not overwrite:
        raise DatasetError(f"{out} already exists; choose another --out or pass --overwrite")
    if fmt == "npz":
        dataset, notes = read_npz(source)
    elif fmt == "lerobot":
        dataset, notes = read_lerobot(source, obs_keys)
    else:
        dataset, notes = read_robomimic(source, obs_keys)
    validate_episodes(dataset.episodes, f"{fmt} data from {source}")
    if task_id is not None:
        check_dataset_task(dataset, task_id, str(source))
        dataset.metadata["honing_task"] = task_id
    path = save_dataset(out, dataset.episodes, dataset.metadata, dataset.seeds or None, overwrite=overwrite)
    return ImportResult(path=path, dataset=load_dataset(path), notes=notes)


def export_dataset(
    dataset_path: str | Path,
    fmt: str,
    out: str | Path | None = None,
    dataset_id: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the honing dataset at `dataset_path` in `fmt`; returns where it went."""
    _check_format(fmt, EXPORT_FORMATS, "export")
    dataset = load_dataset(dataset_path)
    if fmt == "minari":
        if dataset_id is None:
            raise DatasetError("export to minari needs --dataset-id namespace/name-v0")
        return write_minari(dataset, Path(out) if out else None, dataset_id, overwrite=overwrite)
    if out is None:
        raise DatasetError(f"export to {fmt} needs --out")
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out} already exists; choose another --out or pass --overwrite")
    return write_npz(dataset, out) if fmt == "npz" else write_lerobot(dataset, out)
