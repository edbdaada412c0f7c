"""Learning benchmark: train one game for a wall-clock budget with the package defaults (or
overrides), evaluate the checkpoint every --eval-every minutes and at the end, and write the
curves. Training runs in chunks resumed from the run's checkpoint (a test of resume too);
evaluation time is not counted as training time.

Writes into --out: episodes.csv (training games), eval.csv (periodic evaluations),
learning_curve.png (score vs agent steps and vs training wall time, moving average), the
checkpoint, config.json and TensorBoard events. Prints frames, agent steps, steps/s, the
training time at which the moving mean of 10 training games first reached --target, and the
final evaluation mean +- std.

Machine: AMD EPYC (Zen 4), 2 vCPUs. Command (the issue-5 Pong benchmark):
    python bench/learn.py --game pong --minutes 30 --target 18 --out runs/learn-pong
    [--seed 1] [--eval-every 5] [--eval-episodes 10] [--set rmsprop_eps=1e-3 ...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import a3c_native
from a3c_native.config import A3CConfig
from a3c_native.plotting import plot_learning_curve, read_episodes


try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def first_time_reaching(run: Path, target: float, window: int = 10) -> tuple[float, int] | None:
    ep = read_episodes(run)
    scores, wall, steps = ep["score"], ep["wall_time"], ep["step"]
    for i in range(window - 1, len(scores)):
        if scores[i - window + 1 : i + 1].mean() >= target:
            return float(wall[i]), int(steps[i])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="pong")
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget")
    ap.add_argument("--steps", type=int, default=10_000_000, help="A3CConfig.total_steps (lr schedule)")
    ap.add_argument("--eval-every", type=float, default=5.0, help="minutes of training between evaluations")
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--target", type=float, default=18.0, help="moving-mean training score to time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    ckpt = args.out / "checkpoint.npz"
    cfg = A3CConfig(game=args.game, total_steps=args.steps, seed=args.seed, run_dir=str(args.out),
                    **parse_set(args.overrides))
    trained = 0.0
    evals = []
    eval_csv = args.out / "eval.csv"
    result = None
    while trained < args.minutes * 60 - 1:
        chunk = min(args.eval_every * 60, args.minutes * 60 - trained)
        cfg.max_seconds = chunk
        result = a3c_native.train(cfg, resume=ckpt if ckpt.exists() else None)
        trained += result.seconds
        ev = a3c_native.evaluate(ckpt, episodes=args.eval_episodes, seed=args.seed)
        evals.append((trained, result.total_steps, ev.mean, ev.std, ev.min, ev.max, args.eval_episodes))
        with eval_csv.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["train_seconds", "step", "mean", "std", "min", "max", "episodes"])
            w.writerows(evals)
        print(f"{trained / 60:6.1f} min  step {result.total_steps:>10,}  train mean(10) "
              f"{result.mean_score(10)}  eval {ev.mean:+.1f} +- {ev.std:.1f}", flush=True)
        if result.interrupted or result.total_steps >= cfg.total_steps:
            break

    png = plot_learning_curve(args.out, args.out / "learning_curve.png", window=10,
                              title=f"{args.game}, a3c_native {a3c_native.__version__}")
    steps = result.total_steps if result else 0
    reached = first_time_reaching(args.out, args.target)
    final = evals[-1] if evals else None
    print(f"\nframes {steps * cfg.frame_skip:,}  agent steps {steps:,}  "
          f"steps/s {steps / max(trained, 1e-9):.0f}  training time {trained / 60:.1f} min")
    print("moving mean of 10 training games reached "
          + (f"{args.target:+g} at {reached[0] / 60:.1f} min (step {reached[1]:,})" if reached
             else f"{args.target:+g}: not within the budget"))
    if final:
        print(f"final evaluation ({final[6]} games, no-op starts): {final[2]:+.1f} +- {final[3]:.1f}")
    print(f"curves: {png}, {eval_csv}")


if __name__ == "__main__":
    main()
