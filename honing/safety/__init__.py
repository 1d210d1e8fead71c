"""Action shield: a declarative safety spec, checked offline against a policy and enforced online."""

from honing.safety.check import ShieldReport, check_policy, shield_task
from honing.safety.shield import Shield, ShieldWrapper, Verdict
from honing.safety.spec import Constraint, ShieldSpec, load_spec

__all__ = [
    "Constraint",
    "Shield",
    "ShieldReport",
    "ShieldSpec",
    "ShieldWrapper",
    "Verdict",
    "check_policy",
    "load_spec",
    "shield_task",
]
