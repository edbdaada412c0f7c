"""Learning benchmark: train one game for a wall-clock budget with the settings `a3c-native
train GAME` resolves (for Atari, the package defaults; or overrides), evaluate the checkpoint
every --eval-every minutes and at the end, write the curves.

The protocol is a3c_native.learning.learn (also `a3c-native learn`): training runs in chunks
resumed from the run's checkpoint (a test of resume too); evaluation time is not counted as
training time. Writes into --out: episodes.csv (training games), eval.csv (evaluations),
learning_curve.png (score vs agent steps/frames and vs training time), the checkpoint,
config.json and TensorBoard events. Prints frames, agent steps, steps/s, the training time at
which the moving mean of 10 training games first reached --target, and the final evaluation.

Machine: AMD EPYC (Zen 4), 2 vCPUs. The issue-5 Pong benchmark (package defaults):
    python bench/learn.py --game pong --minutes 30 --eval-every 10 --out runs/learn-pong [--seed 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a3c_native.cli import resolve_config
from a3c_native.learning import learn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="pong")
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget")
    ap.add_argument("--steps", type=int, default=None, help="A3CConfig.total_steps [default: the package's]")
    ap.add_argument("--eval-every", type=float, default=10.0, help="minutes of training between evaluations")
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--target", type=float, default=18.0, help="moving-mean training score to time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    overrides = {"total_steps": args.steps, "seed": args.seed, "run_dir": str(args.out)}
    cfg, _ = resolve_config(args.game, sets=tuple(args.overrides), overrides=overrides)
    report = learn(cfg, minutes=args.minutes, eval_every_minutes=args.eval_every,
                   eval_episodes=args.eval_episodes, target=args.target)
    print()
    print(report.summary())


if __name__ == "__main__":
    main()
