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
      opt_(opt),
      roll_(env, net.spec().obs_size() * (net.spec().obs_u8 ? 1 : sizeof(float)), opt.t_max, opt.reward_clip),
      k_(roll_.num_envs()),
      ws_(net.spec(), static_cast<Index>(k_) * (opt.t_max + 1)),
      returns_(roll_.actions.size()),
      boot_values_(k_),
      h_(static_cast<std::size_t>(k_) * net.spec().state_size()),
      c_(h_.size()),
      boot_h_(h_.size()),
      boot_c_(h_.size()),
      carry_(net.spec().recurrent() ? roll_.actions.size() : 0),
      rng_(seed, stream) {}

void ActorLearner::reset_envs() {
  roll_.reset();
  std::fill(h_.begin(), h_.end(), 0.0f);
  std::fill(c_.begin(), c_.end(), 0.0f);
}

void ActorLearner::begin_rollout(const float* theta, std::int64_t /*global_step*/) {
  net_.prepare(theta, ws_);
  t_ = 0;
}

void ActorLearner::act(const float* theta) {
  const Index A = net_.spec().num_actions;
  const Index slot0 = static_cast<Index>(t_) * k_;
  if (net_.spec().recurrent()) {
    const Index H = net_.spec().state_size();
    for (int e = 0; e < k_; ++e) carry_[slot0 + e] = (t_ > 0 && !roll_.terminals[slot0 - k_ + e]) ? 1 : 0;
    net_.forward(theta, roll_.obs(), k_, ws_, slot0, h_.data(), c_.data());
    std::copy_n(ws_.lstm_h.data() + slot0 * H, k_ * H, h_.data());
    std::copy_n(ws_.lstm_c.data() + slot0 * H, k_ * H, c_.data());
  } else {
    net_.forward(theta, roll_.obs(), k_, ws_, slot0);
  }
  for (int e = 0; e < k_; ++e)
    roll_.actions[slot0 + e] = sample_action(ws_.head.data() + (slot0 + e) * (A + 1), A, rng_);
}

void ActorLearner::step_envs() {
  roll_.step(t_);
  if (!h_.empty()) {
    const Index H = net_.spec().state_size();
    const Index slot0 = static_cast<Index>(t_) * k_;
    for (int e = 0; e < k_; ++e)
      if (roll_.terminals[slot0 + e]) {
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
  std::fill(R.begin(), R.end(), 0.0f);
  roll_.gather_live(T);
  const std::vector<int>& live = roll_.live();
  if (!live.empty() && T > 0) {
    const Index slot0 = T * k_;
    if (net_.spec().recurrent()) {
      const Index H = net_.spec().state_size();
      for (std::size_t i = 0; i < live.size(); ++i) {
        std::copy_n(h_.data() + live[i] * H, H, boot_h_.data() + i * H);
        std::copy_n(c_.data() + live[i] * H, H, boot_c_.data() + i * H);
      }
      net_.forward(theta, roll_.boot(), static_cast<Index>(live.size()), ws_, slot0, boot_h_.data(),
                   boot_c_.data());
    } else {
      net_.forward(theta, roll_.boot(), static_cast<Index>(live.size()), ws_, slot0);
    }
    for (std::size_t i = 0; i < live.size(); ++i) R[live[i]] = ws_.head[(slot0 + i) * (A + 1) + A];
  }
  discounted_returns(roll_.rewards.data(), roll_.terminals.data(), T, k_, opt_.gamma, R.data(), returns_.data());
}

LossTerms ActorLearner::gradient(const float* theta, float* grad) {
  const LossCoefs coefs{opt_.entropy_beta, opt_.value_coef, opt_.loss_mean};
  const bool rec = net_.spec().recurrent();
  return net_.loss_and_backward(theta, ws_, static_cast<Index>(t_) * k_, roll_.actions.data(), returns_.data(),
                                coefs, grad, k_, rec ? carry_.data() : nullptr);
}

}  // namespace a3c
