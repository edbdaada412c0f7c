"""One batched actor-learner rollout (k envs, t_max steps) against the per-env rollouts it
stands for: returns recomputed in float64 from the record, and the gradient of the batch equal
to the sum of the gradients of every env's segments (cut at terminals) computed through the
network's plain loss_and_grad. Also: whole-game episode records, and 1-thread determinism
(hogwild == locked, bit for bit) with k > 1."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from a3c_native import A3CConfig, Network, _core, train
from a3c_native.envs import GymVecEnv
from a3c_native.native_options import native_options

# float32 sums over different groupings of the same samples (one backward over k*T rows vs
# one per segment): relative error of a few ulps of the largest gradient element.
GRAD_RTOL = 2e-4


def _options(t_max: int, gamma: float = 0.9) -> _core.TrainOptions:
    # entropy_beta 0.01, value_coef 0.5, loss_reduction "sum", reward_clip 1, seed 0: the
    # config's defaults, which _check_rollout's calls repeat.
    cfg = A3CConfig(env_fn=cartpole, arch="mlp", t_max=t_max, gamma=gamma)
    return native_options(cfg)


def _segments(terminals: np.ndarray, e: int) -> list[tuple[int, int, bool]]:
    """[start, end) time ranges of env e's returns, and whether each ends at a terminal."""
    out, start = [], 0
    for t in range(terminals.shape[0]):
        if terminals[t, e]:
            out.append((start, t + 1, True))
            start = t + 1
    if start < terminals.shape[0]:
        out.append((start, terminals.shape[0], False))
    return out


def _check_rollout(net: Network, params: np.ndarray, rec: dict, gamma: float, beta: float, cv: float):
    T, k = rec["actions"].shape
    _, v_next = net.forward(params, rec["next_obs"])
    grad_sum = np.zeros(net.num_params, dtype=np.float64)
    returns64 = np.zeros((T, k))
    for e in range(k):
        for start, end, terminal in _segments(rec["terminals"], e):
            R = 0.0 if terminal else float(v_next[e])
            for t in range(end - 1, start - 1, -1):
                R = float(rec["rewards"][t, e]) + gamma * R
                returns64[t, e] = R
            obs = np.ascontiguousarray(rec["obs"][start:end, e])
            _, g = net.loss_and_grad(
                params, obs, rec["actions"][start:end, e].astype(np.int64),
                returns64[start:end, e].astype(np.float32), entropy_beta=beta, value_coef=cv,
                reduction="sum",
            )  # fmt: skip
            grad_sum += g
    np.testing.assert_allclose(rec["returns"], returns64, rtol=1e-5, atol=1e-5)
    scale = np.abs(grad_sum).max()
    err = np.abs(rec["grad"] - grad_sum).max()
    worst = int(np.argmax(np.abs(rec["grad"] - grad_sum)))
    assert err <= GRAD_RTOL * scale, (
        f"batched grad differs from the per-env sum at index {worst}: got {rec['grad'][worst]!r}, "
        f"want {grad_sum[worst]!r}; max diff {err:.3g} vs scale {scale:.3g}"
    )


@pytest.mark.parametrize(("arch", "obs", "k", "t_max", "episode_length"), [
    ("mlp", (6,), 4, 7, 3),      # every env ends games mid-rollout, at different steps
    ("mlp", (6,), 3, 5, 1000),   # nobody terminates: every env bootstraps
    ("a3c", (4, 84, 84), 4, 5, 4),
])  # fmt: skip
def test_batched_gradient_is_the_sum_of_per_env_rollouts(arch, obs, k, t_max, episode_length):
    net = Network(arch, obs, 3, hidden=(16, 16))
    params = net.init_params(5)
    env = _core.SyntheticEnv(seed=2, episode_length=episode_length, num_envs=k)
    rec = _core.probe_rollout(net._core, params, env, _options(t_max), rollouts=2)
    assert rec["actions"].shape == (t_max, k)
    terminals = rec["terminals"]
    if episode_length < t_max:
        assert terminals.any() and not terminals.all(axis=1).any(), "envs must end at different steps"
    else:
        assert not terminals.any()
    _check_rollout(net, params, rec, gamma=0.9, beta=0.01, cv=0.5)


def test_batched_gradient_with_a_python_vector_env():
    k, t_max = 3, 6
    vec = GymVecEnv(lambda: gym.make("CartPole-v1"), seeds=[1, 2, 3])
    try:
        net = Network("mlp", vec.obs_shape, vec.num_actions, hidden=(16, 16))
        params = net.init_params(1)
        rec = _core.probe_rollout(net._core, params, vec, _options(t_max, gamma=0.95), rollouts=4)
    finally:
        vec.close()
    assert rec["obs"].shape == (t_max, k, 4) and rec["rewards"].shape == (t_max, k)
    _check_rollout(net, params, rec, gamma=0.95, beta=0.01, cv=0.5)


def test_rollout_records_whole_games():
    # Games of env e last 6 + e steps, longer than a rollout (t_max 4): a record must hold
    # the whole game's length and score, not a rollout's.
    env = _core.SyntheticEnv(seed=0, episode_length=6, num_envs=3)
    net = Network("mlp", (5,), 4, hidden=(8, 8))
    rec = _core.probe_rollout(net._core, net.init_params(0), env, _options(4), rollouts=5)
    ended = rec["ended"]
    assert ended, "games of 6-8 steps end within 5 rollouts of 4 steps"
    for _t, e, score, length in ended:
        assert length == 6 + e
        assert 0 <= score <= length


def cartpole(seed: int | None = None) -> gym.Env:
    return gym.make("CartPole-v1")


CARTPOLE = dict(env_fn=cartpole, arch="mlp", gamma=0.95, lr=1e-3, hidden=(32, 32), t_max=5)


def test_train_with_k_envs_counts_every_envs_steps_and_whole_games():
    cfg = A3CConfig(threads=2, envs_per_thread=4, total_steps=6000, **CARTPOLE)
    r = train(cfg)
    rollout = cfg.envs_per_thread * cfg.t_max
    assert cfg.total_steps <= r.total_steps < cfg.total_steps + cfg.threads * rollout
    assert r.total_steps % cfg.envs_per_thread == 0
    # CartPole pays +1 per step: a whole game's score is its length, and games outlast rollouts.
    assert r.episodes and all(e.score == e.length for e in r.episodes)
    assert max(e.length for e in r.episodes) > cfg.t_max
    assert sum(e.length for e in r.episodes) <= r.total_steps
    assert r.updates >= r.total_steps // rollout - cfg.threads


@pytest.mark.parametrize(("k", "arch"), [(3, "mlp"), (8, "mlp"), (4, "mlp_lstm")])
def test_one_thread_k_envs_is_deterministic_and_hogwild_equals_locked(k, arch):
    runs = [
        train(A3CConfig(threads=1, envs_per_thread=k, total_steps=4000, seed=3, update=u, **{**CARTPOLE, "arch": arch}))
        for u in ("hogwild", "hogwild", "locked")
    ]
    np.testing.assert_array_equal(runs[0].params, runs[1].params)
    np.testing.assert_array_equal(runs[0].params, runs[2].params)
    np.testing.assert_array_equal(runs[0].rms, runs[2].rms)
    assert [e.score for e in runs[0].episodes] == [e.score for e in runs[2].episodes]


def test_envs_per_thread_is_validated():
    with pytest.raises(ValueError, match="envs_per_thread=0"):
        A3CConfig(envs_per_thread=0, **CARTPOLE)
    with pytest.raises(ValueError, match="env_threads=-1"):
        A3CConfig(env_threads=-1, **CARTPOLE)


class _ExplodingCartPole(gym.Wrapper):
    """CartPole whose copy built with seed `bad` raises from step() after 50 steps."""

    def __init__(self, seed: int, bad: int) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.fuse = 50 if seed == bad else None

    def step(self, action):
        if self.fuse is not None:
            self.fuse -= 1
            if self.fuse == 0:
                raise RuntimeError("env copy exploded")
        return self.env.step(action)


def test_an_exception_in_one_of_k_envs_stops_the_run_and_reaches_the_caller():
    from a3c_native.envs import derive_seed

    bad = derive_seed(0, 5)  # worker 1, env 1 of 4
    cfg = A3CConfig(
        threads=2, envs_per_thread=4, total_steps=10**9,
        **{**CARTPOLE, "env_fn": lambda seed: _ExplodingCartPole(seed, bad)},
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="env copy exploded"):
        train(cfg)


def test_one_synthetic_env_handle_serves_several_workers_and_runs():
    # A handle holds settings only: every run builds (and owns) one env per entry, so the same
    # handle given to two workers, and then to a second run, leaves no worker with an env that
    # another use replaced (it used to: the handle owned one env and rebuilt it on each use).
    net = Network("mlp", (6,), 3, hidden=(8, 8))
    handle = _core.SyntheticEnv(seed=1, episode_length=7, num_envs=2)
    for _ in range(2):
        cfg = A3CConfig(**{**CARTPOLE, "threads": 2, "envs_per_thread": 2, "total_steps": 4000})
        trainer = _core.Trainer(net._core, net.init_params(0), None, native_options(cfg))
        raw = trainer.run([handle, handle], None, 1.0)
        assert raw.run_steps >= 4000 and raw.updates > 0
        params, _ = trainer.state()
        assert np.isfinite(params).all()
