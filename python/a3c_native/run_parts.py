"""The parts of a training run that train() on one machine and the cluster mode's driver
(cluster/driver.py) share: the network for an env, what a run starts from (a checkpoint to
resume, checked against the config and the env), Ctrl-C/SIGTERM handling, and the run
directory's checkpoints. Not here: running the pool (train.py), the checkpoint format
(checkpoint.py), file names (rundir.py).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from .archs import head_of
from .checkpoint import Checkpoint, load_checkpoint, remove_stale_temp_files, save_checkpoint
from .config import VECTOR_ARCHS, A3CConfig
from .errors import CheckpointError, ConfigError
from .games import canonical_env_fn_name
from .networks import Network
from .results import EpisodeRecord, Progress
from .rundir import CHECKPOINT_FILE, write_config
from .telemetry import Telemetry


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


# ---------------------------------------------------------------------------------------------
# resuming and the run directory
# ---------------------------------------------------------------------------------------------


def _env_identity(cfg_dict: dict[str, Any]) -> str:
    if cfg_dict.get("env_fn"):  # a GymMake saved under its former module name is the same env
        return f"env_fn {canonical_env_fn_name(cfg_dict['env_fn'])!r}"
    return f"game {cfg_dict.get('game')!r}"


def check_resumable(ckpt: Checkpoint, cfg: A3CConfig, path: str | os.PathLike[str]) -> None:
    """Raise CheckpointError unless `ckpt` can continue a run of `cfg`: same arch (and mlp
    hidden sizes), same method, same game or env_fn, and a step count below ``cfg.total_steps``.
    (Observation shape and action count are checked against the env once it is built.)"""

    def fail(what: str) -> CheckpointError:
        return CheckpointError(f"cannot resume from {os.fspath(path)!r}: {what}")

    if ckpt.arch != cfg.arch:
        raise fail(f"stored arch {ckpt.arch!r}, expected {cfg.arch!r} (A3CConfig.arch)")
    stored_method = ckpt.config.get("method", "a3c") if ckpt.config else None
    if ckpt.head != head_of(cfg.method):
        raise fail(
            f"stored head {ckpt.head!r} (method {stored_method or '?'!r}), expected "
            f"{head_of(cfg.method)!r} (A3CConfig.method={cfg.method!r})"
        )
    if stored_method is not None and stored_method != cfg.method:
        # Same Q head, but the targets, exploration and schedule it was trained under differ:
        # continuing it as another method would mix two algorithms in one run's record.
        raise fail(f"stored method {stored_method!r}, expected {cfg.method!r} (A3CConfig.method)")
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


def check_env_matches(ckpt: Checkpoint, net: Network, path: str | os.PathLike[str]) -> None:
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


def start_state(
    cfg: A3CConfig,
    params: np.ndarray | None,
    rms: np.ndarray | None,
    start_step: int,
    resume: str | os.PathLike[str] | None,
) -> tuple[Checkpoint | None, np.ndarray | None, np.ndarray | None, int]:
    """What a run starts from: the checkpoint `resume` names (checked against cfg) or the
    given params/rms/start_step. Refuses both at once, a run_dir that already holds a run, a
    start_step outside the budget and non-finite arrays. Returns (ckpt, params, rms,
    start_step); params None means a fresh init_params(cfg.seed)."""
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
    return ckpt, params, rms, start_step


class StopOnSignals:
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


class RunDir:
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


def open_run(
    cfg: A3CConfig, net: Network, ckpt: Checkpoint | None, start_step: int, progress_bar: bool
) -> tuple[RunDir | None, Telemetry | None]:
    """The run directory (cfg.run_dir, else None) and the telemetry (files, TensorBoard, the
    bar; None when there is neither a run directory nor a bar) of a run starting at
    `start_step` (from `ckpt` when resuming)."""
    run_dir = RunDir(cfg, net, ckpt, start_step) if cfg.run_dir is not None else None
    if run_dir is None and not progress_bar:
        return None, None
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
    return run_dir, telemetry


def timings_of(raw: Any) -> dict[str, float]:
    """TrainResult.timings from a native RunStats: cumulative seconds summed over the workers."""
    return {
        "gil_wait": raw.gil_wait_seconds,
        "env_call": raw.env_call_seconds,
        "env_call_cpu": raw.env_call_cpu_seconds,
        "env": raw.env_seconds,
        "net": raw.net_seconds,
        "update": raw.update_seconds,
    }


class ProgressLog:
    """The games of a run so far, and what each Progress derives from them and from the
    previous report: the total, the mean of the last 10 and the steps/s since then."""

    def __init__(self, start_step: int) -> None:
        self.episodes: list[EpisodeRecord] = []
        self._recent: deque[float] = deque(maxlen=10)
        self._last = (start_step, 0.0)  # (steps, seconds) of the previous report

    def progress(self, steps: int, seconds: float, new: list[EpisodeRecord], **stats: Any) -> Progress:
        """The Progress at global step `steps`, `seconds` into the run, with the games `new`
        since the previous report and the losses and counters `stats` (Progress's other
        fields)."""
        self.episodes.extend(new)
        self._recent.extend(e.score for e in new)
        last_steps, last_seconds = self._last
        dt = seconds - last_seconds
        self._last = (steps, seconds)
        return Progress(
            steps=steps,
            seconds=seconds,
            steps_per_sec=(steps - last_steps) / dt if dt > 0 else 0.0,
            episodes=new,
            total_episodes=len(self.episodes),
            recent_score=float(np.mean(self._recent)) if self._recent else None,
            **stats,
        )
