"""Base policies behind one Policy protocol, BC training and safetensors checkpoints."""

from honing.policies.actor import Actor, ActorConfig, ActorPolicy
from honing.policies.base import Policy
from honing.policies.bc import BCConfig, BCResult, train_bc
from honing.policies.bc_policy import BCNetwork, BCPolicy, PolicyConfig
from honing.policies.checkpoint import load_policy, read_policy_config, resolve_policy_dir, save_policy
from honing.policies.diffusion import DiffusionNetwork
from honing.policies.ibrl_policy import CriticConfig, IBRLNetworks, IBRLPolicy
from honing.policies.residual_policy import ResidualActor, ResidualActorConfig, ResidualPolicy
from honing.policies.scripted import ScriptedPolicy

__all__ = [
    "Actor",
    "ActorConfig",
    "ActorPolicy",
    "BCConfig",
    "BCNetwork",
    "BCPolicy",
    "BCResult",
    "CriticConfig",
    "DiffusionNetwork",
    "IBRLNetworks",
    "IBRLPolicy",
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
