"""Environments of the worker protocol: AtariEnv (ale-py vector interface) and GymEnv."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from a3c_native.config import A3CConfig
from a3c_native.envs import (
    AtariEnv,
    AtariVecEnv,
    GymEnv,
    GymVecEnv,
    derive_seed,
    make_worker_envs,
    probe_env,
    worker_cpu,
)
from a3c_native.errors import EnvError
from a3c_native.games import resolve_game


def _random_steps(env, n, seed=0):
    """Step `env` with n random actions; return the list of step tuples."""
    rng = np.random.default_rng(seed)
    return [env.step(int(rng.integers(env.num_actions))) for _ in range(n)]


def _check_step_tuple(env, out):
    obs, reward, terminal, score, length = out
    assert obs.shape == env.obs_shape
    assert obs.dtype == env.obs_dtype
    assert obs.flags.c_contiguous
    assert type(reward) is float
    assert type(terminal) is bool
    assert (score is None and length == 0) or (type(score) is float and length >= 1)


# --------------------------------------------------------------------------------------------
# AtariEnv
# --------------------------------------------------------------------------------------------


def test_atari_pong_obs_and_steps():
    with AtariEnv("pong", seed=1) as env:
        assert env.obs_shape == (4, 84, 84)
        assert env.obs_dtype == np.uint8
        assert env.num_actions == 6
        obs = env.reset()
        assert obs.shape == (4, 84, 84)
        assert obs.dtype == np.uint8
        assert obs.flags.c_contiguous
        for out in _random_steps(env, 50):
            _check_step_tuple(env, out)
            assert out[2] is False  # no life loss or game over in Pong's first 50 steps


def test_atari_same_seed_same_frames():
    frames = []
    for _ in range(2):
        with AtariEnv("pong", seed=7) as env:
            seq = [env.reset()] + [out[0] for out in _random_steps(env, 30)]
            frames.append(np.stack(seq))
    np.testing.assert_array_equal(frames[0], frames[1])


def test_atari_time_limit_ends_game_with_raw_score():
    # 400 emulator frames = 100 agent steps at frame_skip 4: the time limit is in frames.
    with AtariEnv("pong", seed=3, max_episode_steps=400, noop_max=0) as env:
        env.reset()
        total = 0.0
        for step in range(1, 101):
            obs, reward, terminal, score, length = env.step(step % env.num_actions)
            total += reward
            assert terminal == (step == 100)
        assert score == total  # unclipped sum of the game's rewards
        assert length == 100
        # auto-reset: the returned obs starts the next game (ale-py zeroes the older frames)
        assert not obs[:3].any()
        assert obs[3].any()
        _, _, terminal, score, _ = env.step(0)
        assert (terminal, score) == (False, None)


def _play_until(env, predicate, max_steps, seed=0):
    """Random actions until predicate(step_tuple); returns (tuples so far, last tuple)."""
    rng = np.random.default_rng(seed)
    seen = []
    for _ in range(max_steps):
        out = env.step(int(rng.integers(env.num_actions)))
        seen.append(out)
        if predicate(out):
            return seen
    pytest.fail(f"condition not reached in {max_steps} steps")


def test_atari_life_loss_is_terminal_but_game_continues():
    with AtariEnv("breakout", seed=0, episodic_life=True) as env:
        env.reset()
        seen = _play_until(env, lambda out: out[2], 2000)  # first terminal: a lost life
        obs, _, terminal, score, length = seen[-1]
        assert terminal
        assert (score, length) == (None, 0)
        assert obs[:3].any()  # the frame stack was not cleared: same game
        # play on to game over: 5 lives = 4 life-loss terminals, then the game's end
        seen += _play_until(env, lambda out: out[3] is not None, 20000)
        terminals = [out for out in seen if out[2]]
        assert len(terminals) == 5
        assert all(out[3] is None for out in terminals[:-1])
        assert terminals[-1][3] == sum(out[1] for out in seen)
        assert terminals[-1][4] == len(seen)


def test_atari_without_episodic_life_only_game_over_is_terminal():
    with AtariEnv("breakout", seed=0, episodic_life=False) as env:
        env.reset()
        seen = _play_until(env, lambda out: out[2], 20000)
        assert seen[-1][3] is not None  # the first terminal is the game over
        assert seen[-1][3] == sum(out[1] for out in seen)
        assert seen[-1][4] == len(seen)


def test_atari_unknown_game_suggests_close_match():
    with pytest.raises(EnvError, match=r"^unknown game 'pongg'; did you mean: pong\?$"):
        AtariEnv("pongg")
    with pytest.raises(EnvError, match=r"did you mean: .*breakout"):
        resolve_game("breakuot")


def test_atari_out_of_range_action_raises_instead_of_hanging():
    with AtariEnv("pong") as env:
        env.reset()
        with pytest.raises(EnvError, match="action 6 out of range"):
            env.step(6)
        with pytest.raises(EnvError, match="action -1 out of range"):
            env.step(-1)
        env.step(0)  # still usable


def test_atari_seed_out_of_range_rejected():
    with pytest.raises(EnvError, match=r"seed=-1 is invalid"):
        AtariEnv("pong", seed=-1)
    with pytest.raises(EnvError, match=r"seed=2147483648 is invalid"):
        AtariEnv("pong", seed=2**31)


# --------------------------------------------------------------------------------------------
# GymEnv
# --------------------------------------------------------------------------------------------


def test_gym_cartpole_autoreset_and_episode_score():
    with GymEnv(lambda: gymnasium.make("CartPole-v1"), seed=5) as env:
        assert env.obs_shape == (4,)
        assert env.obs_dtype == np.float32
        assert env.num_actions == 2
        obs = env.reset()
        assert obs.dtype == np.float32
        assert obs.shape == (4,)
        rewards, scores = [], []
        for out in _random_steps(env, 300):
            _check_step_tuple(env, out)
            rewards.append(out[1])
            if out[2]:
                assert out[3] == sum(rewards)
                assert out[4] == len(rewards)
                scores.append(out[3])
                rewards = []
                assert np.all(np.abs(out[0]) <= 0.05)  # CartPole's reset state
        assert len(scores) >= 3


def test_gym_env_fn_taking_seed_and_reset_seeding():
    made_with = []

    def env_fn(seed):
        made_with.append(seed)
        return gymnasium.make("CartPole-v1")

    a, b = GymEnv(env_fn, seed=11), GymEnv(env_fn, seed=11)
    try:
        assert made_with == [11, 11]
        np.testing.assert_array_equal(a.reset(), b.reset())
        for x, y in zip(_random_steps(a, 100), _random_steps(b, 100), strict=True):
            np.testing.assert_array_equal(x[0], y[0])
    finally:
        a.close()
        b.close()


def test_gym_non_discrete_action_space_rejected():
    with pytest.raises(EnvError, match=r"action space Box\(.*is not supported.*Discrete"):
        GymEnv(lambda: gymnasium.make("Pendulum-v1"))


class _Boom(Exception):
    pass


class _FailingEnv(gymnasium.Env):
    observation_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        raise _Boom(f"user env failed on action {action}")


def test_gym_user_exception_propagates_unchanged():
    with GymEnv(_FailingEnv) as env:
        env.reset()
        with pytest.raises(_Boom, match="user env failed on action 1"):
            env.step(1)


class _ImageEnv(gymnasium.Env):
    observation_space = spaces.Box(0, 255, shape=(2, 5, 6), dtype=np.uint8)
    action_space = spaces.Discrete(3, start=-1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((2, 5, 6), dtype=np.uint8), {}

    def step(self, action):
        assert action in (-1, 0, 1)
        obs = np.full((2, 5, 6), action + 1, dtype=np.uint8)
        return obs, 1.0, False, action == 1, {}


def test_gym_image_obs_kept_as_given_and_action_start_applied():
    with GymEnv(_ImageEnv()) as env:
        assert (env.obs_shape, env.obs_dtype, env.num_actions) == ((2, 5, 6), np.uint8, 3)
        env.reset()
        obs, reward, terminal, score, length = env.step(0)  # sent as -1
        assert (obs.max(), reward, terminal) == (0, 1.0, False)
        obs, _, terminal, score, length = env.step(2)  # sent as 1: truncated -> terminal
        assert (terminal, score, length) == (True, 2.0, 2)
        assert not obs.any()  # first obs of the next episode


# --------------------------------------------------------------------------------------------
# Worker envs
# --------------------------------------------------------------------------------------------


def test_worker_seeds_distinct_and_31_bit():
    seeds = {derive_seed(s, i) for s in range(20) for i in range(20)}
    assert len(seeds) == 400
    assert all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(2**63 - 1, 3) < 2**31


def test_make_worker_envs_gym_and_probe():
    # k = 1: worker i's env is seeded derive_seed(seed, i), as before batching.
    cfg = A3CConfig(env_fn=lambda: gymnasium.make("CartPole-v1"), arch="mlp", seed=4, envs_per_thread=1)
    envs = make_worker_envs(cfg, 3)
    try:
        assert [e.num_envs for e in envs] == [1, 1, 1]
        assert [e._envs[0]._seed for e in envs] == [derive_seed(4, i) for i in range(3)]
        first = [e.reset() for e in envs]
        assert first[0].shape == (1, 4)
        assert not np.array_equal(first[0], first[1])
    finally:
        for e in envs:
            e.close()
    assert probe_env(cfg) == ((4,), np.dtype(np.float32), 2)


def test_make_worker_envs_atari_pinned():
    cfg = A3CConfig(game="breakout", threads=2, pin_threads=True)
    envs = make_worker_envs(cfg)
    try:
        assert len(envs) == 2
        assert worker_cpu(0) != worker_cpu(1) or len(set(map(worker_cpu, range(8)))) == 1
        k = cfg.envs_per_thread  # the default, 8
        for env in envs:
            assert env.reset().shape == (k, 4, 84, 84)
            env.step(np.ones(k, np.int32))
    finally:
        for env in envs:
            env.close()
    assert probe_env(cfg) == ((4, 84, 84), np.dtype(np.uint8), 4)
    assert worker_cpu(5, pin=False) == -1


# --------------------------------------------------------------------------------------------
# Vector envs (the worker protocol: k envs per worker)
# --------------------------------------------------------------------------------------------


def _check_vec_step(env, out):
    obs, rewards, terminals, scores, lengths = out
    k = env.num_envs
    assert obs.shape == (k, *env.obs_shape) and obs.dtype == env.obs_dtype and obs.flags.c_contiguous
    assert rewards.shape == terminals.shape == scores.shape == lengths.shape == (k,)
    assert terminals.dtype == bool
    ended = ~np.isnan(scores)
    assert np.all(lengths[ended] >= 1) and np.all(lengths[~ended] == 0)
    assert np.all(terminals[ended]), "a game that ended is terminal"


def test_atari_vec_env_matches_single_envs_game_by_game():
    # Env e of a vector env seeded [s0, s1, s2] plays exactly like AtariEnv(seed=s_e) under
    # the same actions: same frames, rewards, terminals and game ends.
    seeds = [11, 12, 13]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 6, (300, 3)).astype(np.int32)
    with AtariVecEnv("pong", seeds=seeds, max_episode_steps=600, noop_max=5) as vec:
        obs0 = vec.reset()
        vec_out = [vec.step(a) for a in actions]
        for out in vec_out:
            _check_vec_step(vec, out)
        vec_out = [tuple(np.copy(x) for x in out) for out in vec_out]
    for e, seed in enumerate(seeds):
        with AtariEnv("pong", seed=seed, max_episode_steps=600, noop_max=5) as env:
            np.testing.assert_array_equal(env.reset(), obs0[e])
            for t in range(len(actions)):
                obs, reward, terminal, score, length = env.step(int(actions[t, e]))
                v_obs, v_r, v_term, v_score, v_len = (x[e] for x in vec_out[t])
                np.testing.assert_array_equal(obs, v_obs, err_msg=f"env {e} step {t}")
                assert (reward, terminal) == (float(v_r), bool(v_term)), f"env {e} step {t}"
                assert (score is None) == bool(np.isnan(v_score))
                if score is not None:
                    assert (score, length) == (float(v_score), int(v_len))
    ended = sum(int((~np.isnan(o[3])).sum()) for o in vec_out)
    assert ended >= 3, "a 600-frame limit ends every env's game within 300 steps"


def test_atari_vec_env_life_loss_is_terminal_but_the_game_goes_on():
    with AtariVecEnv("breakout", seeds=[0, 1], episodic_life=True) as vec:
        vec.reset()
        fire = np.ones(2, np.int32)
        terminals = ends = 0
        for _ in range(400):
            _, _, term, scores, _ = vec.step(fire)
            terminals += int(term.sum())
            ends += int((~np.isnan(scores)).sum())
        assert terminals > ends, "lives are lost (terminal) before any game ends"


def test_atari_vec_env_rejects_bad_actions():
    with AtariVecEnv("pong", seeds=[0, 1]) as vec:
        vec.reset()
        with pytest.raises(EnvError, match="need 2 ints in"):
            vec.step(np.array([0, 6], np.int32))
        with pytest.raises(EnvError, match="need 2 ints in"):
            vec.step(np.array([0], np.int32))
        vec.step(np.zeros(2, np.int32))  # still usable
    with pytest.raises(EnvError, match="seed -1 is invalid"):
        AtariVecEnv("pong", seeds=[0, -1])


def test_gym_vec_env_steps_its_copies_and_reports_whole_games():
    vec = GymVecEnv(lambda seed: gymnasium.make("CartPole-v1"), seeds=[5, 6, 7, 8])
    try:
        first = vec.reset().copy()
        assert first.shape == (4, 4) and len({tuple(r) for r in first}) == 4
        steps = np.zeros(4, int)
        games = 0
        for _ in range(200):
            out = vec.step(np.ones(4, np.int32))
            _check_vec_step(vec, out)
            _, rewards, _terminals, scores, lengths = out
            steps += 1
            for e in np.flatnonzero(~np.isnan(scores)):
                assert scores[e] == lengths[e] == steps[e]  # +1 per step: score = length
                steps[e] = 0
                games += 1
        assert games >= 4
    finally:
        vec.close()


def test_make_worker_envs_k_envs_seeded_by_global_index():
    cfg = A3CConfig(game="pong", threads=2, envs_per_thread=3, pin_threads=False)
    envs = make_worker_envs(cfg)
    try:
        assert [e.num_envs for e in envs] == [3, 3]
        assert envs[1]._seeds.tolist() == [derive_seed(0, 3 + e) for e in range(3)]
        assert envs[0].reset().shape == (3, 4, 84, 84)
    finally:
        for env in envs:
            env.close()
