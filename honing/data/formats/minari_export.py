"""Export to Minari: a honing dataset already is a Minari dataset, so exporting writes it under a
Minari dataset id (into Minari's local datasets root, ``MINARI_DATASETS_PATH`` or ``~/.minari``,
unless a folder is given), where ``minari.load_dataset(id)`` finds it."""

from __future__ import annotations

import re
from pathlib import Path

from honing.data.dataset import Dataset, save_dataset
from honing.errors import DatasetError

DATASET_ID = re.compile(r"^(?:[\w-]+/)*[\w-]+-v\d+$")


def write_minari(dataset: Dataset, out: Path | None, dataset_id: str, overwrite: bool = False) -> Path:
    if not DATASET_ID.match(dataset_id):
        raise DatasetError(
            f"{dataset_id!r} is not a Minari dataset id; use namespace/name-v0 (e.g. honing/pick-place-v0)"
        )
    if out is None:
        from minari.storage import get_dataset_path

        out = Path(get_dataset_path(dataset_id))
    metadata = {**dataset.metadata, "dataset_id": dataset_id}
    return save_dataset(out, dataset.episodes, metadata, dataset.seeds or None, overwrite=overwrite)
