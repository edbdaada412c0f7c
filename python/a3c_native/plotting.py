"""Learning-curve PNGs from a run's episodes.csv: score vs agent steps and vs wall time.

Owns reading episodes.csv and drawing; matplotlib is imported lazily with the non-interactive
Agg backend (no display needed, no GUI warnings). Not here: writing the CSV (telemetry.py).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .telemetry import EPISODE_FIELDS, EPISODES_CSV

__all__ = ["moving_average", "plot_learning_curve", "read_episodes"]


def read_episodes(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Columns of an episodes.csv (or of ``<run_dir>/episodes.csv``) as arrays, in step order.

    Raises FileNotFoundError if there is no such file and ValueError if it is not one of ours.
    """
    path = Path(path)
    if path.is_dir():
        path = path / EPISODES_CSV
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != EPISODE_FIELDS:
            msg = f"{path}: not an a3c_native episodes log (header {header}, expected {list(EPISODE_FIELDS)})"
            raise ValueError(msg)
        rows = [r for r in reader if len(r) == len(EPISODE_FIELDS)]  # a torn last line is skipped
    try:
        data = np.array(rows, dtype=np.float64).reshape(-1, len(EPISODE_FIELDS))
    except ValueError as e:
        msg = f"{path}: malformed row ({e})"
        raise ValueError(msg) from None
    data = data[np.argsort(data[:, 1], kind="stable")]
    return {name: data[:, i] for i, name in enumerate(EPISODE_FIELDS)}


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start), same length as x."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_learning_curve(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    window: int = 100,
    title: str | None = None,
    evaluations: Sequence[Any] = (),
    frame_skip: int = 1,
) -> Path:
    """Draw score vs agent steps and vs wall time (raw games as dots, a `window`-game moving
    average as a line) into a PNG; return its path.

    Args:
        run: a run directory (with episodes.csv) or an episodes.csv file.
        out: the PNG to write (default: ``<run dir>/learning_curve.png``).
        window: games in the moving average.
        title: figure title (default: the game from the run's config.json, else the dir name).
        evaluations: evaluation points to overlay, objects with train_seconds, step, mean and
            std (learn.Evaluation), drawn as black error bars.
        frame_skip: emulator frames per agent step; > 1 adds a frames axis over the steps.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    run_dir = run if run.is_dir() else run.parent
    ep = read_episodes(run)
    if ep["score"].size == 0:
        msg = f"{run}: no finished games yet, nothing to plot"
        raise ValueError(msg)
    out = Path(out) if out is not None else run_dir / "learning_curve.png"
    if title is None:
        title = run_dir.resolve().name
        cfg_file = run_dir / "config.json"
        if cfg_file.exists():
            import json

            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
            env = cfg.get("env_fn")
            name = cfg.get("game") if not env or "GymMake(" in env else env  # CLI gym ids
            title = f"{name} ({cfg.get('arch')}, {cfg.get('threads')} threads, seed {cfg.get('seed')})"
    avg = moving_average(ep["score"], window)
    hours = ep["wall_time"] / 3600.0
    use_minutes = hours[-1] < 2.0
    x_time = hours * 60.0 if use_minutes else hours
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, constrained_layout=True)
    for ax, x, label in (
        (axes[0], ep["step"], "agent steps"),
        (axes[1], x_time, "wall time (minutes)" if use_minutes else "wall time (hours)"),
    ):
        ax.scatter(x, ep["score"], s=4, alpha=0.25, color="tab:blue", label="game score")
        ax.plot(x, avg, color="tab:red", lw=1.8, label=f"mean of last {window}")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    if evaluations:
        secs = np.array([e.train_seconds for e in evaluations]) / 3600.0
        for ax, x in ((axes[0], [e.step for e in evaluations]),
                      (axes[1], secs * 60.0 if use_minutes else secs)):  # fmt: skip
            ax.errorbar(x, [e.mean for e in evaluations], yerr=[e.std for e in evaluations],
                        fmt="o", color="black", ms=4, capsize=3, label="evaluation (mean +- std)")  # fmt: skip
    if frame_skip > 1:
        top = axes[0].secondary_xaxis(
            "top", functions=(lambda s: s * frame_skip, lambda f: f / frame_skip)
        )
        top.set_xlabel("emulator frames")
    axes[0].set_ylabel("score (unclipped)")
    axes[0].legend(loc="best")
    fig.suptitle(f"{title}: {ep['score'].size} games, last-{window} mean {avg[-1]:.1f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
