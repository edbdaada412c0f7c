"""Learning-curve plots (a3c_native.plotting, `a3c-native plot`): several runs side by side, and
the errors that name the run at fault. The single-run curve is covered with the CLI and learn
tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from a3c_native.plotting import curve_games, moving_average, plot_comparison, plot_learning_curve
from a3c_native.rundir import EPISODE_FIELDS, read_episodes
from PIL import Image
from test_cli import run_cli

PNG_SIZE = (1200, 470)  # two runs: figsize (12, 4.5 + 0.2 for their legend row below the panels) at dpi 100


def _fake_run(root: Path, name: str, *, threads: int, games: int, evals: bool = False,
              epsilon: float | None = None) -> Path:
    """A run directory as `train`/`learn` leave it: episodes.csv, config.json (and eval.csv);
    `epsilon`: a value-based run, game i at epsilon max(epsilon, 1 - i / 20) cycling through
    (epsilon, 0.01, 0.5) once annealed."""
    run = root / name
    run.mkdir()
    rng = np.random.default_rng(threads)
    with (run / "episodes.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(EPISODE_FIELDS)
        for i in range(games):
            eps = "" if epsilon is None else max((epsilon, 0.01, 0.5)[i % 3], 1 - i / 20)
            w.writerow([f"{10.0 * i:.3f}", 1000 * (i + 1), i % threads,
                        float(rng.integers(-21, 22)), 900, eps])  # fmt: skip
    (run / "config.json").write_text(
        json.dumps({"game": "pong", "arch": "a3c", "threads": threads, "seed": 0})
    )
    if evals:
        (run / "eval.csv").write_text(
            "train_seconds,step,mean,std,min,max,episodes\n"
            "300.0,30000,-5.0,2.0,-8.0,-2.0,10\n600.0,60000,3.5,1.5,1.0,6.0,10\n"
        )
    return run


def test_moving_average_is_the_trailing_mean():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(moving_average(x, 2), [1.0, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(moving_average(x, 10), np.cumsum(x) / np.arange(1, 6))


def test_plot_comparison_draws_several_runs_with_their_evaluations(tmp_path):
    a = _fake_run(tmp_path, "two", threads=2, games=120, evals=True)
    b = _fake_run(tmp_path, "four", threads=4, games=80)
    png = plot_comparison([a, b / "episodes.csv"], tmp_path / "out" / "cmp.png", window=10)
    assert png == tmp_path / "out" / "cmp.png"
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.size == PNG_SIZE
        # Two curves in two colours: the image is far from blank.
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 50


def test_plot_comparison_frames_axis_is_drawn_only_with_a_frame_skip(tmp_path):
    a = _fake_run(tmp_path, "a", threads=2, games=60)
    b = _fake_run(tmp_path, "b", threads=4, games=60)
    pics = []
    for skip in (1, 1, 4):
        png = plot_comparison([a, b], tmp_path / f"cmp{len(pics)}.png", frame_skip=skip)
        with Image.open(png) as im:
            pics.append(np.asarray(im.convert("RGB")))
    assert np.array_equal(pics[0], pics[1])  # the same drawing twice is the same picture
    assert not np.array_equal(pics[0], pics[2])  # the frames scale and its label are extra ink


def test_value_based_curves_count_the_games_at_low_epsilon(tmp_path):
    a3c = _fake_run(tmp_path, "a3c", threads=2, games=60)
    q = _fake_run(tmp_path, "q", threads=2, games=60, epsilon=0.1)
    assert curve_games(read_episodes(a3c)).all()
    counted = curve_games(read_episodes(q))
    # Annealed to 0.05 at game 19 (1 - i / 20); from there the games at 0.01 (one in three) count.
    assert counted.sum() == 14 and counted[19] and not counted[:19].any()
    # Drawn: a value-based run alone, with another, and one that has no counted game yet.
    annealing = _fake_run(tmp_path, "annealing", threads=2, games=18, epsilon=0.1)
    for png, draw in ((tmp_path / "q.png", lambda out: plot_learning_curve(q, out)),
                      (tmp_path / "cmp.png", lambda out: plot_comparison([a3c, q, annealing], out)),
                      (tmp_path / "early.png", lambda out: plot_learning_curve(annealing, out))):  # fmt: skip
        assert draw(png) == png and png.stat().st_size > 10_000


def test_plot_comparison_rejects_what_it_cannot_draw(tmp_path):
    a = _fake_run(tmp_path, "a", threads=2, games=20)
    empty = _fake_run(tmp_path, "empty", threads=2, games=0)
    with pytest.raises(ValueError, match="at least two runs, got 1"):
        plot_comparison([a], tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 labels for 2 runs"):
        plot_comparison([a, a], tmp_path / "x.png", labels=["1", "2", "3"])
    with pytest.raises(ValueError, match=r"empty.*no finished games yet"):
        plot_comparison([a, empty], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_of_several_runs_writes_comparison_beside_them(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    a = _fake_run(runs, "two", threads=2, games=60, evals=True)
    b = _fake_run(runs, "four", threads=4, games=60)
    p = run_cli("plot", str(a), str(b), cwd=tmp_path)
    assert p.stdout.strip() == f"wrote {runs.resolve() / 'comparison.png'}"
    with Image.open(runs / "comparison.png") as im:
        assert im.size == PNG_SIZE
    p = run_cli("plot", str(a), str(b), "--out", str(tmp_path / "c.png"), "-w", "5", cwd=tmp_path)
    assert (tmp_path / "c.png").exists()
