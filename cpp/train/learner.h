// What every method of Mnih et al. 2016 shares, and the interface the worker loop
// (train/pool.cc) drives: A3C (train/actor_learner.h, Algorithm S3) and the value-based
// methods (train/q_learner.h, Algorithms 1 and S2: one-step Q, one-step Sarsa, n-step Q) are
// the same loop of named steps, called in this order:
//
//   begin_rollout(theta', T)       t_start = t; theta' is the worker's snapshot, T the global step
//   repeat t_max times:
//     act(theta')                  forward at batch k, one action per env
//     step_envs()                  r_t, s_{t+1} of every env (a game ending ends one env's return)
//   bootstrap_and_returns(theta')  the rollout's regression targets (returns, TD targets)
//   gradient(theta', d)            d = grad of the loss over the k x T samples (one backward)
//   shared_update(...)             clip ||d||, Hogwild RMSProp on the shared theta and g
//
// EnvRollout is the part of a rollout that does not depend on the method: the k envs, their
// current observations, and the record of actions, clipped rewards and terminals.
// Not here: threads, timing, telemetry (pool.cc); the shared buffers' race (hogwild.cc).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "common/aligned.h"
#include "nn/network.h"
#include "optim/rmsprop.h"
#include "train/env.h"
#include "train/hogwild.h"

namespace a3c {

// The method of Mnih et al. 2016 a learner runs (A3CConfig.method). kUnset (0) is what a
// value-initialised TrainOptions holds; the pool refuses it.
enum class Method { kUnset = 0, kA3C, kOneStepQ, kOneStepSarsa, kNStepQ };
inline bool is_value_based(Method m) {
  return m == Method::kOneStepQ || m == Method::kOneStepSarsa || m == Method::kNStepQ;
}

// Value-based methods: what draws its own final exploration epsilon (A3CConfig.epsilon_draw):
// each environment (the default here) or each actor-learner thread (the paper's).
enum class EpsilonDraw { kUnset = 0, kPerEnv, kPerThread };

// The algorithm's settings (the pool's TrainOptions carries them; see config.py for each).
struct LearnerOptions {
  int t_max;
  float gamma;
  float entropy_beta;
  float value_coef;
  bool loss_mean;
  float reward_clip;  // 0 disables
};

// A whole game that ended during the last step_envs().
struct EndedGame {
  int env;
  double score;         // unclipped game score
  std::int64_t length;  // agent steps
};

// What a value-based learner reports for telemetry (all zero for A3C).
struct ExplorationStats {
  double epsilon = 0;          // mean exploration epsilon of the learner's envs now
  double max_q_sum = 0;        // sum of max_a Q(s_t, a) over the acting steps so far
  std::int64_t max_q_count = 0;
};

// The k environments of one learner and the record of its current rollout, [t_max, k]
// row-major (slot t*k + e).
class EnvRollout {
 public:
  EnvRollout(Env& env, Index obs_bytes, int t_max, float reward_clip);
  int num_envs() const { return k_; }
  Index obs_bytes() const { return obs_bytes_; }
  void reset();  // s_0 of every env
  // Steps the k envs with actions[t*k ..]: clipped rewards and terminals of row t, the next
  // observations, and the games that ended.
  void step(int t);
  unsigned char* obs() { return obs_.data(); }  // [k, obs] s_t of every env
  const unsigned char* obs() const { return obs_.data(); }
  // The envs whose step T-1 was not terminal (all of them if T == 0), the ones whose return
  // is bootstrapped from s_T, into live(); their s_T gathered into boot() [live, obs].
  void gather_live(Index T);
  const std::vector<int>& live() const { return live_; }
  const unsigned char* boot() const { return boot_.data(); }
  std::vector<int> actions;
  std::vector<float> rewards;  // clipped
  std::vector<unsigned char> terminals;
  std::vector<EndedGame> ended;

 private:
  Env& env_;
  int k_;
  Index obs_bytes_;
  float reward_clip_;
  AlignedBuffer<unsigned char> obs_;
  AlignedBuffer<unsigned char> boot_;
  std::vector<StepResult> results_;
  std::vector<int> live_;
};

// R_t = r_t + gamma R_{t+1} backwards over T steps of k envs from the bootstrap values R
// [k] (modified in place), R reset to 0 at each terminal; out [T, k].
void discounted_returns(const float* rewards, const unsigned char* terminals, Index T, int k, float gamma,
                        float* R, float* out);

// The method-specific part of the loop; see the top of this file for the order of the calls.
class Learner {
 public:
  virtual ~Learner() = default;
  virtual int num_envs() const = 0;
  virtual void reset_envs() = 0;
  virtual void begin_rollout(const float* theta, std::int64_t global_step) = 0;
  virtual void act(const float* theta) = 0;
  virtual void step_envs() = 0;
  virtual int steps() const = 0;  // time steps taken in this rollout
  virtual const std::vector<EndedGame>& ended() const = 0;
  virtual void bootstrap_and_returns(const float* theta) = 0;
  // grad [num_params] = d loss / d theta' over the steps() x k samples (every element written).
  virtual LossTerms gradient(const float* theta, float* grad) = 0;
  virtual ExplorationStats exploration() const { return {}; }
  // Env `env`'s exploration epsilon now (NaN: the method does not explore epsilon-greedily).
  // Recorded with each game that ends, so a value-based run's curve can leave out the games
  // played mostly at random (a third of the envs end at epsilon 0.5).
  virtual double epsilon_of(int /*env*/) const { return std::numeric_limits<double>::quiet_NaN(); }
  // The current rollout's record (actions, clipped rewards, terminals, s_T of every env) and
  // the observations and network outputs kept per slot: for tests and diagnostics.
  virtual const EnvRollout& rollout() const = 0;
  virtual const Workspace& workspace() const = 0;
};

// What shared_update did.
struct UpdateResult {
  bool applied;      // false: the gradient or loss was not finite and was dropped
  double grad_norm;  // ||d|| before clipping
};

// The last step of every method: clips ||d|| to grad_clip (0: no clip) and applies shared
// RMSProp to theta and g (Hogwild), leaving the updated theta in theta_local as the worker's
// next snapshot. Deviation from Mnih et al. 2016: a non-finite gradient (or loss) is dropped
// instead of poisoning the shared parameters; theta_local is then re-read from the shared one.
UpdateResult shared_update(SharedParams& shared, const float* grad, double loss, float grad_clip,
                           const RmsPropParams& rms, float* theta_local);

}  // namespace a3c
