"""The learning benchmark protocol (a3c_native.learning, `a3c-native learn`, bench/learn.py):
chunked training resumed from the checkpoint, evaluations, eval.csv, the curve, the report."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from a3c_native import A3CConfig, ConfigError, learn, load_checkpoint
from a3c_native.learning import first_reaching
from a3c_native.rundir import EPISODE_FIELDS, read_episodes, read_evaluations
from test_cli import run_cli
from test_train import CARTPOLE


def cartpole(seed=None):
    return gym.make("CartPole-v1")


def _cfg(tmp_path: Path, **kw) -> A3CConfig:
    base = dict(env_fn=cartpole, threads=2, total_steps=10**9, run_dir=str(tmp_path / "run"))
    return A3CConfig(**{**base, **CARTPOLE, **kw})


def test_learn_trains_in_resumed_chunks_and_evaluates_each(tmp_path):
    lines: list[str] = []
    report = learn(_cfg(tmp_path), minutes=0.05, eval_every_minutes=0.02, eval_episodes=2,
                   target=1e9, log=lines.append)  # fmt: skip
    run = tmp_path / "run"
    # 3 s in chunks of 1.2 s: two or three chunks (a chunk overshoots by its start-up and last
    # rollout), one evaluation after each.
    evals = read_evaluations(run)
    assert len(evals) == len(report.evaluations) == len(lines) >= 2
    assert [e.step for e in evals] == sorted({e.step for e in evals})  # strictly increasing
    assert all(b.train_seconds > a.train_seconds for a, b in zip(evals, evals[1:]))
    assert all(e.episodes == 2 and e.min <= e.mean <= e.max for e in evals)
    # The chunks continued one run: its step count and training time carried over each resume.
    ckpt = load_checkpoint(run / "checkpoint.npz")
    assert ckpt.step == report.total_steps == evals[-1].step
    assert report.train_seconds == pytest.approx(ckpt.seconds, rel=0.05)
    assert 0.95 * 3.0 <= report.train_seconds < 8.0
    ep = read_episodes(run)
    assert np.all(np.diff(ep["step"]) >= 0) and ep["step"][-1] <= report.total_steps
    assert report.reached is None  # an unreachable target
    assert (run / "learning_curve.png").stat().st_size > 10_000
    text = report.summary()
    assert "not reached" in text and "final evaluation (2 games" in text
    assert f"agent steps {report.total_steps:,}" in text


def test_learn_continues_a_run_and_keeps_its_evaluations(tmp_path):
    first = learn(_cfg(tmp_path), minutes=0.02, eval_every_minutes=0.02, eval_episodes=1, log=None)
    # A chunk overshoots by its start-up and last rollout (on a busy machine by more than its
    # whole budget), so the second budget is counted from the time actually trained.
    more = first.train_seconds / 60 + 0.02
    again = learn(_cfg(tmp_path), minutes=more, eval_every_minutes=0.02, eval_episodes=1, log=None)
    evals = read_evaluations(tmp_path / "run")
    assert len(first.evaluations) == 1 and len(evals) == len(again.evaluations) == 2
    assert evals[0] == first.evaluations[0]
    assert again.total_steps > first.total_steps == evals[0].step


def _write_episodes(path: Path, scores: list[float], epsilons: list[float] | None = None) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(EPISODE_FIELDS)
        for i, s in enumerate(scores):
            w.writerow([10.0 * (i + 1), 100 * (i + 1), i % 2, s, 100, "" if epsilons is None else epsilons[i]])


def test_first_reaching_is_the_first_full_window_at_or_above_target(tmp_path):
    # Window 3: means 1, 2, 3 (index 2..4), then 4, 5 -> first >= 3 at game index 4.
    _write_episodes(tmp_path / "episodes.csv", [0, 1, 2, 3, 4, 5, 6])
    assert first_reaching(tmp_path, 3.0, window=3) == (50.0, 500)
    assert first_reaching(tmp_path, 5.0, window=3) == (70.0, 700)
    assert first_reaching(tmp_path, 5.01, window=3) is None
    # A single high game does not count before a full window exists.
    _write_episodes(tmp_path / "episodes.csv", [21, 21])
    assert first_reaching(tmp_path, 18, window=3) is None


def test_first_reaching_of_a_value_based_run_counts_the_games_at_low_epsilon(tmp_path):
    # The games at epsilon 0.5 and 0.1 would hold every window of all games below +18; the
    # games at 0.01 (no more random than an evaluation's 0.05) reach it at the third of them.
    _write_episodes(tmp_path / "episodes.csv", [-21, 20, 10, 19, 20, 21, 5, 19],
                    epsilons=[0.5, 0.01, 0.1, 0.01, 0.1, 0.5, 0.1, 0.01])  # fmt: skip
    assert first_reaching(tmp_path, 18.0, window=3) == (80.0, 800)
    # Still annealing (every epsilon above 0.05): no game counts.
    _write_episodes(tmp_path / "episodes.csv", [21] * 5, epsilons=[0.9, 0.8, 0.7, 0.6, 0.5])
    assert first_reaching(tmp_path, 18.0, window=3) is None


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"minutes": 0}, "minutes=0"),
        ({"minutes": float("nan")}, "minutes=nan"),
        ({"eval_every_minutes": -1}, "eval_every_minutes=-1"),
        ({"eval_episodes": 0}, "eval_episodes=0"),
    ],
)
def test_learn_rejects_bad_arguments(tmp_path, kw, message):
    with pytest.raises(ConfigError, match=message):
        learn(_cfg(tmp_path), **{"minutes": 1.0, **kw})


def test_learn_needs_a_run_dir(tmp_path):
    with pytest.raises(ConfigError, match="run_dir"):
        learn(_cfg(tmp_path, run_dir=None), minutes=1.0)


def test_read_evaluations_rejects_a_foreign_csv(tmp_path):
    (tmp_path / "eval.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not an a3c_native evaluation log"):
        read_evaluations(tmp_path)


def test_cli_learn_cartpole_and_plot_with_evaluations(tmp_path):
    out = tmp_path / "learn"
    p = run_cli("learn", "CartPole-v1", "--minutes", "0.03", "--eval-every", "0.02",
                "--eval-episodes", "2", "--target", "50", "--out", str(out),
                "--set", "gamma=0.95", "--set", "lr=1e-3", "--set", "t_max=5", cwd=tmp_path)  # fmt: skip
    assert "final evaluation (2 games" in p.stdout
    assert "moving mean of 10 training games" in p.stdout
    evals = read_evaluations(out)
    assert evals and len(evals) == p.stdout.count(" eval ")
    (out / "learning_curve.png").unlink()
    p = run_cli("plot", str(out), cwd=tmp_path)
    assert (out / "learning_curve.png").stat().st_size > 10_000
