"""One actor-learner's updates against an independent float64 NumPy Algorithm S3.

A scripted env records every transition the worker saw (observations, the actions it sampled,
rewards, terminals). The NumPy reference written below replays them: per rollout, the n-step
returns of every env (cut at terminals, bootstrapped with the reference network's V(s_T)), the
summed A3C loss's gradient (tests/reference/numpy_net.py), the global-norm clip, the linear lr
schedule and shared RMSProp with eps inside or outside the root, in float64. theta and g of
the native run (one thread, update="locked", k envs) must match after one update and after
several. Only the sampled actions come from the native side: they are inputs, not results.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from reference import numpy_net as ref

from a3c_native import A3CConfig, Network, train
from a3c_native.envs import derive_seed

D, A = 5, 3
K, T_MAX = 3, 4

# float32 native arithmetic vs float64 over a few updates whose steps are ~lr: the parameters
# agree to ~1e-6 of their scale; g is a sum of squares of clipped float32 gradients.
THETA_ATOL = 2e-5
G_RTOL = 2e-3


class ScriptedEnv(gym.Env):
    """Observations follow a fixed sequence of (seed, t); reward +1 if action == t % A else
    -0.5 (raw +2 every 5th step, so clipping to 1 matters); the episode ends after
    3 + seed % 4 steps, so the k envs end at different steps, inside and across rollouts."""

    observation_space = spaces.Box(-np.inf, np.inf, (D,), np.float32)
    action_space = spaces.Discrete(A)

    def __init__(self, seed: int) -> None:
        self.seed_ = seed
        self.length = 3 + seed % 4
        self.log: list[tuple[np.ndarray, int, float, bool]] = []  # (obs, action, reward, done)
        self.t = 0
        self.obs = self._make_obs()

    def _make_obs(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed_, len(self.log)])
        return rng.normal(size=D).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        self.obs = self._make_obs()
        return self.obs, {}

    def step(self, action):
        action = int(action)
        reward = 1.0 if action == self.t % A else -0.5
        if len(self.log) % 5 == 4:
            reward *= 2.0
        self.t += 1
        done = self.t >= self.length
        self.log.append((self.obs, action, reward, done))
        self.obs = self._make_obs()
        return self.obs, reward, done, False, {}


def _reference(p0, g0, envs, cfg, start_step, updates, spec):
    """Algorithm S3 in float64 over the recorded transitions (slot order t * K + e)."""
    theta, g = p0.astype(np.float64), g0.astype(np.float64)
    clipped: list[bool] = []
    for i in range(updates):
        sd = ref.split_params(theta, spec)
        obs = np.zeros((T_MAX, K, D))
        acts = np.zeros((T_MAX, K), np.int64)
        rets = np.zeros((T_MAX, K))
        for e, env in enumerate(envs):
            steps = env.log[i * T_MAX : (i + 1) * T_MAX]
            last_done = steps[-1][3]
            if last_done:
                R = 0.0
            else:
                nxt = env.log[(i + 1) * T_MAX][0] if len(env.log) > (i + 1) * T_MAX else env.obs
                R = float(ref.forward(sd, nxt[None].astype(np.float64))[1][0])
            for t in range(T_MAX - 1, -1, -1):
                o, a, r, done = steps[t]
                if done:
                    R = 0.0
                R = float(np.clip(r, -cfg.reward_clip, cfg.reward_clip)) + cfg.gamma * R
                obs[t, e], acts[t, e], rets[t, e] = o, a, R
        _, grads = ref.loss_and_grad(
            sd, obs.reshape(-1, D), acts.reshape(-1), rets.reshape(-1),
            entropy_beta=cfg.entropy_beta, value_coef=cfg.value_coef, reduction="sum",
        )  # fmt: skip
        d = np.concatenate([grads[name].reshape(-1) for name, _ in spec])
        norm = np.linalg.norm(d)
        clipped.append(cfg.grad_clip > 0 and norm > cfg.grad_clip)
        if cfg.grad_clip > 0 and norm > cfg.grad_clip:
            d *= cfg.grad_clip / norm
        T_global = start_step + (i + 1) * K * T_MAX  # the step count when the update is applied
        lr = cfg.lr * max(0.0, 1.0 - T_global / cfg.total_steps)
        a = cfg.rmsprop_alpha
        g = a * g + (1 - a) * d * d
        if cfg.rmsprop_eps_placement == "inside":
            theta = theta - lr * d / np.sqrt(g + cfg.rmsprop_eps)
        else:
            theta = theta - lr * d / (np.sqrt(g) + cfg.rmsprop_eps)
    return theta, g, clipped


# The step budget ends the run, and the lr schedule reaches 0 exactly there, so the last of N
# updates has lr 0: with N = 2, theta is checked after one update (and g after two).
@pytest.mark.parametrize("updates", [2, 5])
@pytest.mark.parametrize("placement", ["inside", "outside"])
def test_updates_match_numpy_algorithm_s3(updates, placement):
    made: dict[int, ScriptedEnv] = {}

    def env_fn(seed: int) -> ScriptedEnv:
        made[seed] = ScriptedEnv(seed)
        return made[seed]

    total = updates * K * T_MAX  # the budget is exactly `updates` rollouts
    start = 0
    cfg = A3CConfig(
        env_fn=env_fn, arch="mlp", hidden=(8, 8), threads=1, envs_per_thread=K, t_max=T_MAX,
        update="locked", total_steps=total, gamma=0.9, lr=0.01, rmsprop_eps=1e-3,
        rmsprop_eps_placement=placement, grad_clip=0.5, entropy_beta=0.02, value_coef=0.5,
        seed=7, tensorboard=False,
    )  # fmt: skip
    net = Network("mlp", (D,), A, hidden=(8, 8))
    p0 = net.init_params(11)
    g0 = np.full(net.num_params, 1e-4, np.float32)
    r = train(cfg, params=p0, rms=g0, start_step=start)
    assert r.updates == updates and r.skipped_updates == 0
    envs = [made[derive_seed(cfg.seed, e)] for e in range(K)]
    assert all(len(env.log) == updates * T_MAX for env in envs)
    assert any(done for env in envs for *_, done in env.log[:T_MAX][:-1]), "a terminal mid-rollout"
    spec = ref.param_spec("mlp", (D,), A, (8, 8))
    theta, g, clipped = _reference(p0, g0, envs, cfg, start, updates, spec)
    assert any(clipped), "the test must exercise the gradient clip"
    assert not np.allclose(theta, p0)
    err = np.abs(r.params - theta)
    worst = int(np.argmax(err))
    assert err.max() <= THETA_ATOL, (
        f"theta after {updates} update(s) at index {worst}: got {r.params[worst]!r}, want "
        f"{theta[worst]!r}, max diff {err.max():.3g}"
    )
    np.testing.assert_allclose(r.rms, g, rtol=G_RTOL, atol=1e-9)
