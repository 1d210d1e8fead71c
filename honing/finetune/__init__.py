"""Fine-tuning methods on top of a frozen base policy, and the off-policy loop they share."""

from honing.finetune.api import finetune, get_method, method_config
from honing.finetune.common import OffPolicyConfig
from honing.finetune.loop import CurvePoint, FinetuneResult
from honing.finetune.methods import METHODS
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config

__all__ = [
    "METHODS",
    "CurvePoint",
    "FinetuneResult",
    "OffPolicyConfig",
    "ResidualTD3",
    "ResidualTD3Config",
    "finetune",
    "get_method",
    "method_config",
]
