"""The training options are declared once (A3CConfig) and mapped once (native_options.py) onto
the native TrainOptions, which has no defaults: every native field is set from the config,
every config field is mapped or declared Python-only, and a native field left unset is named
by the native validation instead of taking a value of its own."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from a3c_native import A3CConfig, Network, _core
from a3c_native.config import EPS_PLACEMENTS, LOSS_REDUCTIONS, UPDATES
from a3c_native.native_options import NATIVE_FIELDS, PYTHON_ONLY, RUN_STATE, native_options


def _native_fields() -> set[str]:
    """Every option the native struct exposes (its bound read-write attributes)."""
    return {n for n, v in vars(_core.TrainOptions).items() if isinstance(v, property)}


def _cfg(**kw) -> A3CConfig:
    # Atari game validation needs no ROM load beyond the name; values off the defaults so a
    # field mapped to the wrong native field shows.
    base = dict(
        game="pong", threads=3, total_steps=123_456, max_seconds=77.0, lr_anneal_seconds=600.0,
        t_max=9, gamma=0.9, lr=2.5e-4, entropy_beta=0.02, value_coef=0.25, rmsprop_alpha=0.95,
        rmsprop_eps=1e-3, rmsprop_eps_placement="outside", grad_clip=20.0, loss_reduction="mean",
        reward_clip=2.0, seed=11, update="locked", pin_threads=False,
    )  # fmt: skip
    return A3CConfig(**{**base, **kw})


def test_native_options_every_native_field_is_set_from_the_table():
    mapped = [f.native for f in NATIVE_FIELDS]
    assert len(mapped) == len(set(mapped)), "a native field is mapped twice"
    assert not set(mapped) & set(RUN_STATE)
    assert set(mapped) | set(RUN_STATE) == _native_fields()


def test_native_options_every_config_field_is_mapped_or_python_only():
    config_fields = {f.name for f in dataclasses.fields(A3CConfig)}
    used = {c for f in NATIVE_FIELDS for c in f.config}
    assert used <= config_fields, used - config_fields
    assert not used & PYTHON_ONLY, f"both mapped and Python-only: {used & PYTHON_ONLY}"
    assert used | PYTHON_ONLY == config_fields, (
        f"neither mapped nor Python-only: {config_fields - used - PYTHON_ONLY}; "
        f"Python-only but not a field: {PYTHON_ONLY - config_fields}"
    )


def test_native_options_values_follow_the_config():
    cfg = _cfg()
    o = native_options(cfg, start_step=1000, start_seconds=12.5)
    for name in ("threads", "total_steps", "t_max", "seed", "max_seconds", "lr_anneal_seconds"):
        assert getattr(o, name) == getattr(cfg, name), name
    for name in ("gamma", "lr", "entropy_beta", "value_coef", "rmsprop_alpha", "rmsprop_eps",
                 "grad_clip", "reward_clip"):  # fmt: skip
        assert getattr(o, name) == np.float32(getattr(cfg, name)), name  # float32 natively
    assert o.rmsprop_eps_placement == _core.EpsPlacement.outside
    assert o.loss_reduction == _core.LossReduction.mean
    assert o.update == _core.UpdateMode.locked
    assert o.worker_cpus == [-1, -1, -1]  # pin_threads=False
    assert (o.start_step, o.start_seconds) == (1000, 12.5)


def test_native_options_none_limits_are_zero_and_pinning_gives_one_cpu_per_thread():
    o = native_options(_cfg(max_seconds=None, lr_anneal_seconds=None, pin_threads=True))
    assert (o.max_seconds, o.lr_anneal_seconds) == (0.0, 0.0)
    assert len(o.worker_cpus) == 3
    assert all(c >= 0 for c in o.worker_cpus)


def test_native_enums_are_named_after_the_config_choices():
    assert set(_core.EpsPlacement.__members__) == set(EPS_PLACEMENTS)
    assert set(_core.LossReduction.__members__) == set(LOSS_REDUCTIONS)
    assert set(_core.UpdateMode.__members__) == set(UPDATES)


def test_native_options_fresh_struct_names_every_field_as_unset():
    with pytest.raises(ValueError, match="TrainOptions fields not set: ") as e:
        _core.TrainOptions().validate()
    listed = str(e.value).split("not set: ")[1].split(". ")[0].split(", ")
    assert sorted(listed) == sorted(_native_fields())


@pytest.mark.parametrize("name", sorted(_native_fields()))
def test_native_options_one_forgotten_field_is_named(name):
    o = native_options(_cfg())
    setattr(o, name, getattr(_core.TrainOptions(), name))  # back to the unset sentinel
    with pytest.raises(ValueError, match=rf"^TrainOptions fields not set: {name}\. "):
        o.validate()


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("threads", 0, "must be >= 1"),
        ("gamma", 1.5, r"must be in \[0, 1\]"),
        ("lr", math.inf, "must be a finite number > 0"),
        ("rmsprop_alpha", 1.0, r"must be in \[0, 1\)"),
        ("grad_clip", -1.0, "must be a finite number >= 0"),
        ("worker_cpus", [0], "must hold one CPU per thread"),
    ],
)
def test_native_options_out_of_range_value_is_named(name, value, rule):
    o = native_options(_cfg())
    setattr(o, name, value)
    with pytest.raises(ValueError, match=rf"^TrainOptions\.{name}=.* is invalid: {rule}"):
        o.validate()


def test_trainer_refuses_options_with_a_field_unset():
    net = Network("mlp", (4,), 2, hidden=(8, 8))
    o = native_options(_cfg(update="hogwild"))
    o.rmsprop_eps = float("nan")
    with pytest.raises(ValueError, match="TrainOptions fields not set: rmsprop_eps"):
        _core.Trainer(net._core, net.init_params(0), None, o)
