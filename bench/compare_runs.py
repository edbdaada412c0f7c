"""Learning runs side by side: one comparison PNG and one Markdown table (issue 21's three
update regimes, issue 20's four methods, the feed-forward vs recurrent agent).

Takes each run's episodes.csv (a run directory or docs/learning/<name>_episodes.csv), cuts
it at --minutes of training time, and writes the PNG (score vs agent steps, with an emulator
frames scale, and vs time: a3c_native.plotting) and prints the table: agent steps and frames
in the window, steps/s, the mean of the last 10 games at its end, and when (minutes and
frames) the moving mean of 10 first reached each of --levels. A value-based run's games count
at epsilon <= 0.05 only (a3c_native.plotting.curve_games: no more random than an evaluation).

Commands:
  python bench/compare_runs.py --minutes 15 --what regime --out docs/learning/pong_15min_regimes.png \\
      --title "Pong, 2 cores, the first 15 minutes of each regime" \\
      hogwild=docs/learning/pong_30min_k8_t5_lr7e-4_seed0_episodes.csv \\
      locked=docs/learning/pong_15min_locked_seed0_episodes.csv \\
      ray=docs/learning/pong_30min_ray_2x1_seed0_episodes.csv
  python bench/compare_runs.py --minutes 60 --what method --out docs/learning/pong_methods.png \\
      --title "Pong, 2 threads x 8 games, the four asynchronous methods" \\
      a3c=docs/learning/pong_30min_defaults_seed0_episodes.csv n_step_q=... one_step_q=... one_step_sarsa=...
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from a3c_native.plotting import CURVE_MAX_EPSILON, curve_games, moving_average, plot_comparison
from a3c_native.rundir import EPISODE_FIELDS, read_episodes

WINDOW = 10


def first_at(minutes: np.ndarray, frames: np.ndarray, avg: np.ndarray, level: float) -> str:
    hit = np.flatnonzero(avg >= level)
    return f"{minutes[hit[0]]:.1f} min ({frames[hit[0]] / 1e6:.1f}M frames)" if hit.size else "not reached"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=EPISODES_CSV")
    ap.add_argument("--minutes", type=float, default=15.0, help="cut every run at this much training time")
    ap.add_argument("--out", type=Path, required=True, help="the comparison PNG")
    ap.add_argument("--title", default=None)
    ap.add_argument("--what", default="run", help="the table's first column header")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 18.0],
                    help="report when the moving mean of 10 first reached each")  # fmt: skip
    ap.add_argument("--frame-skip", type=int, default=4, help="emulator frames per agent step")
    args = ap.parse_args()
    limit = args.minutes * 60
    labels, cut = [], []
    with tempfile.TemporaryDirectory() as tmp:
        levels = " | ".join(f"moving mean of {WINDOW} first >= {lv:+g}" for lv in args.levels)
        print(f"| {args.what} | agent steps (frames) in {args.minutes:g} min | steps/s | "
              f"mean of last {WINDOW} games at the end | {levels} |")  # fmt: skip
        print("| --- " * (4 + len(args.levels)) + "|")
        for spec in args.runs:
            label, sep, path = spec.partition("=")
            if not sep:
                ap.error(f"{spec!r}: expected LABEL=EPISODES_CSV")
            ep = read_episodes(Path(path))
            keep = ep["wall_time"] <= limit
            if keep.sum() < 2:
                ap.error(f"{path}: fewer than 2 games in the first {args.minutes:g} minutes")
            out = Path(tmp) / f"{label}.csv"
            with open(out, "w", newline="") as dst:
                w = csv.writer(dst)
                w.writerow(EPISODE_FIELDS)
                w.writerows(zip(*(ep[f][keep] for f in EPISODE_FIELDS)))
            t, steps = ep["wall_time"][keep], ep["step"][keep]
            rate = steps[-1] / t[-1]  # as the run's own log: steps over training time since its start
            end = f"{steps[-1] / 1e6:.2f}M ({steps[-1] * args.frame_skip / 1e6:.1f}M)"
            counted = keep & curve_games(ep)
            if counted.any():
                t, steps, score = ep["wall_time"][counted], ep["step"][counted], ep["score"][counted]
                avg = moving_average(score, WINDOW)
                reached = " | ".join(first_at(t / 60, steps * args.frame_skip, avg, lv) for lv in args.levels)
                last = f"{score[-WINDOW:].mean():+.1f}"
            else:
                reached = " | ".join("not reached" for _ in args.levels)
                last = f"no game at epsilon <= {CURVE_MAX_EPSILON:g}"
            print(f"| {label} | {end} | {rate:,.0f} | {last} | {reached} |")
            labels.append(label)
            cut.append(out)
        plot_comparison(cut, args.out, labels=labels, frame_skip=args.frame_skip,
                        title=args.title or f"the first {args.minutes:g} minutes of each run")  # fmt: skip
    print(f"\n{args.out}")


if __name__ == "__main__":
    main()
