"""Summarise screening runs: moving mean of 10 training games at fixed agent steps and at
fixed training minutes, steps/s, and when the mean first reached +18.

Usage: python docs/learning/screening/summarize.py docs/learning/screening/*_episodes.csv
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

STEPS = (0.5e6, 1e6, 1.5e6, 2e6, 2.5e6, 3e6)
MINUTES = (4, 8, 12)


def summarize(path: Path) -> str:
    rows = list(csv.DictReader(path.open()))
    t = np.array([float(r["wall_time"]) for r in rows])
    step = np.array([int(r["step"]) for r in rows])
    score = np.array([float(r["score"]) for r in rows])
    cfg_path = path.with_name(path.name.replace("_episodes.csv", "_config.json"))
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}

    def mm(mask: np.ndarray) -> str:
        idx = np.flatnonzero(mask)
        return f"{score[idx[-10:]].mean():+.1f}" if len(idx) >= 10 else "-"

    by_step = [mm(step <= s) if step[-1] >= s else "-" for s in STEPS]
    by_min = [mm(t <= m * 60) if t[-1] >= m * 60 - 5 else "-" for m in MINUTES]
    hit = next((i for i in range(9, len(score)) if score[i - 9 : i + 1].mean() >= 18), None)
    reached = f"{t[hit] / 60:.1f} min" if hit is not None else "no"
    setting = (f"k={cfg.get('envs_per_thread', 1)} t_max={cfg.get('t_max')} lr={cfg.get('lr')} "
               f"{cfg.get('loss_reduction', 'sum')} clip={cfg.get('grad_clip')} seed={cfg.get('seed')}")  # fmt: skip
    cells = [setting, *by_step, *by_min, f"{step[-1] / t[-1]:,.0f}", reached]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    head = ["setting", *(f"{s / 1e6:g}M" for s in STEPS), *(f"{m} min" for m in MINUTES), "steps/s", "+18"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for p in sys.argv[1:]:
        print(summarize(Path(p)))


if __name__ == "__main__":
    main()
