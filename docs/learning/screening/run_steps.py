"""Train until a number of agent steps, whatever the wall time (for screening on a busy
machine, where minutes are not comparable but agent steps are): the lr schedule still follows
the config's total_steps. Resumes the run directory's checkpoint if there is one.

Usage: python docs/learning/screening/run_steps.py RUN_DIR STEPS [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import a3c_native as a3c
from a3c_native.cli import resolve_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("steps", type=int)
    ap.add_argument("--set", "-s", dest="sets", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ckpt = Path(args.run_dir) / "checkpoint.npz"
    resume = ckpt if ckpt.exists() else None
    cfg, _ = resolve_config(None if resume else "pong", sets=tuple(args.sets), resume=resume,
                       overrides={"run_dir": args.run_dir, "seed": args.seed if not resume else None})  # fmt: skip
    r = a3c.train(cfg, resume=resume, callback=lambda p: p.steps < args.steps)
    print(f"{r.total_steps:,} steps, {r.steps_per_sec:,.0f}/s, last-10 {r.mean_score(10)}")


if __name__ == "__main__":
    main()
