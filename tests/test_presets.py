"""Presets shipped with the package, the family preset each env gets, and the precedence of a
run's config sources as the CLI resolves them (a3c_native.presets, cli.resolve_config)."""

from __future__ import annotations

import gymnasium as gym
import pytest

from a3c_native import A3CConfig, train
from a3c_native.cli import resolve_config
from a3c_native.errors import ConfigError
from a3c_native.games import GymMake
from a3c_native.presets import (
    FAMILIES,
    changed_fields,
    family_of,
    load_preset,
    parse_sets,
    parse_value,
    preset_names,
)
from envs.catch import Catch


def cartpole(seed=None):
    return gym.make("CartPole-v1")


def test_presets_ship_with_the_package_and_a2c_is_one_learner():
    assert "a2c" in preset_names()
    cfg = A3CConfig.from_preset("a2c", game="breakout")
    assert (cfg.threads, cfg.envs_per_thread, cfg.game) == (1, 16, "breakout")
    # every preset holds valid A3CConfig fields only (arch mlp needs a vector env)
    for name in preset_names():
        A3CConfig(**load_preset(name), env_fn=cartpole)


def test_presets_every_family_has_its_preset_and_atari_is_the_dataclass_defaults():
    assert set(FAMILIES) <= set(preset_names())
    assert load_preset("atari") == {}  # the defaults are declared once, in config.py
    assert load_preset("atari", method="n_step_q") == {"lr": 2.5e-4}  # measured on Pong
    assert load_preset("classic_control")["arch"] == "mlp"


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"unknown preset 'a2'; the presets are: .*a2c"):
        load_preset("a2")


@pytest.mark.parametrize(
    ("game", "env_fn", "family", "why"),
    [
        ("pong", None, "atari", "pong: an ALE game"),
        ("CartPole-v1", GymMake("CartPole-v1"), "classic_control", "vector observations (4,)"),
        ("Acrobot-v1", GymMake("Acrobot-v1"), "classic_control", "vector observations (6,)"),
        (None, Catch, "atari", "image observations (1, 36, 20)"),
    ],
)
def test_presets_family_of_an_env(game, env_fn, family, why):
    got, reason = family_of(game, env_fn)
    assert got == family
    assert why in reason


def test_presets_cli_resolution_of_cartpole_applies_classic_control(tmp_path):
    """What `a3c-native train CartPole-v1 --steps 300000` runs with."""
    cfg, src = resolve_config("CartPole-v1", overrides={"total_steps": 300_000, "run_dir": None})
    assert src.family == "classic_control"
    assert src.applied[0] == "preset classic_control (CartPole-v1: vector observations (4,))"
    assert isinstance(cfg.env_fn, GymMake) and cfg.env_fn.env_id == "CartPole-v1"
    preset = load_preset("classic_control")
    assert {k: getattr(cfg, k) for k in preset} == pytest.approx(preset)
    changed = changed_fields(cfg)
    assert set(preset) <= set(changed)  # the preset's fields all depart from the defaults
    assert cfg.run_dir.startswith("runs/CartPole-v1-")
    assert cfg.total_steps == 300_000


def test_presets_cli_resolution_of_an_atari_game_is_the_dataclass_defaults():
    cfg, src = resolve_config("Pong", overrides={"run_dir": "r"})
    assert src.family == "atari"
    assert src.applied == ["preset atari (pong: an ALE game)", "options run_dir"]
    assert set(changed_fields(cfg)) == {"run_dir"}


def test_source_precedence_family_then_preset_then_file_then_set_then_options(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("envs_per_thread = 3\nlr = 2.5e-3\n")
    cfg, src = resolve_config("CartPole-v1", preset="a2c", config_file=f,
                              sets=("lr=3e-3", "t_max=7"),
                              overrides={"threads": 2, "run_dir": str(tmp_path / "r")})  # fmt: skip
    family = load_preset("classic_control")
    assert cfg.arch == "mlp" and cfg.gamma == family["gamma"]  # family preset, untouched
    assert (cfg.threads, cfg.envs_per_thread) == (2, 3)  # a2c < file < options
    assert (cfg.lr, cfg.t_max) == (3e-3, 7)  # family < file < --set
    assert [s.split(" ")[0] for s in src.applied] == ["preset", "preset", "--config", "--set",
                                                        "options"]  # fmt: skip
    cfg, _ = resolve_config("pong", preset="a2c", overrides={"run_dir": str(tmp_path / "r")})
    assert (cfg.threads, cfg.envs_per_thread) == (1, 16)


def test_source_resume_takes_the_checkpoints_config_not_the_family_preset(tmp_path):
    run = tmp_path / "run"
    base = A3CConfig.for_env("CartPole-v1", total_steps=600, threads=1, gamma=0.9, t_max=3,
                             run_dir=str(run), tensorboard=False)  # fmt: skip
    train(base)
    cfg, src = resolve_config(None, resume=run / "checkpoint.npz", overrides={"total_steps": 900})
    assert src.family is None
    assert src.applied == [f"checkpoint {run / 'checkpoint.npz'}", "options total_steps"]
    assert (cfg.gamma, cfg.t_max, cfg.total_steps, cfg.run_dir) == (0.9, 3, 900, str(run))
    assert isinstance(cfg.env_fn, GymMake)


def test_config_python_defaults_stay_unless_the_family_preset_is_asked_for():
    plain = A3CConfig(env_fn=cartpole, arch="mlp")
    assert plain.to_dict() | {"env_fn": None, "arch": "a3c"} == A3CConfig().to_dict()
    for env in ("CartPole-v1", cartpole):
        cfg = A3CConfig.for_env(env, threads=1)
        family = load_preset("classic_control")
        assert {k: getattr(cfg, k) for k in family} == pytest.approx(family)
        assert cfg.threads == 1
    assert A3CConfig.for_env("pong").to_dict() == A3CConfig(game="pong").to_dict()
    with pytest.raises(ConfigError, match=r"for_env\(3\)"):
        A3CConfig.for_env(3)


def test_parse_value_reads_toml_scalars_else_strings():
    assert parse_value("1e-3") == 1e-3 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("pong") == "pong"
    assert parse_sets(["lr=1e-3", " t_max = 5"]) == {"lr": 1e-3, "t_max": 5}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_sets(["lr"])


def test_recurrent_archs_get_the_family_presets_recurrent_table():
    from a3c_native.presets import resolve_sources

    ff = load_preset("atari")
    rec = load_preset("atari", arch="a3c_lstm")
    assert "recurrent" not in ff and "lr" not in ff
    assert rec == {"lr": 1e-4} and load_preset("atari", arch="nature_lstm") == rec
    assert load_preset("atari", arch="a3c") == ff
    assert A3CConfig.for_env("pong", arch="a3c_lstm").lr == 1e-4
    assert A3CConfig.for_env("pong").lr == A3CConfig().lr  # the feed-forward net keeps the default
    src = resolve_sources("pong", sets=("arch='a3c_lstm'",))
    assert src.fields["lr"] == 1e-4
    assert src.applied[0].startswith("preset atari with its [recurrent] table")
    # Only the tables a preset has are named: classic_control has none for recurrent archs.
    src = resolve_sources("CartPole-v1", sets=("arch='mlp_lstm'",))
    assert src.applied[0].startswith("preset classic_control (")
    # what the user sets still wins over the table
    assert resolve_sources("pong", sets=("arch='a3c_lstm'", "lr=3e-4")).fields["lr"] == 3e-4


def test_value_based_methods_get_the_family_presets_value_based_table():
    from a3c_native.presets import resolve_sources

    a3c = load_preset("classic_control")
    q = load_preset("classic_control", method="n_step_q")
    assert "value_based" not in a3c and "hidden" not in a3c
    assert q["hidden"] == [128, 128] and q["epsilon_anneal_steps"] == 100_000 and q["arch"] == "mlp"
    assert load_preset("classic_control", method="a3c") == a3c
    src = resolve_sources("CartPole-v1", sets=("method='one_step_q'",))
    assert src.fields["lr"] == 1e-3 and src.fields["method"] == "one_step_q"
    assert src.applied[0].startswith("preset classic_control with its [value_based] table")
    # what the user sets still wins over the table
    src = resolve_sources("CartPole-v1", sets=("method='n_step_q'", "lr=5e-4"))
    assert src.fields["lr"] == 5e-4
    cfg = A3CConfig.for_env("CartPole-v1", method="n_step_q", t_max=7)
    assert cfg.t_max == 7 and cfg.envs_per_thread == 8
