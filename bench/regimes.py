"""The three update regimes of parallel deep RL side by side (issue 21): Hogwild threads,
update="locked", and the parameter server over Ray, each a Pong run on the same 2 cores.

Takes each run's episodes.csv (a run directory or docs/learning/<name>_episodes.csv), cuts
it at --minutes of training time, and writes one comparison PNG (score vs agent steps and vs
time, a3c_native.plotting) and a Markdown table: agent steps and steps/s in the window, the
mean of the last 10 games at its end, and when the moving mean of 10 first reached 0 and +18.

Command:  python bench/regimes.py --minutes 15 --out docs/learning/pong_15min_regimes.png \
              hogwild=docs/learning/pong_30min_k8_t5_lr7e-4_seed0_episodes.csv \
              locked=docs/learning/pong_15min_locked_seed0_episodes.csv \
              ray=docs/learning/pong_30min_ray_2x1_seed0_episodes.csv
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from a3c_native.plotting import moving_average, plot_comparison
from a3c_native.rundir import EPISODE_FIELDS, read_episodes


def first_at(minutes: np.ndarray, avg: np.ndarray, level: float) -> str:
    hit = np.flatnonzero(avg >= level)
    return f"{minutes[hit[0]]:.1f} min" if hit.size else "not reached"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=EPISODES_CSV")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    limit = args.minutes * 60
    labels, cut = [], []
    with tempfile.TemporaryDirectory() as tmp:
        print(f"| regime | agent steps in {args.minutes:g} min | steps/s | mean of last 10 games at "
              f"{args.minutes:g} min | moving mean of 10 first >= 0 | first >= +18 |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- |")
        for spec in args.runs:
            label, _, path = spec.partition("=")
            ep = read_episodes(Path(path))
            keep = ep["wall_time"] <= limit
            out = Path(tmp) / f"{label}.csv"
            with open(out, "w", newline="") as dst:
                w = csv.writer(dst)
                w.writerow(EPISODE_FIELDS)
                w.writerows(zip(*(ep[f][keep] for f in EPISODE_FIELDS)))
            t, steps, score = ep["wall_time"][keep], ep["step"][keep], ep["score"][keep]
            avg = moving_average(score, 10)
            rate = (steps[-1] - steps[0]) / (t[-1] - t[0])
            print(f"| {label} | {steps[-1] / 1e6:.2f}M | {rate:,.0f} | {score[-10:].mean():+.1f} | "
                  f"{first_at(t / 60, avg, 0.0)} | {first_at(t / 60, avg, 18.0)} |")  # fmt: skip
            labels.append(label)
            cut.append(out)
        plot_comparison(cut, args.out, labels=labels,
                        title=f"Pong, 2 cores, the first {args.minutes:g} minutes of each regime")  # fmt: skip
    print(f"\n{args.out}")


if __name__ == "__main__":
    main()
