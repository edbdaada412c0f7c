"""Float64 NumPy reference for the a3c / nature / mlp actor-critic nets and the A3C loss.

Written from the equations in the test brief (Mnih et al. 2016, PyTorch conventions: NCHW
activations, OIHW conv weights, [out, in] linear weights, no padding, flatten in C,H,W order),
never translated from cpp/. It works on a state dict (name -> array), so it does not depend on
the native buffer layout; `split_params` maps the documented buffer order onto names. Speed is
secondary: conv uses einsum over strided windows, backward is a plain loop over kernel offsets.

Dimension letters: N batch, C/O in/out channels, H/W height/width, K kernel, S stride, A actions.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ARCHS = ("a3c", "nature", "mlp")

# (tensor prefix, out channels, kernel size, stride) for each conv layer, in forward order.
CONV_LAYERS = {
    "a3c": (("conv1", 16, 8, 4), ("conv2", 32, 4, 2)),
    "nature": (("conv1", 32, 8, 4), ("conv2", 64, 4, 2), ("conv3", 64, 3, 1)),
}
FC_UNITS = {"a3c": 256, "nature": 512}
HEAD_NAMES = ("policy.weight", "value.weight", "policy.bias", "value.bias")


# ---------------------------------------------------------------------------------------------
# architecture description


def conv_out_size(size: int, kernel: int, stride: int) -> int:
    """Output length of a valid (unpadded) convolution; <= 0 means the input is too small."""
    return (size - kernel) // stride + 1


def conv_shapes(arch: str, obs_shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(C, H, W) of the output of every conv layer of `arch` for one observation."""
    _, h, w = obs_shape
    shapes = []
    for _, out_ch, k, s in CONV_LAYERS[arch]:
        h, w = conv_out_size(h, k, s), conv_out_size(w, k, s)
        shapes.append((out_ch, h, w))
    return shapes


def param_spec(
    arch: str, obs_shape: tuple[int, ...], num_actions: int, hidden: tuple[int, int] = (64, 64)
) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor in the documented buffer order."""
    spec: list[tuple[str, tuple[int, ...]]] = []
    if arch == "mlp":
        (d,) = obs_shape
        spec += [("fc1.weight", (hidden[0], d)), ("fc1.bias", (hidden[0],))]
        spec += [("fc2.weight", (hidden[1], hidden[0])), ("fc2.bias", (hidden[1],))]
        feat = hidden[1]
    else:
        in_ch = obs_shape[0]
        for name, out_ch, k, _ in CONV_LAYERS[arch]:
            spec += [(f"{name}.weight", (out_ch, in_ch, k, k)), (f"{name}.bias", (out_ch,))]
            in_ch = out_ch
        flat = math.prod(conv_shapes(arch, obs_shape)[-1])
        feat = FC_UNITS[arch]
        spec += [("fc.weight", (feat, flat)), ("fc.bias", (feat,))]
    spec += [
        ("policy.weight", (num_actions, feat)),
        ("value.weight", (1, feat)),
        ("policy.bias", (num_actions,)),
        ("value.bias", (1,)),
    ]
    return spec


def flops_forward(
    arch: str, obs_shape: tuple[int, ...], num_actions: int, hidden: tuple[int, int] = (64, 64)
) -> int:
    """2 * multiply-adds of one forward pass for one observation (biases, ReLU not counted)."""
    macs = 0
    if arch == "mlp":
        sizes = [obs_shape[0], hidden[0], hidden[1]]
        macs += sizes[0] * sizes[1] + sizes[1] * sizes[2]
        feat = hidden[1]
    else:
        in_ch = obs_shape[0]
        for (_, out_ch, k, _), (_, oh, ow) in zip(
            CONV_LAYERS[arch], conv_shapes(arch, obs_shape), strict=True
        ):
            macs += out_ch * oh * ow * in_ch * k * k
            in_ch = out_ch
        feat = FC_UNITS[arch]
        macs += math.prod(conv_shapes(arch, obs_shape)[-1]) * feat
    macs += feat * (num_actions + 1)
    return 2 * macs


def split_params(flat: np.ndarray, spec) -> dict[str, np.ndarray]:
    """Flat buffer -> float64 state dict, using only the documented order in `spec`."""
    flat = np.asarray(flat)
    total = sum(math.prod(shape) for _, shape in spec)
    if flat.shape != (total,):
        raise ValueError(f"flat params have shape {flat.shape}, spec needs ({total},)")
    sd, off = {}, 0
    for name, shape in spec:
        size = math.prod(shape)
        sd[name] = flat[off : off + size].astype(np.float64).reshape(shape)
        off += size
    return sd


def join_params(sd: dict[str, np.ndarray], spec, dtype=np.float32) -> np.ndarray:
    """State dict -> flat buffer in the documented order."""
    return np.concatenate([np.asarray(sd[name], dtype=dtype).reshape(-1) for name, _ in spec])


def infer_arch(sd: dict[str, np.ndarray]) -> str:
    """The feed-forward arch of the trunk (an _lstm arch's trunk is its base arch's)."""
    if "fc1.weight" in sd:
        return "mlp"
    if "conv3.weight" in sd:
        return "nature"
    if "conv1.weight" in sd:
        return "a3c"
    raise ValueError(f"cannot infer arch from tensor names {sorted(sd)}")


# ---------------------------------------------------------------------------------------------
# layers


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x [N, I], w [O, I], b [O] -> [N, O]."""
    return x @ w.T + b


def linear_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray):
    """dout [N, O] -> (dx [N, I], dw [O, I], db [O])."""
    return dout @ w, dout.T @ x, dout.sum(axis=0)


def _windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """x [N, C, H, W] -> strided view [N, C, OH, OW, KH, KW] of every receptive field."""
    oh = conv_out_size(x.shape[2], kh, stride)
    ow = conv_out_size(x.shape[3], kw, stride)
    if oh < 1 or ow < 1:
        raise ValueError(f"input {x.shape} too small for kernel {kh}x{kw} stride {stride}")
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))
    return win[:, :, ::stride, ::stride][:, :, :oh, :ow]


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """x [N, C, H, W], w [O, C, KH, KW], b [O] -> [N, O, OH, OW]; no padding."""
    win = _windows(x, w.shape[2], w.shape[3], stride)
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def conv2d_forward_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Same as conv2d_forward, written as the textbook 6-deep loop (for tiny self-tests only)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = conv_out_size(h, kh, stride), conv_out_size(wd, kw, stride)
    out = np.zeros((n, o, oh, ow))
    for ni in range(n):
        for oi in range(o):
            for y in range(oh):
                for xx in range(ow):
                    acc = b[oi]
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                acc += x[ni, ci, y * stride + i, xx * stride + j] * w[oi, ci, i, j]
                    out[ni, oi, y, xx] = acc
    return out


def conv2d_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, need_dx=True):
    """dout [N, O, OH, OW] -> (dx [N, C, H, W] or None, dw [O, C, KH, KW], db [O])."""
    kh, kw = w.shape[2], w.shape[3]
    win = _windows(x, kh, kw, stride)
    dw = np.einsum("nohw,nchwij->ocij", dout, win, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    if not need_dx:
        return None, dw, db
    oh, ow = dout.shape[2], dout.shape[3]
    dx = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            # every output (y, x) read input (y*S + i, x*S + j) through weight [:, :, i, j]
            dx[
                :, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride
            ] += np.einsum("nohw,oc->nchw", dout, w[:, :, i, j], optimize=True)
    return dx, dw, db


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise, stable: z [N, A] -> log pi [N, A]."""
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def entropy(logits: np.ndarray) -> np.ndarray:
    """Per-row policy entropy H = -sum pi log pi: [N, A] -> [N]."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64))
    return -(np.exp(logp) * logp).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# network


def _as_input(sd, obs, arch):
    x = np.asarray(obs, dtype=np.float64)
    if arch != "mlp":
        x = x / 255.0  # conv nets take raw uint8 frames
    return x


def forward_cache(sd: dict[str, np.ndarray], obs: np.ndarray):
    """Forward pass keeping what backward needs.

    Returns (logits [N, A], values [N], layers, feat [N, F]) where layers is a list of
    (kind, name, stride, input, preactivation) in forward order, every one followed by ReLU.
    """
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    layers, x = trunk_cache(sd, obs)
    logits = linear_forward(x, sd["policy.weight"], sd["policy.bias"])
    values = linear_forward(x, sd["value.weight"], sd["value.bias"])[:, 0]
    return logits, values, layers, x


def trunk_cache(sd: dict[str, np.ndarray], obs: np.ndarray):
    """The layers before the heads: (layers as in forward_cache, features [N, F] after ReLU)."""
    arch = infer_arch(sd)
    x = _as_input(sd, obs, arch)
    layers = []
    if arch == "mlp":
        for name in ("fc1", "fc2"):
            z = linear_forward(x, sd[f"{name}.weight"], sd[f"{name}.bias"])
            layers.append(("linear", name, 0, x, z))
            x = relu(z)
    else:
        for name, _, _, stride in CONV_LAYERS[arch]:
            z = conv2d_forward(x, sd[f"{name}.weight"], sd[f"{name}.bias"], stride)
            layers.append(("conv", name, stride, x, z))
            x = relu(z)
        x = x.reshape(x.shape[0], -1)  # flatten in C, H, W order
        z = linear_forward(x, sd["fc.weight"], sd["fc.bias"])
        layers.append(("linear", "fc", 0, x, z))
        x = relu(z)
    return layers, x


def forward(sd: dict[str, np.ndarray], obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """obs [N, *obs_shape] -> (logits [N, A], values [N]) in float64."""
    logits, values, _, _ = forward_cache(sd, obs)
    return logits, values


def preactivations(sd: dict[str, np.ndarray], obs: np.ndarray) -> list[np.ndarray]:
    """Every ReLU input of the forward pass (used for kink detection)."""
    return [z for *_, z in forward_cache(sd, obs)[2]]


# ---------------------------------------------------------------------------------------------
# A3C loss


def _check_reduction(reduction: str) -> float:
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    return reduction


def loss_from_outputs(
    logits,
    values,
    actions,
    returns,
    *,
    entropy_beta=0.01,
    value_coef=0.5,
    reduction="sum",
    advantages=None,
):
    """A3C loss terms from network outputs; see `loss`.

    `advantages` [N], if given, replaces R - V in the policy term only. Finite differences pass
    the advantages of the unperturbed params here: the A3C gradient treats them as constants, so
    it is the derivative of this frozen-advantage surrogate, not of the plain loss value.
    """
    _check_reduction(reduction)
    logits = np.asarray(logits, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    actions = np.asarray(actions, dtype=np.int64)
    returns = np.asarray(returns, dtype=np.float64)
    n = logits.shape[0]
    logp = log_softmax(logits)
    adv = returns - values
    pg_adv = adv if advantages is None else np.asarray(advantages, dtype=np.float64)
    policy = -(logp[np.arange(n), actions] * pg_adv).sum()
    value = 0.5 * (adv**2).sum()
    ent = -(np.exp(logp) * logp).sum()
    scale = 1.0 / n if reduction == "mean" else 1.0
    terms = {"policy_loss": policy, "value_loss": value, "entropy": ent}
    terms = {k: float(v * scale) for k, v in terms.items()}
    terms["total"] = (
        terms["policy_loss"] + value_coef * terms["value_loss"] - entropy_beta * terms["entropy"]
    )
    return terms


def loss(sd, obs, actions, returns, *, entropy_beta=0.01, value_coef=0.5, reduction="sum"):
    """A3C loss over one rollout (Mnih et al. 2016, Algorithm S3), float64.

    policy_loss = sum_t -log pi(a_t|s_t) (R_t - V_t), value_loss = sum_t 0.5 (R_t - V_t)^2,
    entropy = sum_t H(pi(.|s_t)), total = policy + value_coef*value - entropy_beta*entropy;
    reduction="mean" divides every term by N. Returns a dict of Python floats.
    """
    logits, values = forward(sd, obs)
    return loss_from_outputs(
        logits,
        values,
        actions,
        returns,
        entropy_beta=entropy_beta,
        value_coef=value_coef,
        reduction=reduction,
    )


def loss_and_grad(sd, obs, actions, returns, *, entropy_beta=0.01, value_coef=0.5, reduction="sum"):
    """(terms, grads) with grads a float64 state dict of d total / d tensor (hand-derived)."""
    _check_reduction(reduction)
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    logits, values, layers, feat = forward_cache(sd, obs)
    terms = loss_from_outputs(
        logits,
        values,
        actions,
        returns,
        entropy_beta=entropy_beta,
        value_coef=value_coef,
        reduction=reduction,
    )
    dlogits, dvalues = output_grads(
        logits, values, actions, returns, entropy_beta=entropy_beta, value_coef=value_coef, reduction=reduction
    )
    grads = {}
    dx = heads_backward(sd, feat, dlogits, dvalues, grads)
    trunk_backward(sd, layers, dx, grads)
    return terms, grads


def output_grads(logits, values, actions, returns, *, entropy_beta, value_coef, reduction):
    """(d total / d logits [N, A], d total / d values [N]) of the A3C loss, advantage constant."""
    n = logits.shape[0]
    actions = np.asarray(actions, dtype=np.int64)
    returns = np.asarray(returns, dtype=np.float64)
    scale = 1.0 / n if reduction == "mean" else 1.0
    logp = log_softmax(logits)
    pi = np.exp(logp)
    adv = returns - values
    h = -(pi * logp).sum(axis=1, keepdims=True)
    onehot = np.zeros_like(pi)
    onehot[np.arange(n), actions] = 1.0
    # d(-log pi_a * adv)/dz = -adv (onehot - pi);  d(-beta H)/dz = beta pi (log pi + H)
    dlogits = -adv[:, None] * (onehot - pi) + entropy_beta * pi * (logp + h)
    dvalues = value_coef * (values - returns)  # d(c * 0.5 (R - V)^2)/dV
    return dlogits * scale, dvalues * scale


def heads_backward(sd, feat, dlogits, dvalues, grads) -> np.ndarray:
    """Fills the heads' grads; returns d total / d feat [N, F]."""
    dfeat, grads["policy.weight"], grads["policy.bias"] = linear_backward(
        dlogits, feat, sd["policy.weight"]
    )
    dfeat_v, grads["value.weight"], grads["value.bias"] = linear_backward(
        dvalues[:, None], feat, sd["value.weight"]
    )
    return dfeat + dfeat_v


def trunk_backward(sd, layers, dx, grads) -> None:
    """From d total / d (trunk output after ReLU) through every trunk layer into grads."""
    for i in range(len(layers) - 1, -1, -1):
        kind, name, stride, inp, z = layers[i]
        dz = dx.reshape(z.shape) * (z > 0)
        if kind == "linear":
            dx, grads[f"{name}.weight"], grads[f"{name}.bias"] = linear_backward(
                dz, inp, sd[f"{name}.weight"]
            )
        else:
            dx, grads[f"{name}.weight"], grads[f"{name}.bias"] = conv2d_backward(
                dz, inp, sd[f"{name}.weight"], stride, need_dx=i > 0
            )


# ---------------------------------------------------------------------------------------------
# the value-based methods' action-value head (Mnih et al. 2016, Algorithms 1 and S2)


def q_param_spec(arch, obs_shape, num_actions, hidden=(64, 64)):
    """(name, shape) of a q-value network: the trunk of `arch`, then q.weight [A, F], q.bias [A]."""
    trunk = [t for t in param_spec(arch, obs_shape, num_actions, hidden) if t[0] not in HEAD_NAMES]
    feat = trunk[-2][1][0]
    return [*trunk, ("q.weight", (num_actions, feat)), ("q.bias", (num_actions,))]


def q_forward_cache(sd, obs):
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    layers, feat = trunk_cache(sd, obs)
    return linear_forward(feat, sd["q.weight"], sd["q.bias"]), layers, feat


def q_loss(sd, obs, actions, targets, *, reduction="sum"):
    """TD loss sum_t 0.5 (y_t - Q(s_t, a_t))^2 (mean: / N), float64."""
    _check_reduction(reduction)
    q, _, _ = q_forward_cache(sd, obs)
    n = q.shape[0]
    err = q[np.arange(n), np.asarray(actions, np.int64)] - np.asarray(targets, np.float64)
    return float(0.5 * (err**2).sum() * (1.0 / n if reduction == "mean" else 1.0))


def q_loss_and_grad(sd, obs, actions, targets, *, reduction="sum"):
    """(loss, grads): d loss / d tensor by hand (only the taken action's Q gets a gradient)."""
    _check_reduction(reduction)
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    q, layers, feat = q_forward_cache(sd, obs)
    n = q.shape[0]
    actions = np.asarray(actions, np.int64)
    scale = 1.0 / n if reduction == "mean" else 1.0
    err = q[np.arange(n), actions] - np.asarray(targets, np.float64)
    dq = np.zeros_like(q)
    dq[np.arange(n), actions] = err * scale
    grads = {}
    dfeat, grads["q.weight"], grads["q.bias"] = linear_backward(dq, feat, sd["q.weight"])
    trunk_backward(sd, layers, dfeat, grads)
    return float(0.5 * (err**2).sum() * scale), grads
