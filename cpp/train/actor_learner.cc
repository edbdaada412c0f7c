#include "train/actor_learner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"

namespace a3c {

namespace {

// Samples from softmax(logits) with a max-subtracted exponential.
int sample_action(const float* logits, Index A, Rng& rng) {
  float m = logits[0];
  for (Index a = 1; a < A; ++a) m = std::max(m, logits[a]);
  double probs[256];
  std::vector<double> big;
  double* p = probs;
  if (A > 256) {
    big.resize(A);
    p = big.data();
  }
  double sum = 0;
  for (Index a = 0; a < A; ++a) sum += (p[a] = std::exp(static_cast<double>(logits[a]) - m));
  double u = rng.uniform_double() * sum;
  for (Index a = 0; a < A; ++a) {
    u -= p[a];
    if (u < 0) return static_cast<int>(a);
  }
  return static_cast<int>(A - 1);
}

}  // namespace

ActorLearner::ActorLearner(const Network& net, Env& env, const LearnerOptions& opt, std::uint64_t seed,
                           std::uint64_t stream)
    : net_(net),
      env_(env),
      opt_(opt),
      k_(env.num_envs()),
      obs_bytes_(net.spec().obs_size() * (net.spec().obs_u8 ? 1 : sizeof(float))),
      ws_(net.spec(), static_cast<Index>(env.num_envs()) * (opt.t_max + 1)),
      obs_(static_cast<Index>(env.num_envs()) * obs_bytes_),
      boot_(static_cast<Index>(env.num_envs()) * obs_bytes_),
      results_(env.num_envs()),
      actions_(static_cast<std::size_t>(env.num_envs()) * opt.t_max),
      rewards_(actions_.size()),
      terminals_(actions_.size()),
      returns_(actions_.size()),
      boot_values_(env.num_envs()),
      h_(static_cast<std::size_t>(env.num_envs()) * net.spec().state_size()),
      c_(h_.size()),
      boot_h_(h_.size()),
      boot_c_(h_.size()),
      carry_(net.spec().recurrent() ? actions_.size() : 0),
      rng_(seed, stream) {
  live_.reserve(env.num_envs());
  A3C_REQUIRE(k_ >= 1, "an env steps ", k_, " environments: need at least 1");
  A3C_REQUIRE(opt_.t_max >= 1, "t_max=", opt_.t_max, " must be >= 1");
}

void ActorLearner::reset_envs() {
  env_.reset(obs_.data());
  std::fill(h_.begin(), h_.end(), 0.0f);
  std::fill(c_.begin(), c_.end(), 0.0f);
}

void ActorLearner::begin_rollout(const float* theta) {
  net_.prepare(theta, ws_);
  t_ = 0;
}

void ActorLearner::act(const float* theta) {
  const Index A = net_.spec().num_actions;
  const Index slot0 = static_cast<Index>(t_) * k_;
  if (net_.spec().recurrent()) {
    const Index H = net_.spec().state_size();
    for (int e = 0; e < k_; ++e) carry_[slot0 + e] = (t_ > 0 && !terminals_[slot0 - k_ + e]) ? 1 : 0;
    net_.forward(theta, obs_.data(), k_, ws_, slot0, h_.data(), c_.data());
    std::copy_n(ws_.lstm_h.data() + slot0 * H, k_ * H, h_.data());
    std::copy_n(ws_.lstm_c.data() + slot0 * H, k_ * H, c_.data());
  } else {
    net_.forward(theta, obs_.data(), k_, ws_, slot0);
  }
  for (int e = 0; e < k_; ++e)
    actions_[slot0 + e] = sample_action(ws_.head.data() + (slot0 + e) * (A + 1), A, rng_);
}

void ActorLearner::step_envs() {
  const Index slot0 = static_cast<Index>(t_) * k_;
  env_.step(actions_.data() + slot0, obs_.data(), results_.data());
  ended_.clear();
  for (int e = 0; e < k_; ++e) {
    const StepResult& r = results_[e];
    float reward = r.reward;
    if (opt_.reward_clip > 0) reward = std::clamp(reward, -opt_.reward_clip, opt_.reward_clip);
    rewards_[slot0 + e] = reward;
    terminals_[slot0 + e] = r.terminal ? 1 : 0;
    if (r.episode_end) ended_.push_back(EndedGame{e, r.episode_score, r.episode_length});
    if (r.terminal && !h_.empty()) {
      const Index H = net_.spec().state_size();
      std::fill_n(h_.data() + e * H, H, 0.0f);
      std::fill_n(c_.data() + e * H, H, 0.0f);
    }
  }
  ++t_;
}

void ActorLearner::bootstrap_and_returns(const float* theta) {
  const Index A = net_.spec().num_actions;
  const Index T = t_;
  // R per env: 0 after a terminal last step, else V(s_T) of the envs gathered into the slots
  // after the rollout's.
  std::vector<float>& R = boot_values_;
  std::vector<int>& live = live_;
  std::fill(R.begin(), R.end(), 0.0f);
  live.clear();
  for (int e = 0; e < k_; ++e)
    if (T == 0 || !terminals_[(T - 1) * k_ + e]) live.push_back(e);
  if (!live.empty() && T > 0) {
    for (std::size_t i = 0; i < live.size(); ++i)
      std::memcpy(boot_.data() + i * obs_bytes_, obs_.data() + live[i] * obs_bytes_, obs_bytes_);
    const Index slot0 = T * k_;
    if (net_.spec().recurrent()) {
      const Index H = net_.spec().state_size();
      for (std::size_t i = 0; i < live.size(); ++i) {
        std::copy_n(h_.data() + live[i] * H, H, boot_h_.data() + i * H);
        std::copy_n(c_.data() + live[i] * H, H, boot_c_.data() + i * H);
      }
      net_.forward(theta, boot_.data(), static_cast<Index>(live.size()), ws_, slot0, boot_h_.data(),
                   boot_c_.data());
    } else {
      net_.forward(theta, boot_.data(), static_cast<Index>(live.size()), ws_, slot0);
    }
    for (std::size_t i = 0; i < live.size(); ++i) R[live[i]] = ws_.head[(slot0 + i) * (A + 1) + A];
  }
  for (Index t = T - 1; t >= 0; --t)
    for (int e = 0; e < k_; ++e) {
      const Index s = t * k_ + e;
      if (terminals_[s]) R[e] = 0.0f;
      R[e] = rewards_[s] + opt_.gamma * R[e];
      returns_[s] = R[e];
    }
}

LossTerms ActorLearner::gradient(const float* theta, float* grad) {
  const LossCoefs coefs{opt_.entropy_beta, opt_.value_coef, opt_.loss_mean};
  const bool rec = net_.spec().recurrent();
  return net_.loss_and_backward(theta, ws_, static_cast<Index>(t_) * k_, actions_.data(), returns_.data(), coefs,
                                grad, k_, rec ? carry_.data() : nullptr);
}

UpdateResult shared_update(SharedParams& shared, const float* grad, double loss, float grad_clip,
                           const RmsPropParams& rms, float* theta_local) {
  const double sumsq = sum_squares(grad, shared.size());
  if (!std::isfinite(sumsq) || !std::isfinite(loss)) {
    shared.snapshot(theta_local);
    return UpdateResult{false, std::sqrt(sumsq)};
  }
  shared.apply_update(grad, clip_scale(sumsq, grad_clip), rms, theta_local);
  return UpdateResult{true, std::sqrt(sumsq)};
}

}  // namespace a3c
