"""The cluster mode on a simulated Ray cluster (ray.cluster_utils.Cluster: a head and a worker
node of 1 CPU each, started and stopped here): learning, exchange, node faults, resume."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='the cluster mode needs Ray: pip install ".[ray]"')
from ray.cluster_utils import Cluster

from a3c_native import A3CConfig, evaluate, train
from a3c_native.checkpoint import load_checkpoint
from a3c_native.errors import ClusterError, ConfigError
from a3c_native.games import GymMake
from a3c_native.networks import Network

# Node deaths are noticed within seconds, not the default ~30 s.
_FAST_HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500, "health_check_failure_threshold": 4}


@pytest.fixture(scope="module")
def cluster() -> Any:
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": _FAST_HEALTH},
    )
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="WARNING", log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


class ExplodingCartPole:
    """An env factory whose envs raise RuntimeError at their step `after` (picklable: it travels
    to the node actors)."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, seed: int | None = None) -> Any:
        import gymnasium as gym

        after = self.after

        class Exploding(gym.Wrapper):
            steps = 0

            def step(self, action: Any) -> Any:
                self.steps += 1
                if self.steps == after:
                    raise RuntimeError(f"the env broke at step {after}")
                return self.env.step(action)

        return Exploding(gym.make("CartPole-v1"))


def cartpole(**fields: Any) -> A3CConfig:
    base: dict[str, Any] = {"ray_address": "auto", "nodes": 2, "threads": 1, "log_interval_seconds": 0.2}
    return A3CConfig.for_env("CartPole-v1", **{**base, **fields})


def node_handles() -> list[Any]:
    names = sorted(n for n in ray.util.list_named_actors() if "-node" in n)
    return [ray.get_actor(n) for n in names]


def test_cartpole_learns_with_two_nodes(cluster: Any, tmp_path: Path) -> None:
    cfg = cartpole(total_steps=300_000, seed=0, run_dir=str(tmp_path / "run"))
    result = train(cfg)
    assert result.total_steps >= 300_000
    assert result.cluster is not None and result.cluster["nodes"] == 2 and result.cluster["restarts"] == 0
    assert result.cluster["exchanges"] >= 4
    assert {e.worker for e in result.episodes} == {0, 1}  # each node's games, numbered like threads
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert ckpt.step == result.total_steps
    np.testing.assert_array_equal(ckpt.params, result.params)
    # The classic_control preset's exchange interval, 0.02 s: measured on this 2-core machine with
    # these settings, 20-game means of 212-499 over seeds 0-15 (482 for seed 0); at 0.1 s
    # 95-500 over seeds 0-5 (README, "Cluster mode (Ray)").
    score = evaluate(ckpt, env_fn=GymMake("CartPole-v1"), episodes=20, seed=1).mean
    if score < 195:
        # The exchanges' timing makes a run's outcome vary run to run (seed 0 also ended at 170
        # and 178 in CI on 2026-12-05): a second seed, and both failing fails.
        again = train(cartpole(total_steps=300_000, seed=1, run_dir=str(tmp_path / "run1")))
        second = evaluate(again, env_fn=GymMake("CartPole-v1"), episodes=20, seed=1).mean
        assert second >= 195, f"two nodes of CartPole reached {score:.1f} and {second:.1f} over 20 games (need 195)"


def test_the_exchange_loses_nothing_when_nothing_is_learned(cluster: Any, tmp_path: Path) -> None:
    """lr 0 from the first update (annealed over a microsecond): each node's workers leave its
    parameters bit-equal, so any error of the exchange (a delta applied twice, a shift lost,
    a stale base) would show in the final parameters, which must equal the initial ones."""
    cfg = cartpole(total_steps=60_000, lr_anneal_seconds=1e-6, sync_interval_seconds=0.05, seed=3)
    net = Network("mlp", (4,), 2, hidden=cfg.hidden)
    start = net.init_params(7)
    result = train(cfg, params=start.copy())
    assert result.cluster is not None and result.cluster["exchanges"] >= 10
    assert result.updates > 50
    np.testing.assert_array_equal(result.params, start)


def test_a_killed_node_restarts_and_the_run_finishes_and_resumes(cluster: Any, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = cartpole(total_steps=400_000, seed=1, run_dir=str(run), sync_interval_seconds=0.2)
    killed: list[int] = []

    def kill_once(p: Any) -> None:
        if not killed and p.steps > 60_000:
            ray.kill(node_handles()[1], no_restart=False)  # as a crash would: Ray restarts it
            killed.append(p.steps)

    result = train(cfg, callback=kill_once)
    assert killed, "the run ended before the kill"
    assert result.total_steps >= 400_000
    assert result.cluster is not None and result.cluster["restarts"] == 1
    assert result.cluster["nodes"] == 2
    ckpt = load_checkpoint(run / "checkpoint.npz")
    assert ckpt.step == result.total_steps
    # ... and a cluster run resumes from the server's checkpoint: same step count, lr schedule on
    more = cartpole(total_steps=result.total_steps + 50_000, seed=1, run_dir=str(run), sync_interval_seconds=0.2)
    resumed = train(more, resume=run / "checkpoint.npz")
    assert resumed.total_steps >= result.total_steps + 50_000
    assert resumed.run_steps == resumed.total_steps - result.total_steps
    assert load_checkpoint(run / "checkpoint.npz").step == resumed.total_steps


def test_twenty_kills_leave_every_checkpoint_loadable(cluster: Any, tmp_path: Path) -> None:
    """A random node killed 20 times during one run, each time once both nodes are up (so that
    every kill is a death and a restart); the checkpoint (saved every 0.2 s) is loaded at every
    progress report and at the end."""
    run = tmp_path / "run"
    cfg = cartpole(total_steps=50_000_000, seed=2, run_dir=str(run), checkpoint_every_seconds=0.2,
                   sync_interval_seconds=0.2)  # fmt: skip
    rng = random.Random(0)
    state = {"kills": 0, "loaded": 0, "incarnations": 2}

    def chaos(p: Any) -> bool:
        ckpt = load_checkpoint(run / "checkpoint.npz")  # raises if a write was ever torn
        assert ckpt.step <= p.steps
        state["loaded"] += 1
        nodes = p.cluster["node_status"]
        up = len(nodes) == 2 and all(n["alive"] for n in nodes)
        if not up or sum(n["incarnation"] for n in nodes) < state["incarnations"]:
            return True  # the last kill's restart has not registered yet
        if state["kills"] == 20:
            return False
        ray.kill(rng.choice(node_handles()), no_restart=False)
        state["kills"] += 1
        state["incarnations"] += 1
        return True

    result = train(cfg, callback=chaos)
    assert state["kills"] == 20
    assert result.cluster is not None and result.cluster["restarts"] == 20
    assert result.cluster["lost_steps_bound"] > 0
    assert state["loaded"] >= 20
    final = load_checkpoint(run / "checkpoint.npz")
    assert final.step == result.total_steps
    assert np.isfinite(final.params).all()


def test_more_nodes_than_the_cluster_has_cpus_for_is_refused(cluster: Any) -> None:
    with pytest.raises(ConfigError, match=r"nodes=3 x threads=1 needs 3 CPUs; the Ray cluster has 2 on 2 node"):
        train(cartpole(nodes=3, total_steps=1000))


def test_another_address_than_the_connected_cluster_is_refused(cluster: Any) -> None:
    with pytest.raises(ConfigError, match=r"already connected to the Ray cluster at"):
        train(cartpole(ray_address="10.255.255.1:6379", total_steps=1000))


def test_an_exception_in_a_node_stops_the_run_and_reaches_the_caller(cluster: Any, tmp_path: Path) -> None:
    run = tmp_path / "run"
    cfg = A3CConfig(env_fn=ExplodingCartPole(after=3000), arch="mlp", ray_address="auto", nodes=2, threads=1,
                    total_steps=10**7, run_dir=str(run), log_interval_seconds=0.2)  # fmt: skip
    t0 = time.monotonic()
    # The env factory is defined here, in a module the node processes cannot import: send it by
    # value, as cloudpickle sends one defined in the user's script.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        with pytest.raises(RuntimeError, match="the env broke at step 3000"):
            train(cfg)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert time.monotonic() - t0 < 60
    load_checkpoint(run / "checkpoint.npz")  # the run's checkpoint is kept and loadable


def test_an_env_fn_the_nodes_cannot_import_is_named(cluster: Any) -> None:
    cfg = A3CConfig(env_fn=ExplodingCartPole(after=10**9), arch="mlp", ray_address="auto", nodes=2, threads=1,
                    total_steps=10**6)  # fmt: skip
    with pytest.raises(ClusterError, match=r"could not start: ModuleNotFoundError: No module named 'test_cluster'"):
        train(cfg)
