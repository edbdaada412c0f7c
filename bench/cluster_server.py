"""How many exchanges per second the cluster mode's parameter server absorbs (issue 21's scale
bar), and from that the largest cluster one server supports at a given exchange interval.

M client actors (simulated nodes with synthetic work: no environments, no network, they only
exchange) each call ParameterServer.exchange in a closed loop for --seconds with the arrays
of a real network (a delta and RMSProp statistics of the a3c net's size for Pong, 678k floats,
as a node sends them), through Ray on this machine. Reported per M: exchanges/s the server
completed, the median round trip seen by a client, and the server's busy share (its time
inside exchange() over the wall time). With a server that is the bottleneck, exchanges/s
stops growing with M; capacity / (1 / interval) is then the number of nodes it serves at that
interval. On one 2-core machine the clients compete with the server for the cores, so the
capacity measured here is a LOWER bound of a dedicated head's.

Command:  python bench/cluster_server.py [--clients 1 2 4 8 --seconds 10 --arch a3c --game pong]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import ray

from a3c_native.cluster.server import ParameterServer
from a3c_native.config import A3CConfig
from a3c_native.envs import probe_env
from a3c_native.train import make_network


@ray.remote(num_cpus=0)
class TimedServer(ParameterServer):
    """The parameter server, timing its own exchanges."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.busy = 0.0

    def exchange(self, *args: object, **kwargs: object) -> dict:  # type: ignore[override]
        t0 = time.perf_counter()
        reply = super().exchange(*args, **kwargs)  # type: ignore[arg-type]
        self.busy += time.perf_counter() - t0
        return reply

    def busy_seconds(self) -> float:
        return self.busy


@ray.remote(num_cpus=0)
class Client:
    """A node that only exchanges: the same arrays and report as a real node's."""

    def __init__(self, server: object, index: int, n: int) -> None:
        self.server = server
        self.index = index
        rng = np.random.default_rng(index)
        self.delta = (rng.standard_normal(n) * 1e-6).astype(np.float32)
        self.rms = np.abs(rng.standard_normal(n) * 1e-6).astype(np.float32)

    def run(self, seconds: float) -> list[float]:
        reg = ray.get(self.server.register.remote(self.index, f"client{self.index}", 1))
        report = {
            "steps": 100, "episodes": [], "loss": (0.0, 0.0, 0.0, 0), "updates": 0, "skipped_updates": 0,
            "staleness_hist": np.zeros(64, np.int64), "staleness_sum": 0.0, "timings": {}, "target_refreshes": 0,
            "exchange_seconds": 0.0, "epsilons": [], "mean_max_q": None, "lr": 0.0,
        }  # fmt: skip
        rtts = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            reply = ray.get(self.server.exchange.remote(self.index, reg["incarnation"], self.delta, self.rms, report))
            assert reply["params"] is not None
            rtts.append(time.perf_counter() - t0)
        return rtts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--game", default="pong")
    ap.add_argument("--arch", default="a3c")
    ap.add_argument("--interval", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="exchange intervals to turn the capacity into a cluster size for")
    args = ap.parse_args()
    cfg = A3CConfig(game=args.game, arch=args.arch)
    obs_shape, obs_dtype, actions = probe_env(cfg)
    n = make_network(cfg, tuple(obs_shape), np.dtype(obs_dtype), actions).num_params
    mb = n * 4 / 1e6
    ray.init(include_dashboard=False, logging_level="WARNING")
    print(f"{args.arch} net for {args.game}: {n:,} parameters; an exchange moves {3 * mb:.1f} MB "
          f"(delta + RMSProp statistics in, parameters out); {os.cpu_count()} CPUs, Ray {ray.__version__}\n")  # fmt: skip
    print(f"{'clients':>7} {'exch/s':>8} {'rtt ms':>8} {'server busy':>12} {'MB/s':>8}")
    best = 0.0
    for m in args.clients:
        params = np.zeros(n, np.float32)
        server = TimedServer.remote(params, None, None, 0, 0.0, 10**15, 1.0)
        clients = [Client.remote(server, i, n) for i in range(m)]
        ray.get([c.__ray_ready__.remote() for c in clients])
        t0 = time.perf_counter()
        rtts = ray.get([c.run.remote(args.seconds) for c in clients])
        wall = time.perf_counter() - t0
        count = sum(len(r) for r in rtts)
        busy = ray.get(server.busy_seconds.remote())
        rate = count / wall
        best = max(best, rate)
        rtt = statistics.median([x for r in rtts for x in r]) * 1e3
        print(f"{m:>7} {rate:>8.1f} {rtt:>8.1f} {busy / wall:>12.0%} {rate * 3 * mb:>8.0f}", flush=True)
        for c in clients:
            ray.kill(c)
        ray.kill(server)
    print(f"\nbest: {best:.0f} exchanges/s; nodes one server supports (capacity x interval):")
    for iv in args.interval:
        print(f"  every {iv:g} s: {best * iv:.0f} nodes ({3 * mb * best:.0f} MB/s through the server's network link)")
    ray.shutdown()


if __name__ == "__main__":
    main()
