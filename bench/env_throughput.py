"""Environment-alone throughput: agent steps/s of AtariEnv (ale-py vector interface, one env
per Python thread, random actions), 1 vs 2 threads, pinned vs unpinned, and the GIL-held time
of one step. No network, no training: this is the env ceiling of DESIGN.md's budget.

Machine: 2-vCPU AMD EPYC VM (firecracker), shared; ale-py 0.12.1, CPython 3.11, Linux.
Command:  PYTHONPATH=python python bench/env_throughput.py          (~1 min)
          [--game pong --seconds 2 --reps 3]

Modes (thread i on CPU worker_cpu(i)):
  unpinned  ale-py's env thread and the Python thread float (thread_affinity_offset=-1)
  ale-pin   ale-py's env thread pinned, the Python thread floats
  pinned    both pinned to the same CPU (what the native pool does with pin_threads)
Recorded 2026-11-23, three runs while other jobs shared the cores (ranges of the medians):
  threads  mode      steps/s       cpu us/step
  1        unpinned  1,840-2,020   55-67
  1        ale-pin   1,590-2,430   25-64
  1        pinned    2,040-2,550   22-39
  2        unpinned  2,180-2,400   27-46   (x1.1-1.3: the hand-offs cross cores)
  2        ale-pin   2,730-3,540   35-51
  2        pinned    3,770-4,800   38-50   (x1.6-2.35)
  GIL-held upper bound, 1 pinned thread: 22-33 us of a 370-690 us step (4.8-6.6%);
  AtariEnv's own Python: 0.6-0.7 us a step.
Steps are agent steps (x4 emulator frames). Each cell is the median of --reps runs of
--seconds each, all in this one process.

GIL-held time per step: the stepping thread holds the GIL only while it is on a CPU, and it
waits in ale-py's recv() asleep with the GIL released (its CPU time is far below the wall
time, so it does not spin), so its CPU time per step (time.thread_time) is an upper bound
on the GIL-held time: our Python wrapper + ale-py's binding work (argument parsing, the
28 KB obs copy, the result arrays and info dict) + GIL/futex hand-off syscalls. The
breakdown times ale-py's raw send()/recv() loop the same way to split wrapper vs binding.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np

_PYTHON_DIR = Path(__file__).resolve().parent.parent / "python"
sys.path.insert(0, str(_PYTHON_DIR))

# Load the pure-Python modules without the package __init__ (which imports the native _core).
try:
    from a3c_native.envs import AtariEnv, worker_cpu
except ImportError:  # pragma: no cover - _core not built yet
    import importlib.util

    _pkg_dir = _PYTHON_DIR / "a3c_native"
    sys.modules["a3c_native"] = types.ModuleType("a3c_native")
    sys.modules["a3c_native"].__path__ = [str(_pkg_dir)]
    for _name in ("errors", "envs"):
        _spec = importlib.util.spec_from_file_location(
            f"a3c_native.{_name}", _pkg_dir / f"{_name}.py"
        )
        _mod = importlib.util.module_from_spec(_spec)
        sys.modules[f"a3c_native.{_name}"] = _mod
        _spec.loader.exec_module(_mod)
    from a3c_native.envs import AtariEnv, worker_cpu

MODES = ("unpinned", "ale-pin", "pinned")


def _run(game: str, n_threads: int, mode: str, seconds: float) -> tuple[float, float]:
    """Step n_threads envs concurrently for `seconds`; return (steps/s total, CPU us/step)."""
    envs = [
        AtariEnv(
            game,
            seed=i + 1,
            thread_affinity_offset=worker_cpu(i) if mode != "unpinned" else -1,
        )
        for i in range(n_threads)
    ]
    actions = np.random.default_rng(0).integers(envs[0].num_actions, size=4096).tolist()
    barrier = threading.Barrier(n_threads)
    rate = [0.0] * n_threads
    cpu = [0.0] * n_threads

    def work(i: int) -> None:
        if mode == "pinned":
            os.sched_setaffinity(0, {worker_cpu(i)})  # 0 = the calling thread on Linux
        env = envs[i]
        env.reset()
        for k in range(50):  # warm-up
            env.step(actions[k])
        barrier.wait()  # all threads step at once
        n, step = 0, env.step
        t0, c0 = time.perf_counter(), time.thread_time()
        end = t0 + seconds
        while time.perf_counter() < end:
            step(actions[n & 4095])
            n += 1
        cpu[i] = 1e6 * (time.thread_time() - c0) / n
        rate[i] = n / (time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for env in envs:
        env.close()
    return sum(rate), statistics.mean(cpu)


def _gil_breakdown(game: str, chunks: int, chunk: int = 300) -> dict[str, float]:
    """One pinned env stepped on this thread. Alternates chunks of AtariEnv.step and of ale-py's
    raw send()/recv() (medians over chunks: robust to other load), then times the wrapper's own
    Python with ale-py replaced by builtins (send=slice, recv=repeat(result).__next__)."""
    cpu0, saved = worker_cpu(0), os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu0})
    env = AtariEnv(game, seed=1, thread_affinity_offset=cpu0)
    actions = np.random.default_rng(1).integers(env.num_actions, size=chunk).tolist()
    env.reset()
    ale, act, paddle = env._ale, env._action, env._paddle
    step_wall, step_cpu, raw_wall, raw_cpu = [], [], [], []
    for _ in range(chunks):
        t0, c0 = time.perf_counter(), time.thread_time()
        for a in actions:
            env.step(a)
        step_wall.append(time.perf_counter() - t0)
        step_cpu.append(time.thread_time() - c0)
        t0, c0 = time.perf_counter(), time.thread_time()
        for a in actions:
            act[0] = a
            ale.send(act, paddle)
            ale.recv()
        raw_wall.append(time.perf_counter() - t0)
        raw_cpu.append(time.thread_time() - c0)
    # the wrapper alone: ale-py's work replaced by near-free builtins returning a real result
    ale.send(act, paddle)
    result = ale.recv()
    env._ale = types.SimpleNamespace(send=slice, recv=itertools.repeat(result).__next__)
    n = 200_000
    c0 = time.thread_time()
    for k in range(n):
        env.step(k & 3)
    wrapper = (time.thread_time() - c0) / n
    env._ale = ale
    env.close()
    os.sched_setaffinity(0, saved)
    us = 1e6 / chunk
    return {
        "wall_us": us * statistics.median(step_wall),
        "cpu_us": us * statistics.median(step_cpu),
        "raw_wall_us": us * statistics.median(raw_wall),
        "raw_cpu_us": us * statistics.median(raw_cpu),
        "wrapper_us": 1e6 * wrapper,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="pong", help="ale-py ROM id (default: pong)")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of one run (default: 2)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per cell (default: 3)")
    args = ap.parse_args()

    print(
        f"game={args.game} seconds={args.seconds} reps={args.reps} cpus={os.cpu_count()} "
        f"loadavg(before)={os.getloadavg()[0]:.2f}"
    )
    rows = []
    for n_threads in (1, 2):
        for mode in MODES:
            rates, cpus = [], []
            for _ in range(args.reps):
                r, c = _run(args.game, n_threads, mode, args.seconds)
                rates.append(r)
                cpus.append(c)
            rows.append(
                (
                    n_threads,
                    mode,
                    statistics.median(rates),
                    min(rates),
                    max(rates),
                    statistics.median(cpus),
                )
            )
    base = {mode: r for n, mode, r, *_ in rows if n == 1}
    print(
        f"\n{'threads':>7} {'mode':>9} {'steps/s':>9} {'(min-max)':>15} {'x 1 thr':>8} "
        f"{'us/step':>8} {'cpu us/step':>11} {'cpu share':>9}"
    )
    for n, mode, r, lo, hi, c in rows:
        us = 1e6 * n / r  # wall time of one step on one thread
        print(
            f"{n:>7} {mode:>9} {r:>9.0f} {f'({lo:.0f}-{hi:.0f})':>15} {r / base[mode]:>8.2f} "
            f"{us:>8.0f} {c:>11.1f} {c / us:>9.1%}"
        )

    g = _gil_breakdown(args.game, chunks=max(5, 3 * args.reps))
    print("\nGIL-held per step, 1 pinned thread (medians of chunks of 300 steps):")
    print(
        f"  AtariEnv.step         wall {g['wall_us']:6.1f} us  thread CPU {g['cpu_us']:5.1f} us "
        f"(upper bound on GIL-held: {g['cpu_us'] / g['wall_us']:.1%} of the step)"
    )
    print(
        f"  raw ale send()+recv() wall {g['raw_wall_us']:6.1f} us  thread CPU "
        f"{g['raw_cpu_us']:5.1f} us"
    )
    print(f"  AtariEnv wrapper's own Python (ale-py stubbed out): {g['wrapper_us']:.2f} us")
    print(f"loadavg(after)={os.getloadavg()[0]:.2f} (other jobs on these cores skew the numbers)")


if __name__ == "__main__":
    main()
