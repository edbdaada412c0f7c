"""Native loss terms and gradients vs the float64 reference and central finite differences.

Chain of evidence: the reference backward is checked against finite differences of the
reference loss (test_reference_backward_*); the native gradient is then checked against
both, per tensor, plus a whole-loss directional derivative. Finite differences run on the
frozen-advantage surrogate (see reference/finite_diff.py), which is what A3C differentiates.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import (
    CONFIGS,
    DIR_RTOL,
    FC_MAG_RTOL,
    FC_SHAPES,
    FD_ABS_FLOOR,
    FD_FLOOR,
    FD_RTOL,
    GRAD_FLOOR,
    GRAD_RTOL,
    ISA_GRAD_FLOOR,
    ISA_GRAD_RTOL,
    LOSS_ATOL,
    LOSS_RTOL,
    MAIN_CONFIGS,
    assert_close,
    assert_close_to_magnitude,
    fc_case,
    fc_isa_batches,
    grad_tolerance,
    make_rollout,
    split,
)
from reference import finite_diff as fd
from reference import numpy_net as ref

BATCH = 5
REDUCTIONS = ("sum", "mean")
# Non-default coefficients so that a term with a dropped or wrong coefficient shows up; beta is
# large so the entropy gradient is comparable to the policy gradient (with a peaked policy).
LOSS_KW = {"entropy_beta": 0.3, "value_coef": 0.7}
TERMS = ("policy_loss", "value_loss", "entropy", "total")
MAX_SKIPPED_FRACTION = 0.25  # of the sampled coordinates per tensor lost to ReLU kinks


@functools.cache
def _case(cfg_id: str, reduction: str):
    """Rollout, reference terms/grads and FD samples; shared by both kernel sets."""
    cfg = CONFIGS[cfg_id]
    r = make_rollout(cfg, BATCH, seed=11, peaked=True)
    kw = dict(LOSS_KW, reduction=reduction)
    terms, grads = ref.loss_and_grad(r.sd, r.obs, r.actions, r.returns, **kw)
    samples = fd.fd_samples(r.sd, r.obs, r.actions, r.returns, loss_kwargs=kw, seed=5)
    return r, kw, terms, grads, samples


def _native(r, kw):
    return r.cfg.make().loss_and_grad(r.params, r.obs, r.actions, r.returns, **kw)


def _check_fd(grads_by_name, samples, label):
    """Compare `grads_by_name[name].flat[idx]` with every FD sample; report all tensors."""
    failures = []
    for name, s in samples.items():
        assert len(s.skipped) <= MAX_SKIPPED_FRACTION * (len(s.indices) + len(s.skipped)), (
            f"{name}: {len(s.skipped)} coordinates on ReLU kinks; pick another seed"
        )
        got = np.asarray(grads_by_name[name]).reshape(-1)[s.indices]
        atol, rtol = grad_tolerance(s.values, FD_RTOL, FD_FLOOR, FD_ABS_FLOOR)
        try:
            assert_close(got, s.values, atol, rtol, name=f"{label} d/d {name} (vs FD, flat idx)")
        except AssertionError as e:
            failures.append(f"{e}\n  sampled flat indices: {s.indices[:8].tolist()}...")
    if failures:
        raise AssertionError("\n".join(failures))


# ---------------------------------------------------------------------------------------------
# the reference itself


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_reference_backward_matches_finite_differences(cfg_id, reduction):
    _, _, _, grads, samples = _case(cfg_id, reduction)
    _check_fd(grads, samples, f"reference {cfg_id}/{reduction}")


def test_reference_frozen_advantage_matters():
    # Guard for the FD setup: differencing the plain loss value (advantage NOT frozen) must
    # disagree with the A3C gradient in the value head, else the checks above prove nothing
    # about "advantage treated as a constant".
    r, kw, _, grads, _ = _case("mlp", "sum")

    def f(delta):  # the plain loss value: R - V recomputed at the perturbed params
        sd = dict(r.sd, **{"value.bias": r.sd["value.bias"] + delta})
        return ref.loss(sd, r.obs, r.actions, r.returns, **kw)["total"]

    plain_fd = (f(1e-5) - f(-1e-5)) / 2e-5
    assert abs(plain_fd - grads["value.bias"][0]) > 1e-3 * (abs(plain_fd) + 1.0)


# ---------------------------------------------------------------------------------------------
# native vs reference


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_loss_terms_match_reference(cfg_id, reduction, kernel_isa):
    r, kw, want, _, _ = _case(cfg_id, reduction)
    terms, grad = _native(r, kw)
    assert set(terms) >= set(TERMS), f"missing terms: {set(TERMS) - set(terms)}"
    for k in TERMS:
        assert isinstance(terms[k], float), f"{k} is {type(terms[k]).__name__}, not float"
    got = np.array([terms[k] for k in TERMS])
    assert_close(
        got,
        np.array([want[k] for k in TERMS]),
        LOSS_ATOL,
        LOSS_RTOL,
        name=f"{cfg_id}/{reduction}/{kernel_isa} terms {TERMS}",
    )
    assert grad.dtype == np.float32
    assert grad.shape == r.params.shape


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_grad_matches_finite_differences(cfg_id, reduction, kernel_isa):
    r, kw, _, _, samples = _case(cfg_id, reduction)
    _, grad = _native(r, kw)
    assert np.all(np.isfinite(grad)), f"non-finite grad at {np.flatnonzero(~np.isfinite(grad))[:8]}"
    _check_fd(split(grad, r.cfg), samples, f"native {cfg_id}/{reduction}/{kernel_isa}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cfg_id", [*MAIN_CONFIGS, "a3c_rect", "a3c_im2col"])
def test_grad_matches_reference_backward(cfg_id, reduction, kernel_isa):
    # every coordinate, not just the FD samples
    r = make_rollout(CONFIGS[cfg_id], BATCH, seed=11, peaked=True)
    kw = dict(LOSS_KW, reduction=reduction)
    _, want = ref.loss_and_grad(r.sd, r.obs, r.actions, r.returns, **kw)
    _, grad = _native(r, kw)
    got = split(grad, r.cfg)
    failures = []
    for name, _ in r.cfg.spec:
        atol, rtol = grad_tolerance(want[name], GRAD_RTOL, GRAD_FLOOR)
        try:
            assert_close(got[name], want[name], atol, rtol, name=f"{cfg_id}/{reduction} d/d {name}")
        except AssertionError as e:
            failures.append(str(e))
    if failures:
        raise AssertionError("\n".join(failures))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_grad_directional_derivative(cfg_id, reduction, kernel_isa):
    r, kw, _, ref_grads, _ = _case(cfg_id, reduction)
    _, grad = _native(r, kw)
    rng = np.random.default_rng(99)
    v = rng.normal(size=grad.size)
    v /= np.linalg.norm(v)
    v_sd = split(v, r.cfg)  # float64 direction, same documented order as the params
    deriv, _ = fd.directional_derivative(
        r.sd, v_sd, r.obs, r.actions, r.returns, t=1e-4, loss_kwargs=kw
    )
    got = float(np.dot(grad.astype(np.float64), v))
    scale = sum(float(np.abs(ref_grads[k] * v_sd[k]).sum()) for k in v_sd)
    assert abs(got - deriv) <= DIR_RTOL * (abs(deriv) + scale), (
        f"grad.v = {got:.9g}, d/dt L(p + t v) = {deriv:.9g}, |diff| = {abs(got - deriv):.3g}, "
        f"allowed {DIR_RTOL * (abs(deriv) + scale):.3g}"
    )


@pytest.mark.parametrize("cfg_id", MAIN_CONFIGS)
def test_loss_mean_is_sum_over_n(cfg_id):
    r, kw, _, _, _ = _case(cfg_id, "sum")
    t_sum, g_sum = _native(r, dict(kw, reduction="sum"))
    t_mean, g_mean = _native(r, dict(kw, reduction="mean"))
    for k in TERMS:
        assert t_mean[k] == pytest.approx(t_sum[k] / BATCH, rel=1e-6, abs=1e-7), k
    # Scaling dlogits by 1/N before the backward (mean) and the gradient after it (sum/N)
    # round differently: the same order of error as two kernel sets' summation orders.
    atol, rtol = grad_tolerance(g_sum / BATCH, ISA_GRAD_RTOL, ISA_GRAD_FLOOR)
    assert_close(g_mean, g_sum / BATCH, atol, rtol, name=f"{cfg_id} grad mean vs sum/N")


def test_loss_defaults_are_documented_values():
    # entropy_beta=0.01, value_coef=0.5, reduction="sum"
    r, _, _, _, _ = _case("a3c", "sum")
    net = r.cfg.make()
    t_default, g_default = net.loss_and_grad(r.params, r.obs, r.actions, r.returns)
    t_explicit, g_explicit = net.loss_and_grad(
        r.params, r.obs, r.actions, r.returns, entropy_beta=0.01, value_coef=0.5, reduction="sum"
    )
    assert t_default == t_explicit
    np.testing.assert_array_equal(g_default, g_explicit)
    want = ref.loss(r.sd, r.obs, r.actions, r.returns)
    for k in TERMS:
        assert t_default[k] == pytest.approx(want[k], rel=LOSS_RTOL, abs=LOSS_ATOL), k


# ---------------------------------------------------------------------------------------------
# one FC layer's backward at rollout sizes n = k x t_max: the GEMM kernels' blocked paths


@pytest.mark.parametrize(
    ("kernel_isa", "n"),
    # 5 (one env, t_max 5), 40..1280 (k envs x t_max 20): dW and dx switch to the packed
    # GEMM from 64 rows; 641 leaves partial row panels and unequal K chunks
    fc_isa_batches([5, 40, 64, 80, 160, 641, 1280]),
    indirect=["kernel_isa"],
)
@pytest.mark.parametrize("shape", list(FC_SHAPES))
def test_fc_backward_matches_numpy(shape, n, kernel_isa):
    import a3c_native

    n_in, n_out = FC_SHAPES[shape]
    c = fc_case(n_in, n_out, n, seed=1000 + n)
    x, w, dy = (c[k].astype(np.float64) for k in ("x", "weight", "dy"))
    dweight, dbias, dx = a3c_native._core._linear_backward(c["dy"], c["x"], c["weight"], True)
    assert (dweight.shape, dbias.shape, dx.shape) == ((n_out, n_in), (n_out,), (n, n_in))
    label = f"fc {shape} n{n}"
    assert_close_to_magnitude(
        dweight, dy.T @ x, np.abs(dy).T @ np.abs(x), FC_MAG_RTOL, name=f"{label} dW"
    )
    assert_close_to_magnitude(dbias, dy.sum(0), np.abs(dy).sum(0), FC_MAG_RTOL, name=f"{label} db")
    assert_close_to_magnitude(dx, dy @ w, np.abs(dy) @ np.abs(w), FC_MAG_RTOL, name=f"{label} dx")
    # without the input gradient (the first FC layer of an mlp): same weight gradient
    dweight2, _, none = a3c_native._core._linear_backward(c["dy"], c["x"], c["weight"], False)
    assert none is None
    np.testing.assert_array_equal(dweight2, dweight)
