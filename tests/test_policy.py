"""Policy: loading, acting (batched, single, argmax, seeded sampling), bad inputs, and the
claim its docstring makes: gymnasium's Atari wrappers give the training observations, so a
user's own gymnasium loop replays `evaluate` exactly (frame by frame, same actions, scores
and game lengths).

The Pong policies are random-init networks with a scaled-up policy head (actions vary with
the observation); whole games of Pong with them take ~1 s each here. Checked with ale-py
0.12.1, gymnasium 1.4.0 and opencv-python-headless 5.1 (gymnasium's resize).
"""

from __future__ import annotations

import ale_py
import gymnasium as gym
import numpy as np
import pytest
from a3c_native import (
    A3CConfig,
    CheckpointError,
    Network,
    Policy,
    evaluate,
    load_checkpoint,
    save_checkpoint,
)
from a3c_native.envs import AtariEnv, derive_seed
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

gym.register_envs(ale_py)

MAX_STEPS = 5000  # agent steps; a safety cap far above a random policy's game (~800-1000)


def cartpole(seed=None):
    return gym.make("CartPole-v1")


def peaked(net: Network, seed: int, scale: float) -> np.ndarray:
    """Init params with the policy head scaled up, so the logits depend on the observation."""
    params = net.init_params(seed)
    net.tensor(params, "policy.weight")[:] *= scale
    bias = np.random.default_rng(seed).normal(0, 0.3, net.num_actions)
    net.tensor(params, "policy.bias")[:] = bias
    return params


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small a3c-arch checkpoint whose top two logits are well apart."""
    net = Network("a3c", (4, 36, 36), 6)
    path = tmp_path_factory.mktemp("small") / "c.npz"
    return save_checkpoint(path, net, peaked(net, 1, 300.0), config=A3CConfig(game="pong"))


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).integers(0, 256, size=(16, 4, 36, 36), dtype=np.uint8)


def pong_checkpoint(tmp_path, game="pong", num_actions=6):
    net = Network("a3c", (4, 84, 84), num_actions)
    cfg = A3CConfig(game=game)
    return save_checkpoint(tmp_path / f"{game}.npz", net, peaked(net, 0, 300.0), config=cfg)


# --- loading and acting -----------------------------------------------------------------------


def test_load_round_trip(small, batch):
    p = Policy.load(small)
    ckpt = load_checkpoint(small)
    np.testing.assert_array_equal(p.params, ckpt.params)
    assert (p.arch, p.obs_shape, p.num_actions) == ("a3c", (4, 36, 36), 6)
    assert (p.game, p.frame_skip, p.obs_dtype) == ("pong", 4, np.uint8)
    assert repr(p) == (
        "Policy(game='pong', arch='a3c', obs_shape=(4, 36, 36), num_actions=6, frame_skip=4)"
    )
    q = Policy.load(ckpt)  # an already loaded Checkpoint works too
    np.testing.assert_array_equal(q.act(batch, deterministic=True), p.act(batch, True))

    logits, values = p.network.forward(p.params, batch)
    z = logits.astype(np.float64)
    want = np.exp(z - z.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(p.probabilities(batch), want, rtol=1e-12)
    np.testing.assert_allclose(p.probabilities(batch[3]), want[3], rtol=1e-12)
    assert p.probabilities(batch).dtype == np.float64
    np.testing.assert_array_equal(p.value(batch), values)
    assert p.value(batch[3]) == float(values[3])
    assert isinstance(p.value(batch[3]), float)


def test_act_batched_vs_single_and_deterministic_is_argmax(small, batch):
    p = Policy.load(small)
    logits, _ = p.network.forward(p.params, batch)
    top2 = np.sort(logits, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 1e-3  # no near-ties: argmax is batch-invariant
    greedy = p.act(batch, deterministic=True)
    assert greedy.dtype == np.int64
    assert greedy.shape == (16,)
    np.testing.assert_array_equal(greedy, np.argmax(logits, axis=1))
    assert len(set(greedy.tolist())) > 1  # the test policy's argmax does depend on obs
    for i in range(len(batch)):
        a = p.act(batch[i], deterministic=True)
        assert type(a) is int
        assert a == greedy[i]
    assert p.act(batch[:0]).shape == (0,)
    assert p.act(list(batch[0]), deterministic=True) == greedy[0]  # array-likes are taken


def test_sampling_is_seeded_and_batch_equals_single_calls(small, batch):
    a = Policy.load(small, seed=7).act(batch)
    b = Policy.load(small, seed=7).act(batch)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int64
    assert not np.array_equal(a, Policy.load(small, seed=8).act(batch))
    single = Policy.load(small, seed=7)
    np.testing.assert_array_equal([single.act(o) for o in batch], a)  # one draw per obs
    # rng= overrides the policy's own generator, which it leaves untouched.
    p = Policy.load(small, seed=7)
    np.testing.assert_array_equal(p.act(batch, rng=np.random.default_rng(7)), a)
    np.testing.assert_array_equal(p.act(batch), a)


def test_sampling_follows_the_probabilities():
    net = Network("mlp", (4,), 3)
    p = Policy(net, peaked(net, 3, 20.0), seed=0)
    obs = np.array([0.5, -1.0, 0.2, 1.5], np.float32)
    want = p.probabilities(obs)
    assert want.max() < 0.8  # a spread-out distribution, so every bin is exercised
    assert want.min() > 0.05
    freq = np.bincount(p.act(np.repeat(obs[None], 20_000, axis=0)), minlength=3) / 20_000
    # 20k draws: the standard error of a frequency is <= 0.0036; 0.015 is > 4 of them.
    np.testing.assert_allclose(freq, want, atol=0.015)


def test_bad_inputs_raise_clear_errors(small, batch, tmp_path):
    p = Policy.load(small)
    with pytest.raises(ValueError, match=r"shape \(36, 36, 4\): this policy.*channels first"):
        p.act(batch[0].transpose(1, 2, 0))
    with pytest.raises(ValueError, match=r"takes \(4, 36, 36\) or \(N, 4, 36, 36\)"):
        p.act(batch[:, :3])
    with pytest.raises(ValueError, match="Invalid observation shape"):
        p.act(batch[None])
    with pytest.raises(TypeError, match=r"must be uint8 raw pixels.*got float32.*scale_obs=False"):
        p.act(batch.astype(np.float32) / 255)
    with pytest.raises(TypeError, match="got int64"):
        p.probabilities(batch.astype(np.int64))
    with pytest.raises(TypeError, match="takes a checkpoint path or a Checkpoint, got int"):
        Policy.load(3)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not an a3c_native checkpoint"):
        Policy.load(bad)
    with pytest.raises(FileNotFoundError):
        Policy.load(tmp_path / "missing.npz")
    net = Network("mlp", (4,), 2)
    with pytest.raises(ValueError, match=r"params must be float32 of shape \(\d+,\)"):
        Policy(net, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"Policy\(frame_skip=0\) is invalid"):
        Policy(net, net.init_params(0), frame_skip=0)
    mlp = Policy(net, net.init_params(0))
    with pytest.raises(TypeError, match="must be real numbers"):
        mlp.act(np.zeros(4, np.complex64))


# --- a user's own loop vs evaluate ----------------------------------------------------------


def cartpole_loop(policy: Policy, seed: int, deterministic: bool) -> tuple[float, int]:
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    score, length, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy.act(obs, deterministic))
        score += float(reward)
        length += 1
        done = terminated or truncated
    env.close()
    return score, length


@pytest.mark.parametrize("deterministic", [True, False])
def test_cartpole_policy_in_a_user_loop_replays_evaluate(tmp_path, deterministic):
    net = Network("mlp", (4,), 2)
    cfg = A3CConfig(env_fn=cartpole, arch="mlp")
    path = save_checkpoint(tmp_path / "c.npz", net, peaked(net, 2, 30.0), config=cfg)
    r = evaluate(path, env_fn=cartpole, episodes=3, threads=1, greedy=deterministic, seed=5)
    p = Policy.load(path)
    assert p.game is None
    assert repr(p) == "Policy(arch='mlp', obs_shape=(4,), num_actions=2)"
    for i in range(3):
        p.rng = np.random.default_rng([5, i])  # evaluate's game i samples from (seed, i)
        score, length = cartpole_loop(p, derive_seed(5, i), deterministic)
        assert (score, length) == (r.scores[i], r.lengths[i])


def gym_atari(
    game: str, *, noop_max: int, padding_type: str = "zero", fire_frame: bool = False
) -> gym.Env:
    """The gymnasium pipeline of the Policy docstring."""
    env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0)
    if fire_frame:
        env = FireOneFrame(env)
    env = AtariPreprocessing(
        env,
        frame_skip=4,
        screen_size=84,
        grayscale_obs=True,
        noop_max=noop_max,
        terminal_on_life_loss=False,
        scale_obs=False,
    )
    return FrameStackObservation(env, 4, padding_type=padding_type)


class FireOneFrame(gym.Wrapper):
    """After each reset, one emulator frame of FIRE (under AtariPreprocessing, whose base env
    has frameskip=1): what a3c_native's training and evaluation envs do."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        fire = self.env.unwrapped.get_action_meanings().index("FIRE")
        obs, _, _, _, info = self.env.step(fire)
        return obs, info


def play_in_lockstep(policy: Policy, env: gym.Env, game: str, deterministic: bool):
    """The user's loop on `env`, with a3c_native's own env (what evaluate plays, no-op starts
    off, whole games) fed the same actions: the observation the policy acts on must be the
    training pipeline's at every step. Returns the gymnasium game's (score, length)."""
    ours = AtariEnv(game, seed=derive_seed(0, 0), noop_max=0, episodic_life=False)
    assert list(env.unwrapped._action_set) == list(ours._ale.get_action_set())  # minimal sets
    assert list(env.unwrapped._action_set) == list(env.unwrapped.ale.getMinimalActionSet())
    with ours:
        obs, _ = env.reset(seed=0)  # the ALE seed plays no part without sticky actions/no-ops
        expected = ours.reset()
        score, length = 0.0, 0
        while length < MAX_STEPS:
            assert obs.shape == (4, 84, 84)
            assert obs.dtype == np.uint8
            if not np.array_equal(obs, expected):
                diff = np.argwhere(obs != expected)
                pytest.fail(f"step {length}: {len(diff)} pixels differ, first at {diff[0]}")
            action = policy.act(obs, deterministic)
            obs, reward, terminated, truncated, _ = env.step(action)
            expected, our_reward, _, our_score, _ = ours.step(action)
            assert reward == our_reward, f"step {length}"
            score += float(reward)
            length += 1
            assert (terminated or truncated) == (our_score is not None), f"step {length}"
            if terminated or truncated:
                assert our_score == score
                return score, length
    pytest.fail(f"no game end in {MAX_STEPS} steps")


@pytest.mark.parametrize("deterministic", [True, False])
def test_gymnasium_pong_loop_sees_training_frames_and_replays_evaluate(tmp_path, deterministic):
    path = pong_checkpoint(tmp_path)
    policy = Policy.load(path, seed=[0, 0])  # evaluate's game 0 with seed=0 samples from this
    # noop_max=1: exactly one NOOP frame after reset, where a3c_native presses FIRE for one
    # frame; in Pong that frame's FIRE changes nothing, so the games coincide.
    env = gym_atari("Pong", noop_max=1)
    score, length = play_in_lockstep(policy, env, "pong", deterministic)
    env.close()
    r = evaluate(path, episodes=1, greedy=deterministic, noop_max=0, seed=0)
    assert (r.scores[0], r.lengths[0]) == (score, length)
    assert -21 <= score <= 21
    assert length > 500  # a whole game (21 points), not a cut one


def test_breakout_needs_the_fire_frame_for_an_exact_replay(tmp_path):
    path = pong_checkpoint(tmp_path, "breakout", num_actions=4)
    policy = Policy.load(path, seed=[0, 0])
    env = gym_atari("Breakout", noop_max=0, fire_frame=True)
    score, length = play_in_lockstep(policy, env, "breakout", deterministic=False)
    env.close()
    r = evaluate(path, episodes=1, noop_max=0, seed=0)
    assert (r.scores[0], r.lengths[0]) == (score, length)
    # Without it (noop_max=1: a NOOP frame where a3c_native fires), Breakout's start differs.
    env = gym_atari("Breakout", noop_max=1)
    with AtariEnv("breakout", noop_max=0, episodic_life=False) as ours:
        assert not np.array_equal(env.reset(seed=0)[0], ours.reset())
    env.close()


def test_documented_start_differences_of_the_default_gymnasium_settings():
    with AtariEnv("pong", noop_max=0, episodic_life=False) as ours:
        first = ours.reset()
    assert not first[:3].any()  # training: black frames before the first
    # FrameStackObservation's default padding repeats the first frame instead.
    env = gym_atari("Pong", noop_max=1, padding_type="reset")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs[3], first[3])
    for i in range(3):
        np.testing.assert_array_equal(obs[i], first[3])
    env.close()
    # noop_max=0 in AtariPreprocessing: no frame at all after ALE's reset, so its first
    # frame is one emulator frame earlier than a3c_native's (which pressed FIRE once).
    env = gym_atari("Pong", noop_max=0)
    obs, _ = env.reset(seed=0)
    assert not np.array_equal(obs[3], first[3])
    env.close()
