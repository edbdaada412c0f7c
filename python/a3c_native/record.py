"""record(): a video (MP4 or GIF) of a trained agent playing one game, in full colour.

Atari: the policy sees exactly the training/evaluation observations (envs.AtariEnv, ale-py's
C++ pipeline: 4 stacked 84x84 grey frames), while a second ale-py emulator, seeded alike and
fed the same actions, renders the full 210x160 RGB screens. ALE is deterministic, so the two
stay in lockstep; every step's reward and game end are compared, and a difference raises.
(This avoids OpenCV, which gymnasium's AtariPreprocessing needs.) gymnasium env_fn: the env
must have render_mode="rgb_array"; frames are env.render().

MP4 is streamed to disk through imageio-ffmpeg (libx264); GIF frames are kept in memory as
palette images (~34 KB per 210x160 frame) and written by Pillow at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .envs import derive_seed
from .errors import EnvError
from .evaluate import make_env, resolve_policy
from .policy import GamePlayer, Policy

__all__ = ["RecordResult", "record"]


@dataclass(frozen=True)
class RecordResult:
    path: Path
    score: float
    """The game's real (unclipped) score (of the part recorded, if cut by max_steps)."""
    steps: int
    """Agent steps played."""
    frames: int
    """Frames written."""


def _atari_frames(policy: Policy, game: str, seed: int, noop_max: int, max_steps: int,
                  greedy: bool, stats: dict[str, Any]) -> Iterator[np.ndarray]:  # fmt: skip
    import ale_py
    from ale_py import roms

    env_seed = derive_seed(seed, 0)
    rng = np.random.default_rng([seed, 0])
    # A recurrent policy trained with episodic lives has its state zeroed at a lost life (as
    # in training and evaluate()); the game and its score go on either way.
    env = make_env(policy, env_seed, game=game, env_fn=None, noop_max=noop_max,
                   episodic_life=policy.recurrent and policy.episodic_life)  # fmt: skip
    player = GamePlayer(policy, deterministic=greedy, rng=rng)
    screen = ale_py.ALEVectorInterface(
        rom_path=roms.get_rom_path(game), num_envs=1, frame_skip=policy.frame_skip,
        stack_num=1, img_height=210, img_width=160, grayscale=False, maxpool=False,
        noop_max=noop_max, use_fire_reset=True, episodic_life=False, life_loss_info=False,
        reward_clipping=False, max_episode_steps=108_000, repeat_action_probability=0.0,
        full_action_space=False, batch_size=0, num_threads=1, thread_affinity_offset=-1,
        autoreset_mode="SameStep",
    )  # fmt: skip
    try:
        with env:
            obs = env.reset()
            rgb, _ = screen.reset(np.zeros(1, np.int64), np.array([env_seed], np.int64))
            yield rgb[0, -1]
            action = np.zeros(1, np.int32)
            paddle = np.ones(1, np.float32)
            while stats["steps"] < max_steps:
                a = player.act(obs)
                obs, reward, terminal, game_score, _ = env.step(a)
                player.observe(terminal)
                action[0] = a
                screen.send(action, paddle)
                rgb, r2, term, trunc, _ = screen.recv()
                stats["steps"] += 1
                stats["score"] += reward
                ended = game_score is not None
                if float(r2[0]) != reward or ended != bool(term[0] or trunc[0]):
                    msg = f"video emulator out of step with the agent's at step {stats['steps']}"
                    raise EnvError(msg)
                if ended:
                    return  # rgb is already the next game's first screen (auto-reset)
                yield rgb[0, -1]
    finally:
        del screen


def _gym_frames(policy: Policy, env_fn: Callable[..., Any], seed: int, max_steps: int,
                greedy: bool, stats: dict[str, Any]) -> Iterator[np.ndarray]:  # fmt: skip
    env = make_env(policy, derive_seed(seed, 0), game=None, env_fn=env_fn)
    player = GamePlayer(policy, deterministic=greedy, rng=np.random.default_rng([seed, 0]))
    with env:
        obs = env.reset()
        inner = env.unwrapped

        def render() -> np.ndarray:
            frame = inner.render()
            if not isinstance(frame, np.ndarray) or frame.ndim != 3:
                msg = (
                    f"{inner} did not render an RGB array (got {type(frame).__name__}): make the "
                    "env with render_mode='rgb_array'"
                )
                raise EnvError(msg)
            return frame

        yield render()
        while stats["steps"] < max_steps:
            obs, reward, terminal, game_score, _ = env.step(player.act(obs))
            player.observe(terminal)
            stats["steps"] += 1
            stats["score"] += reward
            if game_score is not None:
                return
            yield render()


def _prepare(frame: np.ndarray, scale: int) -> np.ndarray:
    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    if scale > 1:
        frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    h, w = frame.shape[:2]
    if h % 2 or w % 2:  # libx264's yuv420p needs even sizes
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))
    return frame


def record(
    checkpoint_or_params: Any,
    path: str | os.PathLike[str],
    game: str | None = None,
    *,
    env_fn: Callable[..., Any] | None = None,
    greedy: bool = False,
    seed: int = 0,
    noop_max: int = 30,
    max_steps: int = 27_000,
    fps: float | None = None,
    scale: int | None = None,
) -> RecordResult:
    """Play one game with a trained policy and save it as a video; return its score.

    Args:
        checkpoint_or_params: as for :func:`a3c_native.evaluate` (a checkpoint file, ...).
        path: ``*.mp4`` (H.264, via imageio-ffmpeg) or ``*.gif`` (Pillow).
        game, env_fn: the env (default: the policy's game). A gymnasium env must render
            ``rgb_array`` frames (``gymnasium.make(id, render_mode="rgb_array")``).
        greedy: argmax actions instead of sampled ones (see evaluate; default sampled).
        seed, noop_max: as for evaluate (this is evaluate's game 0 for the same seed).
        max_steps: stop after this many agent steps (27_000 = ALE's 30-minute cap).
        fps: frames per second (default: real time for Atari, 60 / frame_skip; 30 for gymnasium).
        scale: integer upscaling (nearest; default 2 for MP4, 1 for GIF).
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".mp4", ".gif"):
        msg = f"record(): cannot write {path.name!r}: use a .mp4 or .gif file name"
        raise ValueError(msg)
    policy, game = resolve_policy(checkpoint_or_params, game, env_fn=env_fn)
    scale = scale if scale is not None else (2 if kind == ".mp4" else 1)
    if fps is None:
        fps = 60.0 / policy.frame_skip if env_fn is None else 30.0
    stats: dict[str, Any] = {"steps": 0, "score": 0.0}
    if env_fn is None:
        assert game is not None
        frames = _atari_frames(policy, game, seed, noop_max, max_steps, greedy, stats)
    else:
        frames = _gym_frames(policy, env_fn, seed, max_steps, greedy, stats)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = (
        _write_mp4(path, frames, fps, scale)
        if kind == ".mp4"
        else _write_gif(path, frames, fps, scale)
    )
    return RecordResult(path, float(stats["score"]), int(stats["steps"]), count)


def _write_mp4(path: Path, frames: Iterator[np.ndarray], fps: float, scale: int) -> int:
    import imageio_ffmpeg

    count = 0
    writer = None
    try:
        for frame in frames:
            f = _prepare(frame, scale)
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(path), (f.shape[1], f.shape[0]), fps=fps, codec="libx264",
                    pix_fmt_out="yuv420p", macro_block_size=1, quality=7,
                    ffmpeg_log_level="error",
                )  # fmt: skip
                writer.send(None)  # start the ffmpeg process
            writer.send(f)
            count += 1
    finally:
        if writer is not None:
            writer.close()
    return count


def _write_gif(path: Path, frames: Iterator[np.ndarray], fps: float, scale: int) -> int:
    from PIL import Image

    images = [Image.fromarray(_prepare(f, scale)).quantize(colors=256) for f in frames]
    if not images:
        msg = "no frames to write"
        raise EnvError(msg)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=False,
    )
    return len(images)
