"""Fine-tuning methods on top of a frozen base policy, and the off-policy loop they share."""

from honing.finetune.api import finetune, get_method, method_config
from honing.finetune.common import FinetuneConfig, OffPolicyConfig, TD3Config
from honing.finetune.demo_reg import DemoRegConfig
from honing.finetune.dsrl import DSRLConfig
from honing.finetune.filtered_bc import FilteredBCConfig
from honing.finetune.ibrl import IBRLConfig
from honing.finetune.methods import METHODS
from honing.finetune.residual_ppo import ResidualPPOConfig
from honing.finetune.residual_td3 import ResidualTD3, ResidualTD3Config
from honing.finetune.rlpd import RLPDConfig
from honing.finetune.tracker import CurvePoint, FinetuneResult

__all__ = [
    "METHODS",
    "CurvePoint",
    "DSRLConfig",
    "DemoRegConfig",
    "FilteredBCConfig",
    "FinetuneConfig",
    "FinetuneResult",
    "IBRLConfig",
    "OffPolicyConfig",
    "RLPDConfig",
    "ResidualPPOConfig",
    "ResidualTD3",
    "ResidualTD3Config",
    "TD3Config",
    "finetune",
    "get_method",
    "method_config",
]
