from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from honing.config import build_config, from_dict, to_dict
from honing.errors import ConfigError
from honing.policies import BCConfig


def test_unknown_key_is_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'batchsize' for BCConfig \(did you mean 'batch_size'"):
        from_dict(BCConfig, {"batchsize": 64})


def test_unknown_nested_key_is_rejected_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'policy.chunk_horizn'"):
        build_config(BCConfig, overrides=["policy.chunk_horizn=4"])


def test_overrides_are_typed_and_win_over_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bc.yaml"
    path.write_text(yaml.safe_dump({"lr": 0.01, "steps": 100, "policy": {"kind": "chunked"}}))
    config = build_config(BCConfig, yaml_path=path, overrides=["steps=250", "policy.hidden_dims=64,64"])
    assert config.lr == 0.01 and config.steps == 250
    assert config.policy.kind == "chunked" and config.policy.hidden_dims == (64, 64)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("steps=abc", "expects an integer"),
        ("steps=1.5", "expects an integer"),
        ("lr=fast", "expects a number"),
        ("policy.kind=transformer", "must be one of"),
        ("policy.layer_norm=maybe", "expects true/false"),
        ("steps=0", "steps must be positive"),
        ("policy.chunk_execute=20", "chunk_execute must be in"),
        ("noequals", "must look like key=value"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    overrides = [override, "policy.kind=chunked"] if "chunk_execute" in override else [override]
    with pytest.raises(ConfigError, match=message):
        build_config(BCConfig, overrides=overrides)


def test_resolved_config_round_trips_through_yaml() -> None:
    config = build_config(BCConfig, overrides=["lr=3e-4", "policy.kind=chunked"])
    again = from_dict(BCConfig, yaml.safe_load(yaml.safe_dump(to_dict(config))))
    assert again == config


def test_missing_or_malformed_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(BCConfig, yaml_path=tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("lr: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(BCConfig, yaml_path=tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        build_config(BCConfig, yaml_path=tmp_path / "list.yaml")


def test_partial_nested_override_keeps_the_methods_own_nested_defaults() -> None:
    """ibrl's actor defaults to a deterministic (TD3) actor; setting only its width must not reset that."""
    from honing.finetune import method_config

    config = method_config("ibrl", {"actor": {"hidden_dims": [16]}})
    assert config.actor.hidden_dims == (16,) and config.actor.gaussian is False
    assert build_config(type(config), overrides=["actor.hidden_dims=[8]"]).actor.gaussian is False
