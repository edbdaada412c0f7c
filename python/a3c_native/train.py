"""train(cfg): builds the environments and the network, runs the native actor-learner pool.

The pool runs with the GIL released; this (the calling) thread wakes every ``log_interval``
seconds to turn the native counters into a :class:`Progress` for the callback, and every
100 ms to check for Ctrl-C. Not here: checkpoint files and the CLI.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _core
from .config import A3CConfig
from .envs import make_worker_envs
from .errors import ConfigError
from .networks import Network
from .results import EpisodeRecord, Progress, TrainResult

log = logging.getLogger("a3c_native")

# While the pool runs, every worker takes the GIL for each env step. A Python thread that is
# busy (a callback, the user's code) only yields the GIL every switch interval (5 ms by
# default), which starves the workers (measured: 2,500 -> 179 env steps/s beside one busy
# thread). A short interval bounds that wait; it is restored when the run ends.
_RUN_SWITCH_INTERVAL = 0.0002


def make_network(cfg: A3CConfig, obs_shape: tuple[int, ...], obs_dtype: np.dtype, num_actions: int) -> Network:
    """The network ``cfg.arch`` for an env's observation space, with a clear error on mismatch."""
    if cfg.arch == "mlp":
        if len(obs_shape) != 1 or obs_dtype != np.float32:
            msg = (
                f"A3CConfig.arch='mlp' needs vector observations (D,) float32, but the env gives "
                f"{obs_dtype} {obs_shape}; use arch='a3c' or 'nature' for images"
            )
            raise ConfigError(msg)
    elif len(obs_shape) != 3 or obs_dtype != np.uint8:
        msg = (
            f"A3CConfig.arch={cfg.arch!r} needs uint8 image observations (C, H, W), but the env "
            f"gives {obs_dtype} {obs_shape}; use arch='mlp' for vector observations"
        )
        raise ConfigError(msg)
    return Network(cfg.arch, obs_shape, num_actions, hidden=cfg.hidden)


def _options(cfg: A3CConfig, start_step: int) -> Any:
    o = _core.TrainOptions()
    o.threads = cfg.threads
    o.total_steps = cfg.total_steps
    o.start_step = start_step
    o.max_seconds = cfg.max_seconds or 0.0
    o.t_max = cfg.t_max
    o.gamma = cfg.gamma
    o.lr = cfg.lr
    o.entropy_beta = cfg.entropy_beta
    o.value_coef = cfg.value_coef
    o.rmsprop_alpha = cfg.rmsprop_alpha
    o.rmsprop_eps = cfg.rmsprop_eps
    o.rmsprop_eps_inside = cfg.rmsprop_eps_placement == "inside"
    o.grad_clip = cfg.grad_clip
    o.loss_mean = cfg.loss_reduction == "mean"
    o.reward_clip = cfg.reward_clip
    o.seed = cfg.seed
    o.pin_threads = cfg.pin_threads
    return o


def _episodes(raw: list[tuple[float, int, int, float, int]]) -> list[EpisodeRecord]:
    return [EpisodeRecord(float(t), int(s), int(w), float(sc), int(n)) for t, s, w, sc, n in raw]


def train(
    cfg: A3CConfig,
    *,
    callback: Callable[[Progress], bool | None] | None = None,
    params: np.ndarray | None = None,
    rms: np.ndarray | None = None,
    start_step: int = 0,
) -> TrainResult:
    """Train an A3C agent with ``cfg.threads`` native actor-learner threads (Hogwild).

    Args:
        cfg: the run's settings (:class:`A3CConfig`; paper defaults).
        callback: called on the calling thread every ``cfg.log_interval_seconds`` with a
            :class:`Progress`; returning ``False`` stops the run. An exception raised in it
            stops the run and propagates.
        params, rms, start_step: initial shared parameters, RMSProp statistics and global
            step count (to continue a run; default: a fresh ``init_params(cfg.seed)``).

    Returns:
        A :class:`TrainResult`. Ctrl-C stops the workers within ~0.1 s and returns the
        result reached so far with ``interrupted=True``. An exception raised inside an
        environment stops every worker and is re-raised here with its type and message.
    """
    if not isinstance(cfg, A3CConfig):
        msg = f"train() takes an A3CConfig, got {type(cfg).__name__}"
        raise TypeError(msg)
    if not 0 <= start_step < cfg.total_steps:
        msg = f"start_step={start_step} must be in [0, total_steps={cfg.total_steps})"
        raise ConfigError(msg)
    envs = make_worker_envs(cfg)
    old_interval = sys.getswitchinterval()
    try:
        first = envs[0]
        net = make_network(cfg, tuple(first.obs_shape), np.dtype(first.obs_dtype), first.num_actions)
        if params is None:
            params = net.init_params(cfg.seed)
        trainer = _core.Trainer(net._core, params, rms, _options(cfg, start_step), cfg.update == "locked")

        episodes: list[EpisodeRecord] = []
        recent: deque[float] = deque(maxlen=10)
        last = {"steps": start_step, "seconds": 0.0}

        def on_progress(raw: dict[str, Any]) -> bool | None:
            new = _episodes(raw["episodes"])
            episodes.extend(new)
            recent.extend(e.score for e in new)
            dt = raw["seconds"] - last["seconds"]
            sps = (raw["steps"] - last["steps"]) / dt if dt > 0 else 0.0
            last.update(steps=raw["steps"], seconds=raw["seconds"])
            if callback is None:
                return None
            return callback(
                Progress(
                    steps=raw["steps"],
                    seconds=raw["seconds"],
                    steps_per_sec=sps,
                    episodes=new,
                    total_episodes=len(episodes),
                    recent_score=float(np.mean(recent)) if recent else None,
                    policy_loss=raw["policy_loss"],
                    value_loss=raw["value_loss"],
                    entropy=raw["entropy"],
                    lr=raw["lr"],
                    updates=raw["updates"],
                    skipped_updates=raw["skipped_updates"],
                    staleness_mean=raw["staleness_mean"],
                )
            )

        sys.setswitchinterval(_RUN_SWITCH_INTERVAL)
        raw = trainer.run(envs, on_progress, cfg.log_interval_seconds)
        episodes.extend(_episodes(raw["episodes"]))
        if raw["interrupted"]:
            log.warning("training interrupted at step %d", raw["steps"])
        seconds = raw["seconds"]
        return TrainResult(
            params=trainer.params(),
            rms=trainer.rms(),
            total_steps=raw["steps"],
            run_steps=raw["run_steps"],
            seconds=seconds,
            steps_per_sec=raw["run_steps"] / seconds if seconds > 0 else 0.0,
            updates=raw["updates"],
            skipped_updates=raw["skipped_updates"],
            episodes=episodes,
            staleness_mean=raw["staleness_mean"],
            staleness_hist=np.asarray(raw["staleness_hist"], dtype=np.int64),
            interrupted=raw["interrupted"],
            timings={k[: -len("_seconds")]: raw[k] for k in raw if k.endswith("_seconds")},
            config=cfg.to_dict(),
        )
    finally:
        sys.setswitchinterval(old_interval)
        for env in envs:
            env.close()
