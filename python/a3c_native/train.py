"""train(cfg): builds the environments and the network, runs the native actor-learner pool.

The pool runs with the GIL released; this (the calling) thread wakes every ``log_interval``
seconds to turn the native counters into a :class:`Progress` for the callback, and every
100 ms to check for Ctrl-C. With ``cfg.run_dir`` set it also writes the run's files there:
config.json, checkpoint.npz (start, every N steps/seconds, end, Ctrl-C, SIGTERM), episodes.csv
and TensorBoard events (telemetry.py). Not here: the checkpoint format (checkpoint.py), the
run directory's file names and formats (rundir.py), the CLI.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import _core
from .checkpoint import Checkpoint, load_checkpoint, remove_stale_temp_files, save_checkpoint
from .archs import head_of
from .config import VECTOR_ARCHS, A3CConfig
from .envs import make_worker_envs
from .errors import CheckpointError, ConfigError
from .games import canonical_env_fn_name
from .native_options import native_options
from .networks import Network
from .results import EpisodeRecord, Progress, TrainResult
from .rundir import CHECKPOINT_FILE, write_config
from .telemetry import Telemetry

log = logging.getLogger("a3c_native")

# While the pool runs, every worker takes the GIL for each env step. A Python thread that is
# busy (a callback, the user's code) only yields the GIL every switch interval (5 ms by
# default), which starves the workers (measured: 2,500 -> 179 env steps/s beside one busy
# thread). A short interval bounds that wait; it is restored when the run ends.
_RUN_SWITCH_INTERVAL = 0.0002


def make_network(cfg: A3CConfig, obs_shape: tuple[int, ...], obs_dtype: np.dtype, num_actions: int) -> Network:
    """The network ``cfg.arch`` for an env's observation space, with a clear error on mismatch."""
    if cfg.arch in VECTOR_ARCHS:
        if len(obs_shape) != 1 or obs_dtype != np.float32:
            msg = (
                f"A3CConfig.arch={cfg.arch!r} needs vector observations (D,) float32, but the env gives "
                f"{obs_dtype} {obs_shape}; use arch='a3c' or 'nature' (or their _lstm versions) for images"
            )
            raise ConfigError(msg)
    elif len(obs_shape) != 3 or obs_dtype != np.uint8:
        msg = (
            f"A3CConfig.arch={cfg.arch!r} needs uint8 image observations (C, H, W), but the env "
            f"gives {obs_dtype} {obs_shape}; use arch='mlp' (or 'mlp_lstm') for vector observations"
        )
        raise ConfigError(msg)
    return Network(cfg.arch, obs_shape, num_actions, hidden=cfg.hidden, head=head_of(cfg.method))


def _episodes(raw: list[_core.Episode]) -> list[EpisodeRecord]:
    return [EpisodeRecord(e.wall_time, e.step, e.worker, e.score, e.length) for e in raw]


def _timings(raw: _core.RunStats) -> dict[str, float]:
    """TrainResult.timings: cumulative seconds summed over the workers."""
    return {
        "gil_wait": raw.gil_wait_seconds,
        "env_call": raw.env_call_seconds,
        "env_call_cpu": raw.env_call_cpu_seconds,
        "env": raw.env_seconds,
        "net": raw.net_seconds,
        "update": raw.update_seconds,
    }


# ---------------------------------------------------------------------------------------------
# resuming and the run directory
# ---------------------------------------------------------------------------------------------


def _env_identity(cfg_dict: dict[str, Any]) -> str:
    if cfg_dict.get("env_fn"):  # a GymMake saved under its former module name is the same env
        return f"env_fn {canonical_env_fn_name(cfg_dict['env_fn'])!r}"
    return f"game {cfg_dict.get('game')!r}"


def check_resumable(ckpt: Checkpoint, cfg: A3CConfig, path: str | os.PathLike[str]) -> None:
    """Raise CheckpointError unless `ckpt` can continue a run of `cfg`: same arch (and mlp
    hidden sizes), same game or env_fn, and a step count below ``cfg.total_steps``.
    (Observation shape and action count are checked against the env once it is built.)"""

    def fail(what: str) -> CheckpointError:
        return CheckpointError(f"cannot resume from {os.fspath(path)!r}: {what}")

    if ckpt.arch != cfg.arch:
        raise fail(f"stored arch {ckpt.arch!r}, expected {cfg.arch!r} (A3CConfig.arch)")
    if ckpt.head != head_of(cfg.method):
        stored_method = ckpt.config.get("method", "a3c") if ckpt.config else "?"
        raise fail(
            f"stored head {ckpt.head!r} (method {stored_method!r}), expected {head_of(cfg.method)!r} "
            f"(A3CConfig.method={cfg.method!r})"
        )
    if cfg.arch in VECTOR_ARCHS and tuple(ckpt.hidden) != tuple(cfg.hidden):
        raise fail(f"stored hidden {tuple(ckpt.hidden)}, expected {cfg.hidden} (A3CConfig.hidden)")
    if ckpt.config:
        stored, expected = _env_identity(ckpt.config), _env_identity(cfg.to_dict())
        if stored != expected:
            raise fail(f"stored {stored}, expected {expected}")
    if ckpt.step >= cfg.total_steps:
        msg = (
            f"checkpoint {os.fspath(path)!r} is at step {ckpt.step:,}, which already reaches "
            f"A3CConfig.total_steps={cfg.total_steps:,}: raise total_steps to train further"
        )
        raise ConfigError(msg)


def _check_env_matches(ckpt: Checkpoint, net: Network, path: str | os.PathLike[str]) -> None:
    for name, stored, expected in (
        ("num_actions", ckpt.num_actions, net.num_actions),
        ("obs_shape", tuple(ckpt.obs_shape), tuple(net.obs_shape)),
    ):
        if stored != expected:
            msg = f"cannot resume from {os.fspath(path)!r}: stored {name} {stored}, expected {expected} (the env's)"
            raise CheckpointError(msg)


def _check_initial_state(params: Any, rms: Any, resume: str | os.PathLike[str] | None) -> None:
    """Refuse non-finite parameters and negative or non-finite RMSProp statistics up front:
    every update computed from them is non-finite and skipped, so the run would end "done"
    having learned nothing. (Dtype and shape are checked natively.)"""
    for name, a in (("params", params), ("rms", rms)):
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            continue
        flat = a.reshape(-1)
        ok = np.isfinite(flat) if name == "params" else np.isfinite(flat) & (flat >= 0)
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            continue
        what = "not finite" if name == "params" else "negative or not finite"
        detail = (
            f"{bad.size:,} of {flat.size:,} values are {what} "
            f"(first at index {bad[0]}: {float(flat[bad[0]])!r})"
        )
        if resume is not None:
            msg = f"cannot resume from {os.fspath(resume)!r}: its {name} array: {detail}"
            raise CheckpointError(msg)
        hint = (
            "pass finite parameters, e.g. Network.init_params(seed)"
            if name == "params"
            else "RMSProp statistics are running means of squared gradients (>= 0); "
            "pass rms=None for fresh ones"
        )
        msg = f"train({name}=...): {detail}; {hint}"
        raise ConfigError(msg)


class _StopOnSignals:
    """Ctrl-C and SIGTERM from the start of the pool until train() returns.

    The first signal while the pool runs stops it (train() then saves a checkpoint and returns
    with interrupted=True). A second one while it winds down (the pool's join, telemetry, the
    final checkpoint write, closing the envs) is dropped: the stop is already under way, and
    the wind-down must not be cut short. A signal that arrives after the run ended on its own
    (budget, callback, error) is held and delivered once the previous handlers are back, i.e.
    after the final checkpoint.

    The handler never raises: it asks the native pool to stop (a flag), from the main thread,
    where the pool's wait loop runs the handler every 100 ms. A KeyboardInterrupt raised
    instead could surface at any point of the wind-down (e.g. just after the pool returns).
    No-op off the main thread; a signal the process ignores (SIG_IGN, e.g. under nohup) stays
    ignored.
    """

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer
        self._running = False
        self.caught: int | None = None  # the signal that stopped the run
        self._held: int | None = None  # a signal after the run had ended on its own
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self._running:
            if self.caught is None:
                self.caught = signum
            self._trainer.request_stop()
        elif self.caught is None and self._held is None:
            self._held = signum

    def install(self) -> None:
        """Take over SIGINT/SIGTERM; the pool is about to run."""
        self._running = True
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(s) is not signal.SIG_IGN:
                    self._old[s] = signal.signal(s, self._handler)

    def run_ended(self) -> None:
        """The pool has returned: from now on a signal is dropped or held, never acted on."""
        self._running = False

    def restore(self) -> None:
        """Give the previous handlers back, then deliver a held signal to them."""
        self._running = False
        for s, h in self._old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        self._old.clear()
        if self._held is not None:
            held, self._held = self._held, None
            signal.raise_signal(held)


class _RunDir:
    """The files of one run in cfg.run_dir: config.json, checkpoint.npz, telemetry."""

    def __init__(self, cfg: A3CConfig, net: Network, ckpt: Checkpoint | None, start_step: int) -> None:
        assert cfg.run_dir is not None
        self.dir = os.fspath(cfg.run_dir)
        self.cfg = cfg
        self.net = net
        self.checkpoint = Path(self.dir) / CHECKPOINT_FILE
        self.seconds_offset = ckpt.seconds if ckpt is not None else 0.0
        self.episodes_offset = ckpt.episodes if ckpt is not None else 0
        self.last_step = start_step
        self.last_time = time.monotonic()
        Path(self.dir).mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.checkpoint)
        write_config(self.dir, cfg.to_dict())

    def due(self, steps: int) -> bool:
        c = self.cfg
        by_steps = c.checkpoint_every_steps > 0 and steps - self.last_step >= c.checkpoint_every_steps
        by_time = (
            c.checkpoint_every_seconds > 0
            and time.monotonic() - self.last_time >= c.checkpoint_every_seconds
        )
        return by_steps or by_time

    def save(
        self,
        params: np.ndarray,
        rms: np.ndarray,
        target: np.ndarray | None,
        steps: int,
        seconds: float,
        episodes: int,
    ) -> None:
        save_checkpoint(
            self.checkpoint,
            self.net,
            params,
            rms=rms,
            step=steps,
            config=self.cfg,
            seconds=self.seconds_offset + seconds,
            episodes=self.episodes_offset + episodes,
            target=target,
        )
        self.last_step = steps
        self.last_time = time.monotonic()


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
    ckpt = None
    if resume is not None:
        if params is not None or rms is not None or start_step:
            msg = "train(): pass either resume= or params=/rms=/start_step=, not both"
            raise ValueError(msg)
        ckpt = load_checkpoint(resume)
        check_resumable(ckpt, cfg, resume)
        params, rms, start_step = ckpt.params, ckpt.rms, ckpt.step
    elif cfg.run_dir is not None and (Path(cfg.run_dir) / CHECKPOINT_FILE).exists():
        path = str(Path(cfg.run_dir) / CHECKPOINT_FILE)
        msg = (
            f"A3CConfig.run_dir={cfg.run_dir!r} already holds a run ({path}): resume it with "
            f"resume={path!r} (CLI: --resume), or choose another run_dir"
        )
        raise ConfigError(msg)
    if not 0 <= start_step < cfg.total_steps:
        msg = f"start_step={start_step} must be in [0, total_steps={cfg.total_steps})"
        raise ConfigError(msg)
    _check_initial_state(params, rms, resume)
    # Training time of the earlier runs: the lr's time schedule continues like its step count.
    start_seconds = float(ckpt.seconds) if ckpt is not None else 0.0
    envs = make_worker_envs(cfg)
    old_interval = sys.getswitchinterval()
    telemetry: Telemetry | None = None
    stopper: _StopOnSignals | None = None
    try:
        first = envs[0]
        net = make_network(cfg, tuple(first.obs_shape), np.dtype(first.obs_dtype), first.num_actions)
        if ckpt is not None:
            _check_env_matches(ckpt, net, resume)  # type: ignore[arg-type]
        if params is None:
            params = net.init_params(cfg.seed)
        options = native_options(cfg, start_step=start_step, start_seconds=start_seconds)
        target = ckpt.target if ckpt is not None else None
        trainer = _core.Trainer(net._core, params, rms, options, target)

        def state() -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            return (*trainer.state(), trainer.target_params())

        run_dir = _RunDir(cfg, net, ckpt, start_step) if cfg.run_dir is not None else None
        if run_dir is not None or progress_bar:
            telemetry = Telemetry(
                cfg.run_dir,
                total_steps=cfg.total_steps,
                start_step=start_step,
                seconds_offset=run_dir.seconds_offset if run_dir else 0.0,
                episodes_offset=run_dir.episodes_offset if run_dir else 0,
                progress_bar=progress_bar,
                tensorboard=cfg.tensorboard,
                max_seconds=cfg.max_seconds,
            )
        if run_dir is not None:
            # A checkpoint exists from the first moment of the run: a crash at any time later
            # leaves a loadable file (the last complete one, thanks to the atomic write).
            run_dir.save(*state(), start_step, 0.0, 0)

        stopper = _StopOnSignals(trainer)
        episodes: list[EpisodeRecord] = []
        recent: deque[float] = deque(maxlen=10)
        last = {"steps": start_step, "seconds": 0.0}

        def on_progress(raw: _core.RunStats) -> bool | None:
            keep_going = _on_progress(raw)
            return False if stopper.caught is not None else keep_going

        def _progress(raw: _core.RunStats) -> Progress:
            new = _episodes(raw.episodes)
            episodes.extend(new)
            recent.extend(e.score for e in new)
            dt = raw.seconds - last["seconds"]
            sps = (raw.steps - last["steps"]) / dt if dt > 0 else 0.0
            last.update(steps=raw.steps, seconds=raw.seconds)
            return Progress(
                steps=raw.steps,
                seconds=raw.seconds,
                steps_per_sec=sps,
                episodes=new,
                total_episodes=len(episodes),
                recent_score=float(np.mean(recent)) if recent else None,
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
            timings=_timings(raw),
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
