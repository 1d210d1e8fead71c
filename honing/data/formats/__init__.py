"""Dataset import and export: plain ``.npz``, LeRobot (parquet, state-based), robomimic (low-dim HDF5),
and Minari.

Every importer returns honing :class:`~honing.data.Episode` lists, so an imported dataset is an
ordinary honing dataset (a Minari directory) that ``honing bc`` and ``honing finetune`` read. Where
a format cannot say something honing needs (the observation after an episode's last action, or
success flags), the importer states the rule it applied in its notes rather than guessing silently.
"""

from honing.data.formats.convert import (
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    ImportResult,
    export_dataset,
    import_dataset,
)

__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "ImportResult", "export_dataset", "import_dataset"]
