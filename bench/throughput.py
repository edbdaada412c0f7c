"""Training throughput on an Atari game: agent steps/s of the native pool against the combined
ceiling measured in the same run, for k environments per actor-learner (batched rollouts).

For each (t_max, k), in one process, medians over --reps runs of --seconds each:
  env us    seconds per agent step of ONE AtariVecEnv of k games, stepped with random actions
            by a Python thread pinned with its ale-py thread to one core (the other cores
            idle): the env's share of a worker step.
  net us    seconds per agent step of the network alone at the same shapes: one actor-learner
            on zero-cost C++ environments (SyntheticEnv, k of them: no Python, no GIL), i.e.
            the batch-k acting forwards, the bootstrap, one backward over k x t_max samples,
            clip and the RMSProp update, on one core.
  ceiling   threads / (env us + net us): what the workers could do if a step cost only those
            two and the cores never interfered.
  train     a3c_native.train on the game with --threads workers of k envs each.
  of ceil.  train / ceiling (the issue's bar: >= 0.88 at the defaults).
  x k=1     train / train at k = 1 and the same t_max (the bar: >= 1.10 at the defaults).
  gil %     per worker step, the worker's CPU time inside the Python env call (an upper
            bound of its GIL-held time) over the wall time of a worker step.
  stale     mean number of other workers' updates between a snapshot and its update.
With --ray-nodes N, the cluster mode (issue 21): N simulated Ray nodes on this machine, each a
process with threads/N actor-learners and its own shared buffer, exchanging with a parameter
server, against one machine's threads, alternating runs; steps/s over the same window of each
run (after --warmup s: a node's start-up is not training), the share of each node's time with
an exchange in flight and the bytes per second per node (both directions).
With --a2c, the same for A2C: one learner thread whose k x threads games are emulated by
ale-py threads on every core (a3c_native's threads=1 configuration). With --method, one table
per method (a3c, one_step_q, one_step_sarsa, n_step_q), each value-based row followed by its
ratio to the a3c row of the same k measured in the same run (issue 20's bar: n_step_q >= 0.95x).
Agent steps, not frames (one agent step = 4 emulator frames).

Machine: AMD EPYC (Zen 4), 2 vCPUs, 24 GiB; ale-py 0.12.1, CPython 3.11.
Command:  python bench/throughput.py [--game pong --threads 2 --envs-per-thread 1 4 8 16
          --t-max 20 --seconds 8 --reps 3 --a2c --arch a3c a3c_lstm --method a3c n_step_q
          --ray-nodes 2 --sync-interval 1 --warmup 5 --only-cluster]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import numpy as np

import a3c_native
from a3c_native import _core
from a3c_native.config import METHODS, A3CConfig
from a3c_native.envs import AtariVecEnv, derive_seed, worker_cpu
from a3c_native.native_options import native_options
from a3c_native.train import make_network


def env_seconds_per_step(game: str, k: int, seconds: float) -> float:
    """One vector env of k games, caller and ale-py thread pinned to one core."""
    cpu = worker_cpu(0)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    env = AtariVecEnv(game, seeds=[derive_seed(0, e) for e in range(k)], thread_affinity_offset=cpu)
    try:
        env.reset()
        acts = np.random.default_rng(0).integers(0, env.num_actions, (4096, k)).astype(np.int32)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            env.step(acts[n & 4095])
            n += 1
        return (time.perf_counter() - t0) / (n * k)
    finally:
        env.close()
        os.sched_setaffinity(0, old)


def net_seconds_per_step(cfg: A3CConfig, net: a3c_native.Network, seconds: float) -> float:
    """One actor-learner on k SyntheticEnvs (no Python), pinned to one core."""
    one = dataclasses.replace(cfg, threads=1, total_steps=10**12, max_seconds=seconds)
    opts = native_options(one)
    opts.worker_cpus = [worker_cpu(0)]  # pinned even if cfg.pin_threads is off
    trainer = _core.Trainer(net._core, net.init_params(cfg.seed), None, opts)
    raw = trainer.run([_core.SyntheticEnv(seed=0, num_envs=cfg.envs_per_thread)], None, 1.0)
    return raw.seconds / raw.run_steps


def train_run(cfg: A3CConfig) -> tuple[float, float, float]:
    r = a3c_native.train(cfg)
    step_wall = cfg.threads * r.seconds / r.run_steps  # seconds of one worker step
    gil = r.timings["env_call_cpu"] / r.run_steps / step_wall
    return r.steps_per_sec, gil, r.staleness_mean


def window_rate(cfg: A3CConfig, warmup: float) -> tuple[float, dict | None]:
    """Agent steps/s of a3c_native.train(cfg) between its first progress report after `warmup`
    seconds and its last one (so that a cluster run's node start-up, process spawn and env
    creation, ~2-5 s, is not counted; the same window is used for the one-machine run), and
    the run's cluster summary."""
    marks: list[tuple[float, int]] = []

    def mark(p: a3c_native.Progress) -> None:
        if p.seconds >= warmup:
            marks.append((time.monotonic(), p.steps))

    r = a3c_native.train(cfg, callback=mark)
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    return (s1 - s0) / (t1 - t0), r.cluster


def measure_cluster(args: argparse.Namespace, arch: str, method: str, t_max: int) -> None:
    """Issue 21's overhead bar: --ray-nodes simulated nodes of threads/nodes actor-learners each
    (Ray, one process per node, a parameter server, exchanges every --sync-interval s) against
    one machine's --threads actor-learners, alternating, same k, same window of each run."""
    import ray

    nodes = args.ray_nodes
    per_node = args.threads // nodes
    ray.init(num_cpus=args.threads, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        print(f"cluster mode ({arch}, {method}, t_max {t_max}): {nodes} simulated nodes x {per_node} thread(s) "
              f"vs 1 machine x {args.threads} threads; exchanges every {args.sync_interval:g} s; steps/s over "
              f"seconds {args.warmup:g}-{args.seconds:g} of each run")  # fmt: skip
        print(f"{'k':>4} {'1 machine':>10} {'cluster':>8} {'ratio':>6} {'exch. %':>8} {'MB/s/node':>10}")
        for k in args.envs_per_thread:
            base = A3CConfig(game=args.game, arch=arch, threads=args.threads, envs_per_thread=k,
                             total_steps=10**12, max_seconds=args.seconds, log_interval_seconds=0.5,
                             t_max=t_max, method=method)  # fmt: skip
            clus = dataclasses.replace(base, threads=per_node, ray_address="auto", nodes=nodes,
                                       sync_interval_seconds=args.sync_interval)  # fmt: skip
            one, many, share, mb = [], [], [], []
            for _ in range(args.reps):
                one.append(window_rate(base, args.warmup)[0])
                rate, c = window_rate(clus, args.warmup)
                many.append(rate)
                share.append(c["exchange_share"])
                mb.append(c["bytes_per_sec_per_node"] / 1e6)
            med = statistics.median
            o, m = med(one), med(many)
            print(f"{k:>4} {o:>10.0f} {m:>8.0f} {m / o:>5.2f}x {med(share):>8.2%} {med(mb):>10.1f}", flush=True)
        print()
    finally:
        ray.shutdown()


def measure(args: argparse.Namespace, arch: str, method: str, t_max: int, probe: AtariVecEnv,
            a3c_rates: dict[tuple[str, int, int], float]) -> None:  # fmt: skip
    med = statistics.median
    n = args.threads
    print(f"{arch}, {method}, t_max {t_max}, {n} threads:")
    print(f"{'k':>4} {'env us':>7} {'net us':>7} {'ceiling':>8} {'train':>7} {'of ceil.':>8} "
          f"{'x k=1':>6} {'gil %':>6} {'stale':>6}")  # fmt: skip
    base = None
    for k in args.envs_per_thread:
        cfg = A3CConfig(game=args.game, arch=arch, threads=n, envs_per_thread=k, total_steps=10**12,
                        max_seconds=args.seconds, log_interval_seconds=10, t_max=t_max,
                        method=method)  # fmt: skip
        net = make_network(cfg, probe.obs_shape, np.dtype(probe.obs_dtype), probe.num_actions)
        env_s, net_s, tr_s, gil_s, stale_s = [], [], [], [], []
        for _ in range(args.reps):
            env_s.append(env_seconds_per_step(args.game, k, args.seconds))
            net_s.append(net_seconds_per_step(cfg, net, args.seconds))
            sps, gil, stale = train_run(cfg)
            tr_s.append(sps)
            gil_s.append(gil)
            stale_s.append(stale)
        e, nt, t = med(env_s), med(net_s), med(tr_s)
        ceiling = n / (e + nt)
        base = t if base is None else base
        print(f"{k:>4} {e * 1e6:>7.0f} {nt * 1e6:>7.0f} {ceiling:>8.0f} {t:>7.0f} {t / ceiling:>8.0%} "
              f"{t / base:>5.2f}x {med(gil_s):>6.1%} {med(stale_s):>6.2f}", flush=True)  # fmt: skip
        if method == "a3c":
            a3c_rates[arch, t_max, k] = t
        elif (arch, t_max, k) in a3c_rates:
            print(f"     {method} / a3c at k={k}: {t / a3c_rates[arch, t_max, k]:.2f}x", flush=True)
        if args.a2c and method == "a3c":
            a2c = A3CConfig(game=args.game, arch=arch, threads=1, envs_per_thread=k * n, total_steps=10**12,
                            max_seconds=args.seconds, log_interval_seconds=10, t_max=t_max)  # fmt: skip
            sps = med([train_run(a2c)[0] for _ in range(args.reps)])
            print(f"     A2C: 1 learner x {k * n} envs on {os.cpu_count()} cores: {sps:.0f} steps/s "
                  f"({sps / t:.2f}x the A3C row)", flush=True)  # fmt: skip
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="pong")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--envs-per-thread", type=int, nargs="+", default=[1, 4, 8, 16],
                    help="k values to measure; the first is the baseline of 'x k=1'")
    ap.add_argument("--t-max", type=int, nargs="+", default=[A3CConfig.t_max],
                    help="rollout lengths to measure, one table each [default: the package's]")
    ap.add_argument("--a2c", action="store_true", help="also measure A2C (threads=1, k x threads envs)")
    ap.add_argument("--arch", nargs="+", default=["a3c"], choices=["a3c", "nature", "a3c_lstm", "nature_lstm"],
                    help="networks to measure, one set of tables each (the _lstm archs: issue 19)")
    ap.add_argument("--method", nargs="+", default=["a3c"], choices=list(METHODS),
                    help="methods to measure, one table each; put a3c first to get the ratios (issue 20)")
    ap.add_argument("--ray-nodes", type=int, default=0,
                    help="also measure the cluster mode: this many simulated Ray nodes of threads/nodes "
                    "actor-learners each, against one machine (issue 21)")
    ap.add_argument("--sync-interval", type=float, default=A3CConfig.sync_interval_seconds,
                    help="the cluster mode's exchange interval (s)")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="cluster rows: seconds of each run left out of its steps/s (node start-up)")
    ap.add_argument("--only-cluster", action="store_true", help="with --ray-nodes: skip the other tables")
    args = ap.parse_args()

    probe = AtariVecEnv(args.game, seeds=[0])
    probe.close()
    print(f"{args.game}: {probe.num_actions} actions, obs {probe.obs_shape}; {args.seconds:.0f} s x "
          f"{args.reps} reps per cell; a3c_native {a3c_native.__version__} ({_core.kernel_isa()} "
          f"kernels), {os.cpu_count()} CPUs\n")  # fmt: skip
    a3c_rates: dict[tuple[str, int, int], float] = {}
    for arch in args.arch:
        for method in args.method:
            for t_max in args.t_max:
                if not args.only_cluster:
                    measure(args, arch, method, t_max, probe, a3c_rates)
                if args.ray_nodes:
                    measure_cluster(args, arch, method, t_max)


if __name__ == "__main__":
    main()
