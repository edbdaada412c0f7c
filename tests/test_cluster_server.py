"""The cluster mode's parameter server and exchange protocol, without Ray: the server is a
plain class, and the node's side (_Exchange) runs against it through a fake remote handle and
a fake trainer whose 'workers' change the parameters between and during exchanges."""

from __future__ import annotations

import pickle
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from a3c_native.cluster.node import _Exchange, node_config, pin_this_thread
from a3c_native.cluster.server import ParameterServer

N = 50


def make_server(total_steps: int = 10**9, params: np.ndarray | None = None) -> ParameterServer:
    p = np.linspace(-1, 1, N, dtype=np.float32) if params is None else params
    return ParameterServer(p, None, None, step=100, seconds=5.0, total_steps=total_steps, sync_interval=1.0)


def report(steps: int = 0, episodes: tuple[Any, ...] = (), loss: tuple[float, ...] = (0, 0, 0, 0)) -> dict[str, Any]:
    return {
        "steps": steps,
        "episodes": list(episodes),
        "loss": loss,
        "updates": 0,
        "skipped_updates": 0,
        "staleness_hist": np.zeros(64, np.int64),
        "staleness_sum": 0.0,
        "timings": {"env": 1.0},
        "target_refreshes": 0,
        "exchange_seconds": 0.0,
        "epsilons": [],
        "mean_max_q": None,
        "lr": 1e-3,
    }


def test_deltas_and_steps_add_up() -> None:
    s = make_server()
    start = s.params.copy()
    r0 = s.register(0, "a", 1)
    r1 = s.register(1, "b", 1)
    assert r0["step"] == r1["step"] == 100
    d0 = np.full(N, 0.5, np.float32)
    d1 = np.arange(N, dtype=np.float32)
    s.exchange(0, 1, d0, np.ones(N, np.float32), report(steps=30))
    reply = s.exchange(1, 1, d1, 3 * np.ones(N, np.float32), report(steps=12))
    np.testing.assert_array_equal(reply["params"], start + d0 + d1)
    assert reply["step"] == 142
    np.testing.assert_allclose(s.global_rms(), 2.0)  # the mean of the nodes' statistics
    assert s.state()["step"] == 142


def test_slots_on_one_host_do_not_collide_and_are_reused() -> None:
    s = make_server()
    assert [s.register(i, "host", 2)["slot"] for i in range(3)] == [0, 1, 2]
    assert s.register(3, "other", 2)["slot"] == 0
    s.depart(1, 1)
    assert s.register(4, "host", 2)["slot"] == 1


def test_a_restart_without_departing_records_the_lost_work_and_refuses_the_old_incarnation() -> None:
    s = make_server()
    s.register(0, "a", 1)
    s.nodes[0].last_exchange -= 0.5  # half a second of work in flight when it died
    s.exchange(0, 1, np.zeros(N, np.float32), np.zeros(N, np.float32), report(steps=1000))
    before = s.params.copy()
    again = s.register(0, "a", 1)
    assert again["incarnation"] == 2
    lost = s.drain()["lost"]
    assert len(lost) == 1 and lost[0]["node"] == 0 and lost[0]["incarnation"] == 1
    assert lost[0]["steps_kept"] == 1000
    # a late call of the dead incarnation changes nothing and is told to stop
    late = s.exchange(0, 1, np.ones(N, np.float32), np.zeros(N, np.float32), report(steps=5))
    assert late["stale"] and late["stop"]
    np.testing.assert_array_equal(s.params, before)
    assert s.step == 1100
    assert s.drain()["nodes"][0]["restarts"] == 1


def test_drain_hands_each_game_and_loss_over_once_and_keeps_counters_across_incarnations() -> None:
    s = make_server()
    s.register(0, "a", 1)
    rep = report(steps=10, episodes=((1.0, 110, 0, -21.0, 800),), loss=(1.0, 2.0, 3.0, 2))
    rep["updates"] = 7
    s.exchange(0, 1, np.zeros(N, np.float32), np.zeros(N, np.float32), rep)
    first = s.drain()
    assert first["episodes"] == [(1.0, 110, 0, -21.0, 800)]
    np.testing.assert_array_equal(first["loss"], [1.0, 2.0, 3.0, 2])
    second = s.drain()
    assert second["episodes"] == [] and second["loss"].sum() == 0
    s.register(0, "a", 1)  # restart: the first incarnation's 7 updates still count
    rep2 = report(steps=1)
    rep2["updates"] = 3
    s.exchange(0, 2, np.zeros(N, np.float32), np.zeros(N, np.float32), rep2)
    assert s.drain()["updates"] == 10
    assert s.drain()["timings"]["env"] == 2.0


def test_stop_reaches_the_nodes_at_the_budget_or_on_request() -> None:
    s = make_server(total_steps=150)
    s.register(0, "a", 1)
    assert not s.exchange(0, 1, np.zeros(N, np.float32), np.zeros(N, np.float32), report(steps=10))["stop"]
    assert s.exchange(0, 1, np.zeros(N, np.float32), np.zeros(N, np.float32), report(steps=40))["stop"]
    s2 = make_server()
    s2.register(0, "a", 1)
    s2.request_stop()
    assert s2.exchange(0, 1, np.zeros(N, np.float32), np.zeros(N, np.float32), report())["stop"]


def test_a_delta_of_the_wrong_shape_is_refused() -> None:
    s = make_server()
    s.register(0, "a", 1)
    with pytest.raises(ValueError, match="delta of shape"):
        s.exchange(0, 1, np.zeros(N + 1, np.float32), np.zeros(N, np.float32), report())


# --- the node's side, against the server -------------------------------------------------------


class _Remote:
    """server.method.remote(...) calling the plain server directly (ray.get is the identity),
    with arguments and replies passed by value through pickle, as Ray passes them."""

    def __init__(self, server: ParameterServer) -> None:
        self._server = server

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._server, name)

        def remote(*args: Any) -> Any:
            return pickle.loads(pickle.dumps(method(*pickle.loads(pickle.dumps(args)))))

        return SimpleNamespace(remote=remote)


class FakeTrainer:
    """The native Trainer's exchange surface, with workers simulated as additions to theta.
    `during` is added between state() and shift_params(): updates landing while the call is
    in flight, which the protocol must keep."""

    def __init__(self, params: np.ndarray) -> None:
        self.theta = params.astype(np.float64)
        self.external = 0
        self.stopped = False
        self.during = np.zeros_like(self.theta)

    def state(self) -> tuple[np.ndarray, np.ndarray]:
        sent = self.theta.astype(np.float32)
        self.theta += self.during  # the workers do not wait for the exchange
        return sent, np.zeros_like(sent)

    def shift_params(self, before: np.ndarray, after: np.ndarray) -> None:
        self.theta += after.astype(np.float64) - before.astype(np.float64)

    def add_external_steps(self, n: int) -> None:
        self.external += n

    def request_stop(self) -> None:
        self.stopped = True

    def target_params(self) -> None:
        return None


def stats(run_steps: int) -> SimpleNamespace:
    return SimpleNamespace(
        run_steps=run_steps, episodes=[], policy_loss=0.0, value_loss=0.0, entropy=0.0, loss_count=0, updates=0,
        skipped_updates=0, staleness_hist=np.zeros(64, np.int64), staleness_mean=0.0, gil_wait_seconds=0.0,
        env_call_seconds=0.0, env_call_cpu_seconds=0.0, env_seconds=0.0, net_seconds=0.0, update_seconds=0.0,
        target_refreshes=0, epsilons=[], mean_max_q=0.0, lr=1e-3,
    )  # fmt: skip


def test_the_exchange_loses_and_duplicates_nothing() -> None:
    """Two nodes whose workers add known increments between and during exchanges: after each
    node's final exchange the global parameters are the start plus every increment, once, and
    the global step count is every step, once; each node's pool counted the other's steps."""
    rng = np.random.default_rng(0)
    server = make_server(params=np.zeros(N, np.float32))
    remote = _Remote(server)
    nodes = []
    for i in range(2):
        reg = remote.register.remote(i, "host", 1)
        trainer = FakeTrainer(np.asarray(reg["params"]))
        nodes.append((trainer, _Exchange(remote, lambda x: x, i, reg, threads=1)))
    total = np.zeros(N)
    steps = [0, 0]
    for rnd in range(6):
        for i, (trainer, ex) in enumerate(nodes):
            inc = rng.integers(-8, 8, N).astype(np.float64) / 64  # exact in float32
            trainer.theta += inc
            final = rnd == 5  # the pool has ended: nothing lands during the last call
            trainer.during = np.zeros(N) if final else rng.integers(-8, 8, N).astype(np.float64) / 64
            total += inc + trainer.during
            steps[i] += 10 * (i + 1)
            ex(trainer, stats(steps[i]), final=final)
            trainer.during = np.zeros(N)
    np.testing.assert_array_equal(server.params, total.astype(np.float32))
    assert server.step == 100 + sum(steps)
    # each node's count of the other's steps: those the server had at its last non-final call
    assert nodes[0][0].external == steps[1] - 2 * 20
    assert nodes[1][0].external == steps[0] - 10


def test_the_budget_in_a_reply_stops_the_pool() -> None:
    remote = _Remote(make_server(total_steps=120))
    reg = remote.register.remote(0, "h", 1)
    trainer = FakeTrainer(np.asarray(reg["params"]))
    ex = _Exchange(remote, lambda x: x, 0, reg, threads=1)
    ex(trainer, stats(10))
    assert not trainer.stopped
    ex(trainer, stats(25))
    assert trainer.stopped and ex.stop


def test_node_config_gives_each_node_and_incarnation_its_own_games() -> None:
    from a3c_native.config import A3CConfig

    cfg = A3CConfig(game="pong", ray_address="local", nodes=2, run_dir="/tmp/x", max_seconds=5.0)
    seeds = {node_config(cfg.to_dict(), None, i, j).seed for i in range(3) for j in (1, 2)}
    assert len(seeds) == 6 and cfg.seed not in seeds
    one = node_config(cfg.to_dict(), None, 0, 1)
    assert one.ray_address is None and one.run_dir is None and one.max_seconds is None


def test_pin_this_thread_gives_each_slot_its_own_cpus() -> None:
    import os
    import threading

    allowed = sorted(os.sched_getaffinity(0))
    got: dict[int, list[int]] = {}

    def run(slot: int) -> None:
        got[slot] = pin_this_thread(slot, 1)

    for slot in range(2):
        t = threading.Thread(target=run, args=(slot,))
        t.start()
        t.join()
    assert got[0] == [allowed[0]]
    assert got[1] == [allowed[1 % len(allowed)]]
    assert sorted(os.sched_getaffinity(0)) == allowed  # other threads keep theirs
