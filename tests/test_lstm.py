"""The recurrent archs (a3c_lstm, nature_lstm, mlp_lstm) against the float64 NumPy reference.

Chain of evidence, as for the feed-forward nets (test_backward.py): the reference BPTT is
checked against central finite differences of the reference loss; the native gradient of a
rollout (T >= 5 steps of k sequences, resets mid-rollout, a carried-in state) is then checked
against both, every tensor. Also: the layout (PyTorch nn.LSTMCell names and shapes), the init,
one step and a stepped rollout of the forward pass, the state API's errors, and one
actor-learner's rollout gradient (state carried across rollouts, zeroed at terminals) against
the Python API's.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
from conftest import (
    FD_ABS_FLOOR,
    FD_FLOOR,
    FD_RTOL,
    FWD_ATOL,
    GRAD_FLOOR,
    GRAD_RTOL,
    KINK_MARGIN,
    LOSS_ATOL,
    LOSS_RTOL,
    assert_close,
    grad_tolerance,
)
from reference import finite_diff as fd
from reference import numpy_lstm as rlstm
from reference import numpy_net as ref

from a3c_native import A3CConfig, Network, _core
from a3c_native.native_options import native_options

LOSS_KW = {"entropy_beta": 0.3, "value_coef": 0.7, "reduction": "sum"}
T, K = 6, 3
# resets[t, e]: env 0 never resets (its gradient crosses all 6 steps), env 1 at t=3 (a return
# ends mid-rollout), env 2 at t=1 and t=4.
RESETS = np.zeros((T, K), dtype=bool)
RESETS[3, 1] = RESETS[1, 2] = RESETS[4, 2] = True


@dataclass(frozen=True)
class LstmConfig:
    arch: str
    obs_shape: tuple[int, ...]
    num_actions: int
    hidden: tuple[int, int] = (64, 64)

    @functools.cached_property
    def net(self) -> Network:
        return Network(self.arch, self.obs_shape, self.num_actions, hidden=self.hidden)

    @property
    def spec(self):
        return rlstm.param_spec(self.arch, self.obs_shape, self.num_actions, self.hidden)

    @property
    def cells(self) -> int:
        return self.hidden[1] if self.arch == "mlp_lstm" else rlstm.LSTM_CELLS


CONFIGS = {
    "a3c_lstm": LstmConfig("a3c_lstm", (4, 36, 36), 6),
    "nature_lstm": LstmConfig("nature_lstm", (4, 52, 52), 5),
    # unequal hidden sizes: a transposed fc2 or W_ih/W_hh mix-up cannot pass
    "mlp_lstm": LstmConfig("mlp_lstm", (7,), 3, (32, 24)),
}


def _obs(cfg: LstmConfig, shape: tuple[int, ...], rng) -> np.ndarray:
    if cfg.arch == "mlp_lstm":
        return rng.normal(size=(*shape, *cfg.obs_shape)).astype(np.float32)
    return rng.integers(0, 256, size=(*shape, *cfg.obs_shape), dtype=np.uint8)


def _params(cfg: LstmConfig, seed: int) -> np.ndarray:
    """Init params with the LSTM biases and the policy head made non-trivial: at init the
    policy is near uniform (entropy gradient ~0) and the biases are 0/1 (a swapped bias would
    pass)."""
    rng = np.random.default_rng(seed)
    sd = ref.split_params(cfg.net.init_params(seed), cfg.spec)
    for name in ("lstm.bias_ih", "lstm.bias_hh"):
        sd[name] = sd[name] + rng.normal(scale=0.3, size=sd[name].shape)
    sd["policy.weight"] = rng.normal(size=sd["policy.weight"].shape) * (2.0 / np.sqrt(cfg.cells))
    sd["policy.bias"] = rng.normal(scale=0.5, size=sd["policy.bias"].shape)
    return ref.join_params(sd, cfg.spec)


def _state(cfg: LstmConfig, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    h = rng.uniform(-0.9, 0.9, size=(k, cfg.cells)).astype(np.float32)
    c = rng.normal(scale=1.0, size=(k, cfg.cells)).astype(np.float32)
    return h, c


def _kink_free_obs(cfg, sd, shape, rng, tries=200) -> np.ndarray:
    for _ in range(tries):
        obs = _obs(cfg, shape, rng)
        layers, _ = ref.trunk_cache(sd, obs.reshape(-1, *cfg.obs_shape))
        z = np.concatenate([np.abs(pre).reshape(-1) for *_, pre in layers])
        if z[z != 0].min() > KINK_MARGIN:
            return obs
    raise RuntimeError(f"{cfg.arch}: no kink-free rollout in {tries} draws")


@functools.cache
def _rollout(arch: str):
    cfg = CONFIGS[arch]
    rng = np.random.default_rng(3)
    params = _params(cfg, seed=4)
    sd = ref.split_params(params, cfg.spec)
    obs = _kink_free_obs(cfg, sd, (T, K), rng)
    actions = rng.integers(0, cfg.num_actions, size=(T, K)).astype(np.int64)
    returns = rng.normal(size=(T, K)).astype(np.float32)
    h0, c0 = _state(cfg, K, rng)
    return cfg, params, sd, obs, actions, returns, h0, c0


# ---------------------------------------------------------------------------------------------
# layout and init


@pytest.mark.parametrize("arch", CONFIGS)
def test_layout_is_the_documented_order_with_lstmcell_names(arch):
    cfg = CONFIGS[arch]
    got = [(t.name, t.shape) for t in cfg.net.layout]
    assert got == [(n, tuple(s)) for n, s in cfg.spec]
    assert cfg.net.recurrent and cfg.net.state_size == cfg.cells
    offsets = [t.offset for t in cfg.net.layout]
    assert offsets == sorted(offsets) and cfg.net.num_params == sum(t.size for t in cfg.net.layout)


def test_feed_forward_archs_have_no_state():
    net = Network("a3c", (4, 36, 36), 6)
    assert not net.recurrent and net.state_size == 0
    with pytest.raises(ValueError, match="feed-forward"):
        net.initial_state(2)


@pytest.mark.parametrize("arch", CONFIGS)
def test_init_lstm_weights_pytorch_uniform_and_forget_bias_one(arch):
    cfg = CONFIGS[arch]
    sd = cfg.net.to_state_dict(cfg.net.init_params(7))
    H = cfg.cells
    bound = 1.0 / np.sqrt(H)
    for name in ("lstm.weight_ih", "lstm.weight_hh"):
        w = sd[name]
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > 0.9 * bound and abs(w.mean()) < 0.05 * bound  # uniform, not tiny
    forget = np.zeros(4 * H, np.float32)
    forget[H : 2 * H] = 1.0
    np.testing.assert_array_equal(sd["lstm.bias_ih"], forget)
    np.testing.assert_array_equal(sd["lstm.bias_hh"], np.zeros(4 * H, np.float32))


# ---------------------------------------------------------------------------------------------
# forward


@pytest.mark.parametrize("arch", CONFIGS)
def test_forward_one_step_with_a_state_matches_reference(arch):
    cfg, params, sd, obs, *_ = _rollout(arch)
    rng = np.random.default_rng(8)
    h, c = _state(cfg, K, rng)
    logits, values, (h1, c1) = cfg.net.forward(params, obs[0], (h, c))
    _, feat = ref.trunk_cache(sd, obs[0])
    rh, rc, _ = rlstm.lstm_step(sd, feat, h.astype(np.float64), c.astype(np.float64))
    assert_close(h1, rh, FWD_ATOL, 0, name="h after the step")
    assert_close(c1, rc, FWD_ATOL, 0, name="c after the step")
    assert_close(logits, ref.linear_forward(rh, sd["policy.weight"], sd["policy.bias"]), FWD_ATOL, 0, name="logits")
    assert_close(values, ref.linear_forward(rh, sd["value.weight"], sd["value.bias"])[:, 0], FWD_ATOL, 0, name="values")


@pytest.mark.parametrize("arch", CONFIGS)
def test_no_state_is_the_zero_state(arch):
    cfg, params, _, obs, *_ = _rollout(arch)
    a = cfg.net.forward(params, obs[0])
    b = cfg.net.forward(params, obs[0], cfg.net.initial_state(K))
    for x, y in zip(a[:2], b[:2], strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a[2][0], b[2][0])


@pytest.mark.parametrize("arch", CONFIGS)
def test_stepped_forward_matches_reference_rollout(arch):
    """Network.forward step by step, zeroing the state at resets, = the reference rollout;
    and loss_and_grad_recurrent returns the same final state."""
    cfg, params, sd, obs, actions, returns, h0, c0 = _rollout(arch)
    h, c = h0.copy(), c0.copy()
    logits, values = [], []
    for t in range(T):
        h[RESETS[t]] = 0
        c[RESETS[t]] = 0
        lg, v, (h, c) = cfg.net.forward(params, obs[t], (h, c))
        logits.append(lg)
        values.append(v)
    r_logits, r_values, _, (rh, rc) = rlstm.rollout_forward(sd, obs, RESETS, h0, c0)
    # Errors compound over 6 steps through the recurrence: still ~1e-6, far below a bug's 1e-2.
    assert_close(np.concatenate(logits), r_logits, FWD_ATOL, 0, name="logits over the rollout")
    assert_close(np.concatenate(values), r_values, FWD_ATOL, 0, name="values over the rollout")
    assert_close(h, rh, FWD_ATOL, 0, name="final h")
    _, _, (gh, gc) = cfg.net.loss_and_grad_recurrent(params, obs, actions, returns, state=(h0, c0), resets=RESETS)
    np.testing.assert_array_equal(gh, h)
    np.testing.assert_array_equal(gc, c)


# ---------------------------------------------------------------------------------------------
# gradients through time


@functools.cache
def _reference(arch: str):
    cfg, _, sd, obs, actions, returns, h0, c0 = _rollout(arch)
    return rlstm.loss_and_grad(sd, obs, actions, returns, RESETS, h0, c0, **LOSS_KW)


@functools.cache
def _fd(arch: str, cap: int):
    cfg, _, sd, obs, actions, returns, h0, c0 = _rollout(arch)
    logits, values, _, _ = rlstm.rollout_forward(sd, obs, RESETS, h0, c0)
    kw = dict(LOSS_KW, advantages=returns.reshape(-1).astype(np.float64) - values)  # frozen: what A3C differentiates

    def f(d):
        return rlstm.loss_and_masks(d, obs, actions, returns, RESETS, h0, c0, kw)

    rng = np.random.default_rng(5)
    out = {}
    for name in sd:
        idx = fd.sample_indices(int(np.size(sd[name])), cap, rng)
        out[name] = fd.fd_tensor_of(sd, f, name, idx)
    return out


def _check_fd(grads, samples, label):
    failures = []
    for name, s in samples.items():
        assert len(s.skipped) <= 0.25 * (len(s.indices) + len(s.skipped)), f"{name}: too many ReLU kinks"
        got = np.asarray(grads[name]).reshape(-1)[s.indices]
        atol, rtol = grad_tolerance(s.values, FD_RTOL, FD_FLOOR, FD_ABS_FLOOR)
        try:
            assert_close(got, s.values, atol, rtol, name=f"{label} d/d {name} (vs FD)")
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError("\n".join(failures))


@pytest.mark.parametrize("arch", ["a3c_lstm", "mlp_lstm"])
def test_reference_bptt_matches_finite_differences(arch):
    _, grads = _reference(arch)
    _check_fd(grads, _fd(arch, 12), "reference")


@pytest.mark.parametrize("arch", CONFIGS)
def test_native_rollout_gradient_matches_reference_bptt_every_tensor(arch):
    cfg, params, sd, obs, actions, returns, h0, c0 = _rollout(arch)
    terms, grad, _ = cfg.net.loss_and_grad_recurrent(
        params, obs, actions, returns, state=(h0, c0), resets=RESETS, **LOSS_KW
    )
    r_terms, r_grads = _reference(arch)
    for key in ("policy_loss", "value_loss", "entropy", "total"):
        assert terms[key] == pytest.approx(r_terms[key], rel=LOSS_RTOL, abs=LOSS_ATOL), key
    got = ref.split_params(grad, cfg.spec)
    failures = []
    for name, want in r_grads.items():
        atol, rtol = grad_tolerance(want, GRAD_RTOL, GRAD_FLOOR, 0.0)
        try:
            assert_close(got[name], want, atol, rtol, name=f"d/d {name}")
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError("\n".join(failures))


@pytest.mark.parametrize("arch", ["a3c_lstm", "mlp_lstm"])
def test_native_rollout_gradient_matches_finite_differences(arch):
    cfg, params, _, obs, actions, returns, h0, c0 = _rollout(arch)
    _, grad, _ = cfg.net.loss_and_grad_recurrent(params, obs, actions, returns, state=(h0, c0), resets=RESETS, **LOSS_KW)
    _check_fd(ref.split_params(grad, cfg.spec), _fd(arch, 12), "native")


def test_gradient_does_not_cross_a_reset_or_the_rollout_start():
    """A reset at t cuts the sequence: the rollout's gradient is the sum of the gradients of
    the two halves run separately (the second from the zero state); and the state carried in
    is a constant (changing it changes the loss, but no gradient flows into it: truncation)."""
    cfg, params, _, obs, actions, returns, h0, c0 = _rollout("mlp_lstm")
    e, cut = 1, 3  # RESETS[3, 1]
    resets = np.zeros((T, 1), bool)
    resets[cut, 0] = True
    one = lambda sl, st, rs: cfg.net.loss_and_grad_recurrent(  # noqa: E731
        params, obs[sl, e : e + 1], actions[sl, e : e + 1], returns[sl, e : e + 1], state=st, resets=rs, **LOSS_KW
    )
    _, whole, _ = one(slice(0, T), (h0[e : e + 1], c0[e : e + 1]), resets)
    _, first, _ = one(slice(0, cut), (h0[e : e + 1], c0[e : e + 1]), None)
    _, second, _ = one(slice(cut, T), None, None)
    np.testing.assert_allclose(whole, first + second, rtol=0, atol=1e-5 * np.abs(whole).max())


# ---------------------------------------------------------------------------------------------
# the state API's errors


def test_state_errors_name_the_problem():
    cfg, params, _, obs, actions, returns, h0, c0 = _rollout("mlp_lstm")
    net = cfg.net
    with pytest.raises(ValueError, match="invalid shape for h"):
        net.forward(params, obs[0], (h0[:2], c0))
    with pytest.raises(ValueError, match="invalid shape for c"):
        net.forward(params, obs[0], (h0, c0[:, :5]))
    with pytest.raises(TypeError, match="float32"):
        net.forward(params, obs[0], (h0.astype(np.float64), c0))
    with pytest.raises(TypeError, match=r"pair \(h, c\)"):
        net.forward(params, obs[0], h0)
    bad = h0.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        net.forward(params, obs[0], (bad, c0))
    with pytest.raises(ValueError, match="loss_and_grad_recurrent"):
        net.loss_and_grad(params, obs[0], actions[0], returns[0])
    with pytest.raises(ValueError, match=r"obs must have shape \(T, k, 7\)"):
        net.loss_and_grad_recurrent(params, obs[0], actions, returns)
    with pytest.raises(ValueError, match=r"resets must have shape \(T, k\)"):
        net.loss_and_grad_recurrent(params, obs, actions, returns, resets=RESETS[:2])
    with pytest.raises(TypeError, match="resets must be a bool array"):
        net.loss_and_grad_recurrent(params, obs, actions, returns, resets=RESETS.astype(np.int8))
    ff = Network("mlp", (7,), 3, hidden=(32, 24))
    ffp = ff.init_params(0)
    with pytest.raises(ValueError, match="feed-forward: it takes no state"):
        ff.forward(ffp, obs[0], (h0, c0))
    with pytest.raises(ValueError, match="feed-forward: use loss_and_grad"):
        ff.loss_and_grad_recurrent(ffp, obs, actions, returns)


# ---------------------------------------------------------------------------------------------
# one actor-learner


@pytest.mark.parametrize(("arch", "obs_shape", "episode_length"), [
    ("mlp_lstm", (6,), 4),           # games end mid-rollout: the state is zeroed there
    ("mlp_lstm", (6,), 1000),        # no terminal: the state crosses every rollout boundary
    ("a3c_lstm", (4, 36, 36), 5),
])  # fmt: skip
def test_worker_rollout_gradient_is_the_api_gradient_from_the_carried_state(arch, obs_shape, episode_length):
    """The actor-learner's rollout (3rd of 3, so the carried-in state is not zero) gives the
    gradient Network.loss_and_grad_recurrent gives for its record, from the state it carried
    in, with resets where the previous step was terminal; and carries out the API's state."""
    k, t_max = 3, 5
    net = Network(arch, obs_shape, 3, hidden=(16, 16))
    params = net.init_params(5)
    env = _core.SyntheticEnv(seed=2, episode_length=episode_length, num_envs=k)
    cfg = A3CConfig(env_fn=cartpole, arch="mlp", t_max=t_max, gamma=0.9)
    rec = _core.probe_rollout(net._core, params, env, native_options(cfg), rollouts=3)
    h0, c0 = rec["state_h0"], rec["state_c0"]
    assert np.abs(h0).max() > 0, "the third rollout must start from a carried, non-zero state"
    resets = np.zeros_like(rec["terminals"])
    resets[1:] = rec["terminals"][:-1]
    if episode_length < 3 * t_max:
        assert resets.any()
    _, grad, (h, c) = net.loss_and_grad_recurrent(
        params, rec["obs"], rec["actions"], rec["returns"], state=(h0, c0), resets=resets,
        entropy_beta=cfg.entropy_beta, value_coef=cfg.value_coef, reduction="sum",
    )  # fmt: skip
    scale = np.abs(grad).max()
    assert np.abs(rec["grad"] - grad).max() <= 1e-5 * scale
    last_terminal = rec["terminals"][-1]
    np.testing.assert_array_equal(rec["state_h"][~last_terminal], h[~last_terminal])
    np.testing.assert_array_equal(rec["state_h"][last_terminal], 0)
    np.testing.assert_array_equal(rec["state_c"][last_terminal], 0)


def cartpole(seed=None):  # A3CConfig needs an env; probe_rollout steps its own SyntheticEnv
    return gym.make("CartPole-v1")


# ---------------------------------------------------------------------------------------------
# the LSTM layer alone, at the batched actor-learner's shapes, both kernel sets


@pytest.mark.parametrize(("k", "H", "n_in"), [(1, 256, 256), (8, 256, 256), (32, 256, 256), (3, 13, 7)])
def test_lstm_layer_rollout_matches_reference(kernel_isa, k, H, n_in):
    """_core._LstmLayer (the lstm.cc path of the archs: forward of T steps, BPTT, weight
    GEMMs over all steps) vs the float64 reference: H = in = 256 as in a3c_lstm at the
    batched shapes, and 13 cells (the AVX2 activations' scalar tail)."""
    rng = np.random.default_rng(k)
    steps = 5
    bound = 1 / np.sqrt(H)
    sd = {
        "lstm.weight_ih": rng.uniform(-bound, bound, (4 * H, n_in)),
        "lstm.weight_hh": rng.uniform(-bound, bound, (4 * H, H)),
        "lstm.bias_ih": rng.normal(scale=0.3, size=4 * H),
        "lstm.bias_hh": rng.normal(scale=0.3, size=4 * H),
    }
    x = np.maximum(rng.normal(size=(steps, k, n_in)), 0)  # a ReLU'd fc output
    h0, c0 = rng.uniform(-0.9, 0.9, (k, H)), rng.normal(size=(k, H))
    dh = rng.normal(size=(steps, k, H))
    f32 = {name: v.astype(np.float32) for name, v in sd.items()}
    layer = _core._LstmLayer(f32["lstm.weight_ih"], f32["lstm.weight_hh"], f32["lstm.bias_ih"], f32["lstm.bias_hh"])
    h, grads = layer.rollout(
        x.reshape(steps * k, n_in).astype(np.float32), k, h0.astype(np.float32), c0.astype(np.float32),
        dh.reshape(steps * k, H).astype(np.float32),
    )  # fmt: skip
    # The float64 reference on the float32-rounded inputs, so only the arithmetic differs.
    sd64 = {name: v.astype(np.float64) for name, v in f32.items()}
    x64, h64, c64 = (a.astype(np.float32).astype(np.float64) for a in (x, h0, c0))
    hs, caches = [], []
    hh, cc = h64, c64
    for t in range(steps):
        hh, cc, cache = rlstm.lstm_step(sd64, x64[t], hh, cc)
        hs.append(hh)
        caches.append(cache)
    assert_close(h, np.concatenate(hs), FWD_ATOL, 0, name="h of every step")
    # BPTT of sum_t <dh_t, h_t> in float64.
    want = {name: np.zeros_like(v) for name, v in sd64.items()}
    dx = np.zeros_like(x64)
    dh64 = dh.astype(np.float32).astype(np.float64)
    dh_next, dc_next = np.zeros((k, H)), np.zeros((k, H))
    for t in range(steps - 1, -1, -1):
        s = caches[t]
        i, f, g, o, tc = s["i"], s["f"], s["g"], s["o"], s["tc"]
        d_h = dh64[t] + dh_next
        d_c = dc_next + d_h * o * (1 - tc**2)
        dz = np.concatenate([d_c * g * i * (1 - i), d_c * s["c_in"] * f * (1 - f), d_c * i * (1 - g**2), d_h * tc * o * (1 - o)], axis=1)
        want["lstm.weight_ih"] += dz.T @ s["x"]
        want["lstm.weight_hh"] += dz.T @ s["h_in"]
        want["lstm.bias_ih"] += dz.sum(0)
        want["lstm.bias_hh"] += dz.sum(0)
        dx[t] = dz @ sd64["lstm.weight_ih"]
        dh_next, dc_next = dz @ sd64["lstm.weight_hh"], d_c * f
    names = ("lstm.weight_ih", "lstm.weight_hh", "lstm.bias_ih", "lstm.bias_hh")
    for name, got in zip(names, grads[:4], strict=True):
        atol, rtol = grad_tolerance(want[name], GRAD_RTOL, GRAD_FLOOR)
        assert_close(got, want[name], atol, rtol, name=f"d/d {name} (k={k})")
    atol, rtol = grad_tolerance(dx, GRAD_RTOL, GRAD_FLOOR)
    assert_close(grads[4], dx.reshape(steps * k, n_in), atol, rtol, name=f"dx (k={k})")


# ---------------------------------------------------------------------------------------------
# a run with a recurrent agent, end to end


def test_train_checkpoint_evaluate_and_resume_a_recurrent_agent(tmp_path):
    from a3c_native import Policy, evaluate, load_checkpoint, train

    run = tmp_path / "run"
    cfg = A3CConfig(env_fn=cartpole, arch="mlp_lstm", hidden=(32, 32), threads=2, envs_per_thread=4, t_max=5,
                    gamma=0.95, lr=1e-3, total_steps=12_000, run_dir=str(run))  # fmt: skip
    r = train(cfg)
    assert r.total_steps >= 12_000 and r.episodes and r.skipped_updates == 0
    assert np.isfinite(r.params).all()
    ckpt = load_checkpoint(run / "checkpoint.npz")
    assert ckpt.arch == "mlp_lstm" and ckpt.network().recurrent
    result = evaluate(run / "checkpoint.npz", env_fn=cartpole, episodes=3, threads=2)
    assert (result.lengths >= 8).all()  # CartPole games last at least ~8 steps
    policy = Policy.load(run / "checkpoint.npz")
    obs, _ = cartpole().reset(seed=0)
    action, state = policy.act(obs.astype(np.float32))
    assert action in (0, 1) and state[0].shape == (1, 32) and np.abs(state[0]).max() > 0
    action2, state2 = policy.act(obs.astype(np.float32), state=state)
    assert state2[1].shape == (1, 32)
    with pytest.raises(ValueError, match="feed-forward"):
        Policy(Network("mlp", (4,), 2), Network("mlp", (4,), 2).init_params(0)).act(obs, state=state)
    r2 = train(dataclasses.replace(cfg, total_steps=20_000), resume=run / "checkpoint.npz")
    assert r2.total_steps >= 20_000
