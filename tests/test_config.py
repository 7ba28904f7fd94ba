"""Stage configs: defaults < YAML < flags, unknown keys and bad types named."""

from __future__ import annotations

import pytest

from r1cli.commands.sample import SampleConfig
from r1cli.config import ConfigError


def test_precedence_defaults_yaml_flags(tmp_path):
    path = tmp_path / "sample.yaml"
    path.write_text("# r1cli sample p.jsonl -c sample.yaml -o s.jsonl\nmodel: m\ntemperature: 0.9\nk: 8\n")
    cfg = SampleConfig.build(path, k=2)
    assert (cfg.model, cfg.temperature, cfg.k, cfg.top_p) == ("m", 0.9, 2, 0.95)


@pytest.mark.parametrize(
    "text, message",
    [
        ("modle: m\n", "unknown key 'modle' (did you mean 'model'?); valid keys: model, adapter"),
        ("model: m\nk: many\n", "key 'k' must be an integer, got 'many'"),
        ("model: m\ntemperature: [1]\n", "key 'temperature' must be a number"),
        ("- a\n- b\n", "expected a mapping of config keys, got list"),
        ("model: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        SampleConfig.build(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"model": "m", "k": 0}, "-k (config key 'k') must be at least 1, got 0"),
        ({"model": "m", "top_p": 1.5}, "--top-p (config key 'top_p') must be in (0, 1]"),
        ({"model": "m", "temperature": 0.0, "k": 4}, "-k (config key 'k') must be 1 with --temperature 0"),
        ({}, "--model (config key 'model') is required"),
    ],
)
def test_validation_names_the_flag(flags, message):
    with pytest.raises(ConfigError) as e:
        SampleConfig.build(None, **flags)
    assert message in str(e.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        SampleConfig.build("nope.yaml")
