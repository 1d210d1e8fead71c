"""Base policies behind one Policy protocol, BC training and safetensors checkpoints."""

from honing.policies.base import Policy
from honing.policies.bc import BCConfig, BCResult, train_bc
from honing.policies.bc_policy import BCNetwork, BCPolicy, PolicyConfig
from honing.policies.checkpoint import load_policy, read_policy_config, resolve_policy_dir, save_policy
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy
from honing.policies.scripted import ScriptedPolicy

__all__ = [
    "BCConfig",
    "BCNetwork",
    "BCPolicy",
    "BCResult",
    "Policy",
    "PolicyConfig",
    "ResidualActor",
    "ResidualActorConfig",
    "ResidualPolicy",
    "ScriptedPolicy",
    "load_policy",
    "read_policy_config",
    "resolve_policy_dir",
    "save_policy",
    "train_bc",
]
