"""Environments stepped by the native actor-learner threads: Atari through ale-py's C++ vector
interface (k envs per worker), and any gymnasium env with a Discrete action space.

Not here: game and env names (games.py), the network, training, evaluation, video recording.
Nothing in this file logs or allocates on the per-step path beyond the arrays ale-py/the
user's env return.

The protocol a worker thread calls (with the GIL held for that call only), over the k envs
one actor-learner steps together (`AtariVecEnv`, `GymVecEnv`; k = A3CConfig.envs_per_thread):
    num_envs: int (k), obs_shape: tuple (one env's), obs_dtype: np.dtype, num_actions: int
    reset() -> obs [k, *obs_shape]                  first observations, C-contiguous
    step(actions int32 [k]) -> (obs [k, ...], rewards [k], terminals [k], episode_scores [k],
                                episode_lengths [k])
    close()
`rewards` are raw (unclipped; the core clips for learning). `terminals[e]` means "do not
bootstrap across this step of env e": game over, a lost life (episodic_life), or a time-limit
truncation. Deviation from a strict reading of the return: truncation is treated as terminal
(V(s) of the cut-off state is not bootstrapped), the usual A3C/DQN practice and cheaper than
keeping the final observation. When a whole GAME of env e ends, `episode_scores[e]` is its
unclipped score and `episode_lengths[e]` its agent-step count, else NaN and 0; `obs[e]` is
then already the first observation of env e's next game (auto-reset, no wasted step). After a
lost life the game goes on. The single-env `AtariEnv`/`GymEnv` (evaluation, videos) step one
action and return scalars in the same order.

Measured (2-vCPU AMD EPYC VM, shared; ale-py 0.12.1, Pong; bench/env_throughput.py): one
AtariEnv.step takes ~350-390 us with ale-py's env thread and the caller pinned to one core
(~2,000-2,800 steps/s a thread; two pinned threads ~3,800-4,800 steps/s), ~500 us unpinned.
The calling thread's CPU time, an upper bound on the time it holds the GIL, is 19-26 us a step
(5-7% of the step) with one thread, 38-50 us (~9.5%) with two; nearly all of it is ale-py's
send()/recv() binding (array/dict creation, the 28 KB obs copy, futex hand-offs): this
wrapper's own Python is ~0.7 us a step.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from a3c_native.errors import EnvError
from a3c_native.games import resolve_game  # re-exported: A3CConfig validates games through it

if TYPE_CHECKING:
    from typing_extensions import Self

    from a3c_native.config import A3CConfig

__all__ = [
    "AtariEnv",
    "AtariVecEnv",
    "GymEnv",
    "GymVecEnv",
    "derive_seed",
    "emulator_threads",
    "make_worker_envs",
    "probe_env",
    "resolve_game",
    "worker_cpu",
]

_MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------
# Seeds, cores
# ---------------------------------------------------------------------------------------------


def _splitmix64(x: int) -> int:
    # Steele, Lea & Flood 2014 / Vigna's splitmix64 finaliser.
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def derive_seed(seed: int, worker: int) -> int:
    """Environment seed of `worker` for run seed `seed`: splitmix64(splitmix64(seed) + worker)
    shifted to 31 bits, so it fits ALE's C `int` seed and gymnasium's `reset(seed=)`.

    Unlike `seed + 1000 * worker` it never collides across nearby (seed, worker) pairs and never
    overflows. The core seeds its per-worker network RNG separately (cpp/common/rng.h: seed
    and worker as stream), with a different mixing, so the two streams do not coincide.
    """
    return _splitmix64((_splitmix64(seed & _MASK64) + worker) & _MASK64) >> 33


def worker_cpu(worker: int, *, pin: bool = True) -> int:
    """CPU that worker `worker` (and its ale-py env thread) should run on, or -1 when not pinned.

    Cycles through the CPUs this process may run on (`os.sched_getaffinity`, so a container's
    cpuset is respected), i.e. core `i % ncores` on an unrestricted machine. The native pool
    should pin worker i to `worker_cpu(i)` so that the env hand-off stays on one core
    (DESIGN.md: a cross-core hand-off cost 50-170 us a step here).
    """
    if not pin:
        return -1
    cpus = _allowed_cpus()
    return cpus[worker % len(cpus)]


# ---------------------------------------------------------------------------------------------
# Atari (ale-py vector interface, one env)
# ---------------------------------------------------------------------------------------------


class _Closing:
    """`with env:` closes the env at the end (every env here has an idempotent close())."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ale_vector_interface(
    game: str,
    num_envs: int,
    *,
    frame_skip: int,
    noop_max: int,
    repeat_action_probability: float,
    episodic_life: bool,
    max_episode_steps: int,
    num_threads: int,
    thread_affinity_offset: int,
    frame_stack: int = 4,
) -> Any:
    """ale-py's vector interface with the training pipeline (see AtariEnv for how its flags
    are used): the one place both AtariEnv and AtariVecEnv build it."""
    if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or not 1 <= frame_stack <= 64:
        raise EnvError(f"frame_stack={frame_stack!r} is invalid: must be an int in [1, 64]")
    import ale_py
    from ale_py import roms

    rom_path = roms.get_rom_path(game)
    if rom_path is None:  # pragma: no cover - ale-py >= 0.9 ships every ROM
        raise EnvError(f"ROM of {game!r} is missing; reinstall ale-py")
    return ale_py.ALEVectorInterface(
        rom_path=rom_path,
        num_envs=num_envs,
        frame_skip=frame_skip,
        stack_num=frame_stack,
        img_height=84,
        img_width=84,
        grayscale=True,
        maxpool=True,
        noop_max=noop_max,
        use_fire_reset=True,
        episodic_life=False,  # see AtariEnv's docstring: ale-py's would restart the game
        life_loss_info=episodic_life,
        reward_clipping=False,  # raw scores out; the core clips for learning
        max_episode_steps=max_episode_steps,
        repeat_action_probability=repeat_action_probability,
        full_action_space=False,
        batch_size=0,
        num_threads=num_threads,
        thread_affinity_offset=thread_affinity_offset,
        autoreset_mode="SameStep",
    )


class AtariEnv(_Closing):
    """One Atari game with the standard DQN/A3C preprocessing, emulated in ale-py's C++ thread.

    Pipeline (ale-py `ALEVectorInterface`, all in C++ with the GIL released): `frame_skip`
    emulator frames per agent step, max-pool of the last two, 84x84 grayscale (INTER_AREA),
    stack of the last `frame_stack` (4) frames -> obs (4, 84, 84) uint8; on reset, FIRE (if the game has it)
    and 0..noop_max-1 no-ops; minimal action set; rewards NOT clipped (reward_clipping=False).

    How ale-py 0.12.1's flags are used (verified by experiment, see tests/test_envs.py):
    - ale-py's own `episodic_life=True` ends the episode on a lost life and its auto-reset then
      calls `reset_game()`: a new game with all lives, i.e. the agent would never play on
      after a lost life and game scores would be per-life. Not what the paper does.
    - So `episodic_life` here maps to ale-py's `life_loss_info=True` (with its episodic_life
      False): a lost life sets `terminated` but the game continues (no reset); game over and
      the `max_episode_steps` time limit end the game and auto-reset it.
    - autoreset_mode="SameStep": on the step that ends a game ale-py resets at once and
      returns the next game's first observation (the last one goes to info["final_obs"]).
    - Telling "life lost" from "game ended" when `terminated`: ALE's `frame_number` counts all
      frames since the ROM was loaded and `episode_frame_number` restarts at each game, so
      `frame_number - episode_frame_number` is constant within a game and grows at every reset.
      (Using `lives` instead misreads games that award bonus lives.)

    Args:
        game: ale-py ROM id ('pong', 'breakout', ...; see `resolve_game` for spellings).
        seed: 0 <= seed < 2**31; seeds the emulator and the no-op draws at the first reset().
            Later resets (and auto-resets) continue that RNG stream, so a run is reproducible.
        frame_skip: emulator frames per agent step (action repeat), default 4.
        noop_max: no-op starts drawn from 0..noop_max-1 at each game start (0 disables).
        repeat_action_probability: sticky actions (Machado et al. 2018); 0 = deterministic ALE.
        episodic_life: a lost life is terminal for the return (the game goes on).
        max_episode_steps: time limit in EMULATOR FRAMES (ale-py counts every skipped frame):
            108_000 = 30 minutes of play = 27_000 agent steps at frame_skip 4. Hitting it ends
            the game (terminal, score reported).
        thread_affinity_offset: CPU for ale-py's stepping thread, -1 = not pinned.
        frame_stack: frames per observation, oldest first (4: the paper's; 1 for a recurrent
            agent that remembers on its own).
    """

    obs_dtype: np.dtype = np.dtype(np.uint8)

    def __init__(
        self,
        game: str,
        *,
        seed: int = 0,
        frame_skip: int = 4,
        noop_max: int = 30,
        repeat_action_probability: float = 0.0,
        episodic_life: bool = True,
        max_episode_steps: int = 108_000,
        thread_affinity_offset: int = -1,
        frame_stack: int = 4,
    ) -> None:
        self.game = resolve_game(game)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise EnvError(f"AtariEnv seed={seed!r} is invalid: must be an int in [0, 2**31)")
        self._ale = _ale_vector_interface(
            self.game,
            1,
            frame_skip=frame_skip,
            noop_max=noop_max,
            repeat_action_probability=repeat_action_probability,
            episodic_life=episodic_life,
            max_episode_steps=max_episode_steps,
            num_threads=1,
            thread_affinity_offset=thread_affinity_offset,
            frame_stack=frame_stack,
        )
        self.num_actions: int = len(self._ale.get_action_set())
        self.obs_shape: tuple[int, ...] = (frame_stack, 84, 84)
        self._seed = seed
        self._seeded = False
        self._index = np.zeros(1, dtype=np.int64)  # env ids for reset
        self._action = np.zeros(1, dtype=np.int32)  # reused every step
        self._paddle = np.ones(1, dtype=np.float32)
        self._frame_offset = 0  # frame_number - episode_frame_number of the current game
        self._score = 0.0
        self._length = 0

    def reset(self) -> np.ndarray:
        """Start a new game; return its first observation (4, 84, 84) uint8."""
        seed = -1 if self._seeded else self._seed  # -1: continue the RNG stream
        self._seeded = True
        obs, info = self._ale.reset(self._index, np.array([seed], dtype=np.int64))
        self._frame_offset = int(info["frame_number"][0]) - int(info["episode_frame_number"][0])
        self._score = 0.0
        self._length = 0
        return obs[0]

    def step(self, action: int) -> tuple[np.ndarray, float, bool, float | None, int]:
        """Act for one agent step (frame_skip frames); see the module docstring for the tuple."""
        # An out-of-range action makes ale-py's C++ thread drop the request: recv() would then
        # wait forever, so this check is not optional.
        if not 0 <= action < self.num_actions:
            raise EnvError(f"action {action!r} out of range: {self.game} has {self.num_actions}")
        self._action[0] = action
        self._ale.send(self._action, self._paddle)
        obs, rewards, terminated, truncated, info = self._ale.recv()
        reward = float(rewards[0])
        self._score += reward
        self._length += 1
        if terminated[0] or truncated[0]:
            return self._end_of_life_or_game(obs[0], reward, info)
        return obs[0], reward, False, None, 0

    def _end_of_life_or_game(
        self, obs: np.ndarray, reward: float, info: dict[str, Any]
    ) -> tuple[np.ndarray, float, bool, float | None, int]:
        offset = int(info["frame_number"][0]) - int(info["episode_frame_number"][0])
        if offset == self._frame_offset:  # same game: a life was lost, play on
            return obs, reward, True, None, 0
        self._frame_offset = offset  # ale-py reset the game; obs is the new game's first
        score, length = self._score, self._length
        self._score = 0.0
        self._length = 0
        return obs, reward, True, score, length

    def close(self) -> None:
        """Stop ale-py's thread and free the emulator (idempotent)."""
        self._ale = None

    def __repr__(self) -> str:
        return f"AtariEnv({self.game!r}, seed={self._seed}, num_actions={self.num_actions})"


class AtariVecEnv(_Closing):
    """k Atari games of one actor-learner, emulated by ale-py's C++ vector interface.

    The same pipeline and flags as :class:`AtariEnv` (see there), for `num_envs` games stepped
    together by one `step(actions)` (the worker protocol in the module docstring). Game e is
    seeded `seeds[e]`. `num_threads` ale-py threads emulate the games (A3C: 1, pinned to the
    worker's own core; A2C: one per core), starting at CPU `thread_affinity_offset` (-1: not
    pinned).
    """

    obs_dtype: np.dtype = np.dtype(np.uint8)

    def __init__(
        self,
        game: str,
        *,
        seeds: list[int],
        frame_skip: int = 4,
        noop_max: int = 30,
        repeat_action_probability: float = 0.0,
        episodic_life: bool = True,
        max_episode_steps: int = 108_000,
        num_threads: int = 1,
        thread_affinity_offset: int = -1,
        frame_stack: int = 4,
    ) -> None:
        self.game = resolve_game(game)
        if not seeds:
            raise EnvError("AtariVecEnv needs at least one seed (one per env)")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**31:
                raise EnvError(f"AtariVecEnv seed {s!r} is invalid: must be an int in [0, 2**31)")
        k = len(seeds)
        self._ale = _ale_vector_interface(
            self.game,
            k,
            frame_skip=frame_skip,
            noop_max=noop_max,
            repeat_action_probability=repeat_action_probability,
            episodic_life=episodic_life,
            max_episode_steps=max_episode_steps,
            num_threads=max(1, min(num_threads, k)),
            thread_affinity_offset=thread_affinity_offset,
            frame_stack=frame_stack,
        )
        self.num_envs: int = k
        self.num_actions: int = len(self._ale.get_action_set())
        self.obs_shape: tuple[int, ...] = (frame_stack, 84, 84)
        self._seeds = np.asarray(seeds, dtype=np.int64)
        self._ids = np.arange(k, dtype=np.int64)
        self._paddle = np.ones(k, dtype=np.float32)
        self._frame_offset = np.zeros(k, dtype=np.int64)
        self._score = np.zeros(k, dtype=np.float64)
        self._length = np.zeros(k, dtype=np.int64)
        self._no_end = np.full(k, np.nan)
        self._zeros = np.zeros(k, dtype=np.int64)

    def reset(self) -> np.ndarray:
        """Start k new games (seeded at the first call, continuing the RNG streams after);
        return their first observations (k, 4, 84, 84) uint8."""
        seeds, self._seeds = self._seeds, np.full(self.num_envs, -1, dtype=np.int64)
        obs, info = self._ale.reset(self._ids, seeds)
        obs, info = self._in_env_order(obs, info)
        self._frame_offset = info["frame_number"].astype(np.int64) - info["episode_frame_number"]
        self._score[:] = 0.0
        self._length[:] = 0
        return obs

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Act in every game for one agent step; see the module docstring for the tuple."""
        actions = np.asarray(actions, dtype=np.int32)
        # An out-of-range action makes ale-py's C++ thread drop the request: recv() would then
        # wait forever, so this check is not optional.
        if actions.shape != (self.num_envs,) or actions.min() < 0 or actions.max() >= self.num_actions:
            raise EnvError(
                f"actions {actions!r} invalid: need {self.num_envs} ints in [0, "
                f"{self.num_actions}) for {self.game}"
            )
        self._ale.send(actions, self._paddle)
        obs, rewards, terminated, truncated, info = self._ale.recv()
        obs, info, rewards, terminated, truncated = self._in_env_order(
            obs, info, rewards, terminated, truncated
        )
        rewards = rewards.astype(np.float32)
        self._score += rewards
        self._length += 1
        done = terminated | truncated
        if not done.any():
            return obs, rewards, done, self._no_end, self._zeros
        scores, lengths = self._no_end.copy(), self._zeros.copy()
        offset = info["frame_number"].astype(np.int64) - info["episode_frame_number"]
        for e in np.flatnonzero(done):
            if offset[e] == self._frame_offset[e]:  # same game: a life was lost, play on
                continue
            self._frame_offset[e] = offset[e]  # ale-py reset the game; obs[e] is the new game's
            scores[e], lengths[e] = self._score[e], self._length[e]
            self._score[e] = 0.0
            self._length[e] = 0
        return obs, rewards, done, scores, lengths

    def _in_env_order(self, obs: np.ndarray, info: dict[str, Any], *cols: np.ndarray) -> tuple[Any, ...]:
        # With batch_size == num_envs ale-py answers for every env; it returns them in env order
        # (checked here, cheaply), else they are sorted by info["env_id"].
        ids = info["env_id"]
        if np.array_equal(ids, self._ids):
            return (obs, info, *cols)
        order = np.argsort(ids)
        info = {key: v[order] for key, v in info.items()}
        return (np.ascontiguousarray(obs[order]), info, *(c[order] for c in cols))

    def close(self) -> None:
        """Stop ale-py's threads and free the emulators (idempotent)."""
        self._ale = None

    def __repr__(self) -> str:
        return f"AtariVecEnv({self.game!r}, num_envs={self.num_envs}, num_actions={self.num_actions})"


# ---------------------------------------------------------------------------------------------
# Any gymnasium env
# ---------------------------------------------------------------------------------------------


def _takes_seed(env_fn: Callable[..., Any]) -> bool:
    """True if `env_fn` should be called as env_fn(seed): it has a parameter named `seed`, or
    exactly one required positional parameter. Raises TypeError if it needs more arguments."""
    try:
        sig = inspect.signature(env_fn)
    except (TypeError, ValueError):  # builtins without a signature: call with no argument
        return False
    params = list(sig.parameters.values())
    if any(p.name == "seed" and p.kind is not p.VAR_KEYWORD for p in params):
        return True
    required = [
        p
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required_kw = [p for p in params if p.default is p.empty and p.kind is p.KEYWORD_ONLY]
    if len(required) > 1 or required_kw:
        raise TypeError(
            f"env_fn {getattr(env_fn, '__qualname__', env_fn)!r}{sig} must be callable with no "
            "argument or with one seed argument"
        )
    return len(required) == 1


def _make_from_env_fn(env_fn: Callable[..., Any], seed: int) -> Any:
    return env_fn(seed) if _takes_seed(env_fn) else env_fn()


class GymEnv(_Closing):
    """Adapter from a gymnasium env (Discrete actions) to the worker protocol.

    - Vector observations (any Box that is not a 3-D uint8 image, e.g. CartPole's (4,)) are
      flattened and converted to float32: obs_shape (D,), for arch "mlp".
    - 3-D uint8 Box observations are taken as (C, H, W) exactly as the env gives them (no
      transposition: wrap an HWC env with a channel-first wrapper, and scale/stack it yourself).
    - Discrete(n, start=s) action spaces only; action i is sent as s + i.
    - terminated or truncated -> terminal (truncation treated as terminal, see module doc);
      the env is then reset with seed `seed + games_played` and its first observation is
      returned with the finished game's score and length.
    - Exceptions raised by the user's env (or env_fn) propagate unchanged.

    Args:
        env_fn: a gymnasium.Env, or a factory: called as env_fn(seed) if it takes a `seed`
            parameter (or exactly one required positional one), else env_fn().
        seed: seeds the first reset (reset(seed=seed)) and the action space.
    """

    def __init__(self, env_fn: Any, *, seed: int = 0) -> None:
        import gymnasium
        from gymnasium import spaces

        env = env_fn if isinstance(env_fn, gymnasium.Env) else _make_from_env_fn(env_fn, seed)
        self._env = env
        try:
            action_space = env.action_space
            if not isinstance(action_space, spaces.Discrete):
                raise EnvError(
                    f"action space {action_space} of {env} is not supported: A3C here needs "
                    "a Discrete action space (discretise it, e.g. with a wrapper)"
                )
            obs_space = env.observation_space
            if not isinstance(obs_space, spaces.Box):
                raise EnvError(
                    f"observation space {obs_space} of {env} is not supported: wrap it into a "
                    "Box (e.g. one-hot a Discrete observation)"
                )
        except BaseException:
            env.close()
            raise
        self.num_actions: int = int(action_space.n)
        self._action_start = int(action_space.start)
        self._image = obs_space.dtype == np.uint8 and len(obs_space.shape) == 3
        if self._image:
            self.obs_shape: tuple[int, ...] = tuple(int(d) for d in obs_space.shape)
            self.obs_dtype: np.dtype = np.dtype(np.uint8)
        else:
            self.obs_shape = (int(np.prod(obs_space.shape)),)
            self.obs_dtype = np.dtype(np.float32)
        self._seed = seed
        self._games = 0
        self._score = 0.0
        self._length = 0
        action_space.seed(seed)

    def _convert(self, obs: Any) -> np.ndarray:
        if self._image:
            out = np.ascontiguousarray(obs)
            if out.dtype != np.uint8:
                raise EnvError(f"{self._env} returned an image of dtype {out.dtype}, not uint8")
        else:
            out = np.ascontiguousarray(obs, dtype=np.float32).reshape(-1)
        if out.shape != self.obs_shape:
            raise EnvError(
                f"{self._env} returned an observation of shape {np.shape(obs)}, "
                f"expecting {self.obs_shape} (from its observation_space)"
            )
        return out

    def reset(self) -> np.ndarray:
        """Start a new episode (seeded `seed + games_played`) and return its first obs."""
        obs, _ = self._env.reset(seed=self._seed + self._games)
        self._score = 0.0
        self._length = 0
        return self._convert(obs)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, float | None, int]:
        """One env step; see the module docstring for the returned tuple."""
        obs, reward, terminated, truncated, _ = self._env.step(self._action_start + action)
        reward = float(reward)
        self._score += reward
        self._length += 1
        if terminated or truncated:
            score, length = self._score, self._length
            self._games += 1
            return self.reset(), reward, True, score, length
        return self._convert(obs), reward, False, None, 0

    def close(self) -> None:
        """Close the wrapped env (idempotent)."""
        if self._env is not None:
            env, self._env = self._env, None
            env.close()

    @property
    def unwrapped(self) -> Any:
        """The wrapped gymnasium env."""
        return self._env


class GymVecEnv(_Closing):
    """k copies of a gymnasium env (`GymEnv` each) behind the worker protocol, stepped one
    after another on the worker's thread. Copy e is built and seeded with `seeds[e]`."""

    def __init__(self, env_fn: Any, *, seeds: list[int]) -> None:
        if not seeds:
            raise EnvError("GymVecEnv needs at least one seed (one per env)")
        self._envs: list[GymEnv] = []
        try:
            for s in seeds:
                self._envs.append(GymEnv(env_fn, seed=s))
        except BaseException:
            self.close()
            raise
        first = self._envs[0]
        self.num_envs: int = len(self._envs)
        self.num_actions: int = first.num_actions
        self.obs_shape: tuple[int, ...] = first.obs_shape
        self.obs_dtype: np.dtype = first.obs_dtype
        k = self.num_envs
        self._obs = np.zeros((k, *self.obs_shape), dtype=self.obs_dtype)
        self._rewards = np.zeros(k, dtype=np.float32)
        self._terminals = np.zeros(k, dtype=bool)
        self._scores = np.full(k, np.nan)
        self._lengths = np.zeros(k, dtype=np.int64)

    def reset(self) -> np.ndarray:
        """Reset every copy; their first observations, (k, *obs_shape)."""
        for e, env in enumerate(self._envs):
            self._obs[e] = env.reset()
        return self._obs

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One step of every copy; see the module docstring for the tuple."""
        for e, env in enumerate(self._envs):
            obs, reward, terminal, score, length = env.step(int(actions[e]))
            self._obs[e] = obs
            self._rewards[e] = reward
            self._terminals[e] = terminal
            self._scores[e] = np.nan if score is None else score
            self._lengths[e] = length
        return self._obs, self._rewards, self._terminals, self._scores, self._lengths

    def close(self) -> None:
        """Close every copy (idempotent)."""
        envs, self._envs = self._envs, []
        for env in envs:
            env.close()


# ---------------------------------------------------------------------------------------------
# One env per worker
# ---------------------------------------------------------------------------------------------


def _make_env(cfg: A3CConfig, seed: int, cpu: int) -> AtariEnv | GymEnv:
    if cfg.env_fn is not None:
        return GymEnv(cfg.env_fn, seed=seed)
    return AtariEnv(
        cfg.game,
        seed=seed,
        frame_skip=cfg.frame_skip,
        noop_max=cfg.noop_max,
        repeat_action_probability=cfg.repeat_action_probability,
        episodic_life=cfg.episodic_life,
        max_episode_steps=cfg.max_episode_steps,
        thread_affinity_offset=cpu,
        frame_stack=cfg.frame_stack,
    )


def _allowed_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))  # pragma: no cover - macOS/Windows


def emulator_threads(cfg: A3CConfig) -> int:
    """ale-py emulator threads of each worker's vector env: `cfg.env_threads`, or when that is
    0, the cores left to each worker: 1 with a worker per core (A3C), all of them with one
    worker (A2C), never more than the worker's envs."""
    n = cfg.env_threads or max(1, len(_allowed_cpus()) // cfg.threads)
    return max(1, min(n, cfg.envs_per_thread))


def make_worker_envs(cfg: A3CConfig, num_workers: int | None = None) -> list[AtariVecEnv | GymVecEnv]:
    """Build one vector env of `cfg.envs_per_thread` (k) envs per worker (default
    `cfg.threads` workers), not yet reset.

    Env e of worker i is seeded `derive_seed(cfg.seed, i * k + e)` (with k = 1, worker i's
    seed as before batching). With `cfg.pin_threads` the ale-py threads of worker i start at
    CPU `worker_cpu(i)` (pin the worker thread to the same CPU). `cfg.env_fn`, when set, is
    used instead of `cfg.game`. If building one env fails, the ones already built are closed
    and the error propagates.
    """
    n = cfg.threads if num_workers is None else num_workers
    k = cfg.envs_per_thread
    nthreads = emulator_threads(cfg)
    envs: list[AtariVecEnv | GymVecEnv] = []
    try:
        for i in range(n):
            seeds = [derive_seed(cfg.seed, i * k + e) for e in range(k)]
            if cfg.env_fn is not None:
                envs.append(GymVecEnv(cfg.env_fn, seeds=seeds))
                continue
            envs.append(
                AtariVecEnv(
                    cfg.game,
                    seeds=seeds,
                    frame_skip=cfg.frame_skip,
                    noop_max=cfg.noop_max,
                    repeat_action_probability=cfg.repeat_action_probability,
                    episodic_life=cfg.episodic_life,
                    max_episode_steps=cfg.max_episode_steps,
                    num_threads=nthreads,
                    thread_affinity_offset=worker_cpu(i, pin=cfg.pin_threads),
                    frame_stack=cfg.frame_stack,
                )
            )
    except BaseException:
        for env in envs:
            env.close()
        raise
    return envs


def probe_env(cfg: A3CConfig) -> tuple[tuple[int, ...], np.dtype, int]:
    """(obs_shape, obs_dtype, num_actions) of the env `cfg` describes; the env is closed after."""
    env = _make_env(cfg, derive_seed(cfg.seed, 0), -1)
    try:
        return env.obs_shape, env.obs_dtype, env.num_actions
    finally:
        env.close()
