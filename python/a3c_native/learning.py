"""The learning benchmark: train for a wall-clock budget, evaluate as it goes, write the curves.

Owns the protocol behind ``a3c-native learn`` and bench/learn.py: training runs in chunks of
``eval_every_minutes``, each resumed from the run's checkpoint (so every benchmark is also a
test of resume); after each chunk the checkpoint is evaluated with `evaluate` (whole games,
raw scores, no-op starts); evaluation time is not counted as training time. Writes into the
run directory, besides what `train` writes (episodes.csv, checkpoint, config.json): eval.csv
and learning_curve.png (score vs agent steps/frames and vs training time, with the
evaluations). Not here: training itself (train.py), the evaluation protocol (evaluate.py),
the files' names and formats (rundir.py), drawing (plotting.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ._core import __version__
from .config import A3CConfig
from .errors import ConfigError
from .evaluate import evaluate
from .plotting import CURVE_MAX_EPSILON, curve_games, plot_learning_curve
from .rundir import (
    CHECKPOINT_FILE,
    EVAL_CSV,
    LEARNING_CURVE_PNG,
    Evaluation,
    read_episodes,
    read_evaluations,
    write_evaluations,
)
from .train import train

__all__ = ["LearningReport", "first_reaching", "learn"]


@dataclass
class LearningReport:
    """What a learning run measured; `summary()` is the text the CLI and bench/learn.py print."""

    run_dir: Path
    total_steps: int
    frame_skip: int
    train_seconds: float
    target: float | None
    reached: tuple[float, int] | None
    """(training seconds, agent step) at which the moving mean of `window` training games
    first reached `target`; None if it did not (or no target)."""
    window: int
    evaluations: list[Evaluation] = field(default_factory=list)
    value_based: bool = False
    """The training games counted are those at epsilon <= CURVE_MAX_EPSILON."""
    interrupted: bool = False
    plot: Path | None = None

    @property
    def frames(self) -> int:
        return self.total_steps * self.frame_skip

    @property
    def steps_per_sec(self) -> float:
        return self.total_steps / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def final(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    def summary(self) -> str:
        lines = [
            f"frames {self.frames:,}  agent steps {self.total_steps:,}  steps/s "
            f"{self.steps_per_sec:,.0f}  training time {self.train_seconds / 60:.1f} min"
            + ("  (interrupted)" if self.interrupted else "")
        ]
        if self.target is not None:
            games = f"{self.window} training games" + (
                f" at epsilon <= {CURVE_MAX_EPSILON:g}" if self.value_based else "")  # fmt: skip
            lines.append(
                f"moving mean of {games} reached {self.target:+g} at {self.reached[0] / 60:.1f} min "
                f"(step {self.reached[1]:,})"
                if self.reached
                else f"moving mean of {games}: {self.target:+g} not reached"
            )
        if self.final:
            f = self.final
            lines.append(
                f"final evaluation ({f.episodes} games, no-op starts): {f.mean:+.1f} +- {f.std:.1f}"
                f" (min {f.min:g}, max {f.max:g})"
            )
        lines.append(f"curves: {self.plot}, {self.run_dir / EVAL_CSV}")
        return "\n".join(lines)


def first_reaching(run: str | Path, target: float, window: int = 10) -> tuple[float, int] | None:
    """(wall seconds, agent step) of the first game at which the mean of the last `window`
    training games is >= target, from the run's episodes.csv; None if never. A value-based
    run's games count only at epsilon <= CURVE_MAX_EPSILON (plotting.curve_games)."""
    try:
        ep = read_episodes(run)
    except FileNotFoundError:
        return None
    counted = curve_games(ep)
    scores, wall, steps = ep["score"][counted], ep["wall_time"][counted], ep["step"][counted]
    for i in range(window - 1, len(scores)):
        if scores[i - window + 1 : i + 1].mean() >= target:
            return float(wall[i]), int(steps[i])
    return None


def learn(
    cfg: A3CConfig,
    *,
    minutes: float,
    eval_every_minutes: float = 5.0,
    eval_episodes: int = 10,
    target: float | None = None,
    window: int = 10,
    eval_threads: int = 2,
    log: Callable[[str], None] | None = print,
) -> LearningReport:
    """Train `cfg` for `minutes` of training time, evaluating every `eval_every_minutes` and at
    the end; return the report (also written to ``cfg.run_dir``: eval.csv, learning_curve.png).

    A run directory that already holds a checkpoint is continued (its training time counts
    toward `minutes`, its eval.csv is extended). Ctrl-C stops the training chunk, saves the
    checkpoint and returns (without evaluating it) with ``interrupted=True``; calling again
    continues. `cfg.max_seconds` is ignored (the chunks set it).
    """
    for name, value in (("minutes", minutes), ("eval_every_minutes", eval_every_minutes)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(f"learn({name}={value!r}): must be a positive number of minutes")
    if not isinstance(eval_episodes, int) or eval_episodes < 1:
        raise ConfigError(f"learn(eval_episodes={eval_episodes!r}): must be an int >= 1")
    if cfg.run_dir is None:
        raise ConfigError("learn() needs A3CConfig.run_dir: the checkpoint is resumed between chunks")
    run_dir = Path(cfg.run_dir)
    ckpt = run_dir / CHECKPOINT_FILE
    budget = minutes * 60.0
    trained, evals, total, interrupted = 0.0, [], 0, False
    if ckpt.exists():
        from .checkpoint import load_checkpoint

        prior = load_checkpoint(ckpt)
        trained, total = float(prior.seconds), int(prior.step)
        evals = read_evaluations(run_dir)  # continued, never overwritten
    env_fn = cfg.env_fn
    # A chunk overshoots its budget by up to one rollout: do not start one for a sliver.
    slack = min(1.0, 0.05 * budget)
    games = f", epsilon <= {CURVE_MAX_EPSILON:g}" if cfg.method != "a3c" else ""
    while trained < budget - slack and total < cfg.total_steps and not interrupted:
        chunk = min(eval_every_minutes * 60.0, budget - trained)
        result = train(replace(cfg, max_seconds=chunk), resume=ckpt if ckpt.exists() else None)
        trained += result.seconds
        total, interrupted = result.total_steps, result.interrupted
        if interrupted:  # the user wants out now: the checkpoint is saved, skip the evaluation
            break
        ev = evaluate(ckpt, env_fn=env_fn, episodes=eval_episodes, seed=cfg.seed,
                      threads=eval_threads)  # fmt: skip
        evals.append(Evaluation(trained, total, float(ev.mean), float(ev.std), float(ev.min),
                                float(ev.max), eval_episodes))  # fmt: skip
        write_evaluations(run_dir, evals)
        if log:
            recent = result.mean_score(window, max_epsilon=CURVE_MAX_EPSILON)
            log(f"{trained / 60:6.1f} min  step {total:>11,}  train mean({window}{games}) "
                f"{'-' if recent is None else f'{recent:+.1f}'}  eval {ev.mean:+.1f} +- {ev.std:.1f}")  # fmt: skip
    report = LearningReport(
        run_dir=run_dir, total_steps=total, frame_skip=cfg.frame_skip if env_fn is None else 1,
        train_seconds=trained, target=target, window=window, evaluations=evals,
        interrupted=interrupted, value_based=cfg.method != "a3c",
        reached=first_reaching(run_dir, target, window) if target is not None else None,
    )  # fmt: skip
    try:
        report.plot = plot_learning_curve(
            run_dir, run_dir / LEARNING_CURVE_PNG, window=window,
            title=f"{cfg.game if env_fn is None else cfg.to_dict()['env_fn']}, "
                  f"{cfg.arch if cfg.method == 'a3c' else f'{cfg.method} {cfg.arch}'}, "
                  f"a3c_native {__version__}, seed {cfg.seed}",
            evaluations=evals, frame_skip=report.frame_skip,
        )  # fmt: skip
    except ValueError as e:  # no finished game yet: nothing to draw, the CSVs still stand
        if log:
            log(f"no learning curve: {e}")
    return report
