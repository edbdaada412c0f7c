"""The native surface of the cluster mode's exchange: Trainer.shift_params (theta += after -
before in the live buffer) and Trainer.add_external_steps (other nodes' steps in the global
step count), and arrays that came through pickle (as through Ray) being accepted."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from a3c_native import A3CConfig, Network, _core
from a3c_native.native_options import native_options


def _trainer(total_steps: int = 10**9, lr: float = 1e-3, **kw: object) -> tuple[Network, _core.Trainer, np.ndarray]:
    net = Network("mlp", (4,), 2)
    # Only the native fields of the config matter here (the pool runs SyntheticEnvs of the net).
    cfg = A3CConfig(game="pong", arch="a3c", threads=1, total_steps=total_steps, lr=lr, pin_threads=False,
                    envs_per_thread=2, **kw)  # fmt: skip
    params = net.init_params(0)
    return net, _core.Trainer(net._core, params, None, native_options(cfg)), params


def test_shift_params_adds_after_minus_before() -> None:
    net, trainer, params = _trainer()
    rng = np.random.default_rng(0)
    before = rng.standard_normal(net.num_params).astype(np.float32)
    after = before + rng.integers(-4, 4, net.num_params).astype(np.float32) / 8
    trainer.shift_params(before, after)
    got, _ = trainer.state()
    np.testing.assert_array_equal(got, params + (after - before))


def test_shift_params_refuses_the_wrong_shape_or_dtype() -> None:
    net, trainer, _ = _trainer()
    ok = np.zeros(net.num_params, np.float32)
    with pytest.raises(ValueError, match="invalid shape for after"):
        trainer.shift_params(ok, np.zeros(net.num_params + 1, np.float32))
    with pytest.raises(TypeError, match="before must be a float32 array"):
        trainer.shift_params(ok.astype(np.float64), ok)


def test_external_steps_count_toward_the_budget_and_the_step_count() -> None:
    """With 9,000 of a 10,000-step budget done elsewhere, the pool stops after ~1,000 of its
    own, and its step count (what the lr schedule and the episode records use) includes them."""
    _, trainer, _ = _trainer(total_steps=10_000)
    trainer.add_external_steps(9_000)
    assert trainer.steps == 9_000
    raw = trainer.run([_core.SyntheticEnv(seed=0, num_envs=2)], None, 1.0)
    assert 1_000 <= raw.run_steps < 1_000 + 2 * 5 * 2  # one rollout of overshoot at most
    assert raw.steps == raw.run_steps + 9_000
    with pytest.raises(ValueError, match="only grows"):
        trainer.add_external_steps(-1)


def test_external_steps_added_while_running_stop_the_pool() -> None:
    _, trainer, _ = _trainer(total_steps=10**12)
    added = []

    def on_progress(raw: _core.RunStats) -> None:
        if not added:
            trainer.add_external_steps(10**12)  # the rest of the cluster finished the budget
            added.append(raw.run_steps)

    raw = trainer.run([_core.SyntheticEnv(seed=0, num_envs=2)], on_progress, 0.05)
    assert added
    assert raw.steps >= 10**12


def test_arrays_that_came_through_pickle_are_accepted() -> None:
    """An unpickled float32 array's dtype equals numpy's float32 but is another object; the
    bindings compared dtypes by identity once, and refused every array a Ray node received."""
    net, _, params = _trainer()
    thawed = pickle.loads(pickle.dumps(params))
    assert thawed.dtype is not np.dtype(np.float32)  # the case this guards
    obs = pickle.loads(pickle.dumps(np.zeros((1, 4), np.float32)))
    logits, value = net.forward(thawed, obs)[:2]
    assert np.isfinite(logits).all()
    assert np.isfinite(value).all()
