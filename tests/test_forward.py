"""Native forward pass vs the float64 NumPy reference, for every arch and kernel set.

Also self-tests the reference (hand-computed conv, naive loop, and PyTorch when installed),
so a forward failure points at the native code, not at the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    ALL_CONFIGS,
    CONFIGS,
    FC_MAG_RTOL,
    FC_SHAPES,
    FWD_ATOL,
    FWD_RTOL,
    assert_close,
    assert_close_to_magnitude,
    fc_case,
    fc_isa_batches,
    kink_free_obs,
    random_obs,
    split,
)
from reference import numpy_net as ref

# ---------------------------------------------------------------------------------------------
# the reference itself


def test_reference_conv2d_hand_computed():
    # 1 image, 1 channel 4x4, one 2x2 kernel, stride 2 -> 2x2 output, worked out by hand
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    b = np.array([0.5])
    # top-left window [[0,1],[4,5]] -> 0+2+12+20 = 34; top-right [[2,3],[6,7]] -> 2+6+18+28 = 54
    # bottom-left [[8,9],[12,13]] -> 8+18+36+52 = 114; bottom-right [[10,11],[14,15]] -> 134
    want = np.array([[[[34.5, 54.5], [114.5, 134.5]]]])
    np.testing.assert_array_equal(ref.conv2d_forward(x, w, b, 2), want)


def test_reference_conv2d_matches_naive_loop(rng):
    x = rng.normal(size=(2, 3, 11, 9))
    w = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    for stride in (1, 2, 3):
        np.testing.assert_allclose(
            ref.conv2d_forward(x, w, b, stride),
            ref.conv2d_forward_naive(x, w, b, stride),
            rtol=0,
            atol=1e-12,
        )


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_reference_forward_matches_torch(cfg_id, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    cfg = CONFIGS[cfg_id]
    sd = {n: rng.normal(size=s) * 0.1 for n, s in cfg.spec}
    obs = random_obs(cfg, 3, rng)
    t = {k: torch.from_numpy(v) for k, v in sd.items()}
    x = torch.from_numpy(obs.astype(np.float64))
    if cfg.arch == "mlp":
        for name in ("fc1", "fc2"):
            x = torch.relu(F.linear(x, t[f"{name}.weight"], t[f"{name}.bias"]))
    else:
        x = x / 255.0
        for name, _, _, stride in ref.CONV_LAYERS[cfg.arch]:
            x = torch.relu(F.conv2d(x, t[f"{name}.weight"], t[f"{name}.bias"], stride=stride))
        x = torch.relu(F.linear(x.flatten(1), t["fc.weight"], t["fc.bias"]))
    want_logits = F.linear(x, t["policy.weight"], t["policy.bias"]).numpy()
    want_values = F.linear(x, t["value.weight"], t["value.bias"])[:, 0].numpy()
    logits, values = ref.forward(sd, obs)
    assert_close(logits, want_logits, 1e-12, 1e-12, name="reference logits vs torch")
    assert_close(values, want_values, 1e-12, 1e-12, name="reference values vs torch")


# ---------------------------------------------------------------------------------------------
# native vs reference


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_forward_matches_reference(cfg_id, batch, kernel_isa):
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    params = net.init_params(seed=1)
    sd = split(params, cfg)
    obs = kink_free_obs(cfg, sd, batch, np.random.default_rng(batch))
    logits, values = net.forward(params, obs)
    assert logits.dtype == np.float32
    assert values.dtype == np.float32
    assert logits.shape == (batch, cfg.num_actions)
    assert values.shape == (batch,)
    want_logits, want_values = ref.forward(sd, obs)
    assert_close(logits, want_logits, FWD_ATOL, FWD_RTOL, name=f"{cfg_id}/{kernel_isa} logits")
    assert_close(values, want_values, FWD_ATOL, FWD_RTOL, name=f"{cfg_id}/{kernel_isa} values")


@pytest.mark.parametrize("cfg_id", ["a3c", "nature", "mlp"])
def test_forward_matches_reference_with_random_params(cfg_id, kernel_isa, rng):
    # Init-scale params give near-zero logits; random O(1) heads and wider weights exercise the
    # whole dynamic range (and make a swapped policy/value row visible).
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    sd = {}
    for name, shape in cfg.spec:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        sd[name] = rng.uniform(-1, 1, size=shape) * np.sqrt(3.0 / max(fan_in, 1))
    params = ref.join_params(sd, cfg.spec)
    sd = split(params, cfg)
    obs = kink_free_obs(cfg, sd, 4, rng)
    logits, values = net.forward(params, obs)
    want_logits, want_values = ref.forward(sd, obs)
    # absolute tolerance scaled to the output magnitude (outputs are O(1)-O(10) here)
    scale = max(1.0, float(np.abs(want_logits).max()), float(np.abs(want_values).max()))
    assert_close(logits, want_logits, FWD_ATOL * scale, FWD_RTOL, name=f"{cfg_id} logits")
    assert_close(values, want_values, FWD_ATOL * scale, FWD_RTOL, name=f"{cfg_id} values")


@pytest.mark.parametrize("fill", [0, 255])
def test_forward_constant_frames(fill, kernel_isa):
    # all-black and all-white frames: the /255 scaling and biases alone decide the output
    cfg = CONFIGS["a3c"]
    net = cfg.make()
    params = net.init_params(seed=2)
    sd = split(params, cfg)
    obs = np.full((2, *cfg.obs_shape), fill, dtype=np.uint8)
    logits, values = net.forward(params, obs)
    want_logits, want_values = ref.forward(sd, obs)
    assert_close(logits, want_logits, FWD_ATOL, FWD_RTOL, name=f"fill={fill} logits")
    assert_close(values, want_values, FWD_ATOL, FWD_RTOL, name=f"fill={fill} values")


def test_forward_default_obs_shape_a3c(kernel_isa):
    # the paper's 4x84x84 input once, to cover the real fc size (2592 inputs)
    import a3c_native

    net = a3c_native.Network("a3c", num_actions=6)
    params = net.init_params(seed=0)
    spec = ref.param_spec("a3c", (4, 84, 84), 6)
    sd = ref.split_params(params, spec)
    obs = np.random.default_rng(0).integers(0, 256, size=(2, 4, 84, 84), dtype=np.uint8)
    logits, values = net.forward(params, obs)
    want_logits, want_values = ref.forward(sd, obs)
    assert_close(logits, want_logits, FWD_ATOL, FWD_RTOL, name="a3c 84x84 logits")
    assert_close(values, want_values, FWD_ATOL, FWD_RTOL, name="a3c 84x84 values")


@pytest.mark.parametrize("arch", ["a3c", "nature"])
@pytest.mark.parametrize("batch", [6, 11, 16])
def test_forward_batched_default_obs_shape(arch, batch, kernel_isa):
    # The real 84x84 networks at acting batches of k envs, including 5q + 1 rows (6, 11, 16),
    # which the FC forward kernel ends with one 6-row block instead of a 1-row pass.
    import a3c_native

    net = a3c_native.Network(arch, num_actions=6)
    params = net.init_params(seed=batch)
    sd = ref.split_params(params, ref.param_spec(arch, (4, 84, 84), 6))
    obs = np.random.default_rng(batch).integers(0, 256, size=(batch, 4, 84, 84), dtype=np.uint8)
    logits, values = net.forward(params, obs)
    want_logits, want_values = ref.forward(sd, obs)
    assert_close(logits, want_logits, FWD_ATOL, FWD_RTOL, name=f"{arch} b{batch} logits")
    assert_close(values, want_values, FWD_ATOL, FWD_RTOL, name=f"{arch} b{batch} values")


# ---------------------------------------------------------------------------------------------
# one FC layer at the batched actor-learner's shapes: the GEMM kernels' blocked paths


@pytest.mark.parametrize(
    ("kernel_isa", "batch"),
    # acting batches k = 4..64, the 5q + 1 batches that used to end in a 1-row GEMV pass
    # (6, 11, 16, 21), and 641 rows: many row blocks and column panels
    fc_isa_batches([1, 4, 5, 6, 11, 16, 21, 40, 64, 641]),
    indirect=["kernel_isa"],
)
@pytest.mark.parametrize("shape", list(FC_SHAPES))
def test_fc_forward_matches_numpy(shape, batch, kernel_isa):
    import a3c_native

    n_in, n_out = FC_SHAPES[shape]
    c = fc_case(n_in, n_out, batch, seed=batch)
    x, w, b = (c[k].astype(np.float64) for k in ("x", "weight", "bias"))
    y = a3c_native._core._linear_forward(c["x"], c["weight"], c["bias"], relu=True)
    assert y.dtype == np.float32
    assert y.shape == (batch, n_out)
    want = np.maximum(x @ w.T + b, 0.0)  # ReLU is 1-Lipschitz: the bound below still holds
    magnitude = np.abs(x) @ np.abs(w).T + np.abs(b)
    assert_close_to_magnitude(y, want, magnitude, FC_MAG_RTOL, name=f"fc {shape} b{batch} y")
