"""Shared fixtures for the network-core tests: seeds, tiny per-arch configs, kernel-set
selection, batches kept away from ReLU kinks, and `assert_close` (llm.c check_tensor style).

Tolerances live here as named constants with the reason for each; tests never loosen them
locally. Nothing here knows the native buffer layout beyond the documented tensor order.
"""

from __future__ import annotations

import os

# The float64 reference is BLAS-bound; on the 2 shared cores a multi-threaded BLAS is ~10x
# slower than one thread. Must be set before NumPy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import functools
import signal
from dataclasses import dataclass

import a3c_native
import numpy as np
import pytest
from reference import finite_diff as fd
from reference import numpy_net as ref

# A test run started in the background of a non-interactive shell (`python -m pytest &`)
# inherits SIGINT ignored, and so would every CLI the Ctrl-C tests start (an ignored signal
# stays ignored across exec): those tests are about a user's Ctrl-C, so the runner takes
# Python's default handler back (a handler, unlike SIG_IGN, is reset to the default in its
# children).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# ---------------------------------------------------------------------------------------------
# tolerances (float32 native vs float64 reference unless stated)

# Forward: float32 dot products of <= ~3k terms carry ~1e-6 error; a layout or indexing bug
# moves logits/values by >= 1e-2, so 1e-4 separates the two with room on both sides.
FWD_ATOL = 1e-4
FWD_RTOL = 0.0
# Loss terms are sums over N steps of float32 log-probs/values: same scale as the forward,
# plus a relative part because a sum-reduced total can be O(10).
LOSS_ATOL = 1e-4
LOSS_RTOL = 1e-5
# Gradient vs float64 central differences (the brief's metric): per coordinate
# |g - g_fd| <= FD_RTOL * (|g_fd| + FD_FLOOR * max|g_fd| over the sampled coords + FD_ABS_FLOOR).
# FD error in float64 is ~1e-8 relative; float32 accumulation in the native backward is
# ~1e-5 relative to the tensor's largest entries, which the floor absorbs. A wrong sign, a
# missing term or a transposed index gives O(1) relative error.
FD_RTOL = 1e-2
FD_FLOOR = 1e-3
FD_ABS_FLOOR = 1e-6
# Gradient vs the float64 hand-written reference backward, every coordinate: same metric,
# tighter, since both are exact up to float32 rounding (~1e-5 of the tensor's max after sums of
# up to a few hundred terms with cancellation).
GRAD_RTOL = 1e-3
GRAD_FLOOR = 1e-2
# Whole-loss directional derivative d/dt L(p + t v) vs grad . v: float32 dot product over all
# params, relative to sum |g_i v_i| (the scale of the terms that cancel in the dot product).
DIR_RTOL = 1e-3
# N batches of 1 vs one batch of N: same kernels, only blocking/summation order can change.
BATCH_ATOL = 1e-5
# Scalar vs AVX2 kernels: identical math; FMA contraction and summation order differ (~1e-7
# relative per op).
ISA_ATOL = 1e-5
ISA_RTOL = 1e-5
ISA_GRAD_RTOL = 1e-4
ISA_GRAD_FLOOR = 1e-2
# One linear layer alone (the FC kernels at the batched shapes) vs float64, per element,
# relative to its magnitude sum_k |a_k b_k| (+ |bias|), the scale float32 summation error grows
# with: blocked float32 sums of up to 3136 terms measure <= 4e-7 of it (bm_gemm's checks agree),
# the float32 rounding of the result alone is 6e-8; a blocking bug (a dropped K chunk, a
# shifted panel, a stale tile) is >= 1e-2 of it. 4e-6 leaves 10x headroom.
FC_MAG_RTOL = 4e-6
# Inputs are drawn so every nonzero ReLU pre-activation is at least this far from 0: float32
# pre-activations are off by ~1e-6 at most, so the native and float64 ReLU masks agree.
KINK_MARGIN = 1e-5

# ---------------------------------------------------------------------------------------------
# configs

ACTION_DTYPE = np.int64  # actions as the trainer produces them
KERNEL_ISAS = ("scalar", "avx2")

# (in, out) of one FC layer for the kernel tests: both archs' hidden FC layer on 84x84 input,
# and odd sizes that leave partial register tiles, partial column panels and a masked K tail
# in every blocked path of the GEMM kernels.
FC_SHAPES = {"a3c": (2592, 256), "nature": (3136, 512), "odd": (1003, 133)}
# The scalar reference kernels are the unchanged yardstick and take ~1 s per large FC case, so
# the FC kernel tests run them up to this batch only; AVX2 runs every batch.
FC_SCALAR_MAX_BATCH = 40


def fc_isa_batches(batches):
    """(kernel_isa, batch) pairs for the FC kernel tests (indirect kernel_isa parametrization)."""
    return [
        pytest.param(isa, b, id=f"{isa}-b{b}")
        for b in batches
        for isa in KERNEL_ISAS
        if isa == "avx2" or b <= FC_SCALAR_MAX_BATCH
    ]


@dataclass(frozen=True)
class NetConfig:
    """A small network for tests (conv outputs >= 2x2 so the flatten order is exercised)."""

    id: str
    arch: str
    obs_shape: tuple[int, ...]
    num_actions: int
    hidden: tuple[int, int] = (64, 64)

    def make(self) -> a3c_native.Network:
        return make_net(self)

    @property
    def spec(self):
        return ref.param_spec(self.arch, self.obs_shape, self.num_actions, self.hidden)


CONFIGS = {
    # a3c: conv1 -> 16x8x8, conv2 -> 32x3x3, flatten 288
    "a3c": NetConfig("a3c", "a3c", (4, 36, 36), 6),
    # non-square input with 3 channels: conv2 -> 32x3x4, catches H/W swaps in the flatten
    "a3c_rect": NetConfig("a3c_rect", "a3c", (3, 36, 44), 4),
    # H, W not multiples of the stride: conv1 takes the im2col path instead of space-to-depth
    "a3c_im2col": NetConfig("a3c_im2col", "a3c", (2, 38, 41), 3),
    # nature: conv1 -> 32x12x12, conv2 -> 64x5x5, conv3 -> 64x3x3, flatten 576
    "nature": NetConfig("nature", "nature", (4, 52, 52), 5),
    # mlp with unequal hidden sizes so a transposed fc2 cannot pass
    "mlp": NetConfig("mlp", "mlp", (7,), 3, (32, 24)),
}
MAIN_CONFIGS = ("a3c", "nature", "mlp")
ALL_CONFIGS = tuple(CONFIGS)


@functools.cache
def make_net(cfg: NetConfig) -> a3c_native.Network:
    return a3c_native.Network(
        cfg.arch, obs_shape=cfg.obs_shape, num_actions=cfg.num_actions, hidden=cfg.hidden
    )


def split(params: np.ndarray, cfg: NetConfig) -> dict[str, np.ndarray]:
    """float64 state dict from a flat buffer, by the documented order (not net.layout)."""
    return ref.split_params(params, cfg.spec)


def random_obs(cfg: NetConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    if cfg.arch == "mlp":
        return rng.normal(size=(n, *cfg.obs_shape)).astype(np.float32)
    return rng.integers(0, 256, size=(n, *cfg.obs_shape), dtype=np.uint8)


def kink_free_obs(cfg, sd, n, rng, *, margin=KINK_MARGIN, tries=200) -> np.ndarray:
    """Random obs whose ReLU pre-activations (float64) all stay `margin` away from 0."""
    for _ in range(tries):
        obs = random_obs(cfg, n, rng)
        if fd.min_abs_preactivation(sd, obs) > margin:
            return obs
    raise RuntimeError(f"{cfg.id}: no kink-free batch of {n} in {tries} draws")


@dataclass
class Rollout:
    cfg: NetConfig
    params: np.ndarray  # float32 [P]
    sd: dict  # float64 state dict of `params`
    obs: np.ndarray  # [N, *obs_shape]
    actions: np.ndarray  # int [N]
    returns: np.ndarray  # float32 [N]


def make_rollout(cfg: NetConfig, n: int, seed: int, *, peaked: bool = False) -> Rollout:
    """Init params (seeded) and a kink-free rollout of n steps; returns ~ N(0, 1).

    peaked=True scales the policy head up (logits ~ O(1)): at init the policy is near uniform,
    where the entropy gradient vanishes, so gradient tests need a peaked policy to see a wrong
    entropy term at all.
    """
    rng = np.random.default_rng(seed)
    params = make_net(cfg).init_params(seed=seed)
    if peaked:
        sd = split(params, cfg)
        feat = sd["policy.weight"].shape[1]
        sd["policy.weight"] = rng.normal(size=sd["policy.weight"].shape) * (2.0 / np.sqrt(feat))
        sd["policy.bias"] = rng.normal(scale=0.5, size=sd["policy.bias"].shape)
        params = ref.join_params(sd, cfg.spec)
    sd = split(params, cfg)
    obs = kink_free_obs(cfg, sd, n, rng)
    actions = rng.integers(0, cfg.num_actions, size=n).astype(ACTION_DTYPE)
    returns = rng.normal(size=n).astype(np.float32)
    return Rollout(cfg, params, sd, obs, actions, returns)


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(params=KERNEL_ISAS)
def kernel_isa(request):
    """Select a native kernel set for one test; the previous selection is restored after."""
    core = a3c_native._core
    previous = core.kernel_isa()
    if request.param == "avx2" and not avx2_available():
        pytest.skip("CPU has no AVX2/FMA: only the scalar kernels can run here")
    core.set_kernel_isa(request.param)
    try:
        assert core.kernel_isa() == request.param
        yield request.param
    finally:  # the finalizer: later tests see the selection they started with
        core.set_kernel_isa(previous)


def avx2_available() -> bool:
    """What the native CPU probe says (a failing set_kernel_isa on an AVX2 CPU is a bug)."""
    return bool(a3c_native._core.cpu_has_avx2())


# ---------------------------------------------------------------------------------------------
# comparison


def assert_close(got, want, atol, rtol=0.0, name="tensor", show=5):
    """Elementwise |got - want| <= atol + rtol*|want| (NaN fails), llm.c check_tensor style.

    On failure: the first `show` values side by side, the first violations, and the worst
    element's index, got, want and the max abs diff.
    """
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape got {got.shape}, want {want.shape}")
    g = got.astype(np.float64).ravel()
    w = want.astype(np.float64).ravel()
    diff = np.abs(g - w)
    bad = ~(diff <= atol + rtol * np.abs(w))
    if not bad.any():
        return
    diff_nan_inf = np.where(np.isnan(diff), np.inf, diff)
    worst = int(np.argmax(diff_nan_inf))
    lines = [
        f"{name} NOT OK: {int(bad.sum())}/{g.size} elements outside atol={atol:.3g}, rtol={rtol:.3g}",
        f"  {'index':>14} {'got':>16} {'want':>16}",
    ]
    lines += [f"  {i:>14} {g[i]:>16.9g} {w[i]:>16.9g}" for i in range(min(show, g.size))]
    first_bad = np.flatnonzero(bad)[:show]
    lines.append(
        "  first violations: "
        + ", ".join(
            f"[{np.unravel_index(i, got.shape)}] got {g[i]:.9g} want {w[i]:.9g}" for i in first_bad
        )
    )
    lines.append(
        f"  worst at index {np.unravel_index(worst, got.shape)}: got {g[worst]:.9g}, "
        f"want {w[worst]:.9g}, max abs diff {diff_nan_inf[worst]:.3g}"
    )
    raise AssertionError("\n".join(lines))


def assert_close_to_magnitude(got, want, magnitude, rtol, name="tensor"):
    """|got - want| <= rtol * magnitude elementwise, magnitude >= 0 (e.g. |A| @ |B|); where it
    is 0 (all products zero) got must equal want exactly.

    Reported through assert_close on the values divided by their magnitude.
    """
    scale = np.maximum(np.asarray(magnitude, dtype=np.float64), np.finfo(np.float64).tiny)
    got = np.asarray(got, dtype=np.float64)
    assert_close(got / scale, np.asarray(want) / scale, rtol, 0.0, name=f"{name} / magnitude")


def fc_case(n_in: int, n_out: int, batch: int, seed: int) -> dict[str, np.ndarray]:
    """float32 operands of one linear layer as the networks see them: x after a ReLU (about
    half zeros), He-uniform weight, small bias, dy ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(batch, n_in)), 0.0)
    bound = np.sqrt(6.0 / n_in)
    return {
        "x": x.astype(np.float32),
        "weight": rng.uniform(-bound, bound, size=(n_out, n_in)).astype(np.float32),
        "bias": rng.normal(scale=0.1, size=n_out).astype(np.float32),
        "dy": rng.normal(size=(batch, n_out)).astype(np.float32),
    }


def grad_tolerance(want, rtol, floor, abs_floor=0.0):
    """(atol, rtol) for assert_close meaning |g - w| <= rtol*(|w| + floor*max|w| + abs_floor)."""
    scale = float(np.max(np.abs(want))) if np.size(want) else 0.0
    return rtol * (floor * scale + abs_floor), rtol


def assert_q_gradient(got, sd, obs, actions, targets, *, reduction="sum", seed=0, per_tensor=8):
    """`got` (the package's TD-loss gradient, split per tensor) against the float64 NumPy
    gradient written by hand and against central finite differences of NumPy's loss, at
    `per_tensor` sampled coordinates of every tensor (tests/test_q_loss.py, test_q_learner.py)."""
    _, want = ref.q_loss_and_grad(sd, obs, actions, targets, reduction=reduction)
    for name, w in want.items():
        atol, rtol = grad_tolerance(w, GRAD_RTOL, GRAD_FLOOR)
        assert_close(got[name], w, atol, rtol, name=f"d/d {name}")

    def loss_and_masks(d):
        layers = ref.q_forward_cache(d, obs)[1]
        return ref.q_loss(d, obs, actions, targets, reduction=reduction), [z > 0 for *_, z in layers]

    rng = np.random.default_rng(seed)
    for name in sd:
        idx = fd.sample_indices(int(np.size(sd[name])), per_tensor, rng)
        s = fd.fd_tensor_of(sd, loss_and_masks, name, idx)
        atol, rtol = grad_tolerance(s.values, FD_RTOL, FD_FLOOR, FD_ABS_FLOOR)
        assert_close(got[name].reshape(-1)[s.indices], s.values, atol, rtol, name=f"d/d {name} (vs FD)")


def wait_until_training(proc, ckpt, timeout=60.0, poll=0.02):
    """Block until `proc` (a CLI training run) has written a checkpoint past step 0, which
    the progress callback does once the pool runs; fail if it exits or `timeout` passes."""
    import time

    from a3c_native.checkpoint import load_checkpoint

    deadline = time.monotonic() + timeout
    while not (ckpt.exists() and load_checkpoint(ckpt).step > 0):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(poll)
