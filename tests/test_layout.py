"""Parameter layout, state-dict round trip and initialisation of `a3c_native.Network`.

Checks the flat-buffer table against the documented tensor order and PyTorch shapes
(derived independently in reference.numpy_net.param_spec), not the math (see test_forward).
"""

from __future__ import annotations

import math

import a3c_native
import numpy as np
import pytest
from conftest import ALL_CONFIGS, CONFIGS, random_obs, split
from reference import numpy_net as ref


def _layout_tuples(net):
    return [(t.name, tuple(t.shape), t.offset, t.size) for t in net.layout]


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_layout_is_contiguous_and_covers_num_params(cfg_id):
    net = CONFIGS[cfg_id].make()
    offset = 0
    for name, shape, off, size in _layout_tuples(net):
        assert off == offset, f"{name}: offset {off}, expected {offset} (gap or overlap)"
        assert size == math.prod(shape), f"{name}: size {size} != prod{shape}"
        offset += size
    assert offset == net.num_params
    assert net.num_params == sum(t.size for t in net.layout)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_layout_names_and_shapes_match_documented_order(cfg_id):
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    got = [(t.name, tuple(t.shape)) for t in net.layout]
    assert got == cfg.spec


def test_layout_entries_are_named_tuples():
    t = CONFIGS["a3c"].make().layout[0]
    name, shape, offset, size = t  # plain tuple unpacking works
    assert (t.name, t.shape, t.offset, t.size) == (name, shape, offset, size)
    assert isinstance(t.shape, tuple)
    assert all(isinstance(v, int) for v in (offset, size, *shape))


def test_num_params_a3c_default_obs_shape():
    net = a3c_native.Network("a3c", num_actions=6)
    assert net.obs_shape == (4, 84, 84)
    conv1 = 16 * 4 * 8 * 8 + 16
    conv2 = 32 * 16 * 4 * 4 + 32
    fc = 256 * 2592 + 256  # 32 channels x 9 x 9 after conv2
    heads = 7 * 256 + 7
    assert net.num_params == conv1 + conv2 + fc + heads == 677_943
    assert _layout_tuples(net)[4] == ("fc.weight", (256, 2592), conv1 + conv2, 256 * 2592)


def test_num_params_nature_default_obs_shape():
    net = a3c_native.Network("nature", num_actions=6)
    conv = (32 * 4 * 64 + 32) + (64 * 32 * 16 + 64) + (64 * 64 * 9 + 64)
    fc = 512 * 3136 + 512  # 64 channels x 7 x 7 after conv3
    heads = 7 * 512 + 7
    assert net.num_params == conv + fc + heads == 1_687_719


def test_num_params_mlp():
    net = a3c_native.Network("mlp", obs_shape=(4,), num_actions=2, hidden=(64, 32))
    assert net.num_params == (64 * 4 + 64) + (32 * 64 + 32) + (3 * 32 + 3)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_network_attributes(cfg_id):
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    assert net.arch == cfg.arch
    assert net.obs_shape == cfg.obs_shape
    assert isinstance(net.obs_shape, tuple)
    assert net.num_actions == cfg.num_actions
    assert isinstance(net.num_params, int)
    want_dtype = np.float32 if cfg.arch == "mlp" else np.uint8
    assert np.dtype(net.obs_dtype) == np.dtype(want_dtype)


@pytest.mark.parametrize(
    ("arch", "obs_shape", "num_actions", "hidden"),
    [
        ("a3c", (4, 84, 84), 6, (64, 64)),
        ("nature", (4, 84, 84), 18, (64, 64)),
        ("a3c", (3, 36, 44), 4, (64, 64)),
        ("mlp", (7,), 3, (32, 24)),
    ],
)
def test_flops_forward_counts_multiply_adds_twice(arch, obs_shape, num_actions, hidden):
    net = a3c_native.Network(arch, obs_shape=obs_shape, num_actions=num_actions, hidden=hidden)
    assert isinstance(net.flops_forward, int)
    assert net.flops_forward == ref.flops_forward(arch, obs_shape, num_actions, hidden)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_state_dict_matches_layout_slices(cfg_id):
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    params = net.init_params(seed=3)
    sd = net.to_state_dict(params)
    assert list(sd) == [name for name, _ in cfg.spec]
    mine = split(params, cfg)
    for name, shape in cfg.spec:
        assert sd[name].shape == shape, name
        assert sd[name].dtype == np.float32, name
        np.testing.assert_array_equal(sd[name], mine[name].astype(np.float32), err_msg=name)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_state_dict_round_trip_is_exact(cfg_id, rng):
    net = CONFIGS[cfg_id].make()
    params = rng.normal(size=net.num_params).astype(np.float32)
    back = net.from_state_dict(net.to_state_dict(params))
    assert back.dtype == np.float32
    assert back.shape == (net.num_params,)
    np.testing.assert_array_equal(back, params)


def test_state_dict_returns_copies():
    net = CONFIGS["a3c"].make()
    params = net.init_params(seed=0)
    before = params.copy()
    sd = net.to_state_dict(params)
    for v in sd.values():
        v[...] = 7.0
    np.testing.assert_array_equal(params, before)
    sd2 = net.to_state_dict(params)
    params[:] = 0.0
    assert not np.all(sd2["conv1.weight"] == 0.0)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_init_params_deterministic_per_seed(cfg_id):
    net = CONFIGS[cfg_id].make()
    a, b = net.init_params(seed=7), net.init_params(seed=7)
    assert a.dtype == np.float32
    assert a.shape == (net.num_params,)
    np.testing.assert_array_equal(a, b)
    # a second Network object must not carry hidden RNG state either
    cfg = CONFIGS[cfg_id]
    other = a3c_native.Network(
        cfg.arch, obs_shape=cfg.obs_shape, num_actions=cfg.num_actions, hidden=cfg.hidden
    )
    np.testing.assert_array_equal(other.init_params(seed=7), a)


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_init_params_differ_across_seeds(cfg_id):
    net = CONFIGS[cfg_id].make()
    a, b = net.init_params(seed=0), net.init_params(seed=1)
    for name, shape in CONFIGS[cfg_id].spec:
        if name.endswith(".weight"):
            sa, sb = split(a, CONFIGS[cfg_id])[name], split(b, CONFIGS[cfg_id])[name]
            assert not np.array_equal(sa, sb), f"{name} identical for seeds 0 and 1 {shape}"


def test_init_params_default_seed_is_zero():
    net = CONFIGS["mlp"].make()
    np.testing.assert_array_equal(net.init_params(), net.init_params(seed=0))


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_init_params_finite_and_weights_not_constant(cfg_id):
    cfg = CONFIGS[cfg_id]
    params = cfg.make().init_params(seed=0)
    assert np.all(np.isfinite(params))
    for name, t in split(params, cfg).items():
        # biases may legitimately be constant (e.g. zero); every weight must break symmetry
        if name.endswith(".weight") and t.size > 1:
            assert np.std(t) > 0, f"{name} is constant ({t.flat[0]})"
            # no row (output unit) may be all-zero: it would be dead from the start
            rows = t.reshape(t.shape[0], -1)
            assert np.all(np.abs(rows).max(axis=1) > 0), f"{name} has an all-zero row"


@pytest.mark.parametrize("cfg_id", ALL_CONFIGS)
def test_init_policy_is_near_uniform(cfg_id, rng):
    # The policy head starts small (normalised-columns init in the A3C reference code), so the
    # initial policy must be close to uniform: mean entropy within 2% of ln(A) on random inputs.
    cfg = CONFIGS[cfg_id]
    net = cfg.make()
    params = net.init_params(seed=0)
    logits, _ = net.forward(params, random_obs(cfg, 16, rng))
    ent = ref.entropy(logits)
    assert np.all(np.isfinite(ent))
    assert ent.mean() >= 0.98 * math.log(cfg.num_actions), (ent.mean(), math.log(cfg.num_actions))
