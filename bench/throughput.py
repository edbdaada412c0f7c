"""Training throughput on an Atari game: agent steps/s of the native pool at 1, 2 and 4 threads,
beside the ceilings measured in the same run, and the GIL share of a worker's step.

For each thread count N, in one process:
  env       N Python threads, each stepping its own AtariEnv with random actions (pinned
            like the pool: thread i and its ale-py thread on CPU i % ncores): the env ceiling.
  net       the pool itself with N zero-cost C++ environments (SyntheticEnv: no Python, no
            GIL): acting forward passes, bootstrap, backward, clip and Hogwild RMSProp only.
  combined  1 / (1/env + 1/net): what N workers could do if nothing but those two cost time.
  train     a3c_native.train on the game, Hogwild (and, at 2 threads, update="locked").
  gil %     per worker step, the worker's CPU time inside the Python env call (an upper
            bound of its GIL-held time: ale-py sleeps with the GIL released while it
            emulates) over the wall time of a step (N * seconds / steps).
Each cell is the median over --reps runs of --seconds each. Agent steps, not frames (one
agent step = 4 emulator frames).

Machine: AMD EPYC (Zen 4), 2 vCPUs, 24 GiB; ale-py 0.12.1, CPython 3.11.
Command:  python bench/throughput.py [--game pong --seconds 8 --reps 3 --threads 1 2 4 --t-max 5 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np

import a3c_native
from a3c_native import _core
from a3c_native.config import A3CConfig
from a3c_native.envs import AtariEnv, worker_cpu
from a3c_native.train import _options, make_network


def env_ceiling(game: str, threads: int, seconds: float) -> float:
    envs = [AtariEnv(game, seed=i, thread_affinity_offset=worker_cpu(i)) for i in range(threads)]
    counts = [0] * threads
    stop = threading.Event()

    def run(i: int) -> None:
        os.sched_setaffinity(0, {worker_cpu(i)})
        env = envs[i]
        env.reset()
        acts = np.random.default_rng(i).integers(0, env.num_actions, 4096)
        n = 0
        while not stop.is_set():
            env.step(int(acts[n & 4095]))
            n += 1
        counts[i] = n

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    for e in envs:
        e.close()
    return sum(counts) / elapsed


def net_ceiling(cfg: A3CConfig, net: a3c_native.Network, seconds: float) -> float:
    opts = _options(cfg, 0)
    opts.total_steps = 10**12
    opts.max_seconds = seconds
    trainer = _core.Trainer(net._core, net.init_params(cfg.seed), None, opts, False)
    envs = [_core.SyntheticEnv(seed=i) for i in range(cfg.threads)]
    raw = trainer.run(envs, None, 1.0)
    return raw["run_steps"] / raw["seconds"]


def train_run(cfg: A3CConfig) -> tuple[float, float, float]:
    r = a3c_native.train(cfg)
    step_wall = cfg.threads * r.seconds / r.run_steps  # seconds of one worker step
    gil = r.timings["env_call_cpu"] / r.run_steps / step_wall
    return r.steps_per_sec, gil, r.staleness_mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="pong")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--t-max", type=int, nargs="+", default=[A3CConfig.t_max],
                    help="rollout lengths to measure, one table each [default: the package's]")
    args = ap.parse_args()

    probe = AtariEnv(args.game, seed=0)
    obs_shape, obs_dtype, num_actions = probe.obs_shape, probe.obs_dtype, probe.num_actions
    probe.close()
    print(f"{args.game}: {num_actions} actions, obs {obs_shape}; {args.seconds:.0f} s x {args.reps} reps per cell; "
          f"a3c_native {a3c_native.__version__} ({_core.kernel_isa()} kernels), {os.cpu_count()} CPUs\n")
    for t_max in args.t_max:
        measure(args, t_max, obs_shape, obs_dtype, num_actions)


def measure(args: argparse.Namespace, t_max: int, obs_shape, obs_dtype, num_actions: int) -> None:
    med = statistics.median
    print(f"t_max {t_max}:")
    header = f"{'threads':>7} {'env':>8} {'net':>8} {'combined':>9} {'train':>8} {'of comb.':>9} {'x 1 thr':>8} {'gil %':>6} {'stale':>6}"
    print(header)
    rows = {}
    for n in args.threads:
        cfg = A3CConfig(game=args.game, threads=n, total_steps=10**12, max_seconds=args.seconds,
                        log_interval_seconds=10, t_max=t_max)
        net = make_network(cfg, obs_shape, np.dtype(obs_dtype), num_actions)
        env_s, net_s, tr_s, gil_s, stale_s = [], [], [], [], []
        for _ in range(args.reps):
            env_s.append(env_ceiling(args.game, n, args.seconds))
            net_s.append(net_ceiling(cfg, net, args.seconds))
            sps, gil, stale = train_run(cfg)
            tr_s.append(sps)
            gil_s.append(gil)
            stale_s.append(stale)
        e, t, g = med(env_s), med(tr_s), med(gil_s)
        nt = med(net_s)
        comb = 1 / (1 / e + 1 / nt)
        rows[n] = t
        speedup = t / rows[args.threads[0]]
        print(f"{n:>7} {e:>8.0f} {nt:>8.0f} {comb:>9.0f} {t:>8.0f} {t / comb:>8.0%} {speedup:>7.2f}x {g:>6.1%} {med(stale_s):>6.2f}", flush=True)
    if 2 in args.threads:
        cfg = A3CConfig(game=args.game, threads=2, total_steps=10**12, max_seconds=args.seconds,
                        log_interval_seconds=10, update="locked", t_max=t_max)
        locked = med([train_run(cfg)[0] for _ in range(args.reps)])
        print(f"2 threads, update='locked': {locked:.0f} steps/s (hogwild {rows[2]:.0f}: x{rows[2] / locked:.2f})")
    print()


if __name__ == "__main__":
    main()
