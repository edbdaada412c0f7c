"""Learning-curve PNGs from a run's episodes.csv: score vs agent steps and vs wall time, for
one run (with its evaluations) or several side by side (one moving average each).

Owns drawing; matplotlib is imported lazily with the non-interactive Agg backend (no display
needed, no GUI warnings). Not here: the run directory's files and their formats (rundir.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .games import gym_id_of
from .policy import EVAL_EPSILON
from .results import played_at_most
from .rundir import LEARNING_CURVE_PNG, read_config, read_episodes, read_evaluations, run_dir_of

__all__ = ["CURVE_MAX_EPSILON", "curve_games", "moving_average", "plot_comparison", "plot_learning_curve"]

CURVE_MAX_EPSILON = EVAL_EPSILON
"""A value-based run's learning curve counts the games whose env's exploration epsilon was at
most this when they ended: no more random than an evaluation's (0.05), i.e. once annealed the
envs whose final epsilon is 0.01 (30% of them). The paper's scheme leaves 30% of the envs at
0.5 and 40% at 0.1, and anneals every env from 1 over the first epsilon_anneal_steps: the
mean of all training games measures the exploration as much as the learned Q (Pong, n_step_q,
seed 1, after 20 min: games at 0.01 +18.2, at 0.1 +10.3, at 0.5 -13.5)."""


def curve_games(episodes: dict[str, np.ndarray]) -> np.ndarray:
    """Mask of the games a learning curve counts (read_episodes' columns): every game of A3C
    (epsilon NaN), a value-based run's games at epsilon <= CURVE_MAX_EPSILON."""
    return played_at_most(episodes["epsilon"], CURVE_MAX_EPSILON)


def curve_label(episodes: dict[str, np.ndarray]) -> str:
    """'' for A3C; the games the curve counts, for a value-based run's legend."""
    return "" if np.isnan(episodes["epsilon"]).all() else f" (games at epsilon <= {CURVE_MAX_EPSILON:g})"


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
            std (rundir.Evaluation), drawn as black error bars.
        frame_skip: emulator frames per agent step; > 1 adds a frames axis over the steps.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run)
    run_dir = run_dir_of(run)
    ep = read_episodes(run)
    if ep["score"].size == 0:
        msg = f"{run}: no finished games yet, nothing to plot"
        raise ValueError(msg)
    out = Path(out) if out is not None else run_dir / LEARNING_CURVE_PNG
    if title is None:
        title = _describe(run_dir)
    counted = curve_games(ep)
    counts = curve_label(ep)
    avg = moving_average(ep["score"][counted], window)
    use_minutes = ep["wall_time"][-1] < 2 * 3600.0
    x_time = _time_axis(ep["wall_time"], use_minutes)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True, constrained_layout=True)
    for ax, x, label in (
        (axes[0], ep["step"], "agent steps"),
        (axes[1], x_time, _time_label(use_minutes)),
    ):
        if not counted.all():
            ax.scatter(x[~counted], ep["score"][~counted], s=4, alpha=0.25, color="tab:gray",
                       label=f"game score, epsilon > {CURVE_MAX_EPSILON:g}")  # fmt: skip
        ax.scatter(x[counted], ep["score"][counted], s=4, alpha=0.25, color="tab:blue", label="game score" + counts)
        ax.plot(x[counted], avg, color="tab:red", lw=1.8, label=f"mean of last {window}" + counts)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    if evaluations:
        secs = _time_axis(np.array([e.train_seconds for e in evaluations]), use_minutes)
        for ax, x in ((axes[0], [e.step for e in evaluations]), (axes[1], secs)):
            ax.errorbar(x, [e.mean for e in evaluations], yerr=[e.std for e in evaluations],
                        fmt="o", color="black", ms=4, capsize=3, label="evaluation (mean +- std)")  # fmt: skip
    _frames_axis(axes[0], frame_skip)
    axes[0].set_ylabel("score (unclipped)")
    axes[0].legend(loc="best")
    last = f"last-{window} mean {avg[-1]:.1f}" if avg.size else f"no game at epsilon <= {CURVE_MAX_EPSILON:g} yet"
    fig.suptitle(f"{title}: {ep['score'].size} games, {last}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def plot_comparison(
    runs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    window: int = 10,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    frame_skip: int = 1,
) -> Path:
    """Draw the `window`-game moving average of several runs' training scores on shared axes,
    vs agent steps and vs training time (each run's evaluations, if it has an eval.csv, as
    error bars in its colour) into a PNG; return its path.

    For questions such as "do 4 threads on 2 cores learn faster per minute than 2": runs that
    are faster per step but slower per minute separate between the two panels.

    Args:
        runs: two or more run directories (or their episodes.csv files).
        out: the PNG to write.
        window: games in each moving average.
        labels: one legend entry per run (default: game, arch, threads and seed from each
            run's config.json, else its directory name).
        title: figure title (default: "<n> runs").
        frame_skip: emulator frames per agent step; > 1 adds a frames axis over the steps
            (the paper's Figure 1 plots against frames).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [Path(r) for r in runs]
    if len(paths) < 2:
        msg = f"plot_comparison needs at least two runs, got {len(paths)}"
        raise ValueError(msg)
    if labels is not None and len(labels) != len(paths):
        msg = f"plot_comparison: {len(labels)} labels for {len(paths)} runs"
        raise ValueError(msg)
    dirs = [run_dir_of(p) for p in paths]
    episodes = [read_episodes(p) for p in paths]
    for p, ep in zip(paths, episodes):
        if ep["score"].size == 0:
            msg = f"{p}: no finished games yet, nothing to plot"
            raise ValueError(msg)
    labels = list(labels) if labels is not None else [_describe(d) for d in dirs]
    use_minutes = max(ep["wall_time"][-1] for ep in episodes) < 2 * 3600.0
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5 + 0.2 * ((len(paths) + 1) // 2)), sharey=True,
                             layout="constrained")  # fmt: skip
    for i, (d, ep, label) in enumerate(zip(dirs, episodes, labels)):
        color = f"C{i % 10}"
        counted = curve_games(ep)
        if not counted.any():
            continue  # a value-based run still annealing: no game at a low epsilon yet
        steps, seconds = ep["step"][counted], ep["wall_time"][counted]
        avg = moving_average(ep["score"][counted], window)
        evals = read_evaluations(d)
        ev_x = (np.array([e.step for e in evals]),
                _time_axis(np.array([e.train_seconds for e in evals]), use_minutes))  # fmt: skip
        for ax, x, xe in zip(axes, (steps, _time_axis(seconds, use_minutes)), ev_x):
            ax.plot(x, avg, color=color, lw=1.6, label=f"{label}{curve_label(ep)}: last-{window} mean {avg[-1]:.1f}")
            if evals:
                ax.errorbar(xe, [e.mean for e in evals], yerr=[e.std for e in evals], fmt="o",
                            color=color, ms=4, capsize=3)  # fmt: skip
    axes[0].set_xlabel("agent steps")
    _frames_axis(axes[0], frame_skip)
    axes[1].set_xlabel(_time_label(use_minutes))
    axes[0].set_ylabel(f"score (unclipped), mean of last {window} training games")
    for ax in axes:
        ax.grid(alpha=0.3)
    # Below both panels: inside either it covers some run's curve once there are 3-4 runs.
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize="small", frameon=False)
    fig.suptitle(title or f"{len(paths)} runs (dots with bars: evaluations, mean +- std)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _describe(run_dir: Path) -> str:
    """'<game> ([<method> ]<arch>, <n> threads x <k> envs, seed <s>)' from the run's
    config.json (the method only when it is not a3c), else its name."""
    cfg = read_config(run_dir)
    if not cfg:
        return run_dir.resolve().name
    env = cfg.get("env_fn")
    name = cfg.get("game") if not env else gym_id_of(env) or env
    method = cfg.get("method", "a3c")
    what = f"{method} {cfg.get('arch')}" if method != "a3c" else cfg.get("arch")
    envs = f" x {cfg['envs_per_thread']} envs" if "envs_per_thread" in cfg else ""
    return f"{name} ({what}, {cfg.get('threads')} threads{envs}, seed {cfg.get('seed')})"


def _frames_axis(ax: Any, frame_skip: int) -> None:
    """An emulator-frames scale over an agent-steps axis (frames = steps x frame_skip)."""
    if frame_skip > 1:
        top = ax.secondary_xaxis("top", functions=(lambda s: s * frame_skip, lambda f: f / frame_skip))
        top.set_xlabel("emulator frames")


def _time_axis(seconds: np.ndarray, use_minutes: bool) -> np.ndarray:
    return seconds / (60.0 if use_minutes else 3600.0)


def _time_label(use_minutes: bool) -> str:
    return "wall time (minutes)" if use_minutes else "wall time (hours)"
