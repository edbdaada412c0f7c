// One actor-learner of the value-based methods of Mnih et al. 2016 (Algorithm 1: one-step
// Q-learning; one-step Sarsa, the same with Sarsa's target; Algorithm S2: n-step Q-learning),
// batched over its k environments like the A3C learner: the steps of train/learner.h with
//
//   begin_rollout(theta', T)       refresh the shared target theta^- if T crossed its boundary;
//                                  copy it here if it changed; epsilon of every env at T
//   act(theta')                    Q(s_t, .; theta') at batch k, a_t epsilon-greedy per env
//   bootstrap_and_returns(theta')  the targets y_t, from the target network theta^-:
//                                    one-step Q:     r_t + gamma max_a Q(s_{t+1}, a; theta^-)
//                                    one-step Sarsa: r_t + gamma Q(s_{t+1}, a_{t+1}; theta^-)
//                                    n-step Q:       r_t + gamma r_{t+1} + ... + gamma^n max_a Q(s_T, a; theta^-)
//                                  (0 in place of the bootstrap after a terminal)
//   gradient(theta', d)            d = grad of sum_t (y_t - Q(s_t, a_t; theta'))^2 / 2 (one backward)
//
// Exploration (the paper's): each env's epsilon anneals linearly from 1 to a final value
// drawn once from {0.1, 0.01, 0.5} with probabilities {0.4, 0.3, 0.3} over the first
// epsilon_anneal_steps global agent steps. Deviation from Mnih et al. 2016 by default
// (EpsilonDraw::kPerEnv): the final value is drawn per environment, not per thread (with k
// envs per thread and 2 threads, per-thread draws would give every run only two exploration
// levels, and half of the runs none at 0.01); kPerThread is the paper's.
// Gradients are accumulated over the rollout of t_max steps for every method (the paper's
// one-step methods accumulate over 5 steps: t_max 5) and applied by shared_update like A3C's.
// Sarsa's a_{t+1} at the rollout's end is chosen at the bootstrap (epsilon-greedy on
// Q(s_T; theta')) and is the action the env then takes at the next rollout's first step.
// Feed-forward nets with a q-value head only (the recurrent archs are A3C's).
#pragma once

#include <cstdint>
#include <vector>

#include "common/aligned.h"
#include "common/rng.h"
#include "nn/network.h"
#include "train/env.h"
#include "train/hogwild.h"
#include "train/learner.h"

namespace a3c {

struct QOptions {
  Method method;
  std::int64_t epsilon_anneal_steps;  // global agent steps from epsilon 1 to each env's final value
  EpsilonDraw epsilon_draw;           // one final value per env, or one for all of the learner's envs
};

// The paper's final epsilons and their probabilities (Mnih et al. 2016, section 8).
inline constexpr double kFinalEpsilons[3] = {0.1, 0.01, 0.5};
inline constexpr double kFinalEpsilonProbs[3] = {0.4, 0.3, 0.3};

class QLearner final : public Learner {
 public:
  // `net` has a q-value head; `target` and `online` (the shared theta^- and theta) and `env`
  // outlive this object. seed/stream as for ActorLearner.
  QLearner(const Network& net, Env& env, const LearnerOptions& opt, const QOptions& q, SharedTarget& target,
           SharedParams& online, std::uint64_t seed, std::uint64_t stream);

  int num_envs() const override { return k_; }
  void reset_envs() override;
  void begin_rollout(const float* theta, std::int64_t global_step) override;
  void act(const float* theta) override;
  void step_envs() override;
  int steps() const override { return t_; }
  const std::vector<EndedGame>& ended() const override { return roll_.ended; }
  void bootstrap_and_returns(const float* theta) override;
  LossTerms gradient(const float* theta, float* grad) override;
  ExplorationStats exploration() const override;
  double epsilon_of(int env) const override { return eps_[static_cast<std::size_t>(env)]; }

  const EnvRollout& rollout() const override { return roll_; }
  const Workspace& workspace() const override { return ws_; }
  const std::vector<float>& targets() const { return targets_; }  // [steps, k]
  const std::vector<double>& epsilons() const { return eps_; }        // [k] now
  const std::vector<double>& final_epsilons() const { return final_eps_; }
  // Sarsa: the actions chosen at the last bootstrap for s_T, taken at the next rollout's first step.
  const std::vector<int>& next_actions() const { return next_actions_; }
  const float* target_params() const { return theta_minus_.data(); }  // this learner's copy of theta^-

 private:
  int greedy_or_random(const float* q, int e);
  const Network& net_;
  LearnerOptions opt_;
  QOptions q_;
  SharedTarget& target_;
  SharedParams& online_;
  EnvRollout roll_;
  int k_;
  Index A_;
  Workspace ws_;         // k * (t_max + 1) slots: the rollout, then Sarsa's s_T
  Workspace target_ws_;  // theta^-'s forward: k * t_max slots (the next states)
  AlignedBuffer<float> theta_minus_;
  std::int64_t target_version_ = -1;
  AlignedBuffer<unsigned char> next_obs_;  // [t_max * k, obs] s_{t+1} of every slot (one-step)
  std::vector<float> targets_;             // [t_max, k]
  std::vector<float> boot_;                // [k]
  std::vector<double> eps_, final_eps_;    // [k]
  std::vector<int> next_actions_;          // [k] Sarsa's a_T
  bool have_next_actions_ = false;
  double max_q_sum_ = 0;
  std::int64_t max_q_count_ = 0;
  Rng rng_;
  int t_ = 0;
};

}  // namespace a3c
