# Types of the private native module a3c_native._core (cpp/bindings/*.cc). Hand-written from
# `pybind11-stubgen a3c_native._core` output, with the array dtypes/shapes and the dict and
# tuple contents the bindings document; tests/test_core_stubs.py checks that this file names
# every public attribute of the built module and nothing it lacks. Shapes in comments: P
# parameters, N observations, A actions, T rollout steps, k envs.
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

__version__: str

# --- kernels (bind_nn.cc) --------------------------------------------------------------------

def kernel_isa() -> str:
    """The kernel set in use: 'avx2' or 'scalar'."""

def set_kernel_isa(isa: str) -> None:
    """Select the kernel set ('avx2' or 'scalar'). RuntimeError while a training pool runs,
    ValueError for an unknown set or one the CPU lacks."""

def cpu_has_avx2() -> bool: ...

class NetworkCore:
    def __init__(
        self,
        arch: str,
        obs_shape: Sequence[int],
        num_actions: int,
        hidden: Sequence[int],
        q_values: bool = False,
    ) -> None: ...
    @property
    def q_values(self) -> bool: ...  # action-value head (value-based methods)
    @property
    def arch(self) -> str: ...
    @property
    def obs_shape(self) -> tuple[int, ...]: ...
    @property
    def obs_is_uint8(self) -> bool: ...
    @property
    def num_actions(self) -> int: ...
    @property
    def num_params(self) -> int: ...
    @property
    def flops_forward(self) -> float: ...
    @property
    def layout(self) -> list[tuple[str, tuple[int, ...], int, int]]:
        """(name, shape, offset, size) of every tensor in the flat parameter vector."""
    def init_params(self, seed: int) -> NDArray[np.float32]: ...  # [P]
    @property
    def state_size(self) -> int: ...  # LSTM cells H, 0 for the feed-forward archs
    def forward(
        self,
        params: NDArray[np.float32],
        obs: NDArray[Any],
        h: NDArray[np.float32] | None = None,  # [N, H], recurrent archs only
        c: NDArray[np.float32] | None = None,
    ) -> tuple[NDArray[np.float32], ...]: ...  # logits [N, A], values [N] (, h, c [N, H]); q nets: (Q [N, A],)
    def q_loss_and_grad(
        self,
        params: NDArray[np.float32],
        obs: NDArray[Any],
        actions: NDArray[np.int64] | NDArray[np.int32],
        targets: NDArray[np.float32],
        reduction: str,
        out: NDArray[np.float32] | None = None,
    ) -> tuple[float, NDArray[np.float32]]: ...  # TD loss, grad [P]
    def loss_and_grad(
        self,
        params: NDArray[np.float32],
        obs: NDArray[Any],
        actions: NDArray[np.int64] | NDArray[np.int32],
        returns: NDArray[np.float32],
        entropy_beta: float,
        value_coef: float,
        reduction: str,
        out: NDArray[np.float32] | None = None,
    ) -> tuple[dict[str, float], NDArray[np.float32]]: ...  # terms, grad [P]
    def loss_and_grad_recurrent(
        self,
        params: NDArray[np.float32],
        obs: NDArray[Any],  # [T*k, *obs_shape], slot t*k + e
        T: int,
        k: int,
        actions: NDArray[np.int64] | NDArray[np.int32],  # [T*k]
        returns: NDArray[np.float32],  # [T*k]
        resets: NDArray[np.bool_],  # [T*k]
        h: NDArray[np.float32] | None,  # [k, H]
        c: NDArray[np.float32] | None,
        entropy_beta: float,
        value_coef: float,
        reduction: str,
        out: NDArray[np.float32] | None = None,
    ) -> tuple[dict[str, float], NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]: ...

# --- the actor-learner pool (bind_train.cc) --------------------------------------------------

class EpsPlacement:
    """Where RMSProp's eps sits: A3CConfig.rmsprop_eps_placement."""

    inside: ClassVar[EpsPlacement]
    outside: ClassVar[EpsPlacement]
    __members__: ClassVar[dict[str, EpsPlacement]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class EpsilonDraw:
    """A3CConfig.epsilon_draw."""

    env: ClassVar[EpsilonDraw]
    thread: ClassVar[EpsilonDraw]
    __members__: ClassVar[dict[str, EpsilonDraw]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class LossReduction:
    """A3CConfig.loss_reduction."""

    sum: ClassVar[LossReduction]
    mean: ClassVar[LossReduction]
    __members__: ClassVar[dict[str, LossReduction]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Method:
    """A3CConfig.method."""

    a3c: ClassVar[Method]
    one_step_q: ClassVar[Method]
    one_step_sarsa: ClassVar[Method]
    n_step_q: ClassVar[Method]
    __members__: ClassVar[dict[str, Method]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class UpdateMode:
    """A3CConfig.update."""

    hogwild: ClassVar[UpdateMode]
    locked: ClassVar[UpdateMode]
    __members__: ClassVar[dict[str, UpdateMode]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class TrainOptions:
    """The native pool's settings, with no defaults: every field starts unset (-1, NaN, no
    CPUs) and validate() (and Trainer) refuse it. Filled from an A3CConfig by
    a3c_native.native_options.native_options, the one mapping; see A3CConfig for each
    field's meaning (start_step, start_seconds: where a resumed run continues from)."""

    threads: int
    total_steps: int
    start_step: int
    max_seconds: float
    lr_anneal_seconds: float
    start_seconds: float
    method: Method
    target_update_steps: int
    epsilon_anneal_steps: int
    epsilon_draw: EpsilonDraw
    t_max: int
    gamma: float
    lr: float
    entropy_beta: float
    value_coef: float
    rmsprop_alpha: float
    rmsprop_eps: float
    rmsprop_eps_placement: EpsPlacement
    grad_clip: float
    loss_reduction: LossReduction
    reward_clip: float
    seed: int
    update: UpdateMode
    worker_cpus: list[int]  # one per thread, -1 = not pinned (assign a list; no in-place edits)
    def __init__(self) -> None: ...
    def validate(self) -> None:
        """Raise ValueError naming every field not set, else the first one out of range."""

class Episode:
    """One whole game that ended during a run."""

    @property
    def wall_time(self) -> float: ...  # seconds since the run started
    @property
    def step(self) -> int: ...  # global agent step count when the game ended
    @property
    def worker(self) -> int: ...
    @property
    def score(self) -> float: ...  # unclipped
    @property
    def length(self) -> int: ...  # agent steps
    @property
    def epsilon(self) -> float: ...  # the env's exploration epsilon at the game's end; NaN for A3C

class RunStats:
    """The pool's statistics at one moment: what Trainer.run returns and its callback receives.
    Counts, staleness and the *_seconds timings (summed over workers) are cumulative over the
    run; episodes and the loss means cover the time since the previous RunStats."""

    @property
    def steps(self) -> int: ...
    @property
    def run_steps(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def lr(self) -> float: ...
    @property
    def updates(self) -> int: ...
    @property
    def skipped_updates(self) -> int: ...
    @property
    def staleness_hist(self) -> NDArray[np.int64]: ...  # [64], bin 63 = 63 or more
    @property
    def staleness_mean(self) -> float: ...
    @property
    def gil_wait_seconds(self) -> float: ...
    @property
    def env_call_seconds(self) -> float: ...
    @property
    def env_call_cpu_seconds(self) -> float: ...
    @property
    def env_seconds(self) -> float: ...
    @property
    def net_seconds(self) -> float: ...
    @property
    def update_seconds(self) -> float: ...
    @property
    def episodes(self) -> list[Episode]: ...
    @property
    def loss_count(self) -> int: ...
    @property
    def policy_loss(self) -> float: ...
    @property
    def value_loss(self) -> float: ...
    @property
    def entropy(self) -> float: ...
    @property
    def epsilons(self) -> list[float]: ...  # value-based methods: each worker's mean epsilon
    @property
    def mean_max_q(self) -> float: ...  # value-based methods: mean max_a Q over acting steps
    @property
    def target_refreshes(self) -> int: ...  # value-based methods: in this run
    @property
    def stopped_by_callback(self) -> bool: ...
    @property
    def interrupted(self) -> bool: ...

class SyntheticEnv:
    """A zero-cost C++ environment (random frames, no Python): for timing the network and the
    update alone, and for sanitizer runs."""

    def __init__(self, seed: int = 0, episode_length: int = 1000, num_envs: int = 1) -> None: ...
    @property
    def num_envs(self) -> int: ...

def probe_rollout(
    net: NetworkCore,
    params: NDArray[np.float32],
    env: Any,
    options: TrainOptions,
    rollouts: int = 1,
    target: NDArray[np.float32] | None = None,
    global_step: int = 0,
) -> dict[str, Any]:
    """Runs `rollouts` rollouts of one learner (options.method's) from `params` on `env` and
    returns the last one's record: obs/actions/rewards/terminals/returns/values [T, k, ...],
    next_obs [k, ...], grad [P], the loss terms and the games that ended; recurrent archs also
    state_h0/state_c0 (the state entering that rollout) and state_h/state_c (after it), [k, H].
    Value-based methods: targets [T, k] and q [T, k, A] instead of returns and values, the
    envs' epsilons and final_epsilons at `global_step`, Sarsa's next_actions [k]; `target` is
    theta^- (default: params)."""

class Trainer:
    def __init__(
        self,
        net: NetworkCore,
        params: NDArray[np.float32],
        rms: NDArray[np.float32] | None,
        options: TrainOptions,
        target: NDArray[np.float32] | None = None,
    ) -> None: ...
    def run(
        self,
        envs: list[Any],
        callback: Callable[[RunStats], bool | None] | None,
        interval: float,
    ) -> RunStats: ...
    def state(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """(params, rms): copies of the shared parameters and RMSProp statistics, read in one
        call (one state under update='locked'; a Hogwild read during a hogwild run)."""
    def target_params(self) -> NDArray[np.float32] | None:
        """A copy of the shared target network (value-based methods), None for a3c."""
    def request_stop(self) -> None:
        """Stop the run as a budget would (safe from a signal handler; never blocks)."""
    def shift_params(self, before: NDArray[np.float32], after: NDArray[np.float32]) -> None:
        """theta += after - before in the live shared buffer (a Hogwild write; the cluster mode's
        exchange folds the global parameters in with it while the workers run)."""
    def add_external_steps(self, n: int) -> None:
        """Count n agent steps done elsewhere (other cluster nodes) toward the global step: the lr
        schedule, epsilon, target refreshes and the total_steps budget."""
    @property
    def steps(self) -> int: ...
