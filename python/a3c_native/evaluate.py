"""evaluate(): play full games with a trained policy and report the real (unclipped) scores.

Owns the evaluation protocol (no-op starts, whole games, sampled or greedy actions) and what
record.py shares with it: turning a policy source (checkpoint file, Checkpoint, TrainResult or
a bare parameter vector) into a :class:`Policy` and the game to play, and making that game's
env. Not here: acting (policy.py), training, video files (record.py).

Episodes run in parallel Python threads: the network's forward pass and ale-py's emulation
both release the GIL, so two threads play two games at ~2x the speed of one here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checkpoint import Checkpoint, load_checkpoint
from .archs import head_of
from .envs import AtariEnv, GymEnv, derive_seed
from .errors import CheckpointError, ConfigError
from .games import resolve_game
from .networks import Network
from .policy import GamePlayer, Policy
from .results import TrainResult

__all__ = ["EvalResult", "evaluate", "make_env", "resolve_policy"]


@dataclass(frozen=True)
class EvalResult:
    """Scores of an evaluation: one entry per game, in episode order (independent of threads)."""

    scores: np.ndarray
    """float64 [episodes]: real, unclipped game scores."""
    lengths: np.ndarray
    """int64 [episodes]: agent steps of each game."""
    seconds: float
    """Wall time of the whole evaluation."""
    greedy: bool
    """Whether actions were the policy's argmax (else sampled)."""

    mean = property(lambda self: float(np.mean(self.scores)), doc="Mean score.")
    median = property(lambda self: float(np.median(self.scores)), doc="Median score.")
    std = property(lambda self: float(np.std(self.scores)), doc="Population std of the scores.")
    min = property(lambda self: float(np.min(self.scores)), doc="Lowest score.")
    max = property(lambda self: float(np.max(self.scores)), doc="Highest score.")

    def summary(self) -> str:
        """One line: episodes, mean ± std, median, min..max."""
        return (
            f"{len(self.scores)} games: mean {self.mean:.2f} ± {self.std:.2f}, "
            f"median {self.median:.2f}, min {self.min:.2f}, max {self.max:.2f} "
            f"({'greedy' if self.greedy else 'sampled'} actions, {self.seconds:.1f} s)"
        )


def resolve_policy(
    source: Any,
    game: str | None = None,
    *,
    env_fn: Callable[..., Any] | None = None,
    network: Network | None = None,
) -> tuple[Policy, str | None]:
    """Turn a checkpoint path, :class:`Checkpoint`, :class:`TrainResult` or parameter vector
    into a :class:`Policy`, and name the game to play it on: the given one, else the one
    stored with the policy; None when it plays an ``env_fn`` (a policy trained on one needs
    ``env_fn=`` again: code is never loaded from data)."""
    if isinstance(source, (str, os.PathLike)):
        source = load_checkpoint(source)
    config: dict[str, Any] = {}
    if isinstance(source, (Checkpoint, TrainResult)):
        config = source.config
    elif not isinstance(source, np.ndarray):
        msg = (
            "evaluate()/record() take a checkpoint path, a Checkpoint, a TrainResult or a float32 "
            f"parameter vector, got {type(source).__name__}"
        )
        raise TypeError(msg)
    if env_fn is None and game is None:
        if config.get("env_fn"):
            msg = (
                f"the policy was trained on env_fn {config['env_fn']!r}: pass the callable again "
                "as env_fn= (code is never loaded from a checkpoint)"
            )
            raise ConfigError(msg)
        game = config.get("game")
        if game is None:
            msg = "no game: pass game= (e.g. 'pong') or env_fn="
            raise ConfigError(msg)
    if env_fn is None:
        game = resolve_game(game)  # type: ignore[arg-type]
    if isinstance(source, Checkpoint):
        return Policy.load(source), game
    trained_on = None if config.get("env_fn") else config.get("game")
    frame_skip = int(config.get("frame_skip", 4))
    if network is None:
        if not isinstance(source, TrainResult):
            msg = "a bare parameter vector needs network= (the Network it belongs to)"
            raise ValueError(msg)
        # A TrainResult knows its arch but not its env's shapes: ask the env.
        stack = int(config.get("frame_stack", 4))
        env = GymEnv(env_fn, seed=0) if env_fn is not None else AtariEnv(game, seed=0, frame_stack=stack)  # type: ignore[arg-type]
        with env:
            hidden = tuple(config.get("hidden", (64, 64)))
            network = Network(
                config.get("arch", "a3c"), env.obs_shape, env.num_actions, hidden=hidden,
                head=head_of(config.get("method", "a3c")),
            )
    params = source.params if isinstance(source, TrainResult) else source
    policy = Policy(
        network,
        params,
        game=trained_on,
        frame_skip=frame_skip,
        episodic_life=bool(config.get("episodic_life", True)),
    )
    return policy, game


def make_env(
    policy: Policy,
    seed: int,
    *,
    game: str | None,
    env_fn: Callable[..., Any] | None,
    **atari: Any,
) -> AtariEnv | GymEnv:
    """One env of `game` (Atari options as keywords, the policy's frame skip) or of `env_fn`,
    checked against the policy's observation shape and action count (CheckpointError)."""
    if env_fn is not None:
        env: AtariEnv | GymEnv = GymEnv(env_fn, seed=seed)
    else:
        assert game is not None
        # Atari observations stack obs_shape[0] frames (A3CConfig.frame_stack).
        stack = policy.obs_shape[0] if len(policy.obs_shape) == 3 else 4
        env = AtariEnv(game, seed=seed, frame_skip=policy.frame_skip, frame_stack=stack, **atari)
    try:
        for name, stored, expected in (
            ("num_actions", policy.num_actions, env.num_actions),
            ("obs_shape", tuple(policy.obs_shape), tuple(env.obs_shape)),
        ):
            if stored != expected:
                what = game or getattr(env_fn, "__qualname__", "env_fn")
                msg = f"policy has {name} {stored}, but the env ({what}) has {expected}"
                raise CheckpointError(msg)
    except BaseException:
        env.close()
        raise
    return env


def _play_one(
    policy: Policy,
    game: str | None,
    env_fn: Callable[..., Any] | None,
    index: int,
    *,
    seed: int,
    greedy: bool,
    noop_max: int,
    max_episode_steps: int,
    repeat_action_probability: float,
    stop: threading.Event,
) -> tuple[float, int]:
    env_seed = derive_seed(seed, index)
    rng = np.random.default_rng([seed, index])
    # Whole games either way: a lost life never ends the game or its score. A recurrent
    # policy trained with episodic lives sees a life loss as terminal (its state zeroed).
    life_resets = policy.recurrent and policy.episodic_life
    atari = {
        "noop_max": noop_max,
        "episodic_life": life_resets,
        "max_episode_steps": max_episode_steps,
        "repeat_action_probability": repeat_action_probability,
    }
    with make_env(policy, env_seed, game=game, env_fn=env_fn, **({} if env_fn else atari)) as env:
        obs = env.reset()
        score, length = 0.0, 0
        player = GamePlayer(policy, deterministic=greedy, rng=rng)
        while not stop.is_set():
            obs, reward, terminal, game_score, game_length = env.step(player.act(obs))
            player.observe(terminal)
            score += reward
            length += 1
            if game_score is not None:
                return float(game_score), int(game_length)
            if env_fn is not None and length >= max_episode_steps:
                return score, length  # gymnasium: our cap on top of the env's TimeLimit
    msg = "evaluation interrupted"
    raise KeyboardInterrupt(msg)


def evaluate(
    checkpoint_or_params: Any,
    game: str | None = None,
    *,
    env_fn: Callable[..., Any] | None = None,
    network: Network | None = None,
    episodes: int = 10,
    threads: int = 2,
    greedy: bool = False,
    noop_max: int = 30,
    max_episode_steps: int = 108_000,
    repeat_action_probability: float = 0.0,
    seed: int = 0,
) -> EvalResult:
    """Play `episodes` full games with a trained policy; return their real (unclipped) scores.

    Args:
        checkpoint_or_params: a checkpoint file (arch, action count, game and frame skip are
            read from it), a :class:`Checkpoint`, a :class:`TrainResult`, or a float32
            parameter vector (then pass ``network=``).
        game: ale-py ROM id; default: the game stored with the policy.
        env_fn: a gymnasium env factory instead of an Atari game (needed again for a policy
            trained on one: code is never loaded from a checkpoint).
        network: the :class:`Network` of a bare parameter vector.
        episodes: number of games.
        threads: Python threads playing games in parallel (forward passes and ale-py steps
            release the GIL). Results do not depend on it: game i is seeded from (seed, i).
        greedy: False (default) samples actions from the policy, as during training; True takes
            the argmax. Sampling is the default because it is the policy A3C learns (its
            entropy bonus keeps it stochastic) and a deterministic policy can get stuck forever
            in some games (e.g. never pressing FIRE after a lost life in Breakout). A
            value-based policy (method one_step_q, one_step_sarsa, n_step_q) "samples"
            epsilon-greedily with epsilon 0.05 (policy.EVAL_EPSILON, the DQN protocol's).
        noop_max: each game starts with 0..noop_max-1 no-ops (Mnih et al. 2015/2016's "no-op
            starts" evaluation uses up to 30). Atari only.
        max_episode_steps: time limit per game. Atari: EMULATOR FRAMES, as
            A3CConfig.max_episode_steps (108_000 = 30 minutes of play, the standard cap);
            gymnasium: agent steps, on top of the env's own TimeLimit.
        repeat_action_probability: sticky actions (Machado et al. 2018); 0 = the paper's ALE.
        seed: base seed of the games' no-op starts and action sampling.

    Games are whole games: a lost life is not an episode end (episodic_life off) and scores are
    never clipped. Raises CheckpointError if the policy's action count or observation shape
    does not match the env's.
    """
    for name, value, lo in (("episodes", episodes, 1), ("threads", threads, 1), ("noop_max", noop_max, 0),
                            ("max_episode_steps", max_episode_steps, 1), ("seed", seed, 0)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            msg = f"evaluate({name}={value!r}) is invalid: must be an integer >= {lo}"
            raise ValueError(msg)
    policy, game = resolve_policy(checkpoint_or_params, game, env_fn=env_fn, network=network)
    stop = threading.Event()
    t0 = time.perf_counter()
    kw = {
        "seed": seed,
        "greedy": greedy,
        "noop_max": noop_max,
        "max_episode_steps": max_episode_steps,
        "repeat_action_probability": repeat_action_probability,
        "stop": stop,
    }
    with ThreadPoolExecutor(
        max_workers=min(threads, episodes), thread_name_prefix="a3c-eval"
    ) as pool:
        futures = [pool.submit(_play_one, policy, game, env_fn, i, **kw) for i in range(episodes)]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            stop.set()  # let the other games end now, not after their full length
            for f in futures:
                f.cancel()
            raise
    return EvalResult(
        scores=np.array([s for s, _ in results], dtype=np.float64),
        lengths=np.array([n for _, n in results], dtype=np.int64),
        seconds=time.perf_counter() - t0,
        greedy=greedy,
    )
