"""Episodes, Minari-backed datasets, normalisation statistics and demonstration collection."""

from honing.data.dataset import Dataset, check_dataset_task, load_dataset, save_dataset
from honing.data.demos import DemoReport, collect_demos
from honing.data.episodes import Episode
from honing.data.formats import EXPORT_FORMATS, IMPORT_FORMATS, ImportResult, export_dataset, import_dataset
from honing.data.measures import DatasetInfo, dataset_info
from honing.data.normalization import Normalizer

__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "Dataset",
    "DatasetInfo",
    "DemoReport",
    "Episode",
    "ImportResult",
    "Normalizer",
    "check_dataset_task",
    "collect_demos",
    "dataset_info",
    "export_dataset",
    "import_dataset",
    "load_dataset",
    "save_dataset",
]
