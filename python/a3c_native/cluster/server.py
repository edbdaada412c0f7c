"""The parameter server of the cluster mode: the global parameters, RMSProp statistics, step
count and the run's statistics, behind one Ray actor (plain Python here, so it is testable
without Ray).

Every node calls `exchange` on its own schedule; Ray runs the calls of this actor one at a
time (max_concurrency 1), so the server needs no lock and each reply is one consistent
state. What makes the exchange sound (README, "Cluster mode (Ray)"): a node sends the CHANGE of
its parameters since its last exchange (delta = theta_node - base, base = what the server last
sent it), the server adds it (theta_global += delta), and the node folds the reply in with
theta_node += theta_global - theta_sent, which keeps the updates its workers made while the
call was in flight. Every node's progress thus reaches the global parameters exactly once, as
a sum of deltas: the same additive picture as Hogwild's updates to one buffer, with each
node's deltas landing up to one interval late (the staleness this mode adds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_BINS = 64  # staleness histogram bins, as the native pool's


@dataclass
class NodeCounters:
    """One node incarnation's cumulative counters, as it last reported them."""

    updates: int = 0
    skipped_updates: int = 0
    staleness_hist: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, np.int64))
    staleness_sum: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    target_refreshes: int = 0
    exchange_seconds: float = 0.0

    def add(self, other: NodeCounters) -> None:
        self.updates += other.updates
        self.skipped_updates += other.skipped_updates
        self.staleness_hist = self.staleness_hist + other.staleness_hist
        self.staleness_sum += other.staleness_sum
        for k, v in other.timings.items():
            self.timings[k] = self.timings.get(k, 0.0) + v
        self.target_refreshes += other.target_refreshes
        self.exchange_seconds += other.exchange_seconds


@dataclass
class NodeState:
    """What the server knows of node `index` (its current incarnation and the ones before)."""

    index: int
    incarnation: int = 0
    host: str = ""
    slot: int = 0
    alive: bool = False  # registered and neither departed nor reported dead
    registered_at: float = 0.0  # server time (s) of this incarnation's registration
    last_exchange: float = 0.0  # server time (s) of its last exchange (or registration)
    steps: int = 0  # agent steps this incarnation sent
    steps_per_sec: float = 0.0  # over its last exchange interval
    exchanges: int = 0  # of every incarnation
    restarts: int = 0
    rms: np.ndarray | None = None  # its latest RMSProp statistics
    current: NodeCounters = field(default_factory=NodeCounters)  # this incarnation's
    earlier: NodeCounters = field(default_factory=NodeCounters)  # the finished incarnations'
    epsilons: list[float] = field(default_factory=list)
    mean_max_q: float | None = None

    def totals(self) -> NodeCounters:
        t = NodeCounters()
        t.add(self.earlier)
        t.add(self.current)
        return t


class ParameterServer:
    """The global state of a cluster run. Arrays are float32 in the network's flat layout."""

    def __init__(
        self,
        params: np.ndarray,
        rms: np.ndarray | None,
        target: np.ndarray | None,
        step: int,
        seconds: float,
        total_steps: int,
        sync_interval: float,
    ) -> None:
        self.sync_interval = float(sync_interval)
        self.params = np.array(params, dtype=np.float32, copy=True)
        self.initial_rms = (
            np.zeros_like(self.params) if rms is None else np.array(rms, dtype=np.float32, copy=True)
        )
        self.target = None if target is None else np.array(target, dtype=np.float32, copy=True)
        self.start_step = int(step)
        self.step = int(step)
        self.seconds_offset = float(seconds)  # training time of the runs this one resumes
        self.total_steps = int(total_steps)
        self.t0 = time.monotonic()
        self.nodes: dict[int, NodeState] = {}
        self.stopping = False
        self.lr = float("nan")
        # Since the driver's last drain:
        self._episodes: list[tuple[float, int, int, float, int]] = []
        self._loss = np.zeros(4)  # policy, value, entropy sums; count
        self._lost: list[dict[str, Any]] = []
        # Wire accounting (array bytes; Ray's framing is extra and small).
        self.bytes_in = 0
        self.bytes_out = 0
        self.exchanges = 0

    # --- the nodes' calls -----------------------------------------------------------------
    def register(self, index: int, host: str, threads: int) -> dict[str, Any]:
        """A node (re)starts: the global state to start its pool from, and its CPU slot on its
        host (the first `threads` CPUs for slot 0, the next ones for slot 1, ...: simulated
        nodes sharing one machine then do not share cores). A registration of a node whose
        previous incarnation never departed means that one died: its work since its last
        exchange is lost, and recorded."""
        now = self._now()
        node = self.nodes.get(index)
        if node is None:
            node = self.nodes[index] = NodeState(index)
        elif node.alive:
            self._record_loss(node, now, "restarted without departing (its actor or machine died)")
        if node.incarnation > 0:
            node.restarts += 1
        node.earlier.add(node.current)
        node.current = NodeCounters()
        node.incarnation += 1
        node.host = host
        taken = {n.slot for n in self.nodes.values() if n.alive and n.host == host and n.index != index}
        node.slot = min(s for s in range(len(taken) + 1) if s not in taken)
        node.alive = True
        node.registered_at = node.last_exchange = now
        node.steps = 0
        node.steps_per_sec = 0.0
        rms = self.global_rms()
        self.bytes_out += self.params.nbytes + rms.nbytes + (self.target.nbytes if self.target is not None else 0)
        return {
            "incarnation": node.incarnation,
            "slot": node.slot,
            "params": self.params,
            "rms": rms,
            "target": self.target,
            "step": self.step,
            "seconds": self.seconds_offset + now,  # training time so far: the lr's time schedule
            "run_seconds": now,  # this run's clock, for the node's episode times
            "stop": self.stopping or self.step >= self.total_steps,
        }

    def exchange(
        self,
        index: int,
        incarnation: int,
        delta: np.ndarray,
        rms: np.ndarray,
        report: dict[str, Any],
        target: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """Add a node's parameter change and statistics; reply with the global parameters and
        step count. `report`: steps (new agent steps), episodes (new games, as (wall_time,
        step, worker, score, length) on the run's clock and worker numbering), loss (policy,
        value, entropy sums and their count), and this incarnation's cumulative counters
        (updates, skipped_updates, staleness_hist, staleness_sum, timings, target_refreshes,
        exchange_seconds), epsilons, mean_max_q, lr."""
        node = self.nodes.get(index)
        if node is None or node.incarnation != incarnation or not node.alive:
            # A late call of an incarnation already replaced or declared dead: its delta was
            # counted as lost; adding it now would apply a change twice if it also restarted.
            return {"params": None, "step": self.step, "stop": True, "stale": True}
        if delta.shape != self.params.shape:
            msg = f"node {index}: delta of shape {delta.shape}, the parameters are {self.params.shape}"
            raise ValueError(msg)
        now = self._now()
        self.params += delta
        steps = int(report["steps"])
        self.step += steps
        dt = now - node.last_exchange
        node.steps_per_sec = steps / dt if dt > 0 else node.steps_per_sec
        node.last_exchange = now
        node.steps += steps
        node.exchanges += 1
        node.rms = np.array(rms, dtype=np.float32, copy=True)
        if target is not None:
            self.target = np.array(target, dtype=np.float32, copy=True)
        c = node.current
        c.updates = int(report["updates"])
        c.skipped_updates = int(report["skipped_updates"])
        c.staleness_hist = np.asarray(report["staleness_hist"], dtype=np.int64)
        c.staleness_sum = float(report["staleness_sum"])
        c.timings = dict(report["timings"])
        c.target_refreshes = int(report["target_refreshes"])
        c.exchange_seconds = float(report["exchange_seconds"])
        node.epsilons = list(report.get("epsilons", ()))
        node.mean_max_q = report.get("mean_max_q")
        self.lr = float(report.get("lr", self.lr))
        self._episodes.extend(tuple(e) for e in report["episodes"])
        self._loss += np.asarray(report["loss"], dtype=np.float64)
        self.exchanges += 1
        self.bytes_in += delta.nbytes + rms.nbytes + (target.nbytes if target is not None else 0)
        self.bytes_out += self.params.nbytes
        return {
            "params": self.params,
            "step": self.step,
            "stop": self.stopping or self.step >= self.total_steps,
            "stale": False,
        }

    def depart(self, index: int, incarnation: int) -> None:
        """A node's pool ended after its final exchange: nothing of it is outstanding."""
        node = self.nodes.get(index)
        if node is not None and node.incarnation == incarnation:
            node.alive = False

    # --- the driver's calls ---------------------------------------------------------------
    def node_died(self, index: int, reason: str) -> None:
        """The driver learned that node `index` is gone for good (restarts exhausted)."""
        node = self.nodes.get(index)
        if node is not None and node.alive:
            self._record_loss(node, self._now(), reason)

    def request_stop(self) -> None:
        self.stopping = True

    def drain(self) -> dict[str, Any]:
        """The run's statistics now, with the games and losses since the previous drain."""
        now = self._now()
        totals = NodeCounters()
        epsilons: list[float] = []
        max_q: list[float] = []
        status = []
        for i in sorted(self.nodes):
            node = self.nodes[i]
            totals.add(node.totals())
            if node.alive:
                epsilons.extend(node.epsilons)
                if node.mean_max_q is not None:
                    max_q.append(node.mean_max_q)
            status.append(
                {
                    "index": i,
                    "alive": node.alive,
                    "incarnation": node.incarnation,
                    "restarts": node.restarts,
                    "host": node.host,
                    "slot": node.slot,
                    "steps_per_sec": node.steps_per_sec,
                    "since_exchange": now - node.last_exchange,
                    "exchanges": node.exchanges,
                }
            )
        episodes, self._episodes = self._episodes, []
        loss, self._loss = self._loss, np.zeros(4)
        lost, self._lost = self._lost, []
        return {
            "step": self.step,
            "run_steps": self.step - self.start_step,
            "seconds": now,
            "lr": self.lr,
            "episodes": episodes,
            "loss": loss,
            "updates": totals.updates,
            "skipped_updates": totals.skipped_updates,
            "staleness_hist": totals.staleness_hist,
            "staleness_sum": totals.staleness_sum,
            "timings": totals.timings,
            "target_refreshes": totals.target_refreshes,
            "exchange_seconds": totals.exchange_seconds,
            "epsilons": epsilons,
            "mean_max_q": float(np.mean(max_q)) if max_q else None,
            "nodes": status,
            "lost": lost,
            "exchanges": self.exchanges,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }

    def global_rms(self) -> np.ndarray:
        """The RMSProp statistics of a checkpoint (and of a node that (re)starts): the mean of
        the nodes' latest ones (each node keeps its own while it runs, as each worker of one
        machine shares one; they estimate the same E[g^2])."""
        latest = [n.rms for n in self.nodes.values() if n.rms is not None]
        if not latest:
            return self.initial_rms
        return np.mean(latest, axis=0, dtype=np.float64).astype(np.float32)

    def state(self) -> dict[str, Any]:
        """A checkpoint's arrays and counters: one consistent state (no exchange lands during
        this call)."""
        return {
            "params": self.params,
            "rms": self.global_rms(),
            "target": self.target,
            "step": self.step,
            "seconds": self._now(),
        }

    # --- helpers --------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _record_loss(self, node: NodeState, now: float, reason: str) -> None:
        """Node `node`'s current incarnation is gone: its steps since its last exchange never
        reached the server. Their number is not known exactly: it died before its next
        exchange was due, at most one interval after the last, so its last measured rate (the
        other nodes' if it never exchanged) times min(time since that exchange, the interval)
        bounds them."""
        since = now - node.last_exchange
        rate = node.steps_per_sec
        if rate <= 0:  # it died before its first exchange: the other nodes' rate stands in
            rates = [n.steps_per_sec for n in self.nodes.values() if n.steps_per_sec > 0]
            rate = float(np.mean(rates)) if rates else 0.0
        self._lost.append(
            {
                "node": node.index,
                "incarnation": node.incarnation,
                "reason": reason,
                "seconds_since_exchange": since,
                "steps_bound": int(rate * min(since, self.sync_interval)),
                "steps_kept": node.steps,
            }
        )
        node.alive = False
