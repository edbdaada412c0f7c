"""The one mapping from A3CConfig to the native pool's options (_core.TrainOptions).

A3CConfig (config.py) declares every setting, its default and its meaning; the C++ struct
(cpp/train/pool.h) declares none and refuses any field left unset. This table is the only
place that says which config field feeds which native field and how it is converted; every
A3CConfig field is either in it or in PYTHON_ONLY (tests/test_native_options.py checks both
directions). Not here: validation of the values (A3CConfig.__post_init__, and the native
TrainOptions.validate for the ranges the pool relies on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import _core
from .config import A3CConfig
from .envs import worker_cpu

__all__ = ["NATIVE_FIELDS", "PYTHON_ONLY", "RUN_STATE", "native_options"]


class _Field(NamedTuple):
    native: str  # the _core.TrainOptions attribute
    config: tuple[str, ...]  # the A3CConfig fields it is computed from
    convert: Callable[..., Any]  # config values (in that order) -> native value


def _same(name: str) -> _Field:
    return _Field(name, (name,), lambda v: v)


def _none_is_zero(native: str, config: str) -> _Field:
    # None ("no limit") is 0 natively.
    return _Field(native, (config,), lambda v: 0.0 if v is None else float(v))


def _choice(name: str, enum: Any) -> _Field:
    # The native enums' members are named after A3CConfig's strings.
    return _Field(name, (name,), lambda v: enum.__members__[v])


def _worker_cpus(threads: int, pin_threads: bool) -> list[int]:
    # envs.worker_cpu pins each worker's env thread to the same CPU; -1 = not pinned.
    return [worker_cpu(i, pin=pin_threads) for i in range(threads)]


# Native field <- A3CConfig field(s), converter; in the order of the C++ struct.
NATIVE_FIELDS: tuple[_Field, ...] = (
    _same("threads"),
    _same("total_steps"),
    _none_is_zero("max_seconds", "max_seconds"),
    _none_is_zero("lr_anneal_seconds", "lr_anneal_seconds"),
    _choice("method", _core.Method),
    _same("target_update_steps"),
    _same("epsilon_anneal_steps"),
    _choice("epsilon_draw", _core.EpsilonDraw),
    _same("t_max"),
    _same("gamma"),
    _same("lr"),
    _same("entropy_beta"),
    _same("value_coef"),
    _same("rmsprop_alpha"),
    _same("rmsprop_eps"),
    _choice("rmsprop_eps_placement", _core.EpsPlacement),
    _same("grad_clip"),
    _choice("loss_reduction", _core.LossReduction),
    _same("reward_clip"),
    _same("seed"),
    _choice("update", _core.UpdateMode),
    _Field("worker_cpus", ("threads", "pin_threads"), _worker_cpus),
)

# Native fields that are not configuration but the state a run continues from: set from
# native_options' arguments (train()'s resume: the checkpoint's step count and training time).
RUN_STATE = ("start_step", "start_seconds")

# A3CConfig fields the native pool never reads: what builds the envs and the network (the
# pool gets built envs and a built network), and what the Python side of a run does with
# the pool's statistics and parameters (telemetry, checkpoints).
PYTHON_ONLY = frozenset(
    {
        "game",
        "env_fn",
        "arch",
        "hidden",
        "envs_per_thread",  # each worker's env steps k games; the pool asks the env for k
        "env_threads",
        "episodic_life",
        "frame_skip",
        "frame_stack",
        "noop_max",
        "repeat_action_probability",
        "max_episode_steps",
        "log_interval_seconds",  # passed to Trainer.run as its callback interval
        "run_dir",
        "checkpoint_every_steps",
        "checkpoint_every_seconds",
        "tensorboard",
        # The cluster mode (cluster/): the driver and the node actors read them; each node's
        # pool gets the other nodes' steps through Trainer.add_external_steps instead.
        "ray_address",
        "nodes",
        "sync_interval_seconds",
    }
)


def native_options(
    cfg: A3CConfig, *, start_step: int = 0, start_seconds: float = 0.0
) -> _core.TrainOptions:
    """The native pool's options for a run of `cfg` continuing from `start_step` agent steps
    and `start_seconds` seconds of training (both 0 for a fresh run). Every native field is
    set (validated natively: ValueError names any that is not)."""
    opt = _core.TrainOptions()
    for f in NATIVE_FIELDS:
        setattr(opt, f.native, f.convert(*(getattr(cfg, c) for c in f.config)))
    opt.start_step = int(start_step)
    opt.start_seconds = float(start_seconds)
    opt.validate()
    return opt
