"""Policy: a trained network used as a function from observations to actions.

The one implementation of acting with a trained network (argmax or a softmax sample), used
by evaluate(), record() and users' own loops alike. Not here: environments (envs.py), the
evaluation protocol (evaluate.py), checkpoint files (checkpoint.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from .checkpoint import Checkpoint, load_checkpoint
from .networks import Network

if TYPE_CHECKING:
    from collections.abc import Sequence

    SeedLike = int | Sequence[int] | np.random.SeedSequence | None

__all__ = ["EVAL_EPSILON", "GamePlayer", "Policy"]


EVAL_EPSILON = 0.05
"""The exploration epsilon of value-based policies when they act (the DQN evaluation protocol)."""


class Policy:
    """A trained actor: observations in, actions out (plus their probabilities and values).

    Load one with ``Policy.load("runs/pong/checkpoint.npz")``; ``act(obs)`` takes one
    observation (returns an ``int``) or a batch ``[N, *obs_shape]`` (returns int64 ``[N]``).

    Atari observations must be exactly what training produced (``envs.AtariEnv``, ale-py's C++
    pipeline), a uint8 array ``[4, 84, 84]``:

    - each agent step repeats the action for 4 emulator frames (``frame_skip``; rewards summed);
    - a frame is the max over the last 2 of those frames' grayscale screens (ALE's palette
      grayscale), resized from 210x160 to 84x84 with OpenCV's ``INTER_AREA``;
    - the observation stacks the last 4 frames, oldest first; at a game's start the 3 older
      slots are black (zeros);
    - raw 0..255 values, no scaling: the network divides by 255 itself;
    - a game starts with ALE's reset, one frame of FIRE (if the game has FIRE), then
      max(k-1, 0) no-op frames for k drawn from 0..noop_max-1 (training's and evaluate's
      noop_max is 30).

    gymnasium's own Atari wrappers give the same observations (checked frame by frame over
    whole games of Pong in tests/test_policy.py; needs ``opencv-python``)::

        import ale_py, gymnasium as gym
        from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation
        gym.register_envs(ale_py)
        env = gym.make("ALE/Pong-v5", frameskip=1, repeat_action_probability=0.0)
        env = AtariPreprocessing(env, frame_skip=4, screen_size=84, grayscale_obs=True,
                                 noop_max=30, terminal_on_life_loss=False, scale_obs=False)
        env = FrameStackObservation(env, 4, padding_type="zero")

    with two differences, both at the start of a game: AtariPreprocessing presses no FIRE and
    plays 1..noop_max no-op frames drawn from its own RNG, so its games start a few frames
    apart from a3c_native's (``noop_max=1`` there replays ``evaluate(noop_max=0)`` exactly in
    games where that FIRE frame changes nothing, such as Pong; elsewhere put a wrapper that
    steps FIRE once after reset under AtariPreprocessing and use noop_max=0); and
    FrameStackObservation's default ``padding_type="reset"`` fills the older slots of a
    game's first 3 observations with copies of its first frame instead of black, hence
    ``"zero"``. See the README ("A trained agent in your own loop") for the details.

    Actions index the game's MINIMAL action set (``ale.getMinimalActionSet()``, what ale-py's
    vector interface uses with ``full_action_space=False``), which is also the set, in the
    same order, of gymnasium's ``ALE/...-v5`` envs (their default): pass them on unchanged.

    Policies trained on a gymnasium ``env_fn`` take that env's observations as the training
    adapter saw them: images uint8 ``(C, H, W)``, vectors flattened to ``(D,)`` (any real
    dtype; converted to float32 as in training); their actions are indices ``0..n-1`` (add
    the action space's ``start``, if it has one, before ``env.step``).

    Recurrent policies (the ``_lstm`` archs) carry an LSTM state from step to step, passed
    explicitly so that any number of games (or threads) can share one policy::

        state = None                                  # a game's start: the zero state
        action, state = policy.act(obs, state=state)  # each step, feeding the state back
        # when the game ends (and, if the policy was trained with episodic_life, when a life
        # is lost: policy.episodic_life), start again from state = None

    For a batch ``[N, *obs_shape]`` the state is ``(h, c)``, float32 ``[N, state_size]`` each;
    ``probabilities`` and ``value`` take the same ``state=`` and do not advance it.

    Value-based policies (a network with ``head="q"``, trained with ``method="one_step_q"``,
    ``"one_step_sarsa"`` or ``"n_step_q"``) act epsilon-greedily on their action values:
    ``act(obs)`` takes a uniformly random action with probability :attr:`epsilon` (default
    ``EVAL_EPSILON`` = 0.05, the DQN evaluation protocol's) and the argmax otherwise;
    ``deterministic=True`` is the argmax; ``value`` is ``max_a Q(s, a)`` and ``q_values`` the
    whole row.

    Args:
        network: the :class:`Network` the parameters belong to.
        params: float32 ``[network.num_params]`` parameter vector (not copied: do not modify
            it while the policy is in use).
        game: ale-py ROM id the policy was trained on (None for an env_fn or unknown).
        frame_skip: emulator frames per agent step the policy was trained with (Atari).
        episodic_life: whether training ended the return (and, recurrent archs, zeroed the
            state) at a lost life; evaluate() then zeroes a recurrent policy's state there too.
        seed: seeds :attr:`rng`, the generator ``act`` samples with (anything
            ``numpy.random.default_rng`` takes; None for fresh OS entropy).
        epsilon: value-based policies: the probability of a random action in ``act``.
    """

    def __init__(
        self,
        network: Network,
        params: np.ndarray,
        *,
        game: str | None = None,
        frame_skip: int = 4,
        episodic_life: bool = True,
        seed: SeedLike = 0,
        epsilon: float = EVAL_EPSILON,
    ) -> None:
        if not isinstance(network, Network):
            msg = f"Policy(network=...) must be an a3c_native.Network, got {type(network).__name__}"
            raise TypeError(msg)
        if (
            not isinstance(params, np.ndarray)
            or params.dtype != np.float32
            or params.shape != (network.num_params,)
        ):
            got = (
                f"{params.dtype} {params.shape}"
                if isinstance(params, np.ndarray)
                else type(params).__name__
            )
            msg = (
                f"params must be float32 of shape ({network.num_params},) for {network}, got {got}"
            )
            raise ValueError(msg)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0.0 <= epsilon <= 1.0:
            msg = f"Policy(epsilon={epsilon!r}) is invalid: must be a number in [0, 1]"
            raise ValueError(msg)
        if isinstance(frame_skip, bool) or not isinstance(frame_skip, int) or frame_skip < 1:
            msg = f"Policy(frame_skip={frame_skip!r}) is invalid: must be an integer >= 1"
            raise ValueError(msg)
        self.network = network
        self.params = np.ascontiguousarray(params)
        self.game = game
        self.frame_skip = frame_skip
        self.episodic_life = bool(episodic_life)
        self.epsilon = float(epsilon)
        self.rng: np.random.Generator = np.random.default_rng(seed)
        """The generator ``act`` samples with when no ``rng=`` is given (replaceable)."""

    @classmethod
    def load(cls, checkpoint: str | os.PathLike[str] | Checkpoint, *, seed: SeedLike = 0) -> Policy:
        """The policy of a checkpoint file (validated by :func:`load_checkpoint`: a bad file
        raises CheckpointError) or of an already loaded :class:`Checkpoint`.

        ``seed`` seeds the sampling generator (see the class docstring). With the same seed
        as ``evaluate(..., seed=s)``'s game i, i.e. ``seed=[s, i]``, sampled actions replay
        that game's draws.
        """
        if isinstance(checkpoint, (str, os.PathLike)):
            checkpoint = load_checkpoint(checkpoint)
        elif not isinstance(checkpoint, Checkpoint):
            msg = (
                "Policy.load() takes a checkpoint path or a Checkpoint, got "
                f"{type(checkpoint).__name__}"
            )
            raise TypeError(msg)
        config = checkpoint.config
        game = None if config.get("env_fn") else config.get("game")
        return cls(
            checkpoint.network(),
            checkpoint.params,
            game=game,
            frame_skip=int(config.get("frame_skip", 4)),
            episodic_life=bool(config.get("episodic_life", True)),
            seed=seed,
        )

    arch = property(lambda self: self.network.arch, doc="Network architecture name.")
    obs_shape = property(lambda self: self.network.obs_shape, doc="Shape of one observation.")
    obs_dtype = property(
        lambda self: self.network.obs_dtype,
        doc="uint8 for the conv archs (raw pixels), float32 for 'mlp'.",
    )
    num_actions = property(lambda self: self.network.num_actions, doc="Number of actions.")
    recurrent = property(
        lambda self: self.network.recurrent, doc="True for the LSTM archs (act takes a state)."
    )
    value_based = property(
        lambda self: self.network.head == "q",
        doc="True for the value-based methods' networks (act is epsilon-greedy on Q).",
    )

    def initial_state(self, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The zero state ``(h, c)`` of ``n`` games (what ``state=None`` means)."""
        return self.network.initial_state(n)

    def act(
        self,
        obs: Any,
        deterministic: bool = False,
        *,
        rng: np.random.Generator | None = None,
        state: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Any:
        """Actions for one observation (an ``int``) or a batch ``[N, *obs_shape]`` (int64 ``[N]``).

        deterministic=True takes the argmax of the logits (the lowest index on a tie);
        otherwise each action is sampled from the softmax with one ``rng.random()`` draw per
        observation, in batch order (``rng`` defaults to :attr:`rng`), so a batch of N draws
        the same actions as N single calls.

        Recurrent policies return ``(actions, state_after)`` given the ``state`` entering this
        step (None: zero; see the class docstring).
        """
        logits, _, single, new_state = self._forward(obs, state)
        if deterministic:
            actions = np.argmax(logits, axis=1).astype(np.int64)
        elif self.value_based:
            # Two draws per observation in batch order (u: explore?, v: which action), so a
            # batch draws what N single calls would.
            uv = (self.rng if rng is None else rng).random((len(logits), 2))
            random_actions = np.minimum((uv[:, 1] * self.num_actions).astype(np.int64), self.num_actions - 1)
            actions = np.where(uv[:, 0] < self.epsilon, random_actions, np.argmax(logits, axis=1)).astype(np.int64)
        else:
            z = logits.astype(np.float64)
            cdf = np.cumsum(np.exp(z - z.max(axis=1, keepdims=True)), axis=1)
            u = (self.rng if rng is None else rng).random(len(z)) * cdf[:, -1]
            # Inverse CDF, as np.searchsorted(cdf_row, u, side="right") row by row; the clamp
            # guards the last bin against rounding.
            actions = np.minimum((cdf <= u[:, None]).sum(axis=1), z.shape[1] - 1).astype(np.int64)
        result = int(actions[0]) if single else actions
        return (result, new_state) if self.recurrent else result

    def probabilities(self, obs: Any, *, state: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Action probabilities (softmax of the logits, float64): ``[A]`` for one observation,
        ``[N, A]`` for a batch. Value-based policies: the epsilon-greedy distribution of ``act``."""
        logits, _, single, _ = self._forward(obs, state)
        if self.value_based:
            p = np.full(logits.shape, self.epsilon / self.num_actions)
            p[np.arange(len(p)), np.argmax(logits, axis=1)] += 1.0 - self.epsilon
            return p[0] if single else p
        z = logits.astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return p[0] if single else p

    def value(self, obs: Any, *, state: tuple[np.ndarray, np.ndarray] | None = None) -> float | np.ndarray:
        """The critic's state value V(s): a ``float`` for one observation, float32 ``[N]`` for
        a batch: the discounted return it predicts, in the (clipped, ``reward_clip``) rewards
        it learned from, not in game score. Value-based policies: ``max_a Q(s, a)``."""
        _, values, single, _ = self._forward(obs, state)
        return float(values[0]) if single else values

    def q_values(self, obs: Any) -> np.ndarray:
        """Value-based policies: the action values Q(s, .), float32 ``[A]`` or ``[N, A]``."""
        if not self.value_based:
            msg = f"q_values() needs a value-based policy (head='q'), this one has head={self.network.head!r}"
            raise ValueError(msg)
        q, _, single, _ = self._forward(obs, None)
        return q[0] if single else q

    # -----------------------------------------------------------------------------------------

    def _forward(self, obs: Any, state: Any) -> tuple[np.ndarray, np.ndarray, bool, Any]:
        """(logits [N, A], values [N], single, state after the step or None)."""
        if state is not None and not self.recurrent:
            msg = f"this policy (arch {self.arch!r}) is feed-forward: it takes no state"
            raise ValueError(msg)
        batch, single = self._as_batch(obs)
        if len(batch) == 0:
            return np.empty((0, self.num_actions), np.float32), np.empty(0, np.float32), False, state
        if self.value_based:
            q = self.network.forward(self.params, batch)
            return q, q.max(axis=1), single, None
        if not self.recurrent:
            logits, values = self.network.forward(self.params, batch)
            return logits, values, single, None
        logits, values, new_state = self.network.forward(self.params, batch, state)
        return logits, values, single, new_state

    def _as_batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        """obs as a C-contiguous [N, *obs_shape] batch of the network's dtype, and whether it
        was a single observation. Raises TypeError (dtype) or ValueError (shape)."""
        obs = np.asarray(obs)
        shape = tuple(self.obs_shape)
        if obs.shape == shape:
            single = True
        elif obs.ndim == len(shape) + 1 and obs.shape[1:] == shape:
            single = False
        else:
            msg = (
                f"Invalid observation shape {obs.shape}: this policy takes {shape} or "
                f"(N, {', '.join(map(str, shape))})"
            )
            last3 = obs.shape[-3:]
            if len(shape) == 3 and last3 != shape and sorted(last3) == sorted(shape):
                msg += " (channels first: stack frames on axis 0, as FrameStackObservation does)"
            raise ValueError(msg)
        want = self.obs_dtype
        if want == np.uint8:
            if obs.dtype != np.uint8:
                msg = (
                    f"observations must be uint8 raw pixels (0..255; the network divides by 255 "
                    f"itself), got {obs.dtype}: do not scale them (AtariPreprocessing's "
                    "scale_obs=False)"
                )
                raise TypeError(msg)
        elif not (np.issubdtype(obs.dtype, np.floating) or np.issubdtype(obs.dtype, np.integer)):
            msg = f"observations must be real numbers (converted to float32), got {obs.dtype}"
            raise TypeError(msg)
        batch = obs[None] if single else obs
        return np.ascontiguousarray(batch, dtype=want), single

    def __repr__(self) -> str:
        game = "" if self.game is None else f"game={self.game!r}, "
        skip = "" if self.game is None else f", frame_skip={self.frame_skip}"
        return (
            f"Policy({game}arch={self.arch!r}, obs_shape={self.obs_shape}, "
            f"num_actions={self.num_actions}{skip})"
        )


class GamePlayer:
    """Plays one game at a time with a :class:`Policy`: ``act(obs)`` gives the action, and
    ``observe(terminal)`` after each env step zeroes a recurrent policy's state where the
    return ended (the game's end; a lost life where the env reports it as terminal).
    The loop evaluate() and record() share::

        player = GamePlayer(policy, deterministic=greedy, rng=rng)
        action = player.act(obs)
        obs, reward, terminal, ... = env.step(action)
        player.observe(terminal)
    """

    def __init__(
        self, policy: Policy, *, deterministic: bool = False, rng: np.random.Generator | None = None
    ) -> None:
        self.policy = policy
        self.deterministic = deterministic
        self.rng = rng
        self.state: tuple[np.ndarray, np.ndarray] | None = None

    def act(self, obs: Any) -> int:
        """The action for one observation (advancing a recurrent policy's state)."""
        if not self.policy.recurrent:
            return self.policy.act(obs, self.deterministic, rng=self.rng)
        action, self.state = self.policy.act(obs, self.deterministic, rng=self.rng, state=self.state)
        return action

    def observe(self, terminal: bool) -> None:
        """After an env step: a terminal step starts the next return from the zero state."""
        if terminal:
            self.state = None
