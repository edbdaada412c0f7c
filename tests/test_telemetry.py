"""Telemetry: the progress bar follows whichever budget ends the run (steps or time), fed
Progress snapshots directly (no training, no clocks)."""

from __future__ import annotations

import pytest
from a3c_native.results import Progress
from a3c_native.telemetry import Telemetry


def progress(steps: int, seconds: float, steps_per_sec: float) -> Progress:
    return Progress(
        steps=steps, seconds=seconds, steps_per_sec=steps_per_sec, episodes=[], total_episodes=0,
        recent_score=None, policy_loss=0.0, value_loss=0.0, entropy=0.0, lr=3e-4, updates=0,
        skipped_updates=0, staleness_mean=0.0,
    )  # fmt: skip


@pytest.fixture
def bar_of():
    """bar_of(**Telemetry kwargs) -> (telemetry, its tqdm bar); closed after the test."""
    made = []

    def make(**kw):
        t = Telemetry(None, progress_bar=True, **kw)
        made.append(t)
        return t, t._bar  # the tqdm object: its total and postfix are what the user sees

    yield make
    for t in made:
        t.close()


def test_bar_counts_toward_the_time_limit_when_it_ends_the_run_first(bar_of):
    # --minutes 2 at 2,500 steps/s: the run ends near 300k steps, not at the 6M step budget
    # (the bar used to count toward 6M and show an ETA of ~40 minutes).
    tel, bar = bar_of(total_steps=6_000_000, max_seconds=120.0)
    tel.update(progress(10_000, 4.0, 2_500.0))
    assert bar.total == 10_000 + 2_500 * (120 - 4) == 300_000
    assert bar.n == 10_000
    assert "/300k" in str(bar)
    assert bar.postfix.endswith("time limit in 0:01:56")
    # The projection follows the speed...
    tel.update(progress(60_000, 24.0, 2_000.0))
    assert bar.total == 60_000 + 2_000 * 96
    assert bar.postfix.endswith("time limit in 0:01:36")
    # ...and reaches the steps done when the time is up.
    tel.update(progress(250_000, 121.0, 2_000.0))
    assert (bar.n, bar.total) == (250_000, 250_000)


def test_bar_counts_toward_total_steps_when_they_end_the_run_first(bar_of):
    tel, bar = bar_of(total_steps=200_000, max_seconds=3600.0)
    tel.update(progress(10_000, 4.0, 2_500.0))  # 200k steps at 84 s, long before 1 hour
    assert (bar.n, bar.total) == (10_000, 200_000)
    assert "time limit" not in bar.postfix


def test_bar_without_time_budget_or_speed_counts_toward_total_steps(bar_of):
    tel, bar = bar_of(total_steps=200_000)
    tel.update(progress(10_000, 4.0, 2_500.0))
    assert bar.total == 200_000
    tel, bar = bar_of(total_steps=200_000, max_seconds=60.0)
    tel.update(progress(0, 0.5, 0.0))  # no speed measured yet: nothing to project
    assert bar.total == 200_000


def test_bar_of_a_resumed_run_projects_from_the_global_step(bar_of):
    tel, bar = bar_of(total_steps=6_000_000, start_step=1_000_000, max_seconds=60.0)
    assert bar.n == 1_000_000
    tel.update(progress(1_020_000, 10.0, 2_000.0))
    assert (bar.n, bar.total) == (1_020_000, 1_020_000 + 2_000 * 50)


def test_bar_stays_at_its_total_when_workers_overshoot(bar_of):
    tel, bar = bar_of(total_steps=5_000)
    tel.update(progress(4_000, 2.0, 2_000.0))
    tel.finish([], 5_037)  # workers check the budget per rollout: a few steps past it
    assert (bar.n, bar.total) == (5_000, 5_000)
