"""The action-value networks of the value-based methods (issue 20): layout, forward and the TD
loss's gradient against the float64 NumPy reference and central finite differences."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import CONFIGS, FWD_ATOL, assert_close, assert_q_gradient, kink_free_obs
from reference import numpy_net as ref

from a3c_native import Network

ARCHS = ("a3c", "nature", "mlp")
N = 6


@functools.cache
def _case(cfg_id: str):
    cfg = CONFIGS[cfg_id]
    net = Network(cfg.arch, cfg.obs_shape, cfg.num_actions, hidden=cfg.hidden, head="q")
    spec = ref.q_param_spec(cfg.arch, cfg.obs_shape, cfg.num_actions, cfg.hidden)
    rng = np.random.default_rng(2)
    params = net.init_params(3)
    sd = ref.split_params(params, spec)
    sd["q.bias"] = rng.normal(scale=0.5, size=sd["q.bias"].shape)
    params = ref.join_params(sd, spec)
    sd = ref.split_params(params, spec)
    obs = kink_free_obs(cfg, {**sd, **_ac_heads(cfg, sd)}, N, rng)
    actions = rng.integers(0, cfg.num_actions, N).astype(np.int64)
    targets = rng.normal(size=N).astype(np.float32)
    return net, spec, params, sd, obs, actions, targets


def _ac_heads(cfg, sd):
    """Dummy policy/value heads so the feed-forward kink search (which runs the whole
    actor-critic reference) accepts the q net's trunk."""
    feat = sd["q.weight"].shape[1]
    return {
        "policy.weight": np.zeros((cfg.num_actions, feat)),
        "value.weight": np.zeros((1, feat)),
        "policy.bias": np.zeros(cfg.num_actions),
        "value.bias": np.zeros(1),
    }


@pytest.mark.parametrize("cfg_id", ARCHS)
def test_q_layout_and_init(cfg_id):
    net, spec, *_ = _case(cfg_id)
    assert [(t.name, t.shape) for t in net.layout] == [(n, tuple(s)) for n, s in spec]
    assert net.head == "q"
    sd = net.to_state_dict(net.init_params(0))
    np.testing.assert_allclose(np.linalg.norm(sd["q.weight"], axis=1), 1.0, rtol=1e-5)
    assert not sd["q.bias"].any()


@pytest.mark.parametrize("cfg_id", ARCHS)
def test_q_forward_matches_reference(cfg_id):
    net, _, params, sd, obs, *_ = _case(cfg_id)
    q = net.forward(params, obs)
    want, _, _ = ref.q_forward_cache(sd, obs)
    assert_close(q, want, FWD_ATOL, 0, name="Q")


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("cfg_id", ARCHS)
def test_q_loss_gradient_matches_reference_and_finite_differences(cfg_id, reduction):
    net, spec, params, sd, obs, actions, targets = _case(cfg_id)
    loss, grad = net.q_loss_and_grad(params, obs, actions, targets, reduction=reduction)
    want_loss, _ = ref.q_loss_and_grad(sd, obs, actions, targets, reduction=reduction)
    assert loss == pytest.approx(want_loss, rel=1e-5, abs=1e-5)
    assert_q_gradient(ref.split_params(grad, spec), sd, obs, actions, targets, reduction=reduction, seed=9)


def test_only_the_taken_action_gets_a_gradient():
    net, spec, params, sd, obs, actions, targets = _case("mlp")
    _, grad = net.q_loss_and_grad(params, obs[:1], actions[:1], targets[:1])
    dq_w = ref.split_params(grad, spec)["q.weight"]
    others = [a for a in range(dq_w.shape[0]) if a != actions[0]]
    assert not dq_w[others].any() and dq_w[actions[0]].any()


def test_q_network_errors_name_the_problem():
    net, _, params, _, obs, actions, targets = _case("mlp")
    with pytest.raises(ValueError, match="use q_loss_and_grad"):
        net.loss_and_grad(params, obs, actions, targets)
    bad = targets.copy()
    bad[2] = np.inf
    with pytest.raises(ValueError, match=r"targets\[2\]=inf is not finite"):
        net.q_loss_and_grad(params, obs, actions, bad)
    pv = Network("mlp", (7,), 3, hidden=(32, 24))
    with pytest.raises(ValueError, match="policy and value heads: use loss_and_grad"):
        pv.q_loss_and_grad(pv.init_params(0), obs, actions, targets)
    with pytest.raises(ValueError, match="head='q' needs a feed-forward arch"):
        Network("mlp_lstm", (7,), 3, head="q")
    with pytest.raises(ValueError, match="unknown head 'dueling'"):
        Network("mlp", (7,), 3, head="dueling")
