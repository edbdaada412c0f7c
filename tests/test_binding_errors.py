"""Validation at the Python/C++ boundary: every bad argument raises TypeError/ValueError
naming the argument, what was expected and what was received (house rule 9), and nothing is
converted silently. Non-contiguous inputs are either rejected clearly or computed correctly.
"""

from __future__ import annotations

import re

import a3c_native
import numpy as np
import pytest
from conftest import CONFIGS, make_rollout

ArgError = (TypeError, ValueError)


@pytest.fixture(scope="module")
def conv():
    return make_rollout(CONFIGS["a3c"], 4, seed=31)


@pytest.fixture(scope="module")
def mlp():
    return make_rollout(CONFIGS["mlp"], 4, seed=32)


def _call_loss(r, **override):
    args = {"params": r.params, "obs": r.obs, "actions": r.actions, "returns": r.returns}
    kw = {k: override.pop(k) for k in list(override) if k not in args}
    args.update(override)
    return r.cfg.make().loss_and_grad(
        args["params"], args["obs"], args["actions"], args["returns"], **kw
    )


def _outcome(fn):
    """(result, None) if fn() returns, (None, message) if it raises TypeError/ValueError."""
    try:
        return fn(), None
    except ArgError as e:
        return None, str(e)


def _expect_error(fn, arg, *must_mention):
    """fn() raises TypeError/ValueError naming `arg` and every string in `must_mention`."""
    with pytest.raises(ArgError, match=re.escape(arg)) as info:
        fn()
    msg = str(info.value)
    for s in must_mention:
        assert re.search(s, msg, re.IGNORECASE), f"message lacks {s!r}: {msg}"
    return msg


# ---------------------------------------------------------------------------------------------
# dtype


@pytest.mark.parametrize("method", ["forward", "loss_and_grad"])
def test_params_wrong_dtype_rejected(conv, method):
    p64 = conv.params.astype(np.float64)
    if method == "forward":
        fn = lambda: conv.cfg.make().forward(p64, conv.obs)
    else:
        fn = lambda: _call_loss(conv, params=p64)
    _expect_error(fn, "params", "float32", "float64")


@pytest.mark.parametrize("bad_dtype", [np.int64, np.float32, np.int8])
def test_obs_wrong_dtype_for_conv_net_rejected(conv, bad_dtype):
    obs = conv.obs.astype(bad_dtype)
    net = conv.cfg.make()
    _expect_error(lambda: net.forward(conv.params, obs), "obs", "uint8", np.dtype(bad_dtype).name)
    _expect_error(lambda: _call_loss(conv, obs=obs), "obs", "uint8", np.dtype(bad_dtype).name)


@pytest.mark.parametrize("bad_dtype", [np.uint8, np.float64])
def test_obs_wrong_dtype_for_mlp_rejected(mlp, bad_dtype):
    obs = mlp.obs.astype(bad_dtype)
    _expect_error(
        lambda: mlp.cfg.make().forward(mlp.params, obs), "obs", "float32", np.dtype(bad_dtype).name
    )


@pytest.mark.parametrize("bad_dtype", [np.float32, np.float64])
def test_actions_float_dtype_rejected(conv, bad_dtype):
    actions = conv.actions.astype(bad_dtype)
    _expect_error(
        lambda: _call_loss(conv, actions=actions), "actions", "int", np.dtype(bad_dtype).name
    )


def test_returns_integer_dtype_rejected(conv):
    returns = conv.returns.astype(np.int64)
    _expect_error(lambda: _call_loss(conv, returns=returns), "returns", "float32", "int64")


def test_returns_float64_not_converted_silently(conv):
    # House rule 9: hot calls never convert silently; returns are float32 like everything else.
    returns = conv.returns.astype(np.float64)
    _expect_error(lambda: _call_loss(conv, returns=returns), "returns", "float32", "float64")


def test_python_lists_are_not_silently_accepted_as_params(conv):
    # a list is not a float32 array: either a clear error naming params, or (if converted)
    # the exact same result as the array
    net = conv.cfg.make()
    out, err = _outcome(lambda: net.forward(conv.params.tolist(), conv.obs))
    if err is not None:
        assert "params" in err
    else:
        np.testing.assert_array_equal(out[0], net.forward(conv.params, conv.obs)[0])


# ---------------------------------------------------------------------------------------------
# shape and range


@pytest.mark.parametrize("delta", [-1, 1])
def test_params_wrong_length_rejected(conv, delta):
    n = conv.params.size + delta
    params = np.zeros(n, dtype=np.float32)
    net = conv.cfg.make()
    _expect_error(lambda: net.forward(params, conv.obs), "params", str(conv.params.size), str(n))
    _expect_error(lambda: _call_loss(conv, params=params), "params", str(conv.params.size), str(n))


def test_params_2d_rejected(conv):
    params = conv.params.reshape(1, -1)
    _expect_error(lambda: conv.cfg.make().forward(params, conv.obs), "params")


@pytest.mark.parametrize(
    "shape",
    [
        (4, 4, 36, 35),  # wrong W
        (4, 3, 36, 36),  # wrong C
        (4, 36, 36, 4),  # HWC instead of CHW
        (4, 36, 36),  # missing channel dim
        (4, 4 * 36 * 36),  # flattened
    ],
)
def test_obs_wrong_shape_rejected(conv, shape):
    obs = np.zeros(shape, dtype=np.uint8)
    net = conv.cfg.make()
    msg = _expect_error(lambda: net.forward(conv.params, obs), "obs")
    # the expected per-observation shape should appear so the user knows what to send
    assert re.search(r"4\D+36\D+36", msg), f"expected shape (4, 36, 36) not in message: {msg}"


def test_obs_single_observation_without_batch_dim_rejected(conv):
    _expect_error(lambda: conv.cfg.make().forward(conv.params, conv.obs[0]), "obs")


def test_mlp_obs_wrong_width_rejected(mlp):
    obs = np.zeros((4, 8), dtype=np.float32)
    _expect_error(lambda: mlp.cfg.make().forward(mlp.params, obs), "obs", "7", "8")


@pytest.mark.parametrize("n", [3, 5])
def test_actions_length_mismatch_rejected(conv, n):
    actions = np.zeros(n, dtype=conv.actions.dtype)
    _expect_error(lambda: _call_loss(conv, actions=actions), "actions", str(n))


@pytest.mark.parametrize("n", [3, 5])
def test_returns_length_mismatch_rejected(conv, n):
    returns = np.zeros(n, dtype=np.float32)
    _expect_error(lambda: _call_loss(conv, returns=returns), "returns", str(n))


def test_actions_2d_rejected(conv):
    _expect_error(lambda: _call_loss(conv, actions=conv.actions[:, None]), "actions")


@pytest.mark.parametrize("bad", [-1, 6, 1000])
def test_action_out_of_range_rejected(conv, bad):
    actions = conv.actions.copy()
    actions[2] = bad
    msg = _expect_error(lambda: _call_loss(conv, actions=actions), "action", str(bad))
    assert "6" in msg, f"the action count (6) should be in the message: {msg}"


def test_empty_batch_is_handled(conv):
    # N = 0: either empty outputs or a clear error, never a crash or NaN
    net = conv.cfg.make()
    obs = conv.obs[:0]
    out, err = _outcome(lambda: net.forward(conv.params, obs))
    if err is not None:
        assert "obs" in err
    else:
        logits, values = out
        assert logits.shape == (0, 6)
        assert values.shape == (0,)
    out, err = _outcome(
        lambda: _call_loss(
            conv, obs=obs, actions=conv.actions[:0], returns=conv.returns[:0], reduction="mean"
        )
    )
    if err is not None:
        assert re.search("obs|batch|empty", err), err
    else:
        terms, grad = out
        assert all(np.isfinite(v) for v in terms.values())
        assert np.all(np.isfinite(grad))


# ---------------------------------------------------------------------------------------------
# values that can only give a NaN loss, and an out= buffer that is params


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_return_rejected_naming_the_first_index(conv, bad):
    returns = conv.returns.copy()
    returns[2] = bad
    returns[3] = np.nan
    msg = _expect_error(lambda: _call_loss(conv, returns=returns), f"returns[2]={bad}")
    assert "2 of 4 returns are NaN or inf" in msg


@pytest.mark.parametrize("name", ["entropy_beta", "value_coef"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -0.01, 1e39])
def test_loss_weight_negative_or_not_finite_rejected(conv, name, bad):
    # 1e39 is finite in float64 but inf as the core's float32
    msg = _expect_error(lambda: _call_loss(conv, **{name: bad}), f"{name}={bad!r}", ">= 0")
    assert "is invalid" in msg


def test_loss_weights_zero_accepted(conv):
    terms, grad = _call_loss(conv, entropy_beta=0.0, value_coef=0.0)
    assert np.isfinite(terms["total"]) and np.isfinite(grad).all()


def test_out_sharing_memory_with_params_rejected(conv):
    net = conv.cfg.make()
    n = conv.params.size
    buf = np.zeros(2 * n, dtype=np.float32)
    params = buf[:n]
    params[:] = conv.params
    for out in (params, buf[n // 2 : n // 2 + n], buf[1 : n + 1]):
        assert np.shares_memory(out, params)
        before = params.copy()
        _expect_error(
            lambda out=out: net.loss_and_grad(
                params, conv.obs, conv.actions, conv.returns, out=out
            ),
            "out overlaps params",
        )
        np.testing.assert_array_equal(params, before)
    # The buffer right after params shares no byte with it: accepted, same gradient.
    out = buf[n:]
    _, grad = net.loss_and_grad(params, conv.obs, conv.actions, conv.returns, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, _call_loss(conv)[1])


# ---------------------------------------------------------------------------------------------
# non-contiguous inputs: rejected with a clear message or computed exactly like a copy


def _contiguous_or_correct(fn_strided, fn_copy, arg):
    got, err = _outcome(fn_strided)
    if err is not None:
        assert arg in err, f"error does not name {arg}: {err}"
        assert re.search("contiguous", err, re.IGNORECASE), f"error does not say why: {err}"
        return
    want = fn_copy()
    for g, w in zip(got, want, strict=True):
        if isinstance(w, dict):
            assert g == w
        else:
            np.testing.assert_array_equal(g, w)


def test_noncontiguous_params(conv):
    net = conv.cfg.make()
    buf = np.zeros(2 * conv.params.size, dtype=np.float32)
    buf[::2] = conv.params
    strided = buf[::2]
    assert not strided.flags.c_contiguous
    _contiguous_or_correct(
        lambda: net.forward(strided, conv.obs), lambda: net.forward(conv.params, conv.obs), "params"
    )


def test_noncontiguous_obs(conv):
    net = conv.cfg.make()
    big = np.zeros((2 * len(conv.obs), *conv.obs.shape[1:]), dtype=np.uint8)
    big[::2] = conv.obs
    strided = big[::2]
    assert not strided.flags.c_contiguous
    _contiguous_or_correct(
        lambda: net.forward(conv.params, strided), lambda: net.forward(conv.params, conv.obs), "obs"
    )
    fortran = np.asfortranarray(conv.obs)
    _contiguous_or_correct(
        lambda: net.forward(conv.params, fortran), lambda: net.forward(conv.params, conv.obs), "obs"
    )


def test_noncontiguous_actions_and_returns(conv):
    a = np.repeat(conv.actions, 2)[::2]
    r = np.repeat(conv.returns, 2)[::2]
    assert not a.flags.c_contiguous
    assert not r.flags.c_contiguous
    _contiguous_or_correct(lambda: _call_loss(conv, actions=a), lambda: _call_loss(conv), "actions")
    _contiguous_or_correct(lambda: _call_loss(conv, returns=r), lambda: _call_loss(conv), "returns")


# ---------------------------------------------------------------------------------------------
# constructor and keyword arguments


def test_unknown_arch_lists_valid_names():
    with pytest.raises(ValueError, match="resnet") as info:
        a3c_native.Network("resnet")
    for name in ("a3c", "nature", "mlp"):
        assert name in str(info.value)


@pytest.mark.parametrize("num_actions", [0, -1])
def test_num_actions_below_one_rejected(num_actions):
    with pytest.raises(ArgError, match="num_actions"):
        a3c_native.Network("a3c", obs_shape=(4, 36, 36), num_actions=num_actions)


def test_mlp_requires_obs_shape():
    with pytest.raises(ArgError, match="obs_shape"):
        a3c_native.Network("mlp", num_actions=2)


@pytest.mark.parametrize(
    ("arch", "obs_shape"),
    [
        ("a3c", (4, 16, 16)),  # conv2 output would be 0x0
        ("nature", (4, 32, 32)),  # conv3 output would be 0x0
        ("a3c", (84, 84)),  # not (C, H, W)
        ("mlp", (4, 4)),  # not (D,)
        ("a3c", (0, 84, 84)),  # no channels
    ],
)
def test_bad_obs_shape_rejected(arch, obs_shape):
    with pytest.raises(ArgError, match="obs_shape"):
        a3c_native.Network(arch, obs_shape=obs_shape, num_actions=4)


def test_smallest_valid_conv_inputs_accepted():
    # every conv output exactly 1x1
    assert a3c_native.Network("a3c", obs_shape=(1, 20, 20), num_actions=2).num_params > 0
    assert a3c_native.Network("nature", obs_shape=(1, 36, 36), num_actions=2).num_params > 0


@pytest.mark.parametrize("hidden", [(0, 64), (64, 0), (-3, 4)])
def test_mlp_bad_hidden_rejected(hidden):
    with pytest.raises(ArgError, match="hidden"):
        a3c_native.Network("mlp", obs_shape=(4,), num_actions=2, hidden=hidden)


@pytest.mark.parametrize(
    ("kwargs", "name", "got"),
    [
        ({"num_actions": 1.5}, "num_actions", "1.5 (float)"),  # was truncated to 1
        ({"num_actions": 6.0}, "num_actions", "6.0 (float)"),
        ({"num_actions": True}, "num_actions", "True (bool)"),
        ({"num_actions": "6"}, "num_actions", "'6' (str)"),
        ({"obs_shape": (4, 36.5, 36)}, "obs_shape[1]", "36.5 (float)"),
        ({"obs_shape": (4, 36, True)}, "obs_shape[2]", "True (bool)"),
        ({"obs_shape": "436"}, "obs_shape", "'436' (str)"),
        ({"obs_shape": 36}, "obs_shape", "36 (int)"),
    ],
)
def test_network_sizes_must_be_integers_not_truncated(kwargs, name, got):
    args = {"obs_shape": (4, 36, 36), "num_actions": 6, **kwargs}
    with pytest.raises(TypeError, match=re.escape(f"{name} must be ")) as info:
        a3c_native.Network("a3c", **args)
    assert got in str(info.value)


@pytest.mark.parametrize(
    ("hidden", "name"), [((64.0, 64), "hidden[0]"), ((64, False), "hidden[1]"), ("64", "hidden")]
)
def test_mlp_hidden_sizes_must_be_integers(hidden, name):
    with pytest.raises(TypeError, match=re.escape(f"{name} must be ")):
        a3c_native.Network("mlp", obs_shape=(4,), num_actions=2, hidden=hidden)


def test_network_sizes_accept_numpy_integers():
    net = a3c_native.Network(
        "mlp", obs_shape=np.array([5]), num_actions=np.int64(3), hidden=(np.int32(8), 4)
    )
    assert (net.obs_shape, net.num_actions, net.hidden) == ((5,), 3, (8, 4))


@pytest.mark.parametrize(
    ("arch", "obs_shape", "num_actions", "hidden", "message"),
    [
        # 2**31 x 4 weights: the parameter count used to wrap past 2**63 or go negative
        ("mlp", (4,), 2, (2**31, 2), r"tensor fc1\.weight \(2147483648, 4\) takes its parameter count past 2147483647"),
        ("mlp", (4,), 2, (2**40, 2**40), r"tensor fc1\.weight .* past 2147483647"),
        ("mlp", (1,), 1, (2**30, 1), r"tensor fc1\.bias \(1073741824,\) takes its parameter count past"),
        ("mlp", (2**40,), 2, (2**31, 2), r"obs_shape \(1099511627776,\) is too large: more than 2147483647 values"),
        ("a3c", (2**20, 84, 84), 6, (64, 64), r"obs_shape \(1048576, 84, 84\) is too large"),
        ("a3c", (2**62, 2**62, 2**62), 6, (64, 64), r"obs_shape .* is too large"),  # product wraps int64
        ("a3c", (4, 84, 84), 2**62, (64, 64), r"num_actions=4611686018427387904 is invalid: must be >= 1 and < 2147483647"),
        ("a3c", (4, 84, 84), 2**63 - 1, (64, 64), r"num_actions=9223372036854775807 is invalid"),
        ("a3c", (1, 2**15, 2**15), 2, (64, 64), r"tensor fc\.weight \(256, \d+\) takes its parameter count past"),
        # params fit (2**30 + 5); one observation's activations (2 x 2**30 inputs ...) do not
        ("mlp", (2**30,), 2, (1, 1), r"too large for arch 'mlp': one observation's activations would take more than 2147483647 floats"),
    ],
)  # fmt: skip
def test_network_too_large_rejected_with_the_bound(arch, obs_shape, num_actions, hidden, message):
    with pytest.raises(ValueError, match=message):
        a3c_native.Network(arch, obs_shape=obs_shape, num_actions=num_actions, hidden=hidden)


def test_network_just_below_the_bound_has_its_exact_parameter_count():
    # Building a Network allocates no parameters, so the largest sizes can be checked here.
    h = 2**29
    net = a3c_native.Network("mlp", obs_shape=(1,), num_actions=1, hidden=(h, 1))
    assert net.num_params == (h + h) + (h + 1) + (2 * 1 + 2) == 1_610_612_741
    assert net.num_params < 2**31 - 1


def test_unknown_reduction_lists_valid_names(conv):
    with pytest.raises(ValueError, match="reduction") as info:
        _call_loss(conv, reduction="avg")
    assert "sum" in str(info.value)
    assert "mean" in str(info.value)


def test_unknown_kernel_isa_rejected():
    core = a3c_native._core
    previous = core.kernel_isa()
    try:
        with pytest.raises(ValueError, match="scalar"):
            core.set_kernel_isa("sse9")
        assert core.kernel_isa() == previous
    finally:
        core.set_kernel_isa(previous)


# ---------------------------------------------------------------------------------------------
# state dicts


def test_from_state_dict_missing_tensor_named(conv):
    net = conv.cfg.make()
    sd = net.to_state_dict(conv.params)
    del sd["fc.bias"]
    with pytest.raises(ValueError, match=re.escape("fc.bias")):
        net.from_state_dict(sd)


def test_from_state_dict_unexpected_tensor_named(conv):
    net = conv.cfg.make()
    sd = net.to_state_dict(conv.params)
    sd["conv3.weight"] = np.zeros((1,), dtype=np.float32)
    with pytest.raises(ValueError, match=re.escape("conv3.weight")):
        net.from_state_dict(sd)


def test_from_state_dict_wrong_shape_named(conv):
    net = conv.cfg.make()
    sd = net.to_state_dict(conv.params)
    sd["policy.weight"] = sd["policy.weight"].T.copy()  # [H, A] instead of [A, H]
    msg = _expect_error(lambda: net.from_state_dict(sd), "policy.weight", "6", "256")
    assert msg


def test_to_state_dict_rejects_wrong_params(conv):
    net = conv.cfg.make()
    _expect_error(lambda: net.to_state_dict(conv.params[:-1]), "params")
    _expect_error(lambda: net.to_state_dict(conv.params.astype(np.float64)), "params", "float32")
