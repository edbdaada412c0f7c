"""evaluate(): full games, statistics, thread-independent seeding, policy sources, mismatches."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from a3c_native import A3CConfig, CheckpointError, ConfigError, EvalResult, Network, evaluate, train
from a3c_native.checkpoint import save_checkpoint


def cartpole(seed=None):
    return gym.make("CartPole-v1")


@pytest.fixture(scope="module")
def cartpole_result():
    cfg = A3CConfig(env_fn=cartpole, arch="mlp", gamma=0.95, lr=1e-3, total_steps=4000, threads=2)
    return train(cfg)


@pytest.fixture(scope="module")
def pong_checkpoint(tmp_path_factory):
    net = Network("a3c", (4, 84, 84), 6)
    path = tmp_path_factory.mktemp("pong") / "c.npz"
    return save_checkpoint(path, net, net.init_params(0), config=A3CConfig(game="pong"))


def test_evaluate_statistics_and_thread_independence(cartpole_result):
    a = evaluate(cartpole_result, env_fn=cartpole, episodes=6, threads=1, seed=3)
    b = evaluate(cartpole_result, env_fn=cartpole, episodes=6, threads=3, seed=3)
    assert isinstance(a, EvalResult)
    np.testing.assert_array_equal(a.scores, b.scores)  # game i is seeded from (seed, i)
    np.testing.assert_array_equal(a.lengths, b.lengths)
    assert a.scores.shape == (6,)
    assert a.scores.dtype == np.float64
    assert a.mean == pytest.approx(np.mean(a.scores))
    assert a.median == pytest.approx(np.median(a.scores))
    assert a.std == pytest.approx(np.std(a.scores))
    assert (a.min, a.max) == (a.scores.min(), a.scores.max())
    np.testing.assert_array_equal(a.scores, a.lengths)  # CartPole: +1 per step
    assert "6 games: mean" in a.summary()
    assert not a.greedy


def test_evaluate_greedy_is_deterministic_and_seed_matters_for_sampling(cartpole_result):
    g1 = evaluate(cartpole_result, env_fn=cartpole, episodes=3, greedy=True, seed=1)
    g2 = evaluate(cartpole_result, env_fn=cartpole, episodes=3, greedy=True, seed=1)
    np.testing.assert_array_equal(g1.scores, g2.scores)
    assert g1.greedy
    s1 = evaluate(cartpole_result, env_fn=cartpole, episodes=8, seed=1)
    s2 = evaluate(cartpole_result, env_fn=cartpole, episodes=8, seed=2)
    assert not np.array_equal(s1.scores, s2.scores)


def test_evaluate_bare_params_need_network(cartpole_result):
    net = Network("mlp", (4,), 2)
    r = evaluate(cartpole_result.params, env_fn=cartpole, network=net, episodes=2)
    assert r.scores.shape == (2,)
    with pytest.raises(ValueError, match="needs network="):
        evaluate(cartpole_result.params, env_fn=cartpole, episodes=2)


def test_evaluate_max_episode_steps_caps_gym_games(cartpole_result):
    r = evaluate(cartpole_result, env_fn=cartpole, episodes=2, max_episode_steps=5)
    assert (r.lengths <= 5).all()


def test_evaluate_env_fn_checkpoint_needs_env_fn(tmp_path, cartpole_result):
    net = Network("mlp", (4,), 2)
    cfg = A3CConfig(env_fn=cartpole, arch="mlp")
    path = save_checkpoint(tmp_path / "c.npz", net, cartpole_result.params, config=cfg)
    with pytest.raises(ConfigError, match="pass the callable again as env_fn="):
        evaluate(path)
    assert evaluate(path, env_fn=cartpole, episodes=1).scores.shape == (1,)


def test_evaluate_rejects_bad_arguments(cartpole_result):
    with pytest.raises(ValueError, match=r"evaluate\(episodes=0\) is invalid"):
        evaluate(cartpole_result, env_fn=cartpole, episodes=0)
    with pytest.raises(TypeError, match="take a checkpoint path"):
        evaluate(42, env_fn=cartpole)


def test_evaluate_pong_full_games_real_scores(pong_checkpoint):
    r = evaluate(pong_checkpoint, episodes=2, threads=2)
    # A whole game of Pong ends when one side reaches 21 (a random policy loses ~-20).
    assert r.scores.shape == (2,)
    assert all(-21 <= s <= -10 for s in r.scores)
    assert (r.lengths > 500).all()


def test_evaluate_action_count_mismatch_raises(pong_checkpoint):
    with pytest.raises(CheckpointError, match=r"num_actions 6, but the env \(breakout\) has 4"):
        evaluate(pong_checkpoint, "breakout", episodes=1)
