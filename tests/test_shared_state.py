"""What other threads may read or change while the pool runs: Trainer.state() reads the shared
parameters and RMSProp statistics in one call (a checkpoint pairs theta with the g of the same
update), and the kernel set cannot be switched under running workers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from a3c_native import A3CConfig, Network, _core
from a3c_native.envs import GymVecEnv
from a3c_native.native_options import native_options

T_MAX = 5
# An mlp of ~1M parameters: its worker spends most of a rollout in the gradient and the update,
# outside the GIL, so the main thread's reads overlap updates (with a small net the worker
# waits for the GIL at its next env step whenever the main thread reads).
HIDDEN = (1024, 1024)


def cartpole(seed: int | None = None) -> gym.Env:
    return gym.make("CartPole-v1")


def _cfg(**kw) -> A3CConfig:
    base = dict(env_fn=cartpole, arch="mlp", hidden=HIDDEN, threads=1, update="locked",
                t_max=T_MAX, lr=1e-3, total_steps=10**9, pin_threads=False)  # fmt: skip
    return A3CConfig(**{**base, **kw})


class _Fuse(Exception):
    pass


class _FusedCartPole(GymVecEnv):
    """One CartPole (seed 7) whose step number `fuse` + 1 raises _Fuse: a 1-thread locked run
    on it stops with exactly fuse // T_MAX updates applied (the env fails before the next)."""

    def __init__(self, fuse: int | None = None) -> None:
        super().__init__(cartpole, seeds=[7])
        self.fuse = fuse

    def step(self, actions):
        if self.fuse is not None:
            if self.fuse == 0:
                raise _Fuse
            self.fuse -= 1
        return super().step(actions)


def _net() -> Network:
    return Network("mlp", (4,), 2, hidden=HIDDEN)


def _state_after(updates: int) -> tuple[np.ndarray, np.ndarray]:
    """The shared state of the deterministic 1-thread locked run after exactly `updates`."""
    net = _net()
    trainer = _core.Trainer(net._core, net.init_params(0), None, native_options(_cfg()))
    env = _FusedCartPole(fuse=updates * T_MAX)
    try:
        with pytest.raises(_Fuse):
            trainer.run([env], None, 1.0)
    finally:
        env.close()
    return trainer.state()


def test_trainer_state_is_a_copy_of_the_initial_buffers():
    net = _net()
    params = net.init_params(3)
    rms = np.linspace(0, 1, net.num_params, dtype=np.float32)
    trainer = _core.Trainer(net._core, params, rms, native_options(_cfg()))
    p, g = trainer.state()
    np.testing.assert_array_equal(p, params)
    np.testing.assert_array_equal(g, rms)
    p[:] = 0
    np.testing.assert_array_equal(trainer.state()[0], params)  # a copy, not a view


def test_trainer_state_mid_run_pairs_params_and_rms_of_the_same_update():
    # Read from the callback while the worker keeps updating; then replay the deterministic
    # run to each candidate update count: the parameters must match one of them, and the
    # statistics must match the same one. Two separate reads (the old params() then rms())
    # paired them across updates in 6 of 20 such reads here, so 8 reads catch that ~19 times
    # in 20; one read of both never does.
    net = _net()
    trainer = _core.Trainer(net._core, net.init_params(0), None, native_options(_cfg()))
    captures = []

    def capture(stats):
        before = trainer.steps
        p, g = trainer.state()
        captures.append((before, trainer.steps, p, g))
        return len(captures) < 8

    env = _FusedCartPole()
    try:
        trainer.run([env], capture, 0.002)
    finally:
        env.close()
    assert len(captures) >= 8  # the callback may run again while the pool stops
    replays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for before, after, p, g in captures:
        # At a step count s the worker has applied s // T_MAX updates, or one fewer if it was
        # between a rollout's last step and its update.
        candidates = range(max(0, before // T_MAX - 1), after // T_MAX + 1)
        for u in candidates:
            if u not in replays:
                replays[u] = _state_after(u)
        same_params = [u for u in candidates if np.array_equal(replays[u][0], p)]
        assert same_params, f"params read between steps {before} and {after} match no update"
        assert any(np.array_equal(replays[u][1], g) for u in same_params), (
            f"params of update(s) {same_params} came with RMSProp statistics of another update"
        )


def _mlp_trainer() -> _core.Trainer:
    net = _net()
    return _core.Trainer(
        net._core, net.init_params(0), None, native_options(_cfg(update="hogwild"))
    )


def test_set_kernel_isa_is_refused_while_a_pool_runs_and_allowed_after():
    isa = _core.kernel_isa()
    trainer = _mlp_trainer()
    _core.set_kernel_isa(isa)  # a Trainer that has not started holds nothing
    refused = []

    def try_switch(stats):
        try:
            _core.set_kernel_isa("scalar")
        except RuntimeError as e:
            refused.append(str(e))
        return False

    trainer.run([_core.SyntheticEnv(seed=0)], try_switch, 0.01)
    assert len(refused) == 1
    assert "cannot change the kernel set to 'scalar' while 1 training pool(s) run" in refused[0]
    assert _core.kernel_isa() == isa
    _core.set_kernel_isa("scalar")  # the pool has joined
    try:
        assert _core.kernel_isa() == "scalar"
    finally:
        _core.set_kernel_isa(isa)


def test_set_kernel_isa_is_allowed_after_a_run_that_failed():
    isa = _core.kernel_isa()
    trainer = _mlp_trainer()
    env = _FusedCartPole(fuse=3)
    try:
        with pytest.raises(_Fuse):
            trainer.run([env], None, 1.0)
    finally:
        env.close()
    _core.set_kernel_isa(isa)  # raises if the failed pool still counted as running
