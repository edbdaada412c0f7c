"""Presets shipped with the package and the precedence of a run's config sources."""

from __future__ import annotations

import pytest

from a3c_native import A3CConfig
from a3c_native.cli import build_config
from a3c_native.errors import ConfigError
from a3c_native.presets import load_preset, parse_value, preset_names


def test_presets_ship_with_the_package_and_a2c_is_one_learner():
    assert "a2c" in preset_names()
    cfg = A3CConfig.from_preset("a2c", game="breakout")
    assert (cfg.threads, cfg.envs_per_thread, cfg.game) == (1, 16, "breakout")
    # every preset holds valid A3CConfig fields only
    for name in preset_names():
        A3CConfig(**load_preset(name))


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"unknown preset 'a2'; the presets are: .*a2c"):
        load_preset("a2")


def test_source_precedence_preset_then_file_then_set_then_options(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("envs_per_thread = 4\nlr = 1e-3\n")
    cfg = build_config("pong", preset="a2c", config_file=f, sets=("lr=2e-3",),
                       overrides={"threads": 2, "run_dir": str(tmp_path / "r")})  # fmt: skip
    assert (cfg.threads, cfg.envs_per_thread, cfg.lr) == (2, 4, 2e-3)
    cfg = build_config("pong", preset="a2c", overrides={"run_dir": str(tmp_path / "r")})
    assert (cfg.threads, cfg.envs_per_thread) == (1, 16)


def test_parse_value_reads_toml_scalars_else_strings():
    assert parse_value("1e-3") == 1e-3 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("pong") == "pong"
