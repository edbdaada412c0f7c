"""A node of the cluster mode: one Ray actor that owns a native actor-learner pool with its own
shared buffer (all its `threads` workers Hogwild on it, exactly as train() on one machine)
and exchanges with the parameter server every `sync_interval_seconds` without stopping them.

The exchange runs in the pool's progress callback, on the actor's thread: the workers keep
stepping (the pool releases the GIL while the call is in flight, and so does ray.get). One
exchange: read theta_sent (a Hogwild read of the live buffer), send delta = theta_sent - base
with the RMSProp statistics, the new steps, games and counters; get theta_global back; apply
theta += theta_global - theta_sent in the live buffer (Trainer.shift_params: the workers'
updates since theta_sent stay), then base = theta_global; add the other nodes' new steps to
the pool's global step count (Trainer.add_external_steps), so its lr schedule, epsilons,
target refreshes and total_steps budget follow the whole cluster.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import numpy as np

from a3c_native import _core
from a3c_native.config import A3CConfig
from a3c_native.envs import derive_seed, make_worker_envs
from a3c_native.native_options import native_options
from a3c_native.results import epsilon_or_none
from a3c_native.run_parts import make_network, timings_of

# Env seeds of node i's incarnation j: derived from the run seed away from the one-machine
# workers' indices, so two nodes (or a restarted node) never replay the same games.
_SEED_BASE = 1 << 20


def node_config(cfg_dict: dict[str, Any], env_fn: Any, index: int, incarnation: int) -> A3CConfig:
    """The one-machine config a node's pool runs: the run's, with the node's own seed and no
    run directory, budget or cluster fields (the driver owns those)."""
    d = dict(cfg_dict)
    d.update(
        seed=derive_seed(int(d["seed"]), _SEED_BASE + 4096 * incarnation + index),
        run_dir=None,
        max_seconds=None,
        ray_address=None,
        nodes=0,
        tensorboard=False,
    )
    return A3CConfig.from_dict(d, env_fn=env_fn)


def pin_this_thread(slot: int, threads: int) -> list[int]:
    """Restrict the calling thread (and the env and worker threads it creates, which inherit
    it) to the CPUs of `slot`: slot s of a host gets its allowed CPUs s*threads ... (wrapping
    around). envs.worker_cpu then pins the workers within them. Returns the CPUs."""
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - macOS/Windows
        return []
    allowed = sorted(os.sched_getaffinity(0))
    cpus = sorted({allowed[(slot * threads + i) % len(allowed)] for i in range(threads)})
    os.sched_setaffinity(0, cpus)
    return cpus


class _Exchange:
    """The node's side of the exchange protocol (module docstring), called from the pool's
    progress callback and once more after the pool returns."""

    def __init__(self, server: Any, get: Any, index: int, reg: dict[str, Any], threads: int) -> None:
        self.server = server
        self.get = get  # ray.get (a plain function in the tests)
        self.index = index
        self.incarnation = reg["incarnation"]
        self.base = np.asarray(reg["params"], dtype=np.float32)
        self.start_step = int(reg["step"])
        self.clock = float(reg["run_seconds"])  # the run's clock at this pool's start
        self.worker_offset = index * threads
        self.sent_steps = 0  # this incarnation's steps sent
        self.external = 0  # other nodes' steps added to the pool's count
        self.refreshes_sent = 0
        self.seconds = 0.0  # wall time inside exchanges
        self.stop = bool(reg["stop"])
        self.stale = False

    def report(self, raw: Any) -> dict[str, Any]:
        new = raw.run_steps - self.sent_steps
        self.sent_steps = raw.run_steps
        c = raw.loss_count
        return {
            "steps": new,
            "episodes": [
                (self.clock + e.wall_time, e.step, self.worker_offset + e.worker, e.score, e.length,
                 epsilon_or_none(e.epsilon))
                for e in raw.episodes
            ],
            "loss": (raw.policy_loss * c, raw.value_loss * c, raw.entropy * c, c),
            "updates": raw.updates,
            "skipped_updates": raw.skipped_updates,
            "staleness_hist": np.asarray(raw.staleness_hist),
            "staleness_sum": raw.staleness_mean * raw.updates,
            "timings": timings_of(raw),
            "target_refreshes": raw.target_refreshes,
            "exchange_seconds": self.seconds,
            "epsilons": list(raw.epsilons),
            "mean_max_q": raw.mean_max_q if raw.epsilons else None,
            "lr": raw.lr,
        }

    def __call__(self, trainer: Any, raw: Any, *, final: bool = False) -> None:
        t0 = time.perf_counter()
        sent, rms = trainer.state()
        target = None
        if raw.target_refreshes != self.refreshes_sent:
            target = trainer.target_params()
            self.refreshes_sent = raw.target_refreshes
        delta = sent - self.base
        reply = self.get(
            self.server.exchange.remote(self.index, self.incarnation, delta, rms, self.report(raw), target)
        )
        self.seconds += time.perf_counter() - t0
        if reply["stale"]:
            self.stale = True
            self.stop = True
            trainer.request_stop()
            return
        if not final:
            trainer.shift_params(sent, reply["params"])
            others = int(reply["step"]) - self.start_step - self.sent_steps
            if others > self.external:
                trainer.add_external_steps(others - self.external)
                self.external = others
        self.base = reply["params"]
        if reply["stop"]:
            self.stop = True
            trainer.request_stop()


class NodeActor:
    """The Ray actor of one node (created by the driver as ray.remote(NodeActor) with
    concurrency groups 'train' for run() and 'control' for stop() and ping(), so a stop
    reaches it while run() is busy)."""

    def __init__(self, index: int, cfg_dict: dict[str, Any], env_fn: Any, server_name: str) -> None:
        self.index = index
        self.cfg_dict = cfg_dict
        self.env_fn = env_fn
        self.server_name = server_name  # the parameter server's actor name (ray.get_actor)
        self.server: Any = None
        self.trainer: Any = None
        self.stop_requested = False

    def ping(self) -> int:
        return os.getpid()

    def stop(self) -> None:
        """Stop the pool as a budget would; run() then makes its final exchange and returns."""
        self.stop_requested = True
        if self.trainer is not None:
            self.trainer.request_stop()

    def run(self) -> dict[str, Any]:
        """Register, run the pool until the run's budget (or a stop), exchange a last time,
        depart. Returns what this incarnation did."""
        import ray

        threads = int(self.cfg_dict["threads"])
        self.server = ray.get_actor(self.server_name)
        reg = ray.get(self.server.register.remote(self.index, socket.gethostname(), threads))
        cpus = pin_this_thread(reg["slot"], threads) if self.cfg_dict.get("pin_threads", True) else []
        cfg = node_config(self.cfg_dict, self.env_fn, self.index, reg["incarnation"])
        exchange = _Exchange(self.server, ray.get, self.index, reg, threads)
        envs = make_worker_envs(cfg)
        try:
            first = envs[0]
            net = make_network(cfg, tuple(first.obs_shape), np.dtype(first.obs_dtype), first.num_actions)
            params = np.array(reg["params"], dtype=np.float32)
            if params.size != net.num_params:
                msg = (
                    f"node {self.index}: the parameter server holds {params.size:,} parameters, this "
                    f"node's network {cfg.arch!r} for its env has {net.num_params:,}"
                )
                raise ValueError(msg)
            rms = np.array(reg["rms"], dtype=np.float32)
            target = None if reg["target"] is None else np.array(reg["target"], dtype=np.float32)
            options = native_options(cfg, start_step=int(reg["step"]), start_seconds=float(reg["seconds"]))
            trainer = _core.Trainer(net._core, params, rms, options, target)
            self.trainer = trainer
            if self.stop_requested or exchange.stop:
                trainer.request_stop()
            raw = trainer.run(envs, lambda r: exchange(trainer, r), cfg.sync_interval_seconds)
            if not exchange.stale:
                exchange(trainer, raw, final=True)
                ray.get(self.server.depart.remote(self.index, exchange.incarnation))
            return {
                "node": self.index,
                "incarnation": exchange.incarnation,
                "steps": raw.run_steps,
                "cpus": cpus,
                "exchange_seconds": exchange.seconds,
                "stale": exchange.stale,
            }
        finally:
            self.trainer = None
            for env in envs:
                env.close()
