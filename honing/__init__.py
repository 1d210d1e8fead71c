"""honing: behavior cloning from a few demonstrations, then RL fine-tuning from sparse success.

The public API; the ``honing`` command line is a thin layer over these functions::

    import honing

    demos = honing.collect_demos("toy/reach", episodes=50, noise=0.1, out="demos/reach")
    bc = honing.train_bc("demos/reach", honing.BCConfig(steps=3000), out="runs/reach-bc")
    result = honing.evaluate(bc.policy, "toy/reach", episodes=100)
    print(result.describe())
"""

from honing._version import __version__
from honing.config import build_config, from_dict, to_dict
from honing.data import (
    Dataset,
    DatasetInfo,
    Episode,
    Normalizer,
    collect_demos,
    dataset_info,
    export_dataset,
    import_dataset,
    load_dataset,
    save_dataset,
)
from honing.device import resolve_device
from honing.errors import CheckpointError, ConfigError, DatasetError, DivergenceError, HoningError, TaskError
from honing.eval import EvalResult, evaluate, wilson_interval
from honing.finetune import (
    METHODS,
    DemoRegConfig,
    DSRLConfig,
    FilteredBCConfig,
    FinetuneResult,
    IBRLConfig,
    ResidualPPOConfig,
    ResidualTD3Config,
    RLPDConfig,
    finetune,
    method_config,
)
from honing.policies import (
    BCConfig,
    BCPolicy,
    Policy,
    PolicyConfig,
    ScriptedPolicy,
    load_policy,
    save_policy,
    train_bc,
)
from honing.quickstart import QuickstartConfig, run_quickstart
from honing.runs import RunDir, read_metrics
from honing.safety import ShieldSpec, check_policy, load_spec, shield_task
from honing.sweep import SweepResult, SweepSpec, load_sweep_spec, run_sweep
from honing.tasks import Task, get_task, list_tasks, register_task

__all__ = [
    "METHODS",
    "BCConfig",
    "BCPolicy",
    "CheckpointError",
    "ConfigError",
    "DSRLConfig",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "DemoRegConfig",
    "DivergenceError",
    "Episode",
    "EvalResult",
    "FilteredBCConfig",
    "FinetuneResult",
    "HoningError",
    "IBRLConfig",
    "Normalizer",
    "Policy",
    "PolicyConfig",
    "QuickstartConfig",
    "RLPDConfig",
    "ResidualPPOConfig",
    "ResidualTD3Config",
    "RunDir",
    "ScriptedPolicy",
    "ShieldSpec",
    "SweepResult",
    "SweepSpec",
    "Task",
    "TaskError",
    "__version__",
    "build_config",
    "check_policy",
    "collect_demos",
    "dataset_info",
    "evaluate",
    "export_dataset",
    "finetune",
    "from_dict",
    "get_task",
    "import_dataset",
    "list_tasks",
    "load_dataset",
    "load_policy",
    "load_spec",
    "load_sweep_spec",
    "method_config",
    "read_metrics",
    "register_task",
    "resolve_device",
    "run_quickstart",
    "run_sweep",
    "save_dataset",
    "save_policy",
    "shield_task",
    "to_dict",
    "train_bc",
    "wilson_interval",
]
