#include "train/learner.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"

namespace a3c {

EnvRollout::EnvRollout(Env& env, Index obs_bytes, int t_max, float reward_clip)
    : actions(static_cast<std::size_t>(env.num_envs()) * std::max(t_max, 0)),
      rewards(actions.size()),
      terminals(actions.size()),
      env_(env),
      k_(env.num_envs()),
      obs_bytes_(obs_bytes),
      reward_clip_(reward_clip),
      obs_(static_cast<Index>(std::max(env.num_envs(), 0)) * obs_bytes),
      boot_(obs_.size()),
      results_(std::max(env.num_envs(), 0)) {
  live_.reserve(results_.size());
  A3C_REQUIRE(k_ >= 1, "an env steps ", k_, " environments: need at least 1");
  A3C_REQUIRE(t_max >= 1, "t_max=", t_max, " must be >= 1");
}

void EnvRollout::reset() { env_.reset(obs_.data()); }

void EnvRollout::step(int t) {
  const Index slot0 = static_cast<Index>(t) * k_;
  env_.step(actions.data() + slot0, obs_.data(), results_.data());
  ended.clear();
  for (int e = 0; e < k_; ++e) {
    const StepResult& r = results_[e];
    float reward = r.reward;
    if (reward_clip_ > 0) reward = std::clamp(reward, -reward_clip_, reward_clip_);
    rewards[slot0 + e] = reward;
    terminals[slot0 + e] = r.terminal ? 1 : 0;
    if (r.episode_end) ended.push_back(EndedGame{e, r.episode_score, r.episode_length});
  }
}

void EnvRollout::gather_live(Index T) {
  live_.clear();
  for (int e = 0; e < k_; ++e)
    if (T == 0 || !terminals[(T - 1) * k_ + e]) live_.push_back(e);
  for (std::size_t i = 0; i < live_.size(); ++i)
    std::memcpy(boot_.data() + i * obs_bytes_, obs_.data() + live_[i] * obs_bytes_, obs_bytes_);
}

void discounted_returns(const float* rewards, const unsigned char* terminals, Index T, int k, float gamma,
                        float* R, float* out) {
  for (Index t = T - 1; t >= 0; --t)
    for (int e = 0; e < k; ++e) {
      const Index s = t * k + e;
      if (terminals[s]) R[e] = 0.0f;
      R[e] = rewards[s] + gamma * R[e];
      out[s] = R[e];
    }
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
