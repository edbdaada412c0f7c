"""The run directory: the names of the files a run writes there and the formats of its logs.

    <run_dir>/config.json         the resolved A3CConfig (to_dict(), JSON, sorted keys)
    <run_dir>/checkpoint.npz      the latest checkpoint (format: checkpoint.py)
    <run_dir>/episodes.csv        wall_time,step,worker,score,length: one row per finished
                                  game; wall_time is training seconds summed over resumed
                                  runs; appended to on resume (a killed run's torn last row
                                  is ended and skipped by the reader)
    <run_dir>/eval.csv            train_seconds,step,mean,std,min,max,episodes: one row per
                                  evaluation of `a3c-native learn`; rewritten whole each time
    <run_dir>/tb/                 TensorBoard events (format: tfevents.py)
    <run_dir>/learning_curve.png  `a3c-native plot RUN` and `a3c-native learn`
    comparison.png                `a3c-native plot RUN RUN...`, beside the first run directory

Owns those names, reading and writing config.json, episodes.csv and eval.csv, and the
default run directory name. Not here: the checkpoint format (checkpoint.py), when files are
written (train.py, telemetry.py, learning.py), what is drawn (plotting.py).
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import atomic_write

__all__ = [
    "CHECKPOINT_FILE",
    "COMPARISON_PNG",
    "CONFIG_FILE",
    "EPISODES_CSV",
    "EPISODE_FIELDS",
    "EVAL_CSV",
    "EVAL_FIELDS",
    "LEARNING_CURVE_PNG",
    "TB_DIR",
    "EpisodeLog",
    "Evaluation",
    "default_run_dir",
    "read_config",
    "read_episodes",
    "read_evaluations",
    "run_dir_of",
    "write_config",
    "write_evaluations",
]

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
EPISODES_CSV = "episodes.csv"
EPISODE_FIELDS = ("wall_time", "step", "worker", "score", "length", "epsilon")
# The columns before the epsilon column (value-based methods, 2026-12-05): such logs are still
# read (epsilon NaN) and a resumed run appends to one in its own columns.
LEGACY_EPISODE_FIELDS = EPISODE_FIELDS[:5]
EVAL_CSV = "eval.csv"
EVAL_FIELDS = ("train_seconds", "step", "mean", "std", "min", "max", "episodes")
TB_DIR = "tb"
LEARNING_CURVE_PNG = "learning_curve.png"
COMPARISON_PNG = "comparison.png"


def run_dir_of(path: str | os.PathLike[str]) -> Path:
    """The run directory of `path`: itself if it is a directory, else the directory holding
    the file (a checkpoint.npz or episodes.csv names its run)."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def default_run_dir(name: str) -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>``, the name made safe for a path (the CLI's default)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return Path("runs") / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------------------------------------
# config.json
# ---------------------------------------------------------------------------------------------


def write_config(run_dir: str | os.PathLike[str], config: Mapping[str, Any]) -> Path:
    """Write `config` (an ``A3CConfig.to_dict()``) as ``<run_dir>/config.json``, atomically."""
    text = json.dumps(dict(config), indent=2, sort_keys=True) + "\n"
    return atomic_write(Path(run_dir) / CONFIG_FILE, lambda f: f.write(text.encode()))


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The config a run saved (``<run_dir>/config.json``), or {} when it has none."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# episodes.csv
# ---------------------------------------------------------------------------------------------


class EpisodeLog:
    """Appends finished games to ``<run_dir>/episodes.csv`` (creating it with its header).

    A killed run can leave a half-written last row; it is ended with a newline here, so the
    row stays one malformed line that `read_episodes` skips, and new rows start clean. A log
    written before the epsilon column keeps its columns.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        path = Path(run_dir) / EPISODES_CSV
        new = not path.exists() or path.stat().st_size == 0
        torn = not new and _last_byte(path) != b"\n"
        self._legacy = not new and _header_of(path) == LEGACY_EPISODE_FIELDS
        self._file = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file, lineterminator="\n")
        if torn:
            self._file.write("\n")
        if new:
            self._csv.writerow(EPISODE_FIELDS)
            self._file.flush()

    def write(self, rows: Iterable[tuple[float, int, int, float, int, float | None]]) -> None:
        """Append rows (wall_time, step, worker, score, length, epsilon or None) and flush them."""
        for wall, step, worker, score, length, epsilon in rows:
            row = (f"{wall:.3f}", step, worker, score, length)
            self._csv.writerow(row if self._legacy else (*row, "" if epsilon is None else f"{epsilon:.4g}"))
        self._file.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._file.close()


def _header_of(path: Path) -> tuple[str, ...]:
    with path.open(newline="", encoding="utf-8") as f:
        return tuple(next(csv.reader(f), ()))


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1)


def read_episodes(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Columns of an episodes.csv (or of ``<run_dir>/episodes.csv``) as float64 arrays, in
    step order; ``epsilon`` is NaN for A3C's games (and in logs older than that column).

    Raises FileNotFoundError if there is no such file and ValueError if it is not one of ours.
    """
    path = Path(path)
    if path.is_dir():
        path = path / EPISODES_CSV
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) not in (EPISODE_FIELDS, LEGACY_EPISODE_FIELDS):
            msg = (f"{path}: not an a3c_native episodes log (header {header}, expected "
                   f"{list(EPISODE_FIELDS)})")  # fmt: skip
            raise ValueError(msg)
        width = len(header)
        rows = [[v or "nan" for v in r] for r in reader if len(r) == width]  # a torn last line is skipped
    try:
        data = np.array(rows, dtype=np.float64).reshape(-1, width)
    except ValueError as e:
        msg = f"{path}: malformed row ({e})"
        raise ValueError(msg) from None
    data = data[np.argsort(data[:, 1], kind="stable")]
    columns = {name: data[:, i] for i, name in enumerate(header)}
    columns.setdefault("epsilon", np.full(len(data), np.nan))
    return columns


# ---------------------------------------------------------------------------------------------
# eval.csv
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the checkpoint, after `train_seconds` of training (a row of eval.csv)."""

    train_seconds: float
    step: int
    mean: float
    std: float
    min: float
    max: float
    episodes: int


def read_evaluations(run_dir: str | os.PathLike[str]) -> list[Evaluation]:
    """The evaluations in ``<run_dir>/eval.csv`` ([] if there is none); ValueError naming
    the file if it is not one of ours."""
    path = Path(run_dir) / EVAL_CSV
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    try:
        return [Evaluation(float(r["train_seconds"]), int(r["step"]), float(r["mean"]),
                           float(r["std"]), float(r["min"]), float(r["max"]), int(r["episodes"]))
                for r in rows]  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        msg = f"{path}: not an a3c_native evaluation log ({e!r})"
        raise ValueError(msg) from None


def write_evaluations(run_dir: str | os.PathLike[str], evals: Iterable[Evaluation]) -> Path:
    """Write every evaluation so far as ``<run_dir>/eval.csv`` (replacing it whole)."""
    path = Path(run_dir) / EVAL_CSV
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(EVAL_FIELDS)
        w.writerows([getattr(e, k) for k in EVAL_FIELDS] for e in evals)
    tmp.replace(path)
    return path
