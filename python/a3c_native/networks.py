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
from .archs import ARCHS, RECURRENT_ARCHS, VECTOR_ARCHS


HEADS = ("policy_value", "q")

State = tuple[np.ndarray, np.ndarray]
"""A recurrent network's state ``(h, c)``: float32 arrays ``[N, state_size]``, one row per
sequence (environment)."""


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
            (two hidden layers, for vector observations); ``"a3c_lstm"``, ``"nature_lstm"``,
            ``"mlp_lstm"``: the same layers, then an LSTM (256 cells; the mlp's ``hidden[1]``)
            before the policy and value heads (Mnih et al. 2016's recurrent agent), with
            PyTorch ``nn.LSTMCell`` tensors ``lstm.weight_ih [4H, in]``, ``lstm.weight_hh
            [4H, H]``, ``lstm.bias_ih``, ``lstm.bias_hh`` (gate order i, f, g, o).
        obs_shape: ``(C, H, W)`` uint8 images for the conv archs (default ``(4, 84, 84)``),
            ``(D,)`` float32 vectors for ``"mlp"`` (required).
        num_actions: size of the discrete action space.
        hidden: the mlp's two hidden layer sizes (ignored by conv archs).
        head: ``"policy_value"`` (A3C: policy logits and a state value; tensors
            ``policy.weight``, ``value.weight``, ``policy.bias``, ``value.bias``) or ``"q"``
            (the value-based methods: one action value per action, ``q.weight [A, F]``,
            ``q.bias [A]``; feed-forward archs only).
    """

    def __init__(
        self,
        arch: str,
        obs_shape: Sequence[int] | None = None,
        num_actions: int = 6,
        *,
        hidden: Sequence[int] = (64, 64),
        head: str = "policy_value",
    ) -> None:
        if arch not in ARCHS:
            msg = f"unknown arch {arch!r}: expected one of {', '.join(map(repr, ARCHS))}"
            raise ValueError(msg)
        if head not in HEADS:
            msg = f"unknown head {head!r}: expected one of {', '.join(map(repr, HEADS))}"
            raise ValueError(msg)
        if head == "q" and arch in RECURRENT_ARCHS:
            msg = f"head='q' needs a feed-forward arch, got the recurrent {arch!r}"
            raise ValueError(msg)
        shape = [] if obs_shape is None else _sizes("obs_shape", obs_shape)
        sizes = _sizes("hidden", hidden)
        # Ranges (>= 1, the 2**31 - 1 bound on parameters and activations) are checked natively.
        self._core = _core.NetworkCore(arch, shape, _size("num_actions", num_actions), sizes, head == "q")
        self.hidden = tuple(sizes) if arch in VECTOR_ARCHS else None
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

    head = property(
        lambda self: "q" if self._core.q_values else "policy_value", doc="'policy_value' or 'q'."
    )
    recurrent = property(lambda self: self._core.state_size > 0, doc="True for the LSTM archs.")
    state_size = property(
        lambda self: self._core.state_size, doc="LSTM cells H of a recurrent arch (0 if feed-forward)."
    )

    def initial_state(self, n: int) -> State:
        """The zero state ``(h, c)`` of ``n`` sequences: what a game starts from."""
        if not self.recurrent:
            msg = f"arch {self.arch!r} is feed-forward: it has no recurrent state"
            raise ValueError(msg)
        n = _size("n", n)
        return (np.zeros((n, self.state_size), np.float32), np.zeros((n, self.state_size), np.float32))

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

    def forward(self, params: np.ndarray, obs: np.ndarray, state: State | None = None) -> tuple:
        """Policy logits ``[N, A]`` and values ``[N]`` for observations ``[N, *obs_shape]``
        (a ``head="q"`` network: its action values ``[N, A]``, one array).

        Recurrent archs: one time step of N sequences. ``state`` is the ``(h, c)`` entering
        it (``[N, state_size]`` float32 each; None: zero, a game's start) and the result is
        ``(logits, values, state_after)``; carry ``state_after`` into the next step, zeroing a
        sequence's rows where its game (or, with episodic lives, its life) ended.
        """
        self._check_params(params)
        if not self.recurrent:
            if state is not None:
                msg = f"arch {self.arch!r} is feed-forward: it takes no state"
                raise ValueError(msg)
            out = self._core.forward(params, obs, None, None)
            return out[0] if self.head == "q" else out
        h, c = (None, None) if state is None else _state_pair(state)
        logits, values, h, c = self._core.forward(params, obs, h, c)
        return logits, values, (h, c)

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
        if self.recurrent:
            msg = f"arch {self.arch!r} is recurrent: use loss_and_grad_recurrent (a rollout of [T, k] steps)"
            raise ValueError(msg)
        return self._core.loss_and_grad(
            params, obs, actions, returns, float(entropy_beta), float(value_coef), reduction, out
        )

    def q_loss_and_grad(
        self,
        params: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        targets: np.ndarray,
        *,
        reduction: str = "sum",
        out: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray]:
        """The TD loss of a ``head="q"`` network and its gradient w.r.t. ``params``:
        ``sum_t 0.5 (y_t - Q(s_t, a_t))^2`` (``reduction="mean"``: divided by N), the targets
        ``y`` (float32 ``[N]``, e.g. ``r + gamma max_a Q(s', a; theta-)``) held constant.
        Returns ``(loss, grad)``; ``actions`` int64 or int32 ``[N]``; ``out`` as for
        :meth:`loss_and_grad`."""
        self._check_params(params)
        return self._core.q_loss_and_grad(params, obs, actions, targets, reduction, out)

    def loss_and_grad_recurrent(
        self,
        params: np.ndarray,
        obs: np.ndarray,
        actions: np.ndarray,
        returns: np.ndarray,
        *,
        state: State | None = None,
        resets: np.ndarray | None = None,
        entropy_beta: float = 0.01,
        value_coef: float = 0.5,
        reduction: str = "sum",
        out: np.ndarray | None = None,
    ) -> tuple[dict[str, float], np.ndarray, State]:
        """The A3C loss of a recurrent rollout and its gradient, backpropagated through time.

        The rollout is T steps of k sequences: ``obs [T, k, *obs_shape]``, ``actions`` (int64
        or int32) and ``returns`` (float32) ``[T, k]``. ``state``: the ``(h, c)`` ``[k, H]``
        entering step 0 (None: zero); it is a constant for the gradient (truncated
        backpropagation through time, as the actor-learners do at a rollout's start).
        ``resets [T, k]`` (bool, None: none): the state entering step t of sequence e is
        zeroed (its previous step ended its return); no gradient crosses such a reset.

        Returns ``(terms, grad, state_after)``: the loss terms and gradient as
        :meth:`loss_and_grad` gives them, and the ``(h, c)`` after step T-1.
        """
        self._check_params(params)
        if not self.recurrent:
            msg = f"arch {self.arch!r} is feed-forward: use loss_and_grad"
            raise ValueError(msg)
        obs = np.asarray(obs)
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        if len(lead) != 2 or obs.shape[len(lead) :] != self.obs_shape:
            msg = f"obs must have shape (T, k, {', '.join(map(str, self.obs_shape))}), got {obs.shape}"
            raise ValueError(msg)
        T, k = lead
        flat = {}
        for name, arr in (("actions", actions), ("returns", returns), ("resets", resets)):
            if arr is None:
                continue
            arr = np.asarray(arr)
            if arr.shape != (T, k):
                msg = f"{name} must have shape (T, k) = ({T}, {k}) like obs, got {arr.shape}"
                raise ValueError(msg)
            flat[name] = np.ascontiguousarray(arr).reshape(T * k)
        resets_flat = flat.get("resets", np.zeros(T * k, dtype=bool))
        if resets_flat.dtype != np.bool_:
            msg = f"resets must be a bool array, got {resets_flat.dtype}"
            raise TypeError(msg)
        h, c = (None, None) if state is None else _state_pair(state)
        terms, grad, h, c = self._core.loss_and_grad_recurrent(
            params,
            np.ascontiguousarray(obs).reshape((T * k, *self.obs_shape)),
            T,
            k,
            flat["actions"],
            flat["returns"],
            resets_flat,
            h,
            c,
            float(entropy_beta),
            float(value_coef),
            reduction,
            out,
        )
        return terms, grad, (h, c)

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


def _state_pair(state: object) -> State:
    if not (isinstance(state, tuple | list) and len(state) == 2):
        msg = f"state must be a pair (h, c) of float32 arrays [N, state_size], got {type(state).__name__}"
        raise TypeError(msg)
    return state[0], state[1]


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
