"""Central finite differences of the float64 NumPy A3C loss (ggml test-backend-ops style).

The function differenced is the A3C surrogate whose gradient the trainer uses: the advantage
R - V in the policy term is frozen at the unperturbed params (the paper's "treated as a constant"),
while the value term still sees V move. Owns: per-tensor step sizes, a seeded cap on the coordinates checked per tensor, and ReLU kink
avoidance (a coordinate whose +-eps step flips any ReLU pre-activation is retried with a 10x
smaller eps, then skipped). Does not compare against anything; the tests do that.
"""

from __future__ import annotations

import math

import numpy as np

from . import numpy_net as ref

# Step per tensor. The loss is evaluated in float64 (|loss| ~ 1-100), so round-off in a central
# difference is ~1e-16*|loss|/eps ~ 1e-9 at eps=1e-5, and truncation (eps^2 f'''/6) is smaller
# still; the step is kept small mainly so that few coordinates touch a ReLU kink. The heads have
# no ReLU after them (only the smooth softmax/square), so they can take a larger step.
EPS_BY_SUFFIX = {
    "policy.weight": 1e-4,
    "policy.bias": 1e-4,
    "value.weight": 1e-4,
    "value.bias": 1e-4,
}
DEFAULT_EPS = 1e-5
MAX_COORDS = 24  # per tensor: enough to catch a wrong index map, cheap enough for 2 cores
EPS_SHRINKS = 2  # retries with eps/10 before a coordinate is declared "on a kink" and skipped


def eps_for(name: str) -> float:
    return EPS_BY_SUFFIX.get(name, DEFAULT_EPS)


def sample_indices(size: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `cap` distinct flat indices of a tensor of `size` elements, sorted."""
    if size <= cap:
        return np.arange(size)
    return np.sort(rng.choice(size, size=cap, replace=False))


def frozen_advantages(sd, obs, returns) -> np.ndarray:
    """R - V at the unperturbed params: held constant while differencing (see module doc)."""
    _, values = ref.forward(sd, obs)
    return np.asarray(returns, dtype=np.float64) - values


def _loss_and_masks(sd, obs, actions, returns, loss_kwargs):
    logits, values, layers, _ = ref.forward_cache(sd, obs)
    terms = ref.loss_from_outputs(logits, values, actions, returns, **loss_kwargs)
    return terms["total"], [z > 0 for *_, z in layers]


def _with_frozen_advantages(sd, obs, returns, loss_kwargs):
    kw = dict(loss_kwargs or {})
    kw.setdefault("advantages", frozen_advantages(sd, obs, returns))
    return kw


def _same_masks(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


class FDResult:
    """Finite-difference gradient samples of one tensor."""

    def __init__(self, name, indices, values, eps_used, skipped):
        self.name = name
        self.indices = np.asarray(indices, dtype=np.int64)  # flat indices into the tensor
        self.values = np.asarray(values, dtype=np.float64)  # d total / d tensor.flat[index]
        self.eps_used = np.asarray(eps_used, dtype=np.float64)
        self.skipped = list(skipped)  # flat indices abandoned because every eps hit a kink

    def __repr__(self):
        return f"FDResult({self.name}: {len(self.indices)} coords, {len(self.skipped)} skipped on kinks)"


def fd_tensor(sd, obs, actions, returns, name, indices, *, eps=None, loss_kwargs=None):
    """Central differences of the total loss w.r.t. `sd[name].flat[indices]`, kink-aware."""
    loss_kwargs = _with_frozen_advantages(sd, obs, returns, loss_kwargs)
    return fd_tensor_of(
        sd, lambda d: _loss_and_masks(d, obs, actions, returns, loss_kwargs), name, indices, eps=eps
    )


def fd_tensor_of(sd, loss_and_masks, name, indices, *, eps=None):
    """Central differences of `loss_and_masks(sd)[0]` w.r.t. `sd[name].flat[indices]`; a step
    that changes any of the ReLU masks `loss_and_masks(sd)[1]` is retried smaller, then skipped."""
    sd = {k: np.array(v, dtype=np.float64) for k, v in sd.items()}  # private copy, mutated below
    _, base_masks = loss_and_masks(sd)
    flat = sd[name].reshape(-1)  # a view: writing it perturbs sd[name]
    eps0 = eps_for(name) if eps is None else eps
    kept, vals, used, skipped = [], [], [], []
    for idx in indices:
        idx = int(idx)
        orig = flat[idx]
        step = eps0
        for _ in range(EPS_SHRINKS + 1):
            flat[idx] = orig + step
            f_plus, m_plus = loss_and_masks(sd)
            flat[idx] = orig - step
            f_minus, m_minus = loss_and_masks(sd)
            flat[idx] = orig
            if _same_masks(m_plus, base_masks) and _same_masks(m_minus, base_masks):
                kept.append(idx)
                vals.append((f_plus - f_minus) / (2.0 * step))
                used.append(step)
                break
            step /= 10.0
        else:
            skipped.append(idx)
    return FDResult(name, kept, vals, used, skipped)


def fd_samples(sd, obs, actions, returns, *, loss_kwargs=None, cap=MAX_COORDS, seed=0):
    """FDResult for every tensor of `sd`, `cap` seeded coordinates each."""
    rng = np.random.default_rng(seed)
    loss_kwargs = _with_frozen_advantages(sd, obs, returns, loss_kwargs)
    out = {}
    for name in sd:
        idx = sample_indices(int(np.size(sd[name])), cap, rng)
        out[name] = fd_tensor(sd, obs, actions, returns, name, idx, loss_kwargs=loss_kwargs)
    return out


def directional_derivative(sd, direction, obs, actions, returns, *, t=1e-6, loss_kwargs=None):
    """d/dt total(sd + t*direction) at t=0 by central differences, kink-aware.

    `direction` is a state dict of the same shapes. Returns (derivative, t_used); raises
    RuntimeError if even t/100 crosses a ReLU kink.
    """
    sd = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    loss_kwargs = _with_frozen_advantages(sd, obs, returns, loss_kwargs)
    _, base = _loss_and_masks(sd, obs, actions, returns, loss_kwargs)
    step = t
    for _ in range(EPS_SHRINKS + 1):
        plus = {k: v + step * direction[k] for k, v in sd.items()}
        minus = {k: v - step * direction[k] for k, v in sd.items()}
        f_plus, m_plus = _loss_and_masks(plus, obs, actions, returns, loss_kwargs)
        f_minus, m_minus = _loss_and_masks(minus, obs, actions, returns, loss_kwargs)
        if _same_masks(m_plus, base) and _same_masks(m_minus, base):
            return (f_plus - f_minus) / (2.0 * step), step
        step /= 10.0
    raise RuntimeError(f"every step down to {step * 10:g} crosses a ReLU kink")


def min_abs_preactivation(sd, obs) -> float:
    """Smallest nonzero |ReLU input| over the batch (exact zeros are the same in any precision)."""
    smallest = math.inf
    for z in ref.preactivations(sd, obs):
        nz = np.abs(z[z != 0])
        if nz.size:
            smallest = min(smallest, float(nz.min()))
    return smallest
