"""Catch: a tiny pixel game for CI-sized learning tests of the conv archs.

A ball falls one row per step from a random column of the top row of a ROWS x COLS grid; a
one-cell paddle on the bottom row moves left / stays / moves right (actions 0 / 1 / 2, clamped
at the walls; the paddle moves first, then the ball). On the step the ball reaches the bottom
row the reward is +1 if the paddle is under it, else -1, and a new ball appears at a random
column of the top row in the same step's observation. The paddle keeps its column between
drops and starts each game in the middle column. A game is `drops` drops (default 10: game
scores are integers in [-10, 10] and every game lasts drops * (ROWS - 1) = 80 steps); it then
terminates (there is no truncation). Every ball is catchable: it falls ROWS - 1 steps and the
paddle needs at most COLS - 1 moves.

The observation is a uint8 image (1, ROWS * CELL, COLS * CELL): each grid cell is a CELL x CELL
block, 255 for the ball and the paddle, 0 elsewhere. One frame is a Markov state (the ball
always falls straight down). The defaults, 9 rows x 5 columns of 4-px cells, give a (1, 36, 20)
image: 5 columns as in bsuite's Catch (Osband et al. 2019), 4 px the smallest cell for the
"a3c" arch's >= 20 px width, and 36 px a height the arch sees entirely (conv 8x8 s4 -> 8x4,
conv 4x4 s2 -> 3x1 covers all 8x4). Careful with other sizes: with 10 rows (40 px) conv1 gives
9 rows and conv2 drops the last one, so the paddle row is invisible to the network (the usable
heights/widths are 20, 28, 36, 44, ...). A uniformly random policy catches ~1/COLS of the
balls: mean game score ~-6 with the defaults.

With `ball_visible_steps=v` the ball is drawn only in the first v observations of each drop
(rows 0..v-1): the rest of the fall it is invisible, so a policy must remember where it saw
it. One frame is then no longer a Markov state: a feed-forward net sees the paddle only and
can do no better than chance (~1/COLS of the balls); a recurrent one can catch every ball.
This is the memory test of the LSTM archs (tests/test_learn_memory.py).

Every ball column comes from `self.np_random`, so a game is determined by the seed passed to
reset() and the actions taken.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

LEFT, STAY, RIGHT = 0, 1, 2


class Catch(gym.Env):
    """The Catch game; see the module docstring. Rewards: +1 catch, -1 miss, 0 otherwise."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self, rows: int = 9, cols: int = 5, cell: int = 4, drops: int = 10, ball_visible_steps: int | None = None
    ) -> None:
        if rows < 2 or cols < 1 or cell < 1 or drops < 1 or (ball_visible_steps is not None and ball_visible_steps < 1):
            raise ValueError(
                f"Catch(rows={rows}, cols={cols}, cell={cell}, drops={drops}, ball_visible_steps={ball_visible_steps})"
            )
        self.rows, self.cols, self.cell, self.drops = rows, cols, cell, drops
        self.ball_visible_steps = ball_visible_steps
        self.observation_space = spaces.Box(0, 255, (1, rows * cell, cols * cell), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.ball_row = self.ball_col = self.paddle = self.drops_done = 0

    def _new_ball(self) -> None:
        self.ball_row = 0
        self.ball_col = int(self.np_random.integers(self.cols))

    def _obs(self) -> np.ndarray:
        c = self.cell
        img = np.zeros(self.observation_space.shape, np.uint8)
        ball_y, ball_x, paddle_y = self.ball_row * c, self.ball_col * c, (self.rows - 1) * c
        if self.ball_visible_steps is None or self.ball_row < self.ball_visible_steps:
            img[0, ball_y : ball_y + c, ball_x : ball_x + c] = 255
        img[0, paddle_y:, self.paddle * c : (self.paddle + 1) * c] = 255
        return img

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.paddle = self.cols // 2
        self.drops_done = 0
        self._new_ball()
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"Catch: invalid action {action!r} (expected 0, 1 or 2)")
        self.paddle = min(max(self.paddle + int(action) - 1, 0), self.cols - 1)
        self.ball_row += 1
        reward = 0.0
        if self.ball_row == self.rows - 1:
            reward = 1.0 if self.paddle == self.ball_col else -1.0
            self.drops_done += 1
            self._new_ball()
        terminated = self.drops_done == self.drops
        return self._obs(), reward, terminated, False, {}
