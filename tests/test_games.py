"""Game and env names (a3c_native.games): what a typed name means, the gymnasium factory saved
in configs by name, and the former name of that factory."""

from __future__ import annotations

import pickle

import pytest

from a3c_native.errors import ConfigError, EnvError
from a3c_native.games import (
    GymMake,
    canonical_env_fn_name,
    env_fn_from_saved,
    gym_id_of,
    resolve_env,
)


@pytest.mark.parametrize(("name", "game"), [("pong", "pong"), ("ALE/Pong-v5", "pong"),
                                            ("MsPacman", "ms_pacman")])  # fmt: skip
def test_games_resolve_env_atari_names_first(name, game):
    assert resolve_env(name) == (game, None)


def test_games_resolve_env_gymnasium_id_gives_a_picklable_factory():
    name, env_fn = resolve_env("CartPole-v1")
    assert name == "CartPole-v1"
    assert isinstance(env_fn, GymMake)
    clone = pickle.loads(pickle.dumps(env_fn))
    env = clone(seed=3)
    try:
        assert env.spec.id == "CartPole-v1"
    finally:
        env.close()


def test_games_unknown_name_names_close_games_and_gymnasium():
    with pytest.raises(EnvError, match=r"unknown game 'pongg'; did you mean: pong\?.*gymnasium id"):
        resolve_env("pongg")


def test_games_saved_names_current_and_former():
    new = "a3c_native.games:GymMake('CartPole-v1')"
    old = "a3c_native.cli:GymMake('CartPole-v1')"  # saved before issue 18
    assert gym_id_of(new) == gym_id_of(old) == "CartPole-v1"
    assert canonical_env_fn_name(old) == canonical_env_fn_name(new) == new
    assert canonical_env_fn_name("my_module:make_env") == "my_module:make_env"
    assert gym_id_of("my_module:make_env") is None and gym_id_of(None) is None
    for saved in (new, old):
        fn = env_fn_from_saved(saved, render_mode="rgb_array")
        assert (fn.env_id, fn.kwargs) == ("CartPole-v1", {"render_mode": "rgb_array"})
    with pytest.raises(ConfigError, match=r"env_fn 'my_module:make_env' from Python code"):
        env_fn_from_saved("my_module:make_env")


def test_games_a_config_saves_gymmake_under_its_home_module():
    from a3c_native import A3CConfig

    cfg = A3CConfig(env_fn=GymMake("CartPole-v1"), arch="mlp")
    assert cfg.to_dict()["env_fn"] == "a3c_native.games:GymMake('CartPole-v1')"
