"""The policy/value networks: a thin, validating wrapper over the native ``NetworkCore``.

All parameters of a network live in one flat float32 vector whose layout (tensor names,
shapes, offsets) follows PyTorch conventions, so weights move to and from ``torch.nn``
modules through :meth:`Network.to_state_dict` / :meth:`Network.from_state_dict`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral
from typing import NamedTuple

import numpy as np

from . import _core

ARCHS = ("a3c", "nature", "mlp")


class TensorInfo(NamedTuple):
    """One tensor of the flat parameter buffer."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int


class Network:
    """An A3C actor-critic network (policy logits and state value from one trunk).

    Args:
        arch: ``"a3c"`` (Mnih et al. 2016 FF net: conv 16@8x8 s4, conv 32@4x4 s2, FC 256),
            ``"nature"`` (conv 32@8x8 s4, 64@4x4 s2, 64@3x3 s1, FC 512) or ``"mlp"``
            (two hidden layers, for vector observations).
        obs_shape: ``(C, H, W)`` uint8 images for the conv archs (default ``(4, 84, 84)``),
            ``(D,)`` float32 vectors for ``"mlp"`` (required).
        num_actions: size of the discrete action space.
        hidden: the mlp's two hidden layer sizes (ignored by conv archs).
    """

    def __init__(
        self,
        arch: str,
        obs_shape: Sequence[int] | None = None,
        num_actions: int = 6,
        *,
        hidden: Sequence[int] = (64, 64),
    ) -> None:
        if arch not in ARCHS:
            msg = f"unknown arch {arch!r}: expected one of {', '.join(map(repr, ARCHS))}"
            raise ValueError(msg)
        shape = [] if obs_shape is None else _sizes("obs_shape", obs_shape)
        sizes = _sizes("hidden", hidden)
        # Ranges (>= 1, the 2**31 - 1 bound on parameters and activations) are checked natively.
        self._core = _core.NetworkCore(arch, shape, _size("num_actions", num_actions), sizes)
        self.hidden = tuple(sizes) if arch == "mlp" else None
        self.layout = [TensorInfo(n, tuple(s), o, z) for n, s, o, z in self._core.layout]
        self._by_name = {t.name: t for t in self.layout}

    arch = property(lambda self: self._core.arch, doc="Architecture name.")
    obs_shape = property(lambda self: tuple(self._core.obs_shape), doc="Shape of one observation.")
    num_actions = property(lambda self: self._core.num_actions, doc="Number of discrete actions.")
    num_params = property(lambda self: self._core.num_params, doc="Length of the parameter vector.")
    flops_forward = property(
        lambda self: int(self._core.flops_forward),
        doc="Floating-point operations (2 x multiply-adds) of one observation's forward pass.",
    )

    @property
    def obs_dtype(self) -> np.dtype:
        """``uint8`` for the conv archs (scaled by 1/255 inside), ``float32`` for ``"mlp"``."""
        return np.dtype(np.uint8 if self._core.obs_is_uint8 else np.float32)

    def init_params(self, seed: int = 0) -> np.ndarray:
        """A fresh float32 parameter vector, deterministic for ``seed``.

        Conv and hidden weights He-uniform, policy rows normalised to norm 0.01 (initial
        policy near uniform), value row to norm 1, biases zero.
        """
        return self._core.init_params(int(seed))

    def forward(self, params: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy logits ``[N, A]`` and values ``[N]`` for observations ``[N, *obs_shape]``."""
        self._check_params(params)
        return self._core.forward(params, obs)

    def loss_and_grad(
        self,
        params: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        returns: np.ndarray,
        *,
        entropy_beta: float = 0.01,
        value_coef: float = 0.5,
        reduction: str = "sum",
        out: np.ndarray | None = None,
    ) -> tuple[dict[str, float], np.ndarray]:
        """The A3C loss of a rollout and its gradient w.r.t. ``params``.

        ``total = policy_loss + value_coef * value_loss - entropy_beta * entropy`` with
        ``policy_loss = sum_t -log pi(a_t|s_t) (R_t - V(s_t))`` (advantage held constant),
        ``value_loss = sum_t 0.5 (R_t - V(s_t))^2`` and ``entropy = sum_t H(pi(.|s_t))``;
        ``reduction="mean"`` divides every term by the rollout length.

        Returns ``(terms, grad)``: a dict with ``policy_loss``, ``value_loss``, ``entropy``
        and ``total``, and the float32 gradient of ``total``. ``actions`` are int64 or int32,
        ``returns`` float32, both of shape ``[N]``. ``out``: an optional float32
        ``[num_params]`` array the gradient is written into (and returned), to avoid
        allocating one per call; it must not share memory with ``params``.

        Non-finite ``returns`` (ValueError naming the first bad index), and ``entropy_beta`` or
        ``value_coef`` that are negative or not finite, are refused: they would only produce a
        NaN loss and gradient.
        """
        self._check_params(params)
        return self._core.loss_and_grad(
            params, obs, actions, returns, float(entropy_beta), float(value_coef), reduction, out
        )

    def tensor(self, params: np.ndarray, name: str) -> np.ndarray:
        """A view of tensor ``name`` inside ``params`` (writes go to ``params``)."""
        try:
            t = self._by_name[name]
        except KeyError:
            msg = f"no tensor named {name!r}; this network has {', '.join(self._by_name)}"
            raise KeyError(msg) from None
        return params[t.offset : t.offset + t.size].reshape(t.shape)

    def to_state_dict(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """Copies of every tensor, keyed and shaped like a ``torch.nn.Module`` state dict."""
        self._check_params(params)
        if params.dtype != np.float32 or params.shape != (self.num_params,):
            msg = f"params must be a float32 array of shape ({self.num_params},), got {params.dtype} {params.shape}"
            raise ValueError(msg)
        return {t.name: self.tensor(params, t.name).copy() for t in self.layout}

    def from_state_dict(self, state: Mapping[str, np.ndarray]) -> np.ndarray:
        """A parameter vector from a state dict (NumPy arrays, or anything ``np.asarray`` takes)."""
        missing = [t.name for t in self.layout if t.name not in state]
        extra = [k for k in state if k not in self._by_name]
        if missing or extra:
            msg = f"state dict does not match arch {self.arch!r}: missing {missing}, unexpected {extra}"
            raise ValueError(msg)
        params = np.empty(self.num_params, dtype=np.float32)
        for t in self.layout:
            value = np.asarray(state[t.name])
            if value.shape != t.shape:
                msg = f"state dict tensor {t.name!r} has shape {value.shape}, expected {t.shape}"
                raise ValueError(msg)
            params[t.offset : t.offset + t.size] = value.astype(np.float32, copy=False).ravel()
        return params

    def _check_params(self, params: np.ndarray) -> None:
        # Dtype/shape/contiguity are checked natively; this gives non-arrays a short message
        # (pybind11's own would print the whole list).
        if not isinstance(params, np.ndarray):
            msg = f"params must be a float32 NumPy array of shape ({self.num_params},), got {type(params).__name__}"
            raise TypeError(msg)

    def __repr__(self) -> str:
        return (
            f"Network(arch={self.arch!r}, obs_shape={self.obs_shape}, "
            f"num_actions={self.num_actions}, num_params={self.num_params})"
        )


def _size(name: str, value: object) -> int:
    # int() would truncate 1.5 to 1 and accept True as 1: a size must already be an integer.
    if isinstance(value, bool) or not isinstance(value, Integral):
        msg = f"{name} must be an integer, got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    return int(value)


def _sizes(name: str, values: object) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        msg = f"{name} must be a sequence of integers, got {values!r} ({type(values).__name__})"
        raise TypeError(msg)
    return [_size(f"{name}[{i}]", v) for i, v in enumerate(values)]
