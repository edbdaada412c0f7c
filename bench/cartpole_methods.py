"""The paper's four methods on CartPole-v1 (issue 20): for each method and seed, train with the
env's family preset (classic_control, and its [value_based] table for the Q methods) on 2
threads, then evaluate 20 games (value-based policies: epsilon 0.05; A3C: sampled actions).
Prints one JSON line per run and a summary per method (min / median / max of the evaluations,
how many seeds reach 195).

Command:  python bench/cartpole_methods.py [--methods n_step_q one_step_q one_step_sarsa a3c]
          [--seeds 0 1 2 3 4 5] [--set FIELD=VALUE ...]
(--set epsilon_draw='"thread"': the paper's per-thread final epsilons; README, "The value-based
methods", measured the departures this way.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from a3c_native import A3CConfig, evaluate, train
from a3c_native.archs import METHODS
from a3c_native.games import GymMake
from a3c_native.presets import parse_sets

SOLVED = 195.0


def run(method: str, seed: int, overrides: dict) -> dict:
    cfg = A3CConfig.for_env("CartPole-v1", method=method, threads=2, seed=seed, **overrides)
    t0 = time.perf_counter()
    r = train(cfg)
    ev = evaluate(r, env_fn=GymMake("CartPole-v1"), episodes=20, seed=seed)
    return {"method": method, "seed": seed, "eval_mean": float(ev.scores.mean()), "eval_min": float(ev.scores.min()),
            "train_last20": r.mean_score(20), "steps": r.total_steps, "seconds": round(time.perf_counter() - t0, 1),
            "steps_per_sec": round(r.steps_per_sec), **({"set": overrides} if overrides else {})}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["n_step_q", "one_step_q", "one_step_sarsa", "a3c"],
                    choices=list(METHODS))  # fmt: skip
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                    help="A3CConfig fields over the preset's, as the CLI's --set: envs_per_thread=1 epsilon_draw=thread")  # fmt: skip
    args = ap.parse_args()
    overrides = parse_sets(args.set)
    for method in args.methods:
        evals = []
        for seed in args.seeds:
            row = run(method, seed, overrides)
            evals.append(row["eval_mean"])
            print(json.dumps(row), flush=True)
        solved = sum(e >= SOLVED for e in evals)
        print(f"{method}: 20-game evaluation min {min(evals):.1f} / median {statistics.median(evals):.1f} / "
              f"max {max(evals):.1f}; {solved} of {len(evals)} seeds >= {SOLVED:g}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
