#include "train/pool.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "common/cpu.h"
#include "common/rng.h"

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
  if (opt.anneal_seconds > 0) progress = std::max(progress, seconds / opt.anneal_seconds);
  return opt.lr * static_cast<float>(std::max(0.0, 1.0 - progress));
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

// Samples from softmax(logits) with a max-subtracted exponential.
int sample_action(const float* logits, Index A, Rng& rng) {
  float m = logits[0];
  for (Index a = 1; a < A; ++a) m = std::max(m, logits[a]);
  double probs[256];
  double* p = A <= 256 ? probs : nullptr;
  std::vector<double> big;
  if (!p) {
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

Pool::Pool(const Network& net, SharedParams& shared, std::vector<Env*> envs, TrainOptions opt)
    : net_(net), shared_(shared), envs_(std::move(envs)), opt_(opt) {
  A3C_REQUIRE(opt_.threads >= 1, "threads=", opt_.threads, " must be >= 1");
  A3C_REQUIRE(static_cast<int>(envs_.size()) == opt_.threads, "got ", envs_.size(),
              " environments for ", opt_.threads, " threads: need one per thread");
  A3C_REQUIRE(opt_.t_max >= 1, "t_max=", opt_.t_max, " must be >= 1");
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
    total.episodes.insert(total.episodes.end(), s.episodes.begin(), s.episodes.end());
    if (drain) {
      s.episodes.clear();
      s.policy_loss = s.value_loss = s.entropy = 0;
      s.loss_count = 0;
    }
  }
  std::sort(total.episodes.begin(), total.episodes.end(),
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

// One actor-learner (Algorithm S3). Owns its snapshot theta', gradient, workspace
// (activations of the rollout), RNG and counters; shares only SharedParams.
void Pool::worker_loop(int id) {
  enable_flush_denormals();
  if (id < static_cast<int>(opt_.worker_cpus.size()) && opt_.worker_cpus[id] >= 0)
    pin_to_core(opt_.worker_cpus[id]);
  Worker& me = workers_[id];
  Env& env = *envs_[id];
  const ArchSpec& spec = net_.spec();
  const Index A = spec.num_actions;
  const Index n = net_.num_params();
  const int T = opt_.t_max;
  const std::int64_t budget = opt_.total_steps - opt_.start_step;

  AlignedBuffer<float> theta(n), grad(n);
  Workspace ws(spec, T + 1);  // T rollout steps + the bootstrap state
  const Index obs_bytes = spec.obs_size() * (spec.obs_u8 ? 1 : sizeof(float));
  AlignedBuffer<unsigned char> obs(obs_bytes);
  std::vector<int> actions(T);
  std::vector<float> rewards(T), returns(T);
  Rng rng(opt_.seed, 1000 + id);
  const LossCoefs coefs{opt_.entropy_beta, opt_.value_coef, opt_.loss_mean};
  RmsPropParams rms{opt_.lr, opt_.rmsprop_alpha, opt_.rmsprop_eps, opt_.rmsprop_eps_inside};

  env.reset(obs.data());
  shared_.snapshot(theta.data());
  std::int64_t snapshot_updates = updates_done();
  std::int64_t my_steps = 0, my_updates = 0;
  std::int64_t env_ns = 0, net_ns = 0, update_ns = 0;

  while (!stop_.load(std::memory_order_relaxed) && steps_done() < budget) {
    net_.prepare(theta.data(), ws);
    int t = 0;
    bool terminal = false;
    while (t < T) {
      std::int64_t a0 = now_ns();
      net_.forward(theta.data(), obs.data(), 1, ws, t);
      const int a = sample_action(ws.head.data() + t * (A + 1), A, rng);
      std::int64_t a1 = now_ns();
      const StepResult r = env.step(a, obs.data());
      std::int64_t a2 = now_ns();
      net_ns += a1 - a0;
      env_ns += a2 - a1;
      float reward = r.reward;
      if (opt_.reward_clip > 0) reward = std::clamp(reward, -opt_.reward_clip, opt_.reward_clip);
      actions[t] = a;
      rewards[t] = reward;
      ++t;
      me.steps.store(++my_steps, std::memory_order_relaxed);
      if (r.episode_end) {
        std::lock_guard<std::mutex> lock(me.mu);
        me.stats.episodes.push_back(
            EpisodeRecord{now_seconds() - t0_, opt_.start_step + steps_done(), id, r.episode_score, r.episode_length});
      }
      if (r.terminal) {
        terminal = true;
        break;
      }
      if (stop_.load(std::memory_order_relaxed)) break;
    }
    std::int64_t b0 = now_ns();
    float R = 0.0f;
    if (!terminal) {  // bootstrap from V(s_{t+n}; theta')
      net_.forward(theta.data(), obs.data(), 1, ws, t);
      R = ws.head[t * (A + 1) + A];
    }
    for (int i = t - 1; i >= 0; --i) {
      R = rewards[i] + opt_.gamma * R;
      returns[i] = R;
    }
    const LossTerms terms =
        net_.loss_and_backward(theta.data(), ws, t, actions.data(), returns.data(), coefs, grad.data());
    const double sumsq = sum_squares(grad.data(), n);
    std::int64_t b1 = now_ns();
    net_ns += b1 - b0;
    const std::int64_t T_now = opt_.start_step + steps_done();
    const bool finite = std::isfinite(sumsq) && std::isfinite(terms.total);
    std::int64_t staleness = 0;
    if (finite) {
      rms.lr = scheduled_lr(opt_, T_now, opt_.start_seconds + seconds());
      staleness = updates_done() - snapshot_updates;
      shared_.apply_update(grad.data(), clip_scale(sumsq, opt_.grad_clip), rms, theta.data());
      me.updates.store(++my_updates, std::memory_order_relaxed);
    } else {
      // Deviation from Mnih et al. 2016: a non-finite gradient is dropped (and counted)
      // instead of poisoning the shared parameters.
      shared_.snapshot(theta.data());
    }
    snapshot_updates = updates_done();
    std::int64_t b2 = now_ns();
    update_ns += b2 - b1;
    {
      std::lock_guard<std::mutex> lock(me.mu);
      WorkerStats& s = me.stats;
      if (finite) {
        s.updates = my_updates;
        s.policy_loss += terms.policy_loss;
        s.value_loss += terms.value_loss;
        // Telemetry reports the mean entropy per step whatever the loss reduction.
        s.entropy += opt_.loss_mean ? terms.entropy : terms.entropy / t;
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
    }
  }
}

}  // namespace a3c
