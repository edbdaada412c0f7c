"""A3CConfig: every setting of a training run, declared once, validated on construction.

Owns the field list, defaults, validation and the JSON-safe dict form (saved into run
directories and checkpoints). Not here: the CLI/TOML front ends (they map onto these fields).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from a3c_native.archs import ARCHS, METHODS, RECURRENT_ARCHS, VALUE_BASED_METHODS, VECTOR_ARCHS
from a3c_native.errors import ConfigError

__all__ = [
    "ARCHS",
    "EPSILON_DRAWS",
    "EPS_PLACEMENTS",
    "LOSS_REDUCTIONS",
    "METHODS",
    "RECURRENT_ARCHS",
    "UPDATES",
    "VALUE_BASED_METHODS",
    "VECTOR_ARCHS",
    "A3CConfig",
]


UPDATES = ("hogwild", "locked")

LOSS_REDUCTIONS = ("sum", "mean")
EPS_PLACEMENTS = ("inside", "outside")
EPSILON_DRAWS = ("env", "thread")
_MAX_SEED = 2**63 - 1  # fits the core's int64/uint64 seed
_THREADS_PER_CPU = 64  # the cap on A3CConfig.threads (see its docstring)
_MAX_THREADS = 4096


@dataclass
class A3CConfig:
    """Settings of one A3C run (Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement
    Learning", ICML; arXiv:1602.01783).

    The defaults are the paper's Atari settings where it gives them (gamma 0.99, entropy beta
    0.01, RMSProp alpha 0.99 with statistics shared by all threads, learning rate annealed
    linearly to 0, action repeat 4, rewards clipped to [-1, 1]) except where a measured
    learning run on Pong chose otherwise (envs_per_thread, rmsprop_eps, total_steps; README,
    "Learning results"); every departure is marked "Deviation from Mnih et al. 2016". `__post_init__` validates every field and raises
    ConfigError naming `A3CConfig.<field>=<value>` and the rule.
    """

    # --- environment source and network -------------------------------------------------------
    game: str = "pong"
    """ale-py ROM id ('pong', 'breakout', ...); 'Breakout', 'MsPacman', 'ALE/Pong-v5' are
    normalised to the id. Ignored when env_fn is set."""
    env_fn: Callable[..., Any] | None = None
    """Factory of a gymnasium env with Discrete actions, called as env_fn(seed) or env_fn();
    used instead of game when set. Saved by qualified name only (see to_dict)."""
    arch: str = "a3c"
    """'a3c' (the paper's FF net: conv16-conv32-fc256), 'nature' (conv32-64-64-fc512), or 'mlp'
    (vector observations, e.g. CartPole); 'a3c_lstm', 'nature_lstm', 'mlp_lstm': the same with
    an LSTM (256 cells; the mlp's hidden[1]) before the heads, the paper's recurrent agent.
    Each env's LSTM state is carried across rollouts and zeroed at every terminal of the
    return; the gradient is backpropagated through each rollout (truncated at its start)."""
    hidden: tuple[int, int] = (64, 64)
    """Widths of the two hidden layers of archs 'mlp' and 'mlp_lstm' (unused by the conv archs)."""

    # --- run length ---------------------------------------------------------------------------
    threads: int = 2
    """Actor-learner threads. Deviation from Mnih et al. 2016: 16 there; 2 = this machine's
    cores. At most 64 per CPU this process may use (os.sched_getaffinity) and never more than
    4096: each thread owns an environment (an emulator and its thread) and ~6 MB of buffers,
    and past ~4 threads per core a run only gets slower (README: 8 threads on 2 cores run
    0.59x), so a larger value is a typo that would otherwise spend minutes building envs."""
    envs_per_thread: int = 8
    """Environments k each actor-learner steps together: one forward at batch k per time step,
    one backward over the k x t_max samples and one shared update per rollout (PAAC, Clemente
    et al. 2017). threads=1 with k envs is A2C (synchronous, no staleness).
    Deviation from Mnih et al. 2016 (one game per actor-learner, 16 of them): with 2 threads
    and one game each, Pong reached +18 in 30 minutes on some seeds only, whatever the lr;
    2 threads x 8 games with t_max 5 and lr 7e-4 reached it on 5 of 5 seeds, in 17.3-24.6
    minutes (README, "Learning results")."""
    env_threads: int = 0
    """ale-py emulator threads of each worker's vector env (0: auto, the cores per worker:
    1 with a worker per core, every core with threads=1). Atari only."""
    total_steps: int = 6_000_000
    """Agent steps summed over all workers; the run stops there and the lr reaches 0 there.
    Deviation from Mnih et al. 2016 (80M frames = 20M steps per game): 6M steps is ~32 min of
    2 threads here, so the lr anneals over the 30-minute Pong budget; the late low lr is what
    took Pong from a +12 plateau to +18 (README, "Learning results")."""
    max_seconds: float | None = None
    """Wall-clock limit of this call of train() in seconds (None: no limit). The lr schedule
    follows total_steps (and lr_anneal_seconds), not this."""
    lr_anneal_seconds: float | None = None
    """If set, the lr also anneals linearly to 0 over this many seconds of training time
    (counted across resumes, from the checkpoint): lr = lr0 (1 - max(T / total_steps,
    t / lr_anneal_seconds)). A run budgeted in minutes then ends at lr 0 whatever the
    machine's speed (None: the schedule follows total_steps only)."""

    # --- algorithm (Mnih et al. 2016, Algorithm S3 and Section 8) -----------------------------
    method: str = "a3c"
    """The paper's method: 'a3c' (actor-critic, Algorithm S3), or a value-based one with a head
    of |A| action values and a shared target network (Algorithms 1 and S2): 'one_step_q',
    'one_step_sarsa', 'n_step_q'. The value-based methods explore epsilon-greedily and ignore
    entropy_beta and value_coef; they need a feed-forward arch (README, "The four methods")."""
    target_update_steps: int = 10_000
    """Value-based methods: the shared target network is refreshed from the parameters every
    this many global agent steps, by whichever worker crosses the boundary (paper: 40,000
    frames = 10,000 agent steps at frame_skip 4)."""
    epsilon_anneal_steps: int = 1_000_000
    """Value-based methods: each env's exploration epsilon anneals linearly from 1 to its final
    value (0.1, 0.01 or 0.5, drawn with probabilities 0.4, 0.3, 0.3) over this many global
    agent steps (paper: 4 M frames = 1 M agent steps). Drawn per environment by default
    (epsilon_draw)."""
    epsilon_draw: str = "env"
    """Value-based methods: what draws its own final epsilon: 'env', each environment (the
    default; deviation from Mnih et al. 2016), or 'thread', each actor-learner for all of its
    envs (the paper's). With 2 threads, per-thread draws give a run two exploration levels at
    most: in 49% of runs no env ends at 0.01 (then no game counts in the learning curve, which
    plots the games at epsilon <= 0.05), in 9% all end at 0.5 (README, "The value-based
    methods")."""
    t_max: int = 5
    """Rollout length n of the n-step returns (paper: 5). With 8 games per actor-learner a
    rollout is 40 samples; t_max 20 (the default of one game per worker) makes 4x fewer
    updates and learned Pong slower (-19.1 vs -13.3 at 1M-1.5M steps; README, "Learning
    results")."""
    gamma: float = 0.99
    """Discount factor (paper: 0.99)."""
    lr: float = 7e-4
    """Initial learning rate, annealed linearly to 0 over total_steps. The paper samples it
    from LogUniform(1e-4, 1e-2) per game. Measured on Pong with 2 threads x 8 games, t_max 5
    and rmsprop_eps 1e-5 (README, "Learning results"): 7e-4 reached +18 in 30 min on 5 of 5
    seeds; 1e-3 stayed at -20 (entropy at its maximum) for 1.75M steps; 4e-4 (with 4 games)
    was at -20.4 after 1M steps. (One game per worker, t_max 20: 3e-4 was the best.)
    The value-based methods on Atari take 2.5e-4 from the atari preset's [value_based] table
    (A3CConfig.for_env and the CLI apply it): n_step_q at 7e-4 did not leave -21 on Pong.
    The recurrent archs on Atari take 1e-4 from its [recurrent] table: at 7e-4 and 3e-4 the
    LSTM collapsed on Pong (README, "The recurrent agent")."""
    entropy_beta: float = 0.01
    """Weight beta of the entropy bonus (paper: 0.01)."""
    value_coef: float = 0.5
    """Weight c_v of the value loss c_v (R - V)^2 / 2 relative to the policy loss."""
    rmsprop_alpha: float = 0.99
    """Decay of the shared RMSProp statistics g <- a g + (1 - a) d^2 (paper: 0.99)."""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon; where it sits is rmsprop_eps_placement. Deviation from Mnih et al. 2016
    (0.1): inside the root, sqrt(0.1) = 0.32 dwarfs sqrt(g) for this net's gradients (on Pong
    g has median 1e-6 and 99th percentile 2e-3), so the update is plain SGD at lr / 0.32 and
    Pong does not move off -21 in 1M steps; with 1e-5 the step is adaptive (Adam-like) for
    the parameters with large gradients and damped ~3x for the median one."""
    rmsprop_eps_placement: str = "inside"
    """'inside': theta -= lr d / sqrt(g + eps) (TensorFlow's RMSProp, the DeepMind code);
    'outside': theta -= lr d / (sqrt(g) + eps) (Torch7's). The paper does not say; with
    eps=0.1 the two differ by up to 3x in step size for small g; at 1e-5 they barely differ."""
    grad_clip: float = 40.0
    """Clip the rollout gradient to this global L2 norm (0 disables)."""
    seed: int = 0
    """Run seed; per-worker env/network seeds are derived from it and the worker index."""
    update: str = "hogwild"
    """'hogwild': lock-free updates of the shared parameters (the paper); 'locked': one mutex
    around each update (for comparisons and reproducible 1-thread runs)."""
    loss_reduction: str = "sum"
    """'sum' (the paper's accumulated gradients over the rollout) or 'mean' over its steps."""

    # --- Atari preprocessing ------------------------------------------------------------------
    reward_clip: float = 1.0
    """Rewards are clipped to [-reward_clip, reward_clip] for learning (0 disables); reported
    scores are always raw."""
    episodic_life: bool = True
    """A lost life is terminal for the return, the game goes on (Atari only).
    Deviation from Mnih et al. 2016: not stated there; the DQN training protocol."""
    frame_skip: int = 4
    """Emulator frames per agent step (action repeat 4 in the paper), max-pooled over the last 2."""
    frame_stack: int = 4
    """Preprocessed frames per observation, oldest first: obs (frame_stack, 84, 84) (4 in the
    paper). A recurrent arch can run on single frames (1), remembering in its LSTM instead."""
    noop_max: int = 30
    """Each game starts with 0..noop_max-1 no-ops (0 disables). Deviation from Mnih et al.
    2016: the paper uses no-op starts for evaluation; here they also diversify training starts."""
    repeat_action_probability: float = 0.0
    """Sticky-action probability (Machado et al. 2018); 0.0 = the paper's deterministic ALE."""
    max_episode_steps: int = 108_000
    """Time limit per game in EMULATOR FRAMES (ale-py's unit, counting skipped frames):
    108_000 = 30 min of play = 27_000 agent steps at frame_skip 4. Treated as terminal.
    Atari only (a gymnasium env keeps its own TimeLimit)."""

    # --- threads and telemetry ----------------------------------------------------------------
    pin_threads: bool = True
    """Pin worker i and its ale-py env thread to CPU i % ncores (a cross-core hand-off costs
    50-170 us a step here, DESIGN.md)."""
    log_interval_seconds: float = 1.0
    """Seconds between progress/telemetry updates of the main thread."""

    # --- cluster mode (Ray) -------------------------------------------------------------------
    ray_address: str | None = None
    """None: one machine, no Ray (the default). Otherwise train on a Ray cluster: 'auto' (the
    cluster this machine joined with `ray start`), 'HOST:PORT' (the head's address), or 'local'
    (a private Ray instance on this machine with `nodes` simulated nodes, one process each: to
    try the mode, and for tests). Each node runs `threads` actor-learners on its own shared
    buffer (Hogwild, exactly as on one machine) and exchanges parameters with one
    parameter-server actor every sync_interval_seconds (README, "Cluster mode (Ray)").
    Needs the extra: pip install ".[ray]"."""
    nodes: int = 0
    """Cluster mode: node actors, each with `threads` actor-learners and as many CPUs. 0: one per
    alive Ray node that has `threads` CPUs ('auto', 'HOST:PORT'), or usable CPUs // threads
    ('local')."""
    sync_interval_seconds: float = 1.0
    """Cluster mode: seconds between a node's exchanges with the parameter server (it sends the
    change of its parameters and its RMSProp statistics, and gets the global parameters back;
    its workers never wait for it). Shorter: less staleness between nodes, more bytes."""

    # --- run directory: checkpoints and logs --------------------------------------------------
    run_dir: str | None = None
    """Directory of the run's files: config.json (this config, resolved), checkpoint.npz (the
    latest checkpoint), episodes.csv (one row per game) and tb/ (TensorBoard events).
    None: train() writes nothing."""
    checkpoint_every_steps: int = 0
    """Save run_dir/checkpoint.npz every this many agent steps (0: not by steps). Checkpoints
    are also saved at the start, at the end, on Ctrl-C and on SIGTERM."""
    checkpoint_every_seconds: float = 60.0
    """Save run_dir/checkpoint.npz every this many seconds of wall time (0: not by time). A
    write of the a3c net's checkpoint (Pong: 678k parameters and RMSProp statistics, 5.4 MB,
    fsynced) takes a median 26-29 ms here, 0.05% of a minute: so a crash loses at most about
    a minute of training."""
    tensorboard: bool = True
    """Write TensorBoard scalars into run_dir/tb (event files written directly, without
    tensorboardX or torch)."""

    def __post_init__(self) -> None:
        self._check_choice("arch", ARCHS)
        self._check_choice("update", UPDATES)
        self._check_choice("method", METHODS)
        self._check_choice("loss_reduction", LOSS_REDUCTIONS)
        self._check_choice("rmsprop_eps_placement", EPS_PLACEMENTS)
        self._check_choice("epsilon_draw", EPSILON_DRAWS)
        self._check_hidden()
        self._check_threads()
        self._check_int("envs_per_thread", 1, 1024)
        self._check_int("env_threads", 0, 1024)
        self._check_int("total_steps", 1)
        self._check_int("t_max", 1)
        self._check_int("target_update_steps", 1)
        self._check_int("epsilon_anneal_steps", 0)
        self._check_int("seed", 0, _MAX_SEED)
        self._check_int("frame_skip", 1)
        self._check_int("frame_stack", 1, 64)
        self._check_int("noop_max", 0)
        self._check_int("max_episode_steps", 1)
        if self.max_seconds is not None:
            self._check_float("max_seconds", 0.0, lo_open=True)
        if self.lr_anneal_seconds is not None:
            self._check_float("lr_anneal_seconds", 0.0, lo_open=True)
        self._check_float("gamma", 0.0, 1.0)
        self._check_float("lr", 0.0, lo_open=True)
        self._check_float("entropy_beta", 0.0)
        self._check_float("value_coef", 0.0)
        self._check_float("rmsprop_alpha", 0.0, 1.0, hi_open=True)
        self._check_float("rmsprop_eps", 0.0, lo_open=True)
        self._check_float("grad_clip", 0.0)
        self._check_float("reward_clip", 0.0)
        self._check_float("repeat_action_probability", 0.0, 1.0)
        self._check_float("log_interval_seconds", 0.0, lo_open=True)
        self._check_run_dir()
        self._check_int("checkpoint_every_steps", 0)
        self._check_float("checkpoint_every_seconds", 0.0)
        self._check_bool("tensorboard")
        self._check_bool("episodic_life")
        self._check_bool("pin_threads")
        self._check_env()
        self._check_cluster()
        if self.method in VALUE_BASED_METHODS and self.arch in RECURRENT_ARCHS:
            raise self._fail(
                "arch",
                f"the value-based method {self.method!r} needs a feed-forward arch ('a3c', 'nature', "
                "'mlp'); the recurrent archs are for method='a3c'",
            )

    # --- derived values -----------------------------------------------------------------------
    @property
    def is_atari(self) -> bool:
        """True when the run uses the ALE game (env_fn is None)."""
        return self.env_fn is None

    # --- dict form ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field: hidden becomes a list, env_fn its 'module:qualname'
        (or None); the callable itself is never serialised."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["hidden"] = list(self.hidden)
        d["env_fn"] = _qualified_name(self.env_fn) if self.env_fn is not None else None
        return d

    @classmethod
    def from_preset(cls, name: str, **fields: Any) -> A3CConfig:
        """The config of preset `name` (``a3c_native/presets/<name>.toml``, e.g. ``'a2c'``),
        with `fields` on top: ``A3CConfig.from_preset("a2c", game="breakout")``."""
        from a3c_native.presets import load_preset

        return cls(**{**load_preset(name, method=fields.get("method"), arch=fields.get("arch")), **fields})

    @classmethod
    def for_env(cls, env: str | Callable[..., Any], /, **fields: Any) -> A3CConfig:
        """The config for `env` with its family's preset under `fields`, as the CLI resolves
        it: ``A3CConfig.for_env("CartPole-v1", threads=4)``.

        `env` is an ALE game ('pong'), a registered gymnasium id ('CartPole-v1', made with
        ``games.GymMake``) or an env factory. The family (presets.py, `family_of`): an ALE game
        or image observations -> ``atari`` (the dataclass defaults); vector observations ->
        ``classic_control`` (``a3c_native/presets/classic_control.toml``: the mlp and the
        settings measured on CartPole). ``A3CConfig(...)`` itself applies no preset.
        """
        from a3c_native.presets import env_fields

        return cls(**{**env_fields(env, fields), **fields})

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, env_fn: Callable[..., Any] | None = None
    ) -> A3CConfig:
        """Rebuild a config from `to_dict()` output (missing keys take their defaults).

        Unknown keys raise ConfigError naming them with close matches. A saved env_fn is only
        a name: code is never imported from data, so pass the callable as `env_fn=` to use
        it (a name in `d` without `env_fn=` raises ConfigError).
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            parts = []
            for k in unknown:
                close = difflib.get_close_matches(str(k), names, n=3, cutoff=0.6)
                parts.append(f"{k!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
            raise ConfigError(
                f"A3CConfig.from_dict: unknown key(s) {', '.join(parts)}; "
                f"valid keys: {', '.join(names)}"
            )
        kwargs = dict(d)
        saved_fn = kwargs.pop("env_fn", None)
        if env_fn is not None:
            kwargs["env_fn"] = env_fn
        elif saved_fn is not None and not callable(saved_fn):
            raise ConfigError(
                f"A3CConfig.env_fn={saved_fn!r} was saved by name only: pass the callable, "
                "A3CConfig.from_dict(d, env_fn=...)"
            )
        elif saved_fn is not None:
            kwargs["env_fn"] = saved_fn
        if isinstance(kwargs.get("hidden"), list):
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)

    # --- validation helpers -------------------------------------------------------------------
    def _fail(self, name: str, rule: str) -> ConfigError:
        return ConfigError(f"A3CConfig.{name}={getattr(self, name)!r} is invalid: {rule}")

    def _check_int(self, name: str, lo: int, hi: int | None = None) -> None:
        v = getattr(self, name)
        rule = f"must be an integer >= {lo}" + (f" and <= {hi}" if hi is not None else "")
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise self._fail(name, rule)
        if v < lo or (hi is not None and v > hi):
            raise self._fail(name, rule)
        setattr(self, name, int(v))

    def _check_float(
        self,
        name: str,
        lo: float,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
    ) -> None:
        v = getattr(self, name)
        lo_txt = f"{'>' if lo_open else '>='} {lo:g}"
        hi_txt = "" if hi is None else f" and {'<' if hi_open else '<='} {hi:g}"
        rule = f"must be a finite number {lo_txt}{hi_txt}"
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise self._fail(name, rule)
        if v < lo or (lo_open and v == lo):
            raise self._fail(name, rule)
        if hi is not None and (v > hi or (hi_open and v == hi)):
            raise self._fail(name, rule)
        setattr(self, name, float(v))

    def _check_bool(self, name: str) -> None:
        if not isinstance(getattr(self, name), bool):
            raise self._fail(name, "must be True or False")

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        v = getattr(self, name)
        if v not in choices:
            valid = ", ".join(repr(c) for c in choices)
            close = difflib.get_close_matches(str(v), choices, n=1) if isinstance(v, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self._fail(name, f"must be one of {valid}{hint}")

    def _check_threads(self) -> None:
        self._check_int("threads", 1)
        cpus = usable_cpus()
        cap = min(_THREADS_PER_CPU * cpus, _MAX_THREADS)
        if self.threads > cap:
            raise self._fail(
                "threads",
                f"must be <= {cap} ({_THREADS_PER_CPU} per CPU, at most {_MAX_THREADS}); this "
                f"machine lets the process use {cpus} CPU(s), and one thread per CPU is the "
                "fastest setting",
            )

    def _check_run_dir(self) -> None:
        if self.run_dir is None:
            return
        if not isinstance(self.run_dir, (str, os.PathLike)) or not str(self.run_dir).strip():
            raise self._fail("run_dir", "must be a directory path (str or os.PathLike) or None")
        self.run_dir = os.fspath(self.run_dir)

    def _check_cluster(self) -> None:
        self._check_int("nodes", 0, _MAX_THREADS)
        self._check_float("sync_interval_seconds", 0.0, lo_open=True)
        a = self.ray_address
        if a is None:
            if self.nodes:
                raise self._fail("nodes", "is for the cluster mode: set ray_address too (CLI: --ray local|auto|HOST:PORT)")
            return
        host, sep, port = a.rpartition(":") if isinstance(a, str) else ("", "", "")
        if isinstance(a, str) and (
            a in ("auto", "local") or (sep and host.strip() and port.isdigit() and 1 <= int(port) <= 65535)
        ):
            return
        raise self._fail(
            "ray_address",
            "must be None (one machine), 'auto' (the Ray cluster this machine joined), 'local' (simulated "
            "nodes on this machine) or the head's 'HOST:PORT' (e.g. '10.0.0.1:6379')",
        )

    def _check_hidden(self) -> None:
        h = self.hidden
        if isinstance(h, list):
            h = tuple(h)
        if (
            not isinstance(h, tuple)
            or len(h) != 2
            or not all(isinstance(x, Integral) and not isinstance(x, bool) and x >= 1 for x in h)
        ):
            raise self._fail("hidden", "must be a pair of integers >= 1, e.g. (64, 64)")
        self.hidden = (int(h[0]), int(h[1]))

    def _check_env(self) -> None:
        if self.env_fn is not None:
            if not callable(self.env_fn):
                raise self._fail("env_fn", "must be a callable returning a gymnasium env, or None")
            return
        if not isinstance(self.game, str) or not self.game.strip():
            raise self._fail("game", "must be an ale-py ROM id such as 'pong'")
        from a3c_native.envs import resolve_game  # imports ale_py: only for Atari runs
        from a3c_native.errors import EnvError

        try:
            resolved = resolve_game(self.game)
        except EnvError as e:
            raise self._fail("game", str(e)) from None
        self.game = resolved
        if self.arch in VECTOR_ARCHS:
            raise self._fail(
                "arch",
                f"{self.arch!r} needs vector observations; Atari gives 4x84x84 images: "
                "use 'a3c', 'nature' (or their _lstm versions), or set env_fn",
            )


def usable_cpus() -> int:
    """CPUs this process may run on (a container's cpuset respected where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS/Windows


def _qualified_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{qualname}"
