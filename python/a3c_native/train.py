"""train(cfg): builds the environments and the network, runs the native actor-learner pool.

The pool runs with the GIL released; this (the calling) thread wakes every ``log_interval``
seconds to turn the native counters into a :class:`Progress` for the callback, and every
100 ms to check for Ctrl-C. With ``cfg.run_dir`` set it also writes the run's files there:
config.json, checkpoint.npz (start, every N steps/seconds, end, Ctrl-C, SIGTERM), episodes.csv
and TensorBoard events (telemetry.py). Not here: the checkpoint format (checkpoint.py), the
run directory's file names and formats (rundir.py), the parts shared with the cluster mode's
driver (run_parts.py: resume checks, Ctrl-C, the run directory's checkpoints), the CLI.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

import numpy as np

from . import _core
from .config import A3CConfig
from .envs import make_worker_envs
from .native_options import native_options
from .results import EpisodeRecord, Progress, TrainResult, epsilon_or_none
from .run_parts import (
    StopOnSignals,
    check_env_matches,
    check_resumable,
    make_network,
    ProgressLog,
    open_run,
    start_state,
    timings_of,
)
from .telemetry import Telemetry

__all__ = ["check_resumable", "make_network", "train"]

log = logging.getLogger("a3c_native")

# While the pool runs, every worker takes the GIL for each env step. A Python thread that is
# busy (a callback, the user's code) only yields the GIL every switch interval (5 ms by
# default), which starves the workers (measured: 2,500 -> 179 env steps/s beside one busy
# thread). A short interval bounds that wait; it is restored when the run ends.
_RUN_SWITCH_INTERVAL = 0.0002


def _episodes(raw: list[_core.Episode]) -> list[EpisodeRecord]:
    return [EpisodeRecord(e.wall_time, e.step, e.worker, e.score, e.length, epsilon_or_none(e.epsilon)) for e in raw]


# ---------------------------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------------------------


def train(
    cfg: A3CConfig,
    *,
    callback: Callable[[Progress], bool | None] | None = None,
    params: np.ndarray | None = None,
    rms: np.ndarray | None = None,
    start_step: int = 0,
    resume: str | os.PathLike[str] | None = None,
    progress_bar: bool = False,
) -> TrainResult:
    """Train an agent with ``cfg.threads`` native actor-learner threads (Hogwild): A3C, or the
    value-based method ``cfg.method`` names (one_step_q, one_step_sarsa, n_step_q; then the
    result and the checkpoints also carry the shared target network).

    Args:
        cfg: the run's settings (:class:`A3CConfig`; paper defaults).
        callback: called on the calling thread every ``cfg.log_interval_seconds`` with a
            :class:`Progress`; returning ``False`` stops the run. An exception raised in it
            stops the run and propagates.
        params, rms, start_step: initial shared parameters, RMSProp statistics and global
            step count (to continue a run; default: a fresh ``init_params(cfg.seed)``).
        resume: a checkpoint file to continue from (its parameters, RMSProp statistics,
            target network (value-based methods), step count and training time, so the lr
            schedule continues where it stopped). It must
            match cfg's arch, game/env_fn and the env's action count and observation shape,
            else CheckpointError ("stored X, expected Y"). Excludes params/rms/start_step.
        progress_bar: show a live tqdm bar on stderr (steps, steps/s, games, recent score, ETA).

    With ``cfg.run_dir`` set, the run writes there: config.json; checkpoint.npz at the start,
    every ``cfg.checkpoint_every_steps`` steps / ``cfg.checkpoint_every_seconds`` seconds, at
    the end and when interrupted; episodes.csv; and TensorBoard events in tb/. A run_dir that
    already holds a checkpoint is only reused with ``resume=`` (so a new run cannot silently
    overwrite an old one).

    Returns:
        A :class:`TrainResult`. Ctrl-C (and SIGTERM, while the pool runs) stops the workers
        within ~0.1 s and returns the result reached so far with ``interrupted=True`` (after
        saving the checkpoint); more signals while it winds down are ignored. A signal after
        the run ended on its own is delivered once the final checkpoint is saved. An
        exception raised inside an environment stops every worker and is re-raised here with
        its type and message.
    """
    if not isinstance(cfg, A3CConfig):
        msg = f"train() takes an A3CConfig, got {type(cfg).__name__}"
        raise TypeError(msg)
    if cfg.ray_address is not None:
        from .cluster.driver import train_on_ray  # imports Ray: only for the cluster mode

        return train_on_ray(
            cfg, callback=callback, params=params, rms=rms, start_step=start_step, resume=resume, progress_bar=progress_bar
        )
    ckpt, params, rms, start_step = start_state(cfg, params, rms, start_step, resume)
    # Training time of the earlier runs: the lr's time schedule continues like its step count.
    start_seconds = float(ckpt.seconds) if ckpt is not None else 0.0
    envs = make_worker_envs(cfg)
    old_interval = sys.getswitchinterval()
    telemetry: Telemetry | None = None
    stopper: StopOnSignals | None = None
    try:
        first = envs[0]
        net = make_network(cfg, tuple(first.obs_shape), np.dtype(first.obs_dtype), first.num_actions)
        if ckpt is not None:
            check_env_matches(ckpt, net, resume)  # type: ignore[arg-type]
        if params is None:
            params = net.init_params(cfg.seed)
        options = native_options(cfg, start_step=start_step, start_seconds=start_seconds)
        target = ckpt.target if ckpt is not None else None
        trainer = _core.Trainer(net._core, params, rms, options, target)

        def state() -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            return (*trainer.state(), trainer.target_params())

        run_dir, telemetry = open_run(cfg, net, ckpt, start_step, progress_bar)
        if run_dir is not None:
            # A checkpoint exists from the first moment of the run: a crash at any time later
            # leaves a loadable file (the last complete one, thanks to the atomic write).
            run_dir.save(*state(), start_step, 0.0, 0)

        stopper = StopOnSignals(trainer)
        progress_log = ProgressLog(start_step)
        episodes = progress_log.episodes

        def on_progress(raw: _core.RunStats) -> bool | None:
            keep_going = _on_progress(raw)
            return False if stopper.caught is not None else keep_going

        def _progress(raw: _core.RunStats) -> Progress:
            return progress_log.progress(
                raw.steps,
                raw.seconds,
                _episodes(raw.episodes),
                policy_loss=raw.policy_loss,
                value_loss=raw.value_loss,
                entropy=raw.entropy,
                lr=raw.lr,
                updates=raw.updates,
                skipped_updates=raw.skipped_updates,
                staleness_mean=raw.staleness_mean,
                epsilons=tuple(raw.epsilons),
                mean_max_q=raw.mean_max_q if raw.epsilons else None,
                target_refreshes=raw.target_refreshes,
            )

        def _on_progress(raw: _core.RunStats) -> bool | None:
            progress = _progress(raw)
            if callback is None and telemetry is None and run_dir is None:
                return None
            if telemetry is not None:
                telemetry.update(progress)
            if run_dir is not None and run_dir.due(progress.steps):
                run_dir.save(*state(), progress.steps, progress.seconds, len(episodes))
            return None if callback is None else callback(progress)

        sys.setswitchinterval(_RUN_SWITCH_INTERVAL)
        stopper.install()  # restored last of all, in `finally`
        try:
            raw = trainer.run(envs, on_progress, cfg.log_interval_seconds)
        finally:
            stopper.run_ended()
        sys.setswitchinterval(old_interval)
        # The last stretch since the final callback (all of a run shorter than one interval):
        # its games and losses reach the result and the logs too.
        final = _progress(raw)
        interrupted = raw.interrupted or stopper.caught is not None
        if interrupted:
            log.warning("training interrupted at step %d", raw.steps)
        seconds = raw.seconds
        final_params, final_rms, final_target = state()
        result = TrainResult(
            params=final_params,
            rms=final_rms,
            total_steps=raw.steps,
            run_steps=raw.run_steps,
            seconds=seconds,
            steps_per_sec=raw.run_steps / seconds if seconds > 0 else 0.0,
            updates=raw.updates,
            skipped_updates=raw.skipped_updates,
            episodes=episodes,
            staleness_mean=raw.staleness_mean,
            staleness_hist=raw.staleness_hist,
            interrupted=interrupted,
            timings=timings_of(raw),
            config=cfg.to_dict(),
            target_params=final_target,
            target_refreshes=raw.target_refreshes,
        )
        if telemetry is not None:
            if raw.loss_count > 0:
                telemetry.update(final)
            else:
                telemetry.record_episodes(final.episodes)
            telemetry.finish([], result.total_steps)
            telemetry.close()  # the bar ends before the final log lines
        if run_dir is not None:
            run_dir.save(result.params, result.rms, result.target_params, result.total_steps, seconds, len(episodes))
            log.info("checkpoint at step %d saved to %s", result.total_steps, run_dir.checkpoint)
        return result
    finally:
        sys.setswitchinterval(old_interval)
        if telemetry is not None:
            telemetry.close()
        for env in envs:
            env.close()
        if stopper is not None:
            stopper.restore()  # may deliver a held signal: keep it last
