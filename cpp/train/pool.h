// The actor-learner pool: N std::threads running one method of Mnih et al. 2016 (A3C,
// Algorithm S3, or a value-based one, Algorithms 1 and S2) against one SharedParams (and, for
// the value-based methods, one SharedTarget), each stepping the k environments of its own Env
// (train/learner.h has the loop's steps; the loop, timing and statistics are in pool.cc). The pool starts and joins its threads (never detached); the first
// exception of any worker raises the stop flag and is rethrown to the caller after the join.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/aligned.h"
#include "common/cpu.h"
#include "nn/network.h"
#include "train/learner.h"
#include "train/env.h"
#include "train/hogwild.h"

namespace a3c {

// How the shared RMSProp epsilon enters the update (rmsprop.h), the loss is reduced over a
// rollout, and the shared buffers are written. kUnset (0) is what a value-initialised
// TrainOptions holds; Pool refuses it.
enum class EpsPlacement { kUnset = 0, kInside, kOutside };
enum class LossReduction { kUnset = 0, kSum, kMean };
enum class UpdateMode { kUnset = 0, kHogwild, kLocked };

// Every setting of one run of the pool. Declared with NO defaults of its own: A3CConfig
// (python/a3c_native/config.py) is the one declaration of the defaults and of what each field
// means, and native_options.py is the one mapping from it to these fields. A default here
// would be a second declaration that silently wins whenever a caller forgets a field (this
// struct used to carry the paper's eps 0.1 and t_max 5 while A3CConfig had 1e-5 and 20).
// So every field starts at a sentinel no valid value takes (-1 for counts, NaN for reals,
// kUnset for choices, no CPUs) and validate_train_options, which Pool's constructor calls,
// names every field left unset. (Not generated from A3CConfig: that would add a code
// generator to the build for 20 fields, and hide the struct from C++ readers.)
inline constexpr int kUnsetCount = -1;
inline constexpr double kUnsetReal = std::numeric_limits<double>::quiet_NaN();
inline constexpr float kUnsetFloat = std::numeric_limits<float>::quiet_NaN();

struct TrainOptions {
  int threads = kUnsetCount;               // actor-learner threads, >= 1
  std::int64_t total_steps = kUnsetCount;  // agent steps of all workers and envs; the lr schedule's length
  std::int64_t start_step = kUnsetCount;   // steps already done (resume): the schedule continues
  double max_seconds = kUnsetReal;         // wall-clock budget, 0 = none
  // The lr also anneals over this much training time (0 = over total_steps only): a run given
  // minutes rather than steps then ends at lr 0 whatever the machine's speed. start_seconds is
  // the training time of earlier runs (resume), so the schedule continues like the step count.
  double lr_anneal_seconds = kUnsetReal;
  double start_seconds = kUnsetReal;
  Method method = Method::kUnset;
  // Value-based methods: the target network is refreshed every target_update_steps global
  // agent steps; epsilon anneals over the first epsilon_anneal_steps (train/q_learner.h).
  std::int64_t target_update_steps = kUnsetCount;
  std::int64_t epsilon_anneal_steps = kUnsetCount;
  EpsilonDraw epsilon_draw = EpsilonDraw::kUnset;
  int t_max = kUnsetCount;
  float gamma = kUnsetFloat;
  float lr = kUnsetFloat;
  float entropy_beta = kUnsetFloat;
  float value_coef = kUnsetFloat;
  float rmsprop_alpha = kUnsetFloat;
  float rmsprop_eps = kUnsetFloat;
  EpsPlacement rmsprop_eps_placement = EpsPlacement::kUnset;
  float grad_clip = kUnsetFloat;  // 0 disables
  LossReduction loss_reduction = LossReduction::kUnset;
  float reward_clip = kUnsetFloat;  // 0 disables
  std::int64_t seed = kUnsetCount;  // >= 0 (A3CConfig caps it at 2^63 - 1)
  UpdateMode update = UpdateMode::kUnset;
  // CPU for worker i, one per thread (its env's emulator thread must be pinned to the same
  // one); -1 = not pinned. Chosen by the caller (envs.worker_cpu), the one place that knows
  // the process's allowed CPUs and pins the env threads.
  std::vector<int> worker_cpus;
};

// Throws std::invalid_argument naming every field still at its sentinel ("TrainOptions
// fields not set: ..."), else the first field out of range ("TrainOptions.gamma=1.5 is
// invalid: ..."). Called by Pool's constructor; callable before, to fail early.
void validate_train_options(const TrainOptions& opt);

// The learners' share of the options (train/learner.h).
LearnerOptions learner_options(const TrainOptions& opt);

// The learner of opt.method for one worker (ActorLearner or QLearner; `target` is required by,
// and only by, the value-based methods). seed/stream seed its action sampler.
std::unique_ptr<Learner> make_learner(const Network& net, Env& env, const TrainOptions& opt, SharedParams& shared,
                                      SharedTarget* target, std::uint64_t stream);

constexpr int kStalenessBins = 64;  // bins 0..62 exact, 63 = "63 or more"

struct EpisodeRecord {
  double wall_time;     // seconds since the run started
  std::int64_t step;    // global agent step count when the game ended
  int worker;
  double score;         // unclipped game score
  std::int64_t length;  // agent steps
  double epsilon;       // the env's exploration epsilon when the game ended; NaN for A3C
};

// Counters a worker publishes; read by the main thread under the worker's mutex.
struct WorkerStats {
  std::int64_t updates = 0, skipped_updates = 0;
  double policy_loss = 0, value_loss = 0, entropy = 0;  // sums since the last drain
  std::int64_t loss_count = 0;
  std::int64_t staleness_hist[kStalenessBins] = {};
  double staleness_sum = 0;
  std::int64_t gil_wait_ns = 0, env_call_ns = 0, env_call_cpu_ns = 0;
  std::int64_t env_ns = 0, net_ns = 0, update_ns = 0;
  // Value-based methods: mean epsilon of each worker's envs now (collect(): one per worker),
  // and max_a Q(s_t, a) summed over the acting steps (cumulative).
  std::vector<double> epsilons;
  double max_q_sum = 0;
  std::int64_t max_q_count = 0;
  std::vector<EpisodeRecord> episodes;  // since the last drain
};

class Pool {
 public:
  // `target`: the shared target network of a value-based method (null for A3C).
  Pool(const Network& net, SharedParams& shared, std::vector<Env*> envs, TrainOptions opt,
       SharedTarget* target = nullptr);
  ~Pool();  // stops and joins
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Starts the worker threads. If thread i cannot be started, the threads already running
  // are stopped and joined and std::runtime_error "could not start actor-learner thread i of
  // N: <reason>" is thrown (i counted from 1). From start() to join(), set_kernel_isa refuses
  // to change the kernel set.
  void start();
  void request_stop();
  // Waits up to `seconds` for every worker to finish; true if they all have.
  bool wait_for(double seconds);
  void join();
  // The first worker exception, if any (valid after join).
  std::exception_ptr error();

  std::int64_t steps_done() const;  // exact sum of the per-worker counters (this run only)
  // Agent steps done elsewhere in the same run (the cluster mode's other nodes, as the
  // parameter server reports them): they count toward the global step of the lr schedule,
  // the target refreshes, epsilon and the total_steps budget like this pool's own steps.
  void add_external_steps(std::int64_t n) { external_steps_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t external_steps() const { return external_steps_.load(std::memory_order_relaxed); }
  double seconds() const;
  int threads() const { return opt_.threads; }
  // Moves out the stats accumulated since the last call (episodes, loss sums), summed over
  // workers; cumulative counters (updates, skipped, staleness, timings) are totals.
  WorkerStats collect(bool drain);

 private:
  struct alignas(kCacheLine) Worker {
    std::atomic<std::int64_t> steps{0};    // written by its owner only (store, no RMW)
    std::atomic<std::int64_t> updates{0};  // idem
    std::mutex mu;                         // guards stats
    WorkerStats stats;
  };
  void run(int id);
  void worker_loop(int id);
  std::int64_t updates_done() const;
  std::int64_t global_done() const { return steps_done() + external_steps(); }  // since start_step
  void fail(std::exception_ptr e);

  const Network& net_;
  SharedParams& shared_;
  SharedTarget* target_;
  std::vector<Env*> envs_;
  TrainOptions opt_;
  std::unique_ptr<Worker[]> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<KernelIsaInUse> kernels_in_use_;  // from start() until join() has joined all
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> external_steps_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  int running_ = 0;
  std::exception_ptr error_;  // guarded by done_mu_
  double t0_ = 0;
};

double now_seconds();

// lr at global step T after `seconds` of training (both counted from the start of the whole
// run, resumes included): lr0 annealed linearly to 0 at total_steps or anneal_seconds,
// whichever comes first.
float scheduled_lr(const TrainOptions& opt, std::int64_t T, double seconds);

}  // namespace a3c
