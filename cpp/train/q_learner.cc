#include "train/q_learner.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace a3c {

namespace {

int argmax(const float* q, Index A) {
  int best = 0;
  for (Index a = 1; a < A; ++a)
    if (q[a] > q[best]) best = static_cast<int>(a);
  return best;
}

}  // namespace

QLearner::QLearner(const Network& net, Env& env, const LearnerOptions& opt, const QOptions& q, SharedTarget& target,
                   SharedParams& online, std::uint64_t seed, std::uint64_t stream)
    : net_(net),
      opt_(opt),
      q_(q),
      target_(target),
      online_(online),
      roll_(env, net.spec().obs_size() * (net.spec().obs_u8 ? 1 : sizeof(float)), opt.t_max, opt.reward_clip),
      k_(roll_.num_envs()),
      A_(net.spec().num_actions),
      ws_(net.spec(), static_cast<Index>(k_) * (opt.t_max + 1)),
      target_ws_(net.spec(), static_cast<Index>(k_) * opt.t_max),
      theta_minus_(net.num_params()),
      next_obs_(static_cast<Index>(k_) * opt.t_max * roll_.obs_bytes()),
      targets_(roll_.actions.size()),
      boot_(k_),
      eps_(k_, 1.0),
      final_eps_(k_),
      next_actions_(k_),
      rng_(seed, stream) {
  A3C_REQUIRE(is_value_based(q.method), "QLearner runs one_step_q, one_step_sarsa or n_step_q");
  A3C_REQUIRE(net.spec().q_values, "the value-based methods need a network with a q-value head");
  A3C_REQUIRE(!net.spec().recurrent(), "the value-based methods need a feed-forward arch");
  A3C_REQUIRE(q.epsilon_anneal_steps >= 0, "epsilon_anneal_steps=", q.epsilon_anneal_steps, " must be >= 0");
  A3C_REQUIRE(q.epsilon_draw == EpsilonDraw::kPerEnv || q.epsilon_draw == EpsilonDraw::kPerThread,
              "epsilon_draw must be per env or per thread");
  A3C_REQUIRE(target.size() == net.num_params() && online.size() == net.num_params(),
              "the shared target and parameters must have the network's ", net.num_params(), " parameters");
  auto draw = [this] {
    const double u = rng_.uniform_double();
    return u < kFinalEpsilonProbs[0]                           ? kFinalEpsilons[0]
           : u < kFinalEpsilonProbs[0] + kFinalEpsilonProbs[1] ? kFinalEpsilons[1]
                                                               : kFinalEpsilons[2];
  };
  if (q.epsilon_draw == EpsilonDraw::kPerThread)
    std::fill(final_eps_.begin(), final_eps_.end(), draw());
  else
    for (double& f : final_eps_) f = draw();
}

void QLearner::reset_envs() {
  roll_.reset();
  have_next_actions_ = false;
}

void QLearner::begin_rollout(const float* theta, std::int64_t global_step) {
  target_.maybe_refresh(global_step, online_);
  if (target_.copy_if_newer(theta_minus_.data(), target_version_)) net_.prepare(theta_minus_.data(), target_ws_);
  net_.prepare(theta, ws_);
  const double frac = q_.epsilon_anneal_steps > 0
                          ? std::min(1.0, static_cast<double>(global_step) / static_cast<double>(q_.epsilon_anneal_steps))
                          : 1.0;
  for (int e = 0; e < k_; ++e) eps_[e] = (1.0 - frac) + frac * final_eps_[e];  // exactly final at the end
  t_ = 0;
}

int QLearner::greedy_or_random(const float* q, int e) {
  if (rng_.uniform_double() < eps_[e]) return static_cast<int>(rng_.next_u64() % static_cast<std::uint64_t>(A_));
  return argmax(q, A_);
}

void QLearner::act(const float* theta) {
  const Index slot0 = static_cast<Index>(t_) * k_;
  net_.forward(theta, roll_.obs(), k_, ws_, slot0);
  const bool carried = t_ == 0 && have_next_actions_ && q_.method == Method::kOneStepSarsa;
  for (int e = 0; e < k_; ++e) {
    const float* q = ws_.head.data() + (slot0 + e) * A_;
    max_q_sum_ += q[argmax(q, A_)];
    roll_.actions[slot0 + e] = carried ? next_actions_[e] : greedy_or_random(q, e);
  }
  max_q_count_ += k_;
}

void QLearner::step_envs() {
  roll_.step(t_);
  ++t_;
}

void QLearner::bootstrap_and_returns(const float* theta) {
  const Index T = t_;
  if (T == 0) return;
  const Index n = T * k_;
  const unsigned char* term = roll_.terminals.data();
  if (q_.method == Method::kNStepQ) {
    // R = max_a Q(s_T, a; theta^-) for the envs whose last step was not terminal, else 0.
    std::fill(boot_.begin(), boot_.end(), 0.0f);
    roll_.gather_live(T);
    const std::vector<int>& live = roll_.live();
    if (!live.empty()) {
      net_.forward(theta_minus_.data(), roll_.boot(), static_cast<Index>(live.size()), target_ws_, 0);
      for (std::size_t i = 0; i < live.size(); ++i) {
        const float* q = target_ws_.head.data() + static_cast<Index>(i) * A_;
        boot_[live[i]] = q[argmax(q, A_)];
      }
    }
    discounted_returns(roll_.rewards.data(), term, T, k_, opt_.gamma, boot_.data(), targets_.data());
    return;
  }
  // One-step methods: s_{t+1} of slot t*k + e is the observation of slot (t+1)*k + e (after a
  // terminal it is the next game's first, but then the target does not bootstrap), and s_T for
  // the last row. One forward of theta^- over all of them.
  const Index ob = roll_.obs_bytes();
  const unsigned char* kept = net_.spec().obs_u8 ? ws_.obs_u8.data()
                                                 : reinterpret_cast<const unsigned char*>(ws_.obs_f32.data());
  std::memcpy(next_obs_.data(), kept + k_ * ob, static_cast<std::size_t>((T - 1) * k_ * ob));
  std::memcpy(next_obs_.data() + (T - 1) * k_ * ob, roll_.obs(), static_cast<std::size_t>(k_ * ob));
  if (q_.method == Method::kOneStepSarsa) {
    // a_T, epsilon-greedy on Q(s_T; theta'), is both the target's next action and the action
    // the env takes at the next rollout's first step.
    net_.forward(theta, roll_.obs(), k_, ws_, n);
    for (int e = 0; e < k_; ++e) next_actions_[e] = greedy_or_random(ws_.head.data() + (n + e) * A_, e);
    have_next_actions_ = true;
  }
  net_.forward(theta_minus_.data(), next_obs_.data(), n, target_ws_, 0);
  for (Index s = 0; s < n; ++s) {
    const float* q = target_ws_.head.data() + s * A_;
    float next = 0.0f;
    if (!term[s]) {
      if (q_.method == Method::kOneStepQ) {
        next = q[argmax(q, A_)];
      } else {
        const int a = s + k_ < n ? roll_.actions[s + k_] : next_actions_[s % k_];
        next = q[a];
      }
    }
    targets_[s] = roll_.rewards[s] + opt_.gamma * next;
  }
}

LossTerms QLearner::gradient(const float* theta, float* grad) {
  return net_.q_loss_and_backward(theta, ws_, static_cast<Index>(t_) * k_, roll_.actions.data(), targets_.data(),
                                  opt_.loss_mean, grad);
}

ExplorationStats QLearner::exploration() const {
  ExplorationStats s;
  for (double e : eps_) s.epsilon += e;
  s.epsilon /= static_cast<double>(k_);
  s.max_q_sum = max_q_sum_;
  s.max_q_count = max_q_count_;
  return s;
}

}  // namespace a3c
