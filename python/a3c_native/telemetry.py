"""Training telemetry: live progress bar, per-game CSV log, TensorBoard scalars.

Everything here runs on the main thread from train()'s progress callback, once per
``log_interval_seconds``: short and rare work, because every worker needs the GIL for each
env step (DESIGN.md, "the GIL convoy"). Writes episodes.csv (its format: rundir.py) and, in
tb/, the TensorBoard scalars episode/score, episode/length (x = step), train/policy_loss,
train/value_loss, train/entropy, train/lr, perf/steps_per_sec and perf/staleness_mean (other
workers' updates between a worker's snapshot and its update), and for the value-based
methods q/mean_max_q, q/epsilon_worker<i> and q/target_refreshes, and in the cluster mode
cluster/nodes_alive, cluster/exchange_share, cluster/bytes_per_sec_per_node and
cluster/lost_steps_bound (tfevents.py, no
tensorboardX or torch). Not here: checkpoints (checkpoint.py, train.py), file names and
formats (rundir.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .rundir import TB_DIR, EpisodeLog
from .tfevents import EventWriter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .results import EpisodeRecord, Progress

__all__ = ["Telemetry"]


class Telemetry:
    """Progress bar + CSV + TensorBoard for one run; call :meth:`update` per Progress.

    Args:
        run_dir: where episodes.csv and tb/ go (None: progress bar only).
        total_steps: the run's step budget (the bar's total unless max_seconds binds).
        start_step: global step the run starts from (resumed runs start > 0).
        max_seconds: the run's time budget (A3CConfig.max_seconds, counted like
            Progress.seconds), or None. When, at the current speed, it ends the run before
            total_steps, the bar counts toward the step reached at the time limit instead, so
            its percentage and ETA are those of the time budget, and it names the time left.
        seconds_offset, episodes_offset: wall time and game count of earlier (resumed) runs.
        progress_bar: show a tqdm bar on stderr.
        tensorboard: write TensorBoard events into run_dir/tb.
    """

    def __init__(
        self,
        run_dir: str | Path | None,
        *,
        total_steps: int,
        start_step: int = 0,
        seconds_offset: float = 0.0,
        episodes_offset: int = 0,
        progress_bar: bool = False,
        tensorboard: bool = True,
        max_seconds: float | None = None,
    ) -> None:
        self.seconds_offset = float(seconds_offset)
        self.episodes = int(episodes_offset)
        self._log: EpisodeLog | None = None
        self._tb = None
        self._bar = None
        self._total = total_steps
        self._max_seconds = max_seconds
        if run_dir is not None:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            self._log = EpisodeLog(run_dir)
            if tensorboard:
                self._tb = EventWriter(run_dir / TB_DIR)
        if progress_bar:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total_steps,
                initial=start_step,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                file=sys.stderr,
                smoothing=0.1,
            )

    def update(self, p: Progress) -> None:
        """Record one progress snapshot (new games, losses, speed) and move the bar."""
        self.record_episodes(p.episodes)
        if self._tb is not None:
            for tag, value in (
                ("train/policy_loss", p.policy_loss),
                ("train/value_loss", p.value_loss),
                ("train/entropy", p.entropy),
                ("train/lr", p.lr),
                ("perf/steps_per_sec", p.steps_per_sec),
                ("perf/staleness_mean", p.staleness_mean),
                *_value_based_scalars(p),
                *_cluster_scalars(p),
            ):
                self._tb.add_scalar(tag, value, p.steps)
            self._tb.flush()  # TensorBoard sees each update live; a few hundred bytes
        if self._bar is not None:
            end, seconds_left = self._run_end(p)
            if end != self._bar.total:
                self._bar.total = end
            self._advance(p.steps)
            score = "-" if p.recent_score is None else f"{p.recent_score:.1f}"
            limit = "" if seconds_left is None else f", time limit in {_hms(seconds_left)}"
            self._bar.set_postfix_str(
                f"{self.episodes} games, score {score}, "
                f"trained {_hms(self.seconds_offset + p.seconds)}{limit}",
                refresh=False,
            )

    def record_episodes(self, episodes: Sequence[EpisodeRecord]) -> None:
        """Append finished games to episodes.csv and TensorBoard."""
        if self._log is not None and episodes:
            self._log.write((self.seconds_offset + e.wall_time, e.step, e.worker, e.score, e.length, e.epsilon)
                            for e in episodes)  # fmt: skip
        if self._tb is not None:
            for e in episodes:
                self._tb.add_scalar("episode/score", e.score, e.step)
                self._tb.add_scalar("episode/length", e.length, e.step)
        self.episodes += len(episodes)

    def finish(self, episodes: Sequence[EpisodeRecord], steps: int) -> None:
        """Record the games that ended after the last update and move the bar to `steps`."""
        self.record_episodes(episodes)
        if self._bar is not None:
            self._advance(steps)

    def _run_end(self, p: Progress) -> tuple[int, float | None]:
        """The step the run will end at: total_steps, or, when the time budget ends it first
        at the current speed, the step reached then (with the seconds left until then)."""
        if self._max_seconds is None or p.steps_per_sec <= 0:
            return self._total, None
        seconds_left = max(0.0, self._max_seconds - p.seconds)
        at_limit = p.steps + round(p.steps_per_sec * seconds_left)
        if at_limit >= self._total:
            return self._total, None
        return at_limit, seconds_left

    def _advance(self, steps: int) -> None:
        # Workers overshoot the budget by < threads * t_max steps: keep the bar at its total.
        assert self._bar is not None
        self._bar.update(max(0, min(steps, self._bar.total) - self._bar.n))

    def close(self) -> None:
        """Flush and close the files and the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _value_based_scalars(p: Progress) -> list[tuple[str, float]]:
    if not p.epsilons:
        return []
    out = [(f"q/epsilon_worker{i}", e) for i, e in enumerate(p.epsilons)]
    out.append(("q/target_refreshes", float(p.target_refreshes)))
    if p.mean_max_q is not None:
        out.append(("q/mean_max_q", p.mean_max_q))
    return out


def _cluster_scalars(p: Progress) -> list[tuple[str, float]]:
    c = p.cluster
    if not c:
        return []
    return [
        ("cluster/nodes_alive", float(c["alive"])),
        ("cluster/exchange_share", c["exchange_share"]),
        ("cluster/bytes_per_sec_per_node", c["bytes_per_sec_per_node"]),
        ("cluster/lost_steps_bound", float(c["lost_steps_bound"])),
    ]


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
