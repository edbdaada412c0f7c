"""The value-based learners (issue 20: one-step Q, one-step Sarsa, n-step Q in the Hogwild
pool). One rollout of each, with terminals inside it, against an independent float64 NumPy
computation from its record: the targets from the target network, and the gradient of the TD
loss (NumPy's by hand, and central finite differences of NumPy's loss). Also: the paper's
exploration schedule, Sarsa's carried action, the target network's refreshes (never written
by the learning update), and that runs, checkpoints, resume, policies and the CLI work for
every method."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from conftest import assert_q_gradient
from reference import numpy_net as ref

from a3c_native import A3CConfig, Network, Policy, _core, evaluate, load_checkpoint, train
from a3c_native.errors import CheckpointError, ConfigError
from a3c_native.native_options import native_options
from a3c_native.rundir import read_episodes

VALUE_METHODS = ("one_step_q", "one_step_sarsa", "n_step_q")
GAMMA = 0.9


def cartpole(seed: int | None = None) -> gym.Env:
    return gym.make("CartPole-v1")


def _options(method: str, t_max: int, **kw) -> _core.TrainOptions:
    cfg = A3CConfig(env_fn=cartpole, arch="mlp", method=method, t_max=t_max, gamma=GAMMA, **kw)
    return native_options(cfg)


def _q_net(obs_dim: int = 6, actions: int = 3) -> Network:
    return Network("mlp", (obs_dim,), actions, hidden=(16, 16), head="q")


def _targets64(method: str, sd_target: dict, rec: dict) -> np.ndarray:
    """y_t of `method` in float64 from the rollout's record and theta^-."""
    obs, actions = rec["obs"], rec["actions"]
    T, k = actions.shape
    # s_{t+1}: the next slot's observation, s_T for the last row (after a terminal it is the
    # next game's first: the target then does not bootstrap).
    nxt = np.concatenate([obs[1:], rec["next_obs"][None]], axis=0)
    qn = ref.q_forward_cache(sd_target, nxt.reshape(T * k, *obs.shape[2:]))[0].reshape(T, k, -1)
    r = rec["rewards"].astype(np.float64)
    term = rec["terminals"]
    if method == "n_step_q":
        R = qn[-1].max(axis=1)
        y = np.zeros((T, k))
        for t in reversed(range(T)):
            R = r[t] + GAMMA * np.where(term[t], 0.0, R)
            y[t] = R
        return y
    if method == "one_step_q":
        boot = qn.max(axis=2)
    else:
        next_actions = np.concatenate([actions[1:], np.asarray(rec["next_actions"])[None]], axis=0)
        boot = np.take_along_axis(qn, next_actions[..., None], axis=2)[..., 0]
    return r + GAMMA * np.where(term, 0.0, boot)


def _probe(method, *, k=4, t_max=7, episode_length=3, rollouts=2, global_step=0, net=None, **kw):
    net = net or _q_net()
    params = net.init_params(5)
    target = net.init_params(6)  # theta^- differs from theta: a mix-up of the two shows
    env = _core.SyntheticEnv(seed=2, episode_length=episode_length, num_envs=k)
    rec = _core.probe_rollout(net._core, params, env, _options(method, t_max, **kw), rollouts=rollouts,
                              target=target, global_step=global_step)  # fmt: skip
    return net, params, target, rec


@pytest.mark.parametrize("method", VALUE_METHODS)
def test_targets_and_gradient_match_numpy_and_finite_differences(method):
    net, params, target, rec = _probe(method)
    T, k = rec["actions"].shape
    assert rec["terminals"].any() and not rec["terminals"].all(), "terminals inside the rollout"
    spec = ref.q_param_spec("mlp", (6,), 3, (16, 16))
    sd, sd_target = ref.split_params(params, spec), ref.split_params(target, spec)
    y = _targets64(method, sd_target, rec)
    np.testing.assert_allclose(rec["targets"], y, rtol=1e-5, atol=1e-5)
    q64 = ref.q_forward_cache(sd, rec["obs"].reshape(T * k, -1))[0]
    np.testing.assert_allclose(rec["q"].reshape(T * k, -1), q64, atol=1e-5)

    obs = rec["obs"].reshape(T * k, -1)
    actions = rec["actions"].reshape(-1)
    targets = rec["targets"].reshape(-1)  # constants of the loss (float32, as the learner used)
    loss, _ = ref.q_loss_and_grad(sd, obs, actions, targets)
    assert rec["total"] == pytest.approx(loss, rel=1e-5)
    assert_q_gradient(ref.split_params(rec["grad"], spec), sd, obs, actions, targets, seed=3)


@pytest.mark.parametrize("method", VALUE_METHODS)
def test_every_env_bootstraps_when_no_game_ends(method):
    net, params, target, rec = _probe(method, k=3, t_max=5, episode_length=1000)
    assert not rec["terminals"].any()
    sd_target = ref.split_params(target, ref.q_param_spec("mlp", (6,), 3, (16, 16)))
    np.testing.assert_allclose(rec["targets"], _targets64(method, sd_target, rec), rtol=1e-5, atol=1e-5)


def test_conv_net_targets_match_numpy():
    net = Network("a3c", (4, 84, 84), 3, head="q")
    _, params, target, rec = _probe("one_step_q", k=2, t_max=3, episode_length=2, rollouts=1, net=net)
    spec = ref.q_param_spec("a3c", (4, 84, 84), 3)
    y = _targets64("one_step_q", ref.split_params(target, spec), rec)
    np.testing.assert_allclose(rec["targets"], y, rtol=1e-4, atol=1e-4)


def test_sarsa_takes_the_action_its_target_used():
    # Same seeds: the first rollout of both probes is the same; Sarsa's a_T chosen at its end
    # must be the action the second rollout starts with.
    *_, one = _probe("one_step_sarsa", rollouts=1)
    *_, two = _probe("one_step_sarsa", rollouts=2)
    np.testing.assert_array_equal(two["actions"][0], one["next_actions"])


def test_exploration_schedule_is_the_papers():
    k = 2000
    kw = dict(k=k, t_max=1, episode_length=1000, rollouts=1, epsilon_anneal_steps=1000)
    *_, start = _probe("n_step_q", global_step=0, **kw)
    np.testing.assert_array_equal(start["epsilons"], 1.0)
    *_, half = _probe("n_step_q", global_step=500, **kw)
    final = np.asarray(half["final_epsilons"])
    np.testing.assert_allclose(half["epsilons"], 1.0 + (final - 1.0) * 0.5)
    *_, end = _probe("n_step_q", global_step=5000, **kw)
    np.testing.assert_array_equal(end["epsilons"], final)
    values, counts = np.unique(final, return_counts=True)
    np.testing.assert_allclose(values, [0.01, 0.1, 0.5])
    np.testing.assert_allclose(counts[[1, 0, 2]] / k, [0.4, 0.3, 0.3], atol=0.04)
    # Acting: at epsilon 0.01 almost every action is the argmax; at epsilon 1, a third is.
    greedy = end["actions"][0] == end["q"][0].argmax(axis=1)
    assert greedy[final == 0.01].mean() > 0.97
    assert abs((start["actions"][0] == start["q"][0].argmax(axis=1)).mean() - 1 / 3) < 0.05


def test_per_thread_draws_give_all_of_a_learners_envs_one_final_epsilon():
    finals = []
    for seed in range(300):
        *_, rec = _probe("n_step_q", k=4, t_max=1, rollouts=1, seed=seed, epsilon_draw="thread")
        final = np.asarray(rec["final_epsilons"])
        assert (final == final[0]).all(), final
        finals.append(final[0])
    values, counts = np.unique(finals, return_counts=True)
    np.testing.assert_allclose(values, [0.01, 0.1, 0.5])
    np.testing.assert_allclose(counts[[1, 0, 2]] / len(finals), [0.4, 0.3, 0.3], atol=0.09)
    # The default draws per env: 4 envs of one learner are not all alike on most seeds.
    mixed = [np.unique(_probe("n_step_q", k=4, t_max=1, rollouts=1, seed=s)[3]["final_epsilons"]).size > 1
             for s in range(20)]  # fmt: skip
    assert sum(mixed) >= 10


def test_per_thread_draws_reach_the_pool():
    # No anneal: every game plays at its env's final epsilon (with an anneal, a thread held off
    # the CPU can end a game at a step past the anneal with the epsilon of an earlier one).
    cfg = _cfg(threads=2, update="hogwild", envs_per_thread=4, total_steps=3000, epsilon_draw="thread",
               epsilon_anneal_steps=0)  # fmt: skip
    games = [(e.worker, round(e.epsilon, 6)) for e in train(cfg).episodes]
    for w in (0, 1):
        seen = {eps for worker, eps in games if worker == w}
        assert len(seen) == 1 and seen <= {0.01, 0.1, 0.5}, games


def test_epsilon_draw_is_checked_by_name():
    with pytest.raises(ConfigError, match="epsilon_draw"):
        A3CConfig(env_fn=cartpole, arch="mlp", method="n_step_q", epsilon_draw="worker")


def _cfg(tmp_path=None, **kw) -> A3CConfig:
    base = dict(env_fn=cartpole, arch="mlp", hidden=(32, 32), threads=1, envs_per_thread=2, t_max=5,
                total_steps=1000, method="n_step_q", update="locked", log_interval_seconds=0.25,
                target_update_steps=50, epsilon_anneal_steps=500)  # fmt: skip
    if tmp_path is not None:
        base["run_dir"] = str(tmp_path / "run")
    base.update(kw)
    return A3CConfig(**base)


@pytest.mark.parametrize("update, threads", [("locked", 1), ("hogwild", 2)])
def test_target_network_is_only_written_by_its_refreshes(update, threads):
    cfg = _cfg(target_update_steps=10**6, update=update, threads=threads)  # no boundary within the run
    init = Network("mlp", (4,), 2, hidden=(32, 32), head="q").init_params(cfg.seed)
    r = train(cfg)
    assert r.target_refreshes == 0
    np.testing.assert_array_equal(r.target_params, init)
    assert not np.array_equal(r.params, init), "the learning update moved theta"
    # Refreshes at every 50 steps the pool crosses (rollouts of 10 steps): 50, 100, ..., 950.
    r = train(_cfg(update=update, threads=threads))
    assert r.target_refreshes == 19
    assert not np.array_equal(r.target_params, init)


def test_progress_reports_exploration_for_value_based_methods_only():
    seen = []
    train(_cfg(total_steps=4000, log_interval_seconds=0.01), callback=seen.append)
    p = seen[-1]
    assert len(p.epsilons) == 1 and 0.0 < p.epsilons[0] < 1.0  # one worker, annealing
    assert p.mean_max_q is not None and np.isfinite(p.mean_max_q)
    assert p.target_refreshes >= 1
    seen.clear()
    a3c = train(_cfg(method="a3c", total_steps=4000, log_interval_seconds=0.01), callback=seen.append)
    assert seen[-1].epsilons == () and seen[-1].mean_max_q is None and a3c.target_params is None


def test_each_game_records_its_envs_epsilon_for_value_based_methods_only(tmp_path):
    r = train(_cfg(tmp_path, total_steps=4000))
    eps = np.array([e.epsilon for e in r.episodes], dtype=np.float64)
    steps = np.array([e.step for e in r.episodes])
    assert len(eps) > 20 and ((eps >= 0.01) & (eps <= 1.0)).all()
    # Past the anneal (500 steps, + a rollout of slack) every game ends at its env's final value.
    late = eps[steps > 600]
    assert late.size and np.isin(np.round(late, 6), [0.01, 0.1, 0.5]).all()
    assert eps[steps < 250].min() > 0.5  # still near 1 at the start
    logged = read_episodes(tmp_path / "run")
    np.testing.assert_allclose(np.sort(logged["epsilon"]), np.sort(eps), rtol=1e-3)
    a3c = train(_cfg(tmp_path / "a3c", method="a3c", total_steps=2000))
    assert a3c.episodes and all(e.epsilon is None for e in a3c.episodes)
    assert np.isnan(read_episodes(tmp_path / "a3c" / "run")["epsilon"]).all()


@pytest.mark.parametrize("method", VALUE_METHODS)
def test_runs_checkpoints_resumes_and_evaluates(tmp_path, method):
    cfg = _cfg(tmp_path, method=method)
    r = train(cfg)
    assert r.total_steps >= 1000 and r.target_refreshes > 0
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert ckpt.head == "q" and ckpt.config["method"] == method
    np.testing.assert_array_equal(ckpt.target, r.target_params)
    # Resume: the target is restored from the checkpoint, and the schedule continues.
    more = train(_cfg(tmp_path, method=method, total_steps=1500), resume=tmp_path / "run" / "checkpoint.npz")
    assert more.total_steps >= 1500 and more.run_steps < 1000
    policy = Policy.load(tmp_path / "run" / "checkpoint.npz")
    assert policy.value_based and policy.epsilon == 0.05
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(policy.act(obs, deterministic=True), policy.q_values(obs).argmax(axis=1))
    p = policy.probabilities(obs)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p.max(axis=1), 0.975)
    assert policy.value(obs[0]) == pytest.approx(float(policy.q_values(obs[0]).max()))
    ev = evaluate(tmp_path / "run" / "checkpoint.npz", env_fn=cartpole, episodes=2)
    assert len(ev.scores) == 2


def test_value_based_policy_acts_epsilon_greedily():
    net = _q_net(4, 2)
    params = net.init_params(0)
    policy = Policy(net, params, epsilon=0.3, seed=1)
    obs = np.random.default_rng(0).normal(size=(4000, 4)).astype(np.float32)
    greedy = policy.q_values(obs).argmax(axis=1)
    acts = policy.act(obs)
    assert abs((acts != greedy).mean() - 0.15) < 0.02  # random half the time it explores
    singles = Policy(net, params, epsilon=0.3, seed=1)
    np.testing.assert_array_equal([singles.act(o) for o in obs[:50]], acts[:50])
    with pytest.raises(ValueError, match="epsilon"):
        Policy(net, params, epsilon=1.5)
    pv = Network("mlp", (4,), 2)
    with pytest.raises(ValueError, match="q_values\\(\\) needs a value-based policy"):
        Policy(pv, pv.init_params(0)).q_values(obs)


def test_resume_refuses_another_methods_checkpoint(tmp_path):
    train(_cfg(tmp_path))
    with pytest.raises(CheckpointError, match="stored head 'q' \\(method 'n_step_q'\\), expected 'policy_value'"):
        train(_cfg(tmp_path, method="a3c", total_steps=2000), resume=tmp_path / "run" / "checkpoint.npz")
    # The same Q head, but another algorithm's targets and record.
    with pytest.raises(CheckpointError, match="stored method 'n_step_q', expected 'one_step_sarsa'"):
        train(_cfg(tmp_path, method="one_step_sarsa", total_steps=2000), resume=tmp_path / "run" / "checkpoint.npz")


def test_resume_restores_the_target_network(tmp_path):
    # A refresh at step 300, 600, 900 and then 100 more steps of learning: theta^- != theta.
    train(_cfg(tmp_path, target_update_steps=300))
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert not np.array_equal(saved.target, saved.params)
    # lr 0 (the schedule at once) and no boundary ahead: neither buffer may move, so both must come back as saved
    # (a fresh target would be a copy of theta).
    more = train(_cfg(tmp_path, target_update_steps=10**6, lr_anneal_seconds=1e-9, total_steps=1500),
                 resume=tmp_path / "run" / "checkpoint.npz")  # fmt: skip
    assert more.target_refreshes == 0 and more.run_steps > 0
    np.testing.assert_array_equal(more.target_params, saved.target)
    np.testing.assert_array_equal(more.params, saved.params)


def test_bad_method_settings_are_named():
    with pytest.raises(ConfigError, match="A3CConfig.method='dqn' is invalid"):
        _cfg(method="dqn")
    with pytest.raises(ConfigError, match="A3CConfig.target_update_steps=0 is invalid"):
        _cfg(target_update_steps=0)
    with pytest.raises(ConfigError, match="needs a feed-forward arch"):
        _cfg(arch="mlp_lstm")
    net = Network("mlp", (4,), 2)  # policy/value heads
    with pytest.raises(ValueError, match="value-based"):
        _core.Trainer(net._core, net.init_params(0), None, native_options(_cfg()))
