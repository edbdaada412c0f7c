// One actor-learner of Mnih et al. 2016, Algorithm S3 (A3C), batched over the k environments
// it steps: the steps of train/learner.h, for the actor-critic loss:
//
//   act(theta')                    pi(.|s_t; theta') at batch k, a_t ~ pi for every env
//   bootstrap_and_returns(theta')  R = V(s_t; theta') or 0 per env; R <- r_i + gamma R backwards
//   gradient(theta', d)            d = grad of the A3C loss over the k x T samples (one backward)
//
// Deviation from Mnih et al. 2016 (k > 1, after Clemente et al. 2017, PAAC): every rollout is
// exactly t_max steps of all k envs; an env whose game (or life) ends mid-rollout starts its
// next one within the same rollout, its return cut at the terminal step. With k = 1 it differs
// from the paper only there: the paper ends the rollout at a terminal, this one plays on.
// Recurrent archs: each env's LSTM state (h, c) lives here, in the worker's own memory (the
// shared buffer stays the only shared state): carried from step to step and from rollout to
// rollout, zeroed at the start and at every terminal of the return (a lost life with
// episodic_life). gradient() backpropagates through the rollout's steps, truncated at its
// start: the state carried into a rollout is a constant there.
// Not here: threads, the shared buffers' race (train/hogwild.cc), timing, telemetry.
#pragma once

#include <cstdint>
#include <vector>

#include "common/aligned.h"
#include "common/rng.h"
#include "nn/network.h"
#include "optim/rmsprop.h"
#include "train/env.h"
#include "train/hogwild.h"
#include "train/learner.h"

namespace a3c {

class ActorLearner final : public Learner {
 public:
  // `env` steps k = env.num_envs() environments and must outlive this object; `seed` and
  // `stream` seed the action sampler (the pool passes the run seed and 1000 + worker id).
  ActorLearner(const Network& net, Env& env, const LearnerOptions& opt, std::uint64_t seed, std::uint64_t stream);

  int num_envs() const override { return roll_.num_envs(); }
  int t_max() const { return opt_.t_max; }

  // s_0 of every env (once, before the first rollout).
  void reset_envs() override;
  // Starts a rollout with snapshot theta' (packs its conv weights for the rollout's passes).
  void begin_rollout(const float* theta, std::int64_t global_step = 0) override;
  // Forward of the k current observations at batch k (slots t*k .. t*k+k-1, activations kept
  // for the backward), then one action per env sampled from softmax(logits).
  void act(const float* theta) override;
  // Steps the k envs with the sampled actions: clipped rewards and terminals for the rollout,
  // next observations, and the games that ended (ended()). Advances t.
  void step_envs() override;
  // Time steps taken in this rollout (t - t_start); t_max unless the run stopped early.
  int steps() const override { return t_; }
  const std::vector<EndedGame>& ended() const override { return roll_.ended; }
  // R = 0 for an env whose last step was terminal, else V(s_t; theta') (one forward over just
  // those envs); then R_i = r_i + gamma R backwards in time, R reset to 0 at each terminal.
  void bootstrap_and_returns(const float* theta) override;
  LossTerms gradient(const float* theta, float* grad) override;

  const EnvRollout& rollout() const override { return roll_; }
  const Workspace& workspace() const override { return ws_; }
  const std::vector<float>& returns() const { return returns_; }  // [steps, k]
  // Recurrent archs: each env's state entering the next step, [k, H] each (empty otherwise).
  const std::vector<float>& state_h() const { return h_; }
  const std::vector<float>& state_c() const { return c_; }

 private:
  const Network& net_;
  LearnerOptions opt_;
  EnvRollout roll_;
  int k_;
  Workspace ws_;                    // k * (t_max + 1) slots: the rollout, then the bootstrap
  std::vector<float> returns_;      // [t_max, k]
  std::vector<float> boot_values_;  // [k] R of every env at the end of the rollout
  // Recurrent archs: the state entering the next step, [k, H] each; the gathered states of
  // the envs to bootstrap; carry_[t*k + e]: that slot's input state is the previous slot's
  // output (not zeroed, not carried into the rollout).
  std::vector<float> h_, c_, boot_h_, boot_c_;
  std::vector<unsigned char> carry_;
  Rng rng_;
  int t_ = 0;
};

}  // namespace a3c
