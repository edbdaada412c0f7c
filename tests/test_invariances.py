"""Properties of the native network that need no reference: batch independence, kernel-set
agreement, purity (params untouched), run-to-run determinism, and the loss's linearity in its
coefficients (including the pure policy gradient with entropy_beta = value_coef = 0).
"""

from __future__ import annotations

import threading

import a3c_native
import numpy as np
import pytest
from conftest import (
    BATCH_ATOL,
    CONFIGS,
    FC_SHAPES,
    GRAD_FLOOR,
    GRAD_RTOL,
    ISA_ATOL,
    ISA_GRAD_FLOOR,
    ISA_GRAD_RTOL,
    ISA_RTOL,
    LOSS_ATOL,
    LOSS_RTOL,
    MAIN_CONFIGS,
    assert_close,
    avx2_available,
    fc_case,
    grad_tolerance,
    make_rollout,
)
from reference import numpy_net as ref

N = 5
KW = {"entropy_beta": 0.3, "value_coef": 0.7}


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_forward_batch_equals_single_samples(cfg_id, kernel_isa):
    r = make_rollout(CONFIGS[cfg_id], N, seed=21, peaked=True)
    net = r.cfg.make()
    logits, values = net.forward(r.params, r.obs)
    for i in range(N):
        li, vi = net.forward(r.params, r.obs[i : i + 1])
        assert_close(
            li[0], logits[i], BATCH_ATOL, 0.0, name=f"{cfg_id} logits[{i}] single vs batch"
        )
        assert_close(
            vi, values[i : i + 1], BATCH_ATOL, 0.0, name=f"{cfg_id} value[{i}] single vs batch"
        )


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_grad_sum_equals_sum_of_single_sample_grads(cfg_id, kernel_isa):
    r = make_rollout(CONFIGS[cfg_id], N, seed=22, peaked=True)
    net = r.cfg.make()
    terms, grad = net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW, reduction="sum")
    acc = np.zeros(grad.shape, dtype=np.float64)
    acc_terms = dict.fromkeys(terms, 0.0)
    for i in range(N):
        s = slice(i, i + 1)
        ti, gi = net.loss_and_grad(
            r.params, r.obs[s], r.actions[s], r.returns[s], **KW, reduction="sum"
        )
        acc += gi
        for k in acc_terms:
            acc_terms[k] += ti[k]
    for k in ("policy_loss", "value_loss", "entropy", "total"):
        assert terms[k] == pytest.approx(acc_terms[k], rel=LOSS_RTOL, abs=LOSS_ATOL), k
    atol, rtol = grad_tolerance(acc, GRAD_RTOL, GRAD_FLOOR)
    assert_close(grad, acc, atol, rtol, name=f"{cfg_id} grad batch vs sum of singles")


@pytest.mark.parametrize("cfg_id", [*MAIN_CONFIGS, "a3c_rect"])
def test_kernel_sets_agree(cfg_id):
    if not avx2_available():
        pytest.skip("CPU has no AVX2/FMA")
    core = a3c_native._core
    previous = core.kernel_isa()
    try:
        r = make_rollout(CONFIGS[cfg_id], N, seed=23, peaked=True)
        net = r.cfg.make()
        out = {}
        for isa in ("scalar", "avx2"):
            core.set_kernel_isa(isa)
            out[isa] = (
                net.forward(r.params, r.obs),
                net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW),
            )
    finally:
        core.set_kernel_isa(previous)
    (ls, vs), (ts, gs) = out["scalar"]
    (la, va), (ta, ga) = out["avx2"]
    assert_close(la, ls, ISA_ATOL, ISA_RTOL, name=f"{cfg_id} logits avx2 vs scalar")
    assert_close(va, vs, ISA_ATOL, ISA_RTOL, name=f"{cfg_id} values avx2 vs scalar")
    for k in ts:
        assert ta[k] == pytest.approx(ts[k], rel=ISA_RTOL, abs=ISA_ATOL), k
    for name, t in ref.split_params(gs, r.cfg.spec).items():
        lo, hi = _offsets(r.cfg.spec)[name]
        atol, rtol = grad_tolerance(t, ISA_GRAD_RTOL, ISA_GRAD_FLOOR)
        assert_close(ga[lo:hi], gs[lo:hi], atol, rtol, name=f"{cfg_id} d/d {name} avx2 vs scalar")


def _offsets(spec):
    out, off = {}, 0
    for name, shape in spec:
        size = int(np.prod(shape))
        out[name] = (off, off + size)
        off += size
    return out


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_calls_do_not_modify_inputs(cfg_id, kernel_isa):
    r = make_rollout(CONFIGS[cfg_id], N, seed=24, peaked=True)
    net = r.cfg.make()
    before = [a.copy() for a in (r.params, r.obs, r.actions, r.returns)]
    net.forward(r.params, r.obs)
    net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW)
    for a, b, name in zip(
        (r.params, r.obs, r.actions, r.returns),
        before,
        ("params", "obs", "actions", "returns"),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} modified by the call")


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_results_are_deterministic(cfg_id, kernel_isa):
    r = make_rollout(CONFIGS[cfg_id], N, seed=25, peaked=True)
    net = r.cfg.make()
    first_fwd = net.forward(r.params, r.obs)
    first_terms, first_grad = net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW)
    for _ in range(2):
        logits, values = net.forward(r.params, r.obs)
        np.testing.assert_array_equal(logits, first_fwd[0])
        np.testing.assert_array_equal(values, first_fwd[1])
        terms, grad = net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW)
        assert terms == first_terms
        np.testing.assert_array_equal(grad, first_grad)
    # a second Network object with the same config gives bit-identical results
    cfg = r.cfg
    other = a3c_native.Network(
        cfg.arch, obs_shape=cfg.obs_shape, num_actions=cfg.num_actions, hidden=cfg.hidden
    )
    _, grad2 = other.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW)
    np.testing.assert_array_equal(grad2, first_grad)


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_grad_returns_fresh_buffer(cfg_id):
    # the gradient must not alias an internal buffer that the next call overwrites
    r = make_rollout(CONFIGS[cfg_id], N, seed=26, peaked=True)
    net = r.cfg.make()
    _, g1 = net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **KW)
    keep = g1.copy()
    net.loss_and_grad(r.params, r.obs, r.actions, -r.returns, **KW)
    np.testing.assert_array_equal(g1, keep)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_loss_pure_policy_gradient(cfg_id, reduction, kernel_isa):
    # entropy_beta = value_coef = 0 leaves sum_t -log pi(a_t|s_t) * (R_t - V_t) with the
    # advantage a constant: total == policy_loss and the value head gets exactly zero gradient.
    r = make_rollout(CONFIGS[cfg_id], N, seed=27, peaked=True)
    net = r.cfg.make()
    kw = {"entropy_beta": 0.0, "value_coef": 0.0, "reduction": reduction}
    terms, grad = net.loss_and_grad(r.params, r.obs, r.actions, r.returns, **kw)
    assert terms["total"] == pytest.approx(terms["policy_loss"], rel=1e-6, abs=1e-7)
    off = _offsets(r.cfg.spec)
    for name in ("value.weight", "value.bias"):
        lo, hi = off[name]
        np.testing.assert_array_equal(grad[lo:hi], 0.0, err_msg=f"{name}: gradient through R - V")
    want_terms, want = ref.loss_and_grad(r.sd, r.obs, r.actions, r.returns, **kw)
    assert terms["policy_loss"] == pytest.approx(
        want_terms["policy_loss"], rel=LOSS_RTOL, abs=LOSS_ATOL
    )
    for name, t in want.items():
        lo, hi = off[name]
        atol, rtol = grad_tolerance(t, GRAD_RTOL, GRAD_FLOOR)
        assert_close(grad[lo:hi].reshape(t.shape), t, atol, rtol, name=f"pg d/d {name}")


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_loss_is_linear_in_coefficients(cfg_id):
    # grad(beta, c) = grad(0, 0) + c * [grad(0, 1) - grad(0, 0)] + beta * [grad(1, 0) - grad(0, 0)]
    # (weights must be >= 0, so the entropy term is isolated with beta = +1)
    r = make_rollout(CONFIGS[cfg_id], N, seed=28, peaked=True)
    net = r.cfg.make()

    def run(beta, c):
        t, g = net.loss_and_grad(
            r.params, r.obs, r.actions, r.returns, entropy_beta=beta, value_coef=c
        )
        return t, g.astype(np.float64)

    t00, g00 = run(0.0, 0.0)
    t01, g01 = run(0.0, 1.0)
    tb0, gb0 = run(1.0, 0.0)
    beta, c = 0.03, 0.4
    t, g = run(beta, c)
    want = g00 + c * (g01 - g00) + beta * (gb0 - g00)
    assert_close(
        g, want, *grad_tolerance(want, GRAD_RTOL, GRAD_FLOOR), name=f"{cfg_id} grad(beta, c)"
    )
    assert t01["total"] - t00["total"] == pytest.approx(t00["value_loss"], rel=1e-4, abs=1e-5)
    assert t00["total"] - tb0["total"] == pytest.approx(t00["entropy"], rel=1e-4, abs=1e-5)
    assert t["total"] == pytest.approx(
        t["policy_loss"] + c * t["value_loss"] - beta * t["entropy"], rel=1e-6, abs=1e-6
    )


@pytest.mark.parametrize("shape", list(FC_SHAPES))
def test_fc_forward_row_independent_of_batch(shape, kernel_isa):
    # Each output's summation order depends on the layer's size only, not on the batch or the
    # row's position in it, so acting on k envs at once gives bit-identical outputs to acting
    # on each alone (and the blocking cannot mix rows up).
    core = a3c_native._core
    c = fc_case(*FC_SHAPES[shape], 37, seed=7)
    y = core._linear_forward(c["x"], c["weight"], c["bias"], relu=False)
    for rows in (slice(0, 1), slice(36, 37), slice(10, 26), slice(5, 11)):
        part = core._linear_forward(c["x"][rows], c["weight"], c["bias"], relu=False)
        np.testing.assert_array_equal(
            part, y[rows], err_msg=f"rows {rows} alone vs in a batch of 37"
        )


@pytest.mark.parametrize("shape", ["a3c", "odd"])
def test_fc_kernels_deterministic_across_calls_and_threads(shape, kernel_isa):
    # The packed GEMM keeps per-thread scratch: results must not depend on the thread or on
    # what it computed before (the 1-thread Hogwild == locked test relies on run-to-run
    # bit-identity).
    core = a3c_native._core
    big = fc_case(*FC_SHAPES[shape], 641, seed=8)
    small = fc_case(*FC_SHAPES[shape], 64, seed=9)

    def run():
        fwd = core._linear_forward(small["x"], small["weight"], small["bias"], relu=True)
        return (fwd, *core._linear_backward(big["dy"], big["x"], big["weight"], True))

    first = run()
    core._linear_backward(small["dy"], small["x"], small["weight"], True)  # other shapes between
    again = run()
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", run()))
    t.start()
    t.join()
    for name, a, b, c in zip(("y", "dW", "db", "dx"), first, again, box["out"], strict=True):
        np.testing.assert_array_equal(b, a, err_msg=f"{name}: second call differs")
        np.testing.assert_array_equal(c, a, err_msg=f"{name}: another thread differs")
