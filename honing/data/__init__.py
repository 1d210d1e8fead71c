"""Episodes, Minari-backed datasets, normalisation statistics and demonstration collection."""

from honing.data.dataset import Dataset, check_dataset_task, load_dataset, save_dataset
from honing.data.demos import DemoReport, collect_demos
from honing.data.episodes import Episode
from honing.data.normalization import Normalizer

__all__ = [
    "Dataset",
    "DemoReport",
    "Episode",
    "Normalizer",
    "check_dataset_task",
    "collect_demos",
    "load_dataset",
    "save_dataset",
]
