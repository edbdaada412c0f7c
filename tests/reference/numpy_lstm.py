"""Float64 NumPy reference of the recurrent archs (a3c_lstm, nature_lstm, mlp_lstm) over a rollout.

Written from the equations (PyTorch nn.LSTMCell, Mnih et al. 2016's recurrent agent), never
translated from cpp/: the trunk of numpy_net (conv/fc layers with ReLU), then per time step

    z = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh,   z = [z_i, z_f, z_g, z_o] (H each)
    i, f, o = sigmoid(z_i, z_f, z_o),  g = tanh(z_g)
    c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)

and the policy/value heads on h_t. A rollout is T steps of k sequences (obs [T, k, ...]);
resets[t, e] zeroes sequence e's state entering step t (its previous step ended the return).
The state entering step 0 is a given constant: gradients stop there (truncated BPTT), and at
every reset. The backward pass is hand-derived backprop through time.
"""

from __future__ import annotations

import numpy as np

from . import numpy_net as ref

LSTM_CELLS = 256  # Mnih et al. 2016: "256 LSTM cells after the final hidden layer"
LSTM_NAMES = ("lstm.weight_ih", "lstm.weight_hh", "lstm.bias_ih", "lstm.bias_hh")


def base_arch(arch: str) -> str:
    return arch[: -len("_lstm")] if arch.endswith("_lstm") else arch


def param_spec(arch, obs_shape, num_actions, hidden=(64, 64)):
    """(name, shape) of every tensor of a recurrent arch, in the documented buffer order:
    the base arch's trunk, the LSTM, the heads (on the LSTM's H outputs)."""
    base = base_arch(arch)
    trunk = [t for t in ref.param_spec(base, obs_shape, num_actions, hidden) if t[0] not in ref.HEAD_NAMES]
    feat = trunk[-2][1][0]  # the last hidden layer's weight is [F, in]
    cells = hidden[1] if base == "mlp" else LSTM_CELLS
    return trunk + [
        ("lstm.weight_ih", (4 * cells, feat)),
        ("lstm.weight_hh", (4 * cells, cells)),
        ("lstm.bias_ih", (4 * cells,)),
        ("lstm.bias_hh", (4 * cells,)),
        ("policy.weight", (num_actions, cells)),
        ("value.weight", (1, cells)),
        ("policy.bias", (num_actions,)),
        ("value.bias", (1,)),
    ]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step(sd, x, h, c):
    """One step: x [k, F], h/c [k, H] -> (h', c', cache)."""
    H = h.shape[1]
    z = x @ sd["lstm.weight_ih"].T + sd["lstm.bias_ih"] + h @ sd["lstm.weight_hh"].T + sd["lstm.bias_hh"]
    i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H : 2 * H]), np.tanh(z[:, 2 * H : 3 * H]), sigmoid(z[:, 3 * H :])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    return o * tc, c_new, {"x": x, "h_in": h, "c_in": c, "i": i, "f": f, "g": g, "o": o, "tc": tc}


def rollout_forward(sd, obs, resets, h0, c0):
    """obs [T, k, *obs_shape] -> (logits [T*k, A], values [T*k], cache, (h, c) after step T-1).
    Rows in slot order t*k + e."""
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    obs = np.asarray(obs)
    T, k = obs.shape[:2]
    layers, feat = ref.trunk_cache(sd, obs.reshape(T * k, *obs.shape[2:]))
    feat = feat.reshape(T, k, -1)
    h, c = np.array(h0, dtype=np.float64), np.array(c0, dtype=np.float64)
    steps, hs = [], []
    for t in range(T):
        keep = ~np.asarray(resets[t], dtype=bool)
        h, c = h * keep[:, None], c * keep[:, None]
        h, c, cache = lstm_step(sd, feat[t], h, c)
        steps.append(cache)
        hs.append(h)
    out = np.concatenate(hs)  # [T*k, H]
    logits = ref.linear_forward(out, sd["policy.weight"], sd["policy.bias"])
    values = ref.linear_forward(out, sd["value.weight"], sd["value.bias"])[:, 0]
    cache = {"layers": layers, "steps": steps, "out": out, "T": T, "k": k, "resets": np.asarray(resets, bool)}
    return logits, values, cache, (h, c)


def loss(sd, obs, actions, returns, resets, h0, c0, **loss_kwargs):
    """A3C loss terms of the rollout (actions/returns [T, k]); see numpy_net.loss_from_outputs."""
    logits, values, _, _ = rollout_forward(sd, obs, resets, h0, c0)
    return ref.loss_from_outputs(
        logits, values, np.reshape(actions, -1), np.reshape(returns, -1), **loss_kwargs
    )


def loss_and_masks(sd, obs, actions, returns, resets, h0, c0, loss_kwargs):
    """(total loss, ReLU masks of the trunk) for finite differences."""
    logits, values, cache, _ = rollout_forward(sd, obs, resets, h0, c0)
    terms = ref.loss_from_outputs(logits, values, np.reshape(actions, -1), np.reshape(returns, -1), **loss_kwargs)
    return terms["total"], [z > 0 for *_, z in cache["layers"]]


def loss_and_grad(sd, obs, actions, returns, resets, h0, c0, *, entropy_beta=0.01, value_coef=0.5, reduction="sum"):
    """(terms, grads): grads a float64 state dict of d total / d tensor, by BPTT."""
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    kw = {"entropy_beta": entropy_beta, "value_coef": value_coef, "reduction": reduction}
    logits, values, cache, _ = rollout_forward(sd, obs, resets, h0, c0)
    actions, returns = np.reshape(actions, -1), np.reshape(returns, -1)
    terms = ref.loss_from_outputs(logits, values, actions, returns, **kw)
    dlogits, dvalues = ref.output_grads(logits, values, actions, returns, **kw)
    grads: dict[str, np.ndarray] = {}
    dout = ref.heads_backward(sd, cache["out"], dlogits, dvalues, grads)
    T, k = cache["T"], cache["k"]
    dout = dout.reshape(T, k, -1)
    H = dout.shape[2]
    for name in LSTM_NAMES:
        grads[name] = np.zeros_like(sd[name])
    dfeat = [None] * T
    dh_next, dc_next = np.zeros((k, H)), np.zeros((k, H))
    for t in range(T - 1, -1, -1):
        s = cache["steps"][t]
        i, f, g, o, tc = s["i"], s["f"], s["g"], s["o"], s["tc"]
        dh = dout[t] + dh_next
        dc = dc_next + dh * o * (1.0 - tc**2)
        dz = np.concatenate(
            [dc * g * i * (1 - i), dc * s["c_in"] * f * (1 - f), dc * i * (1 - g**2), dh * tc * o * (1 - o)], axis=1
        )
        grads["lstm.weight_ih"] += dz.T @ s["x"]
        grads["lstm.weight_hh"] += dz.T @ s["h_in"]
        grads["lstm.bias_ih"] += dz.sum(axis=0)
        grads["lstm.bias_hh"] += dz.sum(axis=0)
        dfeat[t] = dz @ sd["lstm.weight_ih"]
        # The state entering step t came from step t-1 unless it was reset (or t == 0).
        keep = (~cache["resets"][t]).astype(np.float64)[:, None]
        dh_next = (dz @ sd["lstm.weight_hh"]) * keep
        dc_next = dc * f * keep
    ref.trunk_backward(sd, cache["layers"], np.concatenate(dfeat), grads)
    return terms, grads
