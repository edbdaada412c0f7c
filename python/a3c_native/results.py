"""What a training run reports: per-game records, live progress, and the final result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def epsilon_or_none(epsilon: float) -> float | None:
    """The native record's epsilon (NaN: not a value-based method) as EpisodeRecord keeps it."""
    return None if math.isnan(epsilon) else float(epsilon)


def played_at_most(epsilons: np.ndarray, max_epsilon: float) -> np.ndarray:
    """Mask of the games played at an exploration epsilon <= max_epsilon; NaN (A3C's games,
    which do not explore epsilon-greedily) counts."""
    return np.isnan(epsilons) | (epsilons <= max_epsilon + 1e-9)


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished game (not one life) of one worker."""

    wall_time: float
    """Seconds since the run started."""
    step: int
    """Global agent step count when the game ended."""
    worker: int
    """Index of the actor-learner thread that played it."""
    score: float
    """Real, unclipped game score."""
    length: int
    """Agent steps of the game (each is frame_skip emulator frames on Atari)."""
    epsilon: float | None = None
    """Value-based methods: the exploration epsilon of the game's env when it ended (the
    paper's scheme leaves a third of the envs at 0.5, whose games say little about the learned
    Q); None for A3C."""


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running training, passed to ``train(..., callback=)``."""

    steps: int
    """Global agent steps so far (including those of a resumed checkpoint)."""
    seconds: float
    """Wall time since this run started."""
    steps_per_sec: float
    """Agent steps per second over the last interval."""
    episodes: list[EpisodeRecord]
    """Games finished since the previous callback."""
    total_episodes: int
    """Games finished since the run started."""
    recent_score: float | None
    """Mean score of the last (up to) 10 games, None before the first."""
    policy_loss: float
    value_loss: float
    entropy: float
    """Mean per-step policy entropy over the updates of the last interval (nats)."""
    lr: float
    """Current learning rate of the linear schedule."""
    updates: int
    skipped_updates: int
    staleness_mean: float
    """Mean number of other workers' updates between a worker's snapshot and its update."""
    epsilons: tuple[float, ...] = ()
    """Value-based methods: each worker's mean exploration epsilon now (() for A3C)."""
    mean_max_q: float | None = None
    """Value-based methods: mean of max_a Q(s_t, a) over the acting steps of this run so far."""
    target_refreshes: int = 0
    """Value-based methods: target-network refreshes in this run."""
    cluster: dict[str, Any] | None = None
    """Cluster mode (A3CConfig.ray_address): nodes, alive, restarts, exchanges, exchange_share
    (of each node's wall time, the share with an exchange in flight; its workers go on
    meanwhile), bytes_per_sec_per_node (both directions), lost_steps_bound (agent steps of
    dead node incarnations that never reached the server, at most) and node_status (per node:
    alive, incarnation, restarts, host, slot, steps_per_sec, since_exchange, exchanges).
    None on one machine."""


@dataclass
class TrainResult:
    """The outcome of ``a3c_native.train``."""

    params: np.ndarray
    """Final shared parameters (float32, the network's flat layout)."""
    rms: np.ndarray
    """Final shared RMSProp statistics (same layout), for resuming."""
    total_steps: int
    """Global agent steps at the end (including a resumed checkpoint's)."""
    run_steps: int
    """Agent steps of this run."""
    seconds: float
    steps_per_sec: float
    """run_steps / seconds."""
    updates: int
    skipped_updates: int
    """Updates dropped because the gradient was not finite."""
    episodes: list[EpisodeRecord]
    staleness_mean: float
    staleness_hist: np.ndarray
    """Counts of updates by staleness 0..62; the last bin is 63 or more."""
    interrupted: bool
    """True when Ctrl-C ended the run (the parameters are those reached by then)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds summed over workers: env (stepping, wall), net (forward, backward, loss),
    update (clip + Hogwild RMSProp + snapshot), gil_wait (waiting for the GIL before an env
    call), env_call (inside the Python env call, wall) and env_call_cpu (the worker's CPU
    time inside that call: an upper bound of its GIL-held time, since ale-py sleeps with the
    GIL released while it emulates)."""
    config: dict[str, Any] = field(default_factory=dict)
    """The resolved configuration (A3CConfig.to_dict())."""
    target_params: np.ndarray | None = None
    """Value-based methods: the final shared target network (None for A3C)."""
    target_refreshes: int = 0
    """Value-based methods: target-network refreshes in this run."""
    cluster: dict[str, Any] | None = None
    """Cluster mode: the Progress.cluster summary at the end of the run (None on one machine)."""

    def mean_score(self, last: int = 10, *, max_epsilon: float | None = None) -> float | None:
        """Mean score of the last ``last`` games (None if there were none); with
        ``max_epsilon``, of the last games played at an exploration epsilon at most that
        (value-based methods; A3C's games, epsilon None, all count)."""
        scores = np.array([e.score for e in self.episodes])
        if max_epsilon is not None:
            eps = np.array([np.nan if e.epsilon is None else e.epsilon for e in self.episodes])
            scores = scores[played_at_most(eps, max_epsilon)]
        if scores.size == 0:
            return None
        return float(scores[-last:].mean())
