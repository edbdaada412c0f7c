"""Learning from pixels: arch "a3c" trained on Catch (tests/envs/catch.py), a NumPy game with
(1, 36, 20) uint8 image observations, plus fast unit tests of the game itself."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from a3c_native import A3CConfig, Network, train
from envs.catch import LEFT, RIGHT, STAY, Catch
from gymnasium.utils.env_checker import check_env

# Catch settings for the learning test, chosen by measurement: steps until the last-20 mean
# reaches THRESHOLD, 2 threads on this 2-core machine (Hogwild: a seed is not a replay, so each
# row is over independent runs; "stuck" = not reached in 300k steps):
#   lr 7e-4 (default), gamma 0.99 (default): 10 runs, median 64k, max 179k steps;
#   lr 7e-4, gamma 0.95:                     10 runs, median 31k, max 36k;
#   lr 2e-3, gamma 0.99:                     20 runs, median 29k, max 206k, 1 stuck;
#   lr 2e-3, gamma 0.95:                    120 runs, median 14k, max 114k, 1 stuck;
#   lr 1e-3, gamma 0.95 (chosen):           200 runs, median 22k, p90 27k, max 47k, 1 stuck
# (~1.5 s at the 12-20k steps/s of an idle machine). A stuck run sits at a score of ~2-6 with
# the value flat in the paddle position for one or two ball columns: those features died early.
CATCH = {
    "arch": "a3c",
    # One game per actor-learner, as measured (the package default is now 8).
    "envs_per_thread": 1,
    # The paper's t_max and RMSProp eps, with which the runs above were measured (the package
    # defaults were since tuned on Pong).
    "t_max": 5,
    "rmsprop_eps": 0.1,
    # 1e-3 instead of 7e-4: median 22k vs 31k steps; 2e-3 is faster still but gets stuck more
    # often and has a long tail (above).
    "lr": 1e-3,
    # 0.95 instead of 0.99: a drop's outcome is decided within its 8 steps; 0.99 mixes the
    # outcomes of the next drops (which this action barely affects) into the return, i.e.
    # adds variance: 2x the median and a 4-5x longer tail at either lr (above).
    "gamma": 0.95,
    # The lr anneals to 0 over total_steps: 300k keeps it >= 80% of 1e-3 up to 60k steps and
    # leaves a > 6x step margin over the slowest successful run measured.
    "total_steps": 300_000,
    # Check the threshold every 0.25 s (~3-5k steps) instead of every 1 s: stop sooner.
    "log_interval_seconds": 0.25,
    # Hard wall-clock cap so a starved run fails instead of hanging CI (idle: ~20 s for all
    # 300k steps; the threshold is normally hit within 3 s).
    "max_seconds": 120.0,
}
THRESHOLD = 8.0  # mean game score over the last 20 games: >= 90% of the balls caught
WINDOW = 20
# A uniformly random policy catches ~1/5 of the balls (the paddle's 8-step random walk over 5
# columns is close to uniform): mean game score 10 * (0.2 - 0.8) = -6. Measured over 5,000
# games: -6.0 (std 2.6 per game); the best 20-game window of those 5,000 was -3.9.
RANDOM_MEAN = -6.0

ROWS, COLS, CELL, DROPS = 9, 5, 4, 10
STEPS_PER_DROP = ROWS - 1

log = logging.getLogger(__name__)


def locate(obs: np.ndarray) -> tuple[tuple[int, int], int]:
    """(ball row, ball column) and the paddle column, read back from a default Catch frame."""
    cells = obs[0].reshape(ROWS, CELL, COLS, CELL)
    lit = cells.max(axis=(1, 3)) == 255
    np.testing.assert_array_equal(cells.min(axis=(1, 3)) == 255, lit)  # cells are whole blocks
    paddle = np.flatnonzero(lit[-1])
    ball = np.argwhere(lit[:-1])
    assert len(paddle) == 1, f"expected one paddle:\n{lit.astype(int)}"
    assert len(ball) == 1, f"expected one ball above the bottom row:\n{lit.astype(int)}"
    return (int(ball[0][0]), int(ball[0][1])), int(paddle[0])


def move_towards(ball_col: int, paddle: int) -> int:
    return LEFT if ball_col < paddle else RIGHT if ball_col > paddle else STAY


def move_away(ball_col: int, paddle: int) -> int:
    """Head for the wall farther from the ball: >= 2 columns away, reached within 4 moves."""
    return move_towards(0 if ball_col >= COLS // 2 else COLS - 1, paddle)


def play(env: Catch, policy, seed: int) -> tuple[list[float], list[bool], list[np.ndarray]]:
    obs, _ = env.reset(seed=seed)
    rewards, terms, frames = [], [], [obs]
    terminated = False
    while not terminated:
        (_, ball_col), paddle = locate(obs)
        obs, r, terminated, truncated, _ = env.step(policy(ball_col, paddle))
        assert not truncated
        rewards.append(r)
        terms.append(terminated)
        frames.append(obs)
    return rewards, terms, frames


# ---------------------------------------------------------------------------------------------
# the game


def test_catch_passes_gymnasium_env_checker():
    # No render modes, so the checker's render test (which needs a spec from gym.make) is off.
    check_env(Catch(), skip_render_check=True)


def test_catch_spaces_fit_the_a3c_arch():
    env = Catch()
    assert env.observation_space.shape == (1, ROWS * CELL, COLS * CELL) == (1, 36, 20)
    assert env.observation_space.dtype == np.uint8
    assert env.action_space.n == 3
    net = Network("a3c", env.observation_space.shape, 3)
    assert net.obs_dtype == np.uint8


def test_a3c_arch_sees_every_cell_of_a_catch_frame():
    """Moving the ball or the paddle to any cell changes the net's output: a frame size whose
    last rows fall outside conv2's windows (e.g. 10 rows = 40 px) would hide the paddle."""
    env = Catch()
    net = Network("a3c", env.observation_space.shape, 3)
    params = net.init_params(seed=0)
    env.reset(seed=0)
    frames = []
    for row in range(ROWS - 1):
        for col in range(COLS):
            env.ball_row, env.ball_col, env.paddle = row, col, 0
            frames.append(env._obs())
    for col in range(1, COLS):
        env.ball_row, env.ball_col, env.paddle = 0, 0, col
        frames.append(env._obs())
    logits, values = net.forward(params, np.stack(frames))
    out = np.column_stack([logits, values]).astype(np.float64)
    # Every frame gives a different output (differences are ~1e-3..1e-1 at init).
    gaps = np.abs(out[:, None, :] - out[None, :, :]).max(axis=2)
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() > 1e-6


def test_catch_renders_ball_and_paddle_as_255_blocks():
    env = Catch()
    obs, info = env.reset(seed=7)
    assert info == {}
    assert obs.dtype == np.uint8
    assert obs.shape == (1, 36, 20)
    assert set(np.unique(obs)) == {0, 255}
    assert np.count_nonzero(obs) == 2 * CELL * CELL  # one ball cell, one paddle cell
    (ball_row, ball_col), paddle = locate(obs)
    assert ball_row == 0
    assert paddle == COLS // 2
    assert obs[0, :CELL, ball_col * CELL : (ball_col + 1) * CELL].min() == 255
    assert obs[0, -CELL:, paddle * CELL : (paddle + 1) * CELL].min() == 255
    # One step: the ball falls one row, the paddle moves one column (clamped at the walls).
    for action, dp in ((LEFT, -1), (STAY, 0), (RIGHT, 1)):
        env.reset(seed=7)
        obs, r, terminated, truncated, _ = env.step(action)
        assert (r, terminated, truncated) == (0.0, False, False)
        assert locate(obs) == ((1, ball_col), COLS // 2 + dp)
    env.reset(seed=7)
    for _ in range(COLS):
        obs, *_ = env.step(LEFT)
    assert locate(obs)[1] == 0


def test_catch_rewards_catch_and_miss_then_restarts_the_ball():
    env = Catch()
    for policy, reward in ((move_towards, 1.0), (move_away, -1.0)):
        rewards, _, frames = play(env, policy, seed=3)
        rewards = np.reshape(rewards, (DROPS, STEPS_PER_DROP))
        # Only the step on which the ball reaches the bottom row is rewarded.
        np.testing.assert_array_equal(rewards[:, :-1], 0.0)
        np.testing.assert_array_equal(rewards[:, -1], reward)
        # That step's frame already shows the next ball, back on the top row.
        for k in range(1, DROPS):
            (ball_row, _), _ = locate(frames[k * STEPS_PER_DROP])
            assert ball_row == 0
        (ball_row, _), _ = locate(frames[STEPS_PER_DROP - 1])
        assert ball_row == ROWS - 2


def test_catch_game_ends_after_ten_drops_of_eight_steps():
    env = Catch()
    rewards, terms, _ = play(env, lambda b, p: STAY, seed=11)
    assert len(rewards) == DROPS * STEPS_PER_DROP == 80
    assert terms == [False] * 79 + [True]
    assert -DROPS <= sum(rewards) <= DROPS
    assert sum(r != 0 for r in rewards) == DROPS


def test_catch_is_deterministic_given_the_seed():
    def columns(seed):
        return [locate(f)[0][1] for f in play(Catch(), move_towards, seed)[2][::STEPS_PER_DROP]]

    assert columns(5) == columns(5)
    assert len({tuple(columns(s)) for s in range(5)}) == 5
    assert {c for s in range(5) for c in columns(s)} == set(range(COLS))


def test_catch_random_policy_baseline():
    """The baseline quoted at RANDOM_MEAN, and far below THRESHOLD."""
    env = Catch()
    rng = np.random.default_rng(0)
    scores = []
    for game in range(400):
        env.reset(seed=game)
        score, terminated = 0.0, False
        while not terminated:
            _, r, terminated, _, _ = env.step(int(rng.integers(3)))
            score += r
        scores.append(score)
    assert abs(np.mean(scores) - RANDOM_MEAN) < 0.5  # standard error ~0.13
    windows = np.convolve(scores, np.ones(WINDOW) / WINDOW, mode="valid")
    assert windows.max() < THRESHOLD - 10  # random play never comes close


# ---------------------------------------------------------------------------------------------
# learning


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1])  # 200 runs measured: see CATCH; ~0.5% get stuck
def test_train_a3c_arch_learns_catch_from_pixels(seed):
    scores: list[float] = []
    solved_at: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def stop_when_solved(p):
        scores.extend(e.score for e in p.episodes)
        if len(scores) >= WINDOW and np.mean(scores[-WINDOW:]) >= THRESHOLD:
            solved_at.append((p.steps, time.perf_counter() - t0))
            return False
        return None

    cfg = A3CConfig(env_fn=Catch, threads=2, seed=seed, **CATCH)
    result = train(cfg, callback=stop_when_solved)
    elapsed = time.perf_counter() - t0
    last = [e.score for e in result.episodes[-WINDOW:]]
    assert solved_at, (
        f"Catch not solved in {result.total_steps} steps ({elapsed:.0f} s): last-{WINDOW} "
        f"mean {np.mean(last):.1f}, threshold {THRESHOLD}, random policy {RANDOM_MEAN}"
    )
    steps, seconds = solved_at[0]
    log.info(
        "Catch seed %d: last-%d mean >= %.1f at %d steps, %.1f s",
        seed,
        WINDOW,
        THRESHOLD,
        steps,
        seconds,
    )
    assert all(-DROPS <= s <= DROPS for s in scores)
    assert {e.worker for e in result.episodes} == {0, 1}
    assert result.skipped_updates == 0
