"""train() in the cluster mode: the driver starts one parameter-server actor and one node
actor per node, then does what train() does on one machine (progress, telemetry, callback,
checkpoints, Ctrl-C, the result) from the server's statistics.

Faults: node actors restart (Ray re-creates a dead actor, up to MAX_NODE_RESTARTS times, on
any node with room) and their run() call is retried on the new incarnation, which registers
again and starts from the global parameters; the server records the lost incarnation's work
(its steps since its last exchange, bounded by its rate times the interval) and the driver
logs it. A node whose restarts are exhausted is left out; the run goes on with the others and
fails only when none is left. An exception raised inside a node (an env, a bad setting) stops
every node and reaches the caller with its type and message, after the checkpoint. The server
itself is not restarted: its state is the run's (the last checkpoint is what survives it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from a3c_native.archs import VALUE_BASED_METHODS
from a3c_native.cluster.connect import connect, import_ray, resolve_nodes
from a3c_native.cluster.node import NodeActor
from a3c_native.cluster.server import ParameterServer
from a3c_native.config import A3CConfig
from a3c_native.envs import probe_env
from a3c_native.errors import ClusterError
from a3c_native.results import EpisodeRecord, Progress, TrainResult
from a3c_native.run_parts import ProgressLog, StopOnSignals, check_env_matches, make_network, open_run, start_state
from a3c_native.telemetry import Telemetry

log = logging.getLogger("a3c_native")

MAX_NODE_RESTARTS = 1000  # per node actor: a node that keeps dying this often is broken, not unlucky
_STOP_GRACE_SECONDS = 30.0  # for the nodes' final exchanges after a stop, then they are killed


def _init_failure(e: BaseException) -> str:
    """The cause of an actor's failed construction, from Ray's error text (its last line)."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(e).__name__


def server_name(run_id: str) -> str:
    """The Ray actor name of run `run_id`'s parameter server."""
    return f"a3c_native-{run_id}-server"


def node_name(run_id: str, index: int) -> str:
    """The Ray actor name of node `index` of run `run_id` (ray.get_actor(name) finds it)."""
    return f"a3c_native-{run_id}-node{index}"


class _StopFlag:
    """What StopOnSignals asks to stop (the driver's loop reads it)."""

    def __init__(self) -> None:
        self.requested = False

    def request_stop(self) -> None:
        self.requested = True


def _cluster_summary(poll: dict[str, Any], nodes: int, lost_bound: int) -> dict[str, Any]:
    seconds = max(poll["seconds"], 1e-9)
    return {
        "nodes": nodes,
        "alive": sum(1 for n in poll["nodes"] if n["alive"]),
        "restarts": sum(n["restarts"] for n in poll["nodes"]),
        "exchanges": poll["exchanges"],
        # Of each node's wall time, the share with an exchange in flight (its workers go on
        # meanwhile: this is the exchange thread's time, not lost training time).
        "exchange_share": poll["exchange_seconds"] / (seconds * nodes),
        "bytes_per_sec_per_node": (poll["bytes_in"] + poll["bytes_out"]) / seconds / nodes,
        "lost_steps_bound": lost_bound,
        "node_status": poll["nodes"],
    }


def train_on_ray(
    cfg: A3CConfig,
    *,
    callback: Callable[[Progress], bool | None] | None,
    params: np.ndarray | None,
    rms: np.ndarray | None,
    start_step: int,
    resume: str | os.PathLike[str] | None,
    progress_bar: bool,
) -> TrainResult:
    """train(cfg, ...) with cfg.ray_address set: same arguments, same result and files."""
    ray = import_ray()
    from ray.exceptions import RayActorError, RayTaskError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ckpt, params, rms, start_step = start_state(cfg, params, rms, start_step, resume)
    start_seconds = float(ckpt.seconds) if ckpt is not None else 0.0
    obs_shape, obs_dtype, num_actions = probe_env(cfg)
    net = make_network(cfg, tuple(obs_shape), np.dtype(obs_dtype), num_actions)
    if ckpt is not None:
        check_env_matches(ckpt, net, resume)  # type: ignore[arg-type]
    if params is None:
        params = net.init_params(cfg.seed)
    target = ckpt.target if ckpt is not None else None
    if target is None and cfg.method in VALUE_BASED_METHODS:
        target = np.array(params, dtype=np.float32, copy=True)

    owns_ray = connect(ray, cfg)
    telemetry: Telemetry | None = None
    stopper: StopOnSignals | None = None
    actors: list[Any] = []
    try:
        nodes = resolve_nodes(ray, cfg)
        here = ray.get_runtime_context().get_node_id()
        run_id = uuid.uuid4().hex[:8]
        server = (
            ray.remote(ParameterServer)
            .options(
                name=server_name(run_id),
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=True),
            )
            .remote(params, rms, target, start_step, start_seconds, cfg.total_steps, cfg.sync_interval_seconds)
        )
        node_cls = ray.remote(concurrency_groups={"train": 1, "control": 2})(NodeActor)
        node_options = {
            "num_cpus": cfg.threads,
            "max_restarts": MAX_NODE_RESTARTS,
            "max_task_retries": -1,  # run() is re-sent to the restarted actor
            "scheduling_strategy": "SPREAD",
        }
        cfg_dict = cfg.to_dict()
        # Named, so that tools (and the fault tests) can find a run's nodes: node_name(run, i).
        # A node finds the server by its name: a restartable actor's constructor arguments
        # must stay small (an actor handle among them is kept in the object store).
        actors = [
            node_cls.options(name=node_name(run_id, i), **node_options).remote(
                i, cfg_dict, cfg.env_fn, server_name(run_id)
            )
            for i in range(nodes)
        ]
        log.info("cluster mode: %d node(s) x %d thread(s), exchanging every %g s", nodes, cfg.threads, cfg.sync_interval_seconds)

        run_dir, telemetry = open_run(cfg, net, ckpt, start_step, progress_bar)
        if run_dir is not None:
            run_dir.save(params, rms if rms is not None else np.zeros_like(params), target, start_step, 0.0, 0)

        flag = _StopFlag()
        stopper = StopOnSignals(flag)
        progress_log = ProgressLog(start_step)
        episodes = progress_log.episodes
        lost_bound = 0

        def progress_of(poll: dict[str, Any]) -> Progress:
            nonlocal lost_bound
            for lost in poll["lost"]:
                lost_bound += lost["steps_bound"]
                log.warning(
                    "node %d (incarnation %d) lost: %s; at most %d agent steps of its work since its last "
                    "exchange %.1f s before were lost",
                    lost["node"], lost["incarnation"], lost["reason"], lost["steps_bound"], lost["seconds_since_exchange"],
                )  # fmt: skip
            pl, vl, ent, count = poll["loss"]
            c = count if count > 0 else 1.0
            updates = poll["updates"]
            return progress_log.progress(
                poll["step"],
                poll["seconds"],
                sorted((EpisodeRecord(*e) for e in poll["episodes"]), key=lambda e: e.wall_time),
                policy_loss=pl / c,
                value_loss=vl / c,
                entropy=ent / c,
                lr=poll["lr"],
                updates=updates,
                skipped_updates=poll["skipped_updates"],
                staleness_mean=poll["staleness_sum"] / updates if updates else 0.0,
                epsilons=tuple(poll["epsilons"]),
                mean_max_q=poll["mean_max_q"],
                target_refreshes=poll["target_refreshes"],
                cluster=_cluster_summary(poll, nodes, lost_bound),
            )

        def save(steps: int, seconds: float) -> None:
            assert run_dir is not None
            st = ray.get(server.state.remote())
            run_dir.save(st["params"], st["rms"], st["target"], steps, seconds, len(episodes))

        refs = {a.run.options(concurrency_group="train").remote(): i for i, a in enumerate(actors)}
        failure: BaseException | None = None
        stop_deadline: float | None = None
        t_start = time.monotonic()
        next_poll = t_start + cfg.log_interval_seconds

        def stop_all() -> None:
            nonlocal stop_deadline
            if stop_deadline is not None:
                return
            stop_deadline = time.monotonic() + _STOP_GRACE_SECONDS + 2 * cfg.sync_interval_seconds
            server.request_stop.remote()
            for a in actors:
                a.stop.options(concurrency_group="control").remote()

        stopper.install()
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.1)
                for ref in ready:
                    i = refs.pop(ref)
                    try:
                        ray.get(ref)
                    except RayTaskError as e:  # an exception inside the node: the run's error
                        if failure is None:
                            cause = e.cause if isinstance(e.cause, BaseException) else e
                            failure = cause
                            log.error("node %d failed: %s", i, cause)
                        stop_all()
                    except RayActorError as e:
                        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        if getattr(e, "actor_init_failed", False):
                            # Not a fault to ride over: the node could not even be built (its
                            # arguments, e.g. an env_fn from a module the nodes cannot import).
                            if failure is None:
                                failure = ClusterError(
                                    f"node {i} could not start: {_init_failure(e)}; an env_fn must be "
                                    "importable on every node (installed there), or defined in the script "
                                    "that calls train()"
                                )
                            stop_all()
                            continue
                        # died past its restarts: run on without it
                        ray.get(server.node_died.remote(i, f"gone for good: {first}"))
                        log.warning("node %d is gone for good (%s); the run goes on without it", i, first)
                if not refs and failure is None and stop_deadline is None:
                    step = ray.get(server.state.remote())["step"]
                    if step < cfg.total_steps:
                        failure = ClusterError(
                            f"every node died (restarts exhausted) at step {step:,}; the last checkpoint is kept"
                        )
                    break
                now = time.monotonic()
                if flag.requested or (cfg.max_seconds is not None and now - t_start >= cfg.max_seconds):
                    stop_all()
                if stop_deadline is not None and now > stop_deadline:
                    log.warning("%d node(s) did not stop within %.0f s: killed", len(refs), _STOP_GRACE_SECONDS)
                    for i in refs.values():
                        ray.kill(actors[i], no_restart=True)
                    refs.clear()
                    break
                if now >= next_poll:
                    next_poll = now + cfg.log_interval_seconds
                    p = progress_of(ray.get(server.drain.remote()))
                    if p.steps >= cfg.total_steps:
                        stop_all()
                    if telemetry is not None:
                        telemetry.update(p)
                    if run_dir is not None and run_dir.due(p.steps):
                        save(p.steps, p.seconds)
                    if callback is not None and stop_deadline is None:
                        try:
                            if callback(p) is False:
                                stop_all()
                        except BaseException as e:
                            failure = e
                            stop_all()
        finally:
            stopper.run_ended()
        final_poll = ray.get(server.drain.remote())
        final = progress_of(final_poll)
        st = ray.get(server.state.remote())
        interrupted = stopper.caught is not None
        if interrupted:
            log.warning("training interrupted at step %d", st["step"])
        seconds = st["seconds"]
        result = TrainResult(
            params=np.array(st["params"]),
            rms=np.array(st["rms"]),
            total_steps=st["step"],
            run_steps=st["step"] - start_step,
            seconds=seconds,
            steps_per_sec=(st["step"] - start_step) / seconds if seconds > 0 else 0.0,
            updates=final.updates,
            skipped_updates=final.skipped_updates,
            episodes=episodes,
            staleness_mean=final.staleness_mean,
            staleness_hist=np.asarray(final_poll["staleness_hist"]),
            interrupted=interrupted,
            timings=dict(final_poll["timings"]),
            config=cfg.to_dict(),
            target_params=None if st["target"] is None else np.array(st["target"]),
            target_refreshes=final.target_refreshes,
            cluster=final.cluster,
        )
        if telemetry is not None:
            telemetry.update(final)
            telemetry.finish([], result.total_steps)
            telemetry.close()
        if run_dir is not None:
            run_dir.save(result.params, result.rms, result.target_params, result.total_steps, seconds, len(episodes))
            log.info("checkpoint at step %d saved to %s", result.total_steps, run_dir.checkpoint)
        if failure is not None:
            raise failure
        return result
    finally:
        if telemetry is not None:
            telemetry.close()
        for a in actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(a, no_restart=True)
        if owns_ray:
            ray.shutdown()
        if stopper is not None:
            stopper.restore()
