#include "train/pool.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/cpu.h"
#include "train/actor_learner.h"
#include "train/q_learner.h"

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace a3c {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

float scheduled_lr(const TrainOptions& opt, std::int64_t T, double seconds) {
  double progress = static_cast<double>(T) / static_cast<double>(opt.total_steps);
  if (opt.lr_anneal_seconds > 0) progress = std::max(progress, seconds / opt.lr_anneal_seconds);
  return opt.lr * static_cast<float>(std::max(0.0, 1.0 - progress));
}

void validate_train_options(const TrainOptions& o) {
  // Every field, in declaration order: a forgotten one is named, never defaulted.
  std::vector<const char*> unset;
  auto count = [&](const char* name, std::int64_t v) {
    if (v == kUnsetCount) unset.push_back(name);
  };
  auto real = [&](const char* name, double v) {
    if (std::isnan(v)) unset.push_back(name);
  };
  count("threads", o.threads);
  count("total_steps", o.total_steps);
  count("start_step", o.start_step);
  real("max_seconds", o.max_seconds);
  real("lr_anneal_seconds", o.lr_anneal_seconds);
  real("start_seconds", o.start_seconds);
  if (o.method == Method::kUnset) unset.push_back("method");
  count("target_update_steps", o.target_update_steps);
  count("epsilon_anneal_steps", o.epsilon_anneal_steps);
  if (o.epsilon_draw == EpsilonDraw::kUnset) unset.push_back("epsilon_draw");
  count("t_max", o.t_max);
  real("gamma", o.gamma);
  real("lr", o.lr);
  real("entropy_beta", o.entropy_beta);
  real("value_coef", o.value_coef);
  real("rmsprop_alpha", o.rmsprop_alpha);
  real("rmsprop_eps", o.rmsprop_eps);
  if (o.rmsprop_eps_placement == EpsPlacement::kUnset) unset.push_back("rmsprop_eps_placement");
  real("grad_clip", o.grad_clip);
  if (o.loss_reduction == LossReduction::kUnset) unset.push_back("loss_reduction");
  real("reward_clip", o.reward_clip);
  count("seed", o.seed);
  if (o.update == UpdateMode::kUnset) unset.push_back("update");
  if (o.worker_cpus.empty()) unset.push_back("worker_cpus");
  if (!unset.empty()) {
    std::string names;
    for (const char* n : unset) names += (names.empty() ? "" : ", ") + std::string(n);
    throw std::invalid_argument(
        str_cat("TrainOptions fields not set: ", names,
                ". Every field must be set by the caller (no native defaults): from Python, "
                "a3c_native.native_options.native_options(A3CConfig(...)) sets them all"));
  }
  // Then the ranges the pool relies on (A3CConfig checks the same and more, naming its fields).
  auto rule = [](bool ok, const char* name, auto v, const char* what) {
    if (!ok)
      throw std::invalid_argument(str_cat("TrainOptions.", name, "=", v, " is invalid: ", what));
  };
  auto finite_ge0 = [&](const char* name, double v) {
    rule(std::isfinite(v) && v >= 0, name, v, "must be a finite number >= 0");
  };
  rule(o.threads >= 1, "threads", o.threads, "must be >= 1");
  rule(o.total_steps >= 1, "total_steps", o.total_steps, "must be >= 1");
  rule(o.start_step >= 0, "start_step", o.start_step, "must be >= 0");
  finite_ge0("max_seconds", o.max_seconds);
  finite_ge0("lr_anneal_seconds", o.lr_anneal_seconds);
  finite_ge0("start_seconds", o.start_seconds);
  rule(o.target_update_steps >= 1, "target_update_steps", o.target_update_steps, "must be >= 1");
  rule(o.epsilon_anneal_steps >= 0, "epsilon_anneal_steps", o.epsilon_anneal_steps, "must be >= 0");
  rule(o.t_max >= 1, "t_max", o.t_max, "must be >= 1");
  rule(o.gamma >= 0 && o.gamma <= 1, "gamma", o.gamma, "must be in [0, 1]");
  rule(std::isfinite(o.lr) && o.lr > 0, "lr", o.lr, "must be a finite number > 0");
  finite_ge0("entropy_beta", o.entropy_beta);
  finite_ge0("value_coef", o.value_coef);
  rule(o.rmsprop_alpha >= 0 && o.rmsprop_alpha < 1, "rmsprop_alpha", o.rmsprop_alpha,
       "must be in [0, 1)");
  rule(std::isfinite(o.rmsprop_eps) && o.rmsprop_eps > 0, "rmsprop_eps", o.rmsprop_eps,
       "must be a finite number > 0");
  finite_ge0("grad_clip", o.grad_clip);
  finite_ge0("reward_clip", o.reward_clip);
  rule(o.seed >= 0, "seed", o.seed, "must be >= 0");
  rule(static_cast<int>(o.worker_cpus.size()) == o.threads, "worker_cpus",
       str_cat("[", o.worker_cpus.size(), " CPUs]"), "must hold one CPU per thread (-1: not pinned)");
  for (int c : o.worker_cpus)
    rule(c >= -1, "worker_cpus", c, "a CPU is an index >= 0, or -1 for not pinned");
}

LearnerOptions learner_options(const TrainOptions& opt) {
  return LearnerOptions{opt.t_max,      opt.gamma,
                        opt.entropy_beta, opt.value_coef,
                        opt.loss_reduction == LossReduction::kMean, opt.reward_clip};
}

std::unique_ptr<Learner> make_learner(const Network& net, Env& env, const TrainOptions& opt, SharedParams& shared,
                                      SharedTarget* target, std::uint64_t stream) {
  const auto seed = static_cast<std::uint64_t>(opt.seed);
  if (!is_value_based(opt.method)) return std::make_unique<ActorLearner>(net, env, learner_options(opt), seed, stream);
  A3C_REQUIRE(target != nullptr, "the value-based methods need a shared target network");
  const QOptions q{opt.method, opt.epsilon_anneal_steps, opt.epsilon_draw};
  return std::make_unique<QLearner>(net, env, learner_options(opt), q, *target, shared, seed, stream);
}

namespace {

std::int64_t now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch()).count();
}

void pin_to_core(int core) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort
#else
  (void)core;
#endif
}

}  // namespace

Pool::Pool(const Network& net, SharedParams& shared, std::vector<Env*> envs, TrainOptions opt,
           SharedTarget* target)
    : net_(net), shared_(shared), target_(target), envs_(std::move(envs)), opt_(std::move(opt)) {
  validate_train_options(opt_);
  const bool q = is_value_based(opt_.method);
  A3C_REQUIRE(net_.spec().q_values == q, "the network has ", net_.spec().q_values ? "a q-value head" : "policy and value heads",
              " but the method is ", q ? "value-based (it needs a q-value head)" : "a3c (it needs policy and value heads)");
  A3C_REQUIRE((target_ != nullptr) == q, q ? "a value-based method needs a shared target network"
                                           : "a3c takes no target network");
  A3C_REQUIRE(!target_ || target_->size() == net_.num_params(), "the target network has ",
              target_ ? target_->size() : 0, " parameters, the network needs ", net_.num_params());
  A3C_REQUIRE(static_cast<int>(envs_.size()) == opt_.threads, "got ", envs_.size(),
              " environments for ", opt_.threads, " threads: need one per thread");
  A3C_REQUIRE(shared_.locked() == (opt_.update == UpdateMode::kLocked), "TrainOptions.update is ",
              opt_.update == UpdateMode::kLocked ? "locked" : "hogwild",
              " but the shared buffers were made ", shared_.locked() ? "locked" : "hogwild");
  A3C_REQUIRE(shared_.size() == net_.num_params(), "shared buffer has ", shared_.size(),
              " parameters, the network needs ", net_.num_params());
  workers_ = std::make_unique<Worker[]>(opt_.threads);
}

Pool::~Pool() {
  request_stop();
  join();
}

void Pool::start() {
  A3C_CHECK(threads_.empty(), "pool started twice");
  kernels_in_use_ = std::make_unique<KernelIsaInUse>();
  t0_ = now_seconds();
  threads_.reserve(opt_.threads);
  for (int i = 0; i < opt_.threads; ++i) {
    {
      // Counted before the thread exists, so its exit can never see running_ below 0.
      std::lock_guard<std::mutex> lock(done_mu_);
      ++running_;
    }
    try {
      threads_.emplace_back([this, i] { run(i); });
    } catch (const std::exception& e) {  // std::system_error: out of threads or memory
      {
        std::lock_guard<std::mutex> lock(done_mu_);
        --running_;
      }
      // The threads already running use the envs and buffers the caller frees once this
      // throws: stop and join them here, never leave them running behind the error.
      request_stop();
      join();
      throw std::runtime_error(str_cat("could not start actor-learner thread ", i + 1, " of ",
                                       opt_.threads, ": ", e.what(),
                                       " (the process's thread or memory limit; use fewer threads)"));
    }
  }
}

void Pool::request_stop() { stop_.store(true, std::memory_order_relaxed); }

bool Pool::wait_for(double seconds) {
  std::unique_lock<std::mutex> lock(done_mu_);
  return done_cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                           [this] { return running_ == 0; });
}

void Pool::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  kernels_in_use_.reset();
}

std::exception_ptr Pool::error() {
  std::lock_guard<std::mutex> lock(done_mu_);
  return error_;
}

void Pool::fail(std::exception_ptr e) {
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    if (!error_) error_ = e;
  }
  request_stop();
}

std::int64_t Pool::steps_done() const {
  std::int64_t s = 0;
  for (int i = 0; i < opt_.threads; ++i) s += workers_[i].steps.load(std::memory_order_relaxed);
  return s;
}

std::int64_t Pool::updates_done() const {
  std::int64_t s = 0;
  for (int i = 0; i < opt_.threads; ++i) s += workers_[i].updates.load(std::memory_order_relaxed);
  return s;
}

double Pool::seconds() const { return t0_ > 0 ? now_seconds() - t0_ : 0.0; }

WorkerStats Pool::collect(bool drain) {
  WorkerStats total;
  for (int i = 0; i < opt_.threads; ++i) {
    Worker& w = workers_[i];
    std::lock_guard<std::mutex> lock(w.mu);
    WorkerStats& s = w.stats;
    total.updates += s.updates;
    total.skipped_updates += s.skipped_updates;
    total.policy_loss += s.policy_loss;
    total.value_loss += s.value_loss;
    total.entropy += s.entropy;
    total.loss_count += s.loss_count;
    for (int b = 0; b < kStalenessBins; ++b) total.staleness_hist[b] += s.staleness_hist[b];
    total.staleness_sum += s.staleness_sum;
    total.gil_wait_ns += s.gil_wait_ns;
    total.env_call_ns += s.env_call_ns;
    total.env_call_cpu_ns += s.env_call_cpu_ns;
    total.env_ns += s.env_ns;
    total.net_ns += s.net_ns;
    total.update_ns += s.update_ns;
    total.epsilons.insert(total.epsilons.end(), s.epsilons.begin(), s.epsilons.end());
    total.max_q_sum += s.max_q_sum;
    total.max_q_count += s.max_q_count;
    total.episodes.insert(total.episodes.end(), s.episodes.begin(), s.episodes.end());
    if (drain) {
      s.episodes.clear();
      s.policy_loss = s.value_loss = s.entropy = 0;
      s.loss_count = 0;
    }
  }
  // Stable: the games one worker ended in the same step share a wall time and keep their env
  // order (std::sort put them in an arbitrary order once a drain held more than 16 games).
  std::stable_sort(total.episodes.begin(), total.episodes.end(),
            [](const EpisodeRecord& a, const EpisodeRecord& b) { return a.wall_time < b.wall_time; });
  return total;
}

void Pool::run(int id) {
  try {
    worker_loop(id);
  } catch (...) {
    fail(std::current_exception());
  }
  std::lock_guard<std::mutex> lock(done_mu_);
  --running_;
  done_cv_.notify_all();
}

// One actor-learner thread: the loop of Algorithm S3 (its steps are the Learner's functions,
// train/learner.h; the same loop runs the value-based methods), with the timing, counters and
// statistics kept here, outside them. Owns its snapshot theta', gradient and Learner
// (activations, RNG, rollout record); shares only SharedParams (and SharedTarget).
void Pool::worker_loop(int id) {
  enable_flush_denormals();
  if (opt_.worker_cpus[id] >= 0) pin_to_core(opt_.worker_cpus[id]);
  Worker& me = workers_[id];
  Env& env = *envs_[id];
  const Index n = net_.num_params();
  const std::int64_t budget = opt_.total_steps - opt_.start_step;
  const std::unique_ptr<Learner> owned = make_learner(net_, env, opt_, shared_, target_, 1000 + id);
  Learner& learner = *owned;
  const int k = learner.num_envs();

  AlignedBuffer<float> theta(n), grad(n);
  RmsPropParams rms{opt_.lr, opt_.rmsprop_alpha, opt_.rmsprop_eps,
                    opt_.rmsprop_eps_placement == EpsPlacement::kInside};

  learner.reset_envs();
  shared_.snapshot(theta.data());
  std::int64_t snapshot_updates = updates_done();
  std::int64_t my_steps = 0, my_updates = 0;
  std::int64_t env_ns = 0, net_ns = 0, update_ns = 0;

  while (!stop_.load(std::memory_order_relaxed) && global_done() < budget) {
    learner.begin_rollout(theta.data(), opt_.start_step + global_done());
    for (int t = 0; t < opt_.t_max; ++t) {
      const std::int64_t a0 = now_ns();
      learner.act(theta.data());
      const std::int64_t a1 = now_ns();
      learner.step_envs();
      const std::int64_t a2 = now_ns();
      net_ns += a1 - a0;
      env_ns += a2 - a1;
      me.steps.store(my_steps += k, std::memory_order_relaxed);
      if (!learner.ended().empty()) {
        const double wall = now_seconds() - t0_;
        const std::int64_t step = opt_.start_step + global_done();
        std::lock_guard<std::mutex> lock(me.mu);
        for (const EndedGame& g : learner.ended())
          me.stats.episodes.push_back(EpisodeRecord{wall, step, id, g.score, g.length, learner.epsilon_of(g.env)});
      }
      if (stop_.load(std::memory_order_relaxed)) break;
    }
    const std::int64_t b0 = now_ns();
    learner.bootstrap_and_returns(theta.data());
    const LossTerms terms = learner.gradient(theta.data(), grad.data());
    const std::int64_t b1 = now_ns();
    net_ns += b1 - b0;
    rms.lr = scheduled_lr(opt_, opt_.start_step + global_done(), opt_.start_seconds + seconds());
    const std::int64_t staleness = updates_done() - snapshot_updates;
    const UpdateResult u = shared_update(shared_, grad.data(), terms.total, opt_.grad_clip, rms, theta.data());
    if (u.applied) me.updates.store(++my_updates, std::memory_order_relaxed);
    snapshot_updates = updates_done();
    const std::int64_t b2 = now_ns();
    update_ns += b2 - b1;
    {
      std::lock_guard<std::mutex> lock(me.mu);
      WorkerStats& s = me.stats;
      if (u.applied) {
        s.updates = my_updates;
        s.policy_loss += terms.policy_loss;
        s.value_loss += terms.value_loss;
        // Telemetry reports the mean entropy per sample whatever the loss reduction.
        const bool mean = opt_.loss_reduction == LossReduction::kMean;
        s.entropy += mean ? terms.entropy : terms.entropy / (static_cast<double>(learner.steps()) * k);
        ++s.loss_count;
        s.staleness_hist[std::min<std::int64_t>(staleness, kStalenessBins - 1)]++;
        s.staleness_sum += static_cast<double>(staleness);
      } else {
        ++s.skipped_updates;
      }
      s.gil_wait_ns = env.gil_wait_ns();
      s.env_call_ns = env.call_ns();
      s.env_call_cpu_ns = env.call_cpu_ns();
      s.env_ns = env_ns;
      s.net_ns = net_ns;
      s.update_ns = update_ns;
      if (is_value_based(opt_.method)) {
        const ExplorationStats x = learner.exploration();
        s.epsilons.assign(1, x.epsilon);
        s.max_q_sum = x.max_q_sum;
        s.max_q_count = x.max_q_count;
      }
    }
  }
}

}  // namespace a3c
