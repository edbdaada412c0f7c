// C++-only driver for the sanitizers (scripts/run_sanitizers.sh): runs the network kernels
// and the actor-learner pool on SyntheticEnvs with no Python, in every threaded mode, and
// checks the invariants that do not depend on timing. Exit status 0 = all checks passed.
#include <algorithm>
#include <memory>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/aligned.h"
#include "common/cpu.h"
#include "nn/network.h"
#include "train/pool.h"
#include "train/synthetic_env.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// An env that throws after a number of steps: the pool must stop and report it.
class ThrowingEnv final : public a3c::Env {
 public:
  explicit ThrowingEnv(const a3c::ArchSpec& spec) : inner_(spec, 1) {}
  int num_envs() const override { return inner_.num_envs(); }
  void reset(void* obs) override { inner_.reset(obs); }
  void step(const int* actions, void* obs, a3c::StepResult* results) override {
    if (++n_ == 200) throw std::runtime_error("env failure at step 200");
    inner_.step(actions, obs, results);
  }

 private:
  a3c::SyntheticEnv inner_;
  int n_ = 0;
};

// Every field set explicitly (TrainOptions has no defaults): a small, fast-learning setting
// (A3CConfig's values except t_max 5, as in the tests' CartPole runs). Nothing here depends
// on learning; the checks are counts, errors and finiteness.
a3c::TrainOptions options(int threads, std::int64_t total_steps, bool locked) {
  using namespace a3c;
  TrainOptions opt;
  opt.threads = threads;
  opt.total_steps = total_steps;
  opt.start_step = 0;
  opt.max_seconds = 0;
  opt.lr_anneal_seconds = 0;
  opt.start_seconds = 0;
  opt.method = Method::kA3C;
  opt.target_update_steps = 100;  // frequent refreshes: the target's race runs often
  opt.epsilon_anneal_steps = 1000;
  opt.epsilon_draw = EpsilonDraw::kPerEnv;
  opt.t_max = 5;
  opt.gamma = 0.99f;
  opt.lr = 3e-4f;
  opt.entropy_beta = 0.01f;
  opt.value_coef = 0.5f;
  opt.rmsprop_alpha = 0.99f;
  opt.rmsprop_eps = 1e-5f;
  opt.rmsprop_eps_placement = EpsPlacement::kInside;
  opt.grad_clip = 40.0f;
  opt.loss_reduction = LossReduction::kSum;
  opt.reward_clip = 1.0f;
  opt.seed = 0;
  opt.update = locked ? UpdateMode::kLocked : UpdateMode::kHogwild;
  opt.worker_cpus.assign(threads, -1);  // not pinned: sanitizer runs share the machine
  return opt;
}

// exchange: the main thread also does what the cluster mode's exchange does while the workers
// run: a read of the shared buffer, a shift of it (SharedParams::shift) and other nodes' steps
// added to the global count (Pool::add_external_steps).
void run_pool(const std::string& arch, int threads, int k, bool locked, std::int64_t steps,
              a3c::Method method = a3c::Method::kA3C, bool exchange = false) {
  using namespace a3c;
  const bool vector_obs = arch.rfind("mlp", 0) == 0;  // mlp, mlp_lstm
  const std::vector<Index> obs = vector_obs ? std::vector<Index>{8} : std::vector<Index>{4, 84, 84};
  const bool q = is_value_based(method);
  Network net(make_arch(arch, obs, 4, {32, 32}, q));
  AlignedBuffer<float> params(net.num_params());
  net.init_params(params.data(), 3);
  SharedParams shared(params.data(), nullptr, net.num_params(), locked);
  std::unique_ptr<SharedTarget> target;
  if (q) target = std::make_unique<SharedTarget>(params.data(), net.num_params(), 100, 0, locked);
  std::vector<std::unique_ptr<SyntheticEnv>> envs;
  std::vector<Env*> raw;
  for (int i = 0; i < threads; ++i) {
    envs.push_back(std::make_unique<SyntheticEnv>(net.spec(), i, 50, k));
    raw.push_back(envs.back().get());
  }
  TrainOptions opt = options(threads, steps, locked);
  opt.method = method;
  Pool pool(net, shared, raw, opt, target.get());
  pool.start();
  bool isa_refused = false;  // set_kernel_isa while the pool runs
  try {
    a3c::set_kernel_isa(a3c::kernel_isa());
  } catch (const std::runtime_error&) {
    isa_refused = true;
  }
  AlignedBuffer<float> sent(net.num_params()), got(net.num_params());
  while (!pool.wait_for(exchange ? 0.005 : 0.05)) {
    (void)pool.collect(true);  // the main thread's telemetry reads, concurrently with workers
    (void)pool.steps_done();
    if (exchange) {
      shared.read(sent.data(), nullptr);
      for (std::size_t i = 0; i < got.size(); ++i) got[i] = sent[i] * 0.999f;
      shared.shift(sent.data(), got.data());
      pool.add_external_steps(7);
    }
  }
  pool.join();
  const WorkerStats s = pool.collect(true);
  AlignedBuffer<float> out(net.num_params());
  shared.read(out.data(), nullptr);
  bool finite = true;
  for (std::size_t i = 0; i < out.size(); ++i) finite = finite && std::isfinite(out[i]);
  const char* method_name[] = {"?", "a3c", "one_step_q", "one_step_sarsa", "n_step_q"};
  const std::string tag = arch + " " + method_name[static_cast<int>(method)] + " threads=" + std::to_string(threads) +
                          " k=" + std::to_string(k) + (locked ? " locked" : " hogwild") +
                          (exchange ? " +exchange" : "");
  expect(!pool.error(), tag + ": no worker error");
  expect(isa_refused, tag + ": the kernel set cannot change while the pool runs");
  const std::int64_t global = pool.steps_done() + pool.external_steps();
  expect(global >= steps && pool.steps_done() < steps + threads * k * opt.t_max, tag + ": step count");
  if (exchange) expect(pool.external_steps() > 0, tag + ": external steps counted");
  expect(s.updates > 0 && finite, tag + ": updates applied, params finite");
  if (target) {
    expect(target->refreshes() >= steps / 100 - threads && target->refreshes() <= steps / 100 + 1,
           tag + ": one target refresh per 100 steps crossed");
    expect(s.max_q_count > 0 && std::isfinite(s.max_q_sum), tag + ": max-Q telemetry");
  }
}

void run_failing_pool() {
  using namespace a3c;
  Network net(make_arch("mlp", {8}, 3, {16, 16}));
  AlignedBuffer<float> params(net.num_params());
  net.init_params(params.data(), 1);
  SharedParams shared(params.data(), nullptr, net.num_params(), false);
  SyntheticEnv ok_env(net.spec(), 0);
  ThrowingEnv bad_env(net.spec());
  Pool pool(net, shared, {&ok_env, &bad_env}, options(2, 100000000, false));
  pool.start();
  pool.join();
  bool caught = false;
  try {
    if (auto e = pool.error()) std::rethrow_exception(e);
  } catch (const std::runtime_error& e) {
    caught = std::string(e.what()) == "env failure at step 200";
  }
  expect(caught, "an env exception stops the pool and is reported");
  bool isa_free = true;  // the pool has joined: the kernel set may change again
  try {
    set_kernel_isa(kernel_isa());
  } catch (const std::exception&) {
    isa_free = false;
  }
  expect(isa_free, "the kernel set can change once the pool has joined");
}

void run_unset_options() {
  using namespace a3c;
  Network net(make_arch("mlp", {8}, 3, {16, 16}));
  AlignedBuffer<float> params(net.num_params());
  net.init_params(params.data(), 1);
  SharedParams shared(params.data(), nullptr, net.num_params(), false);
  SyntheticEnv env(net.spec(), 0);
  TrainOptions opt = options(1, 1000, false);
  opt.rmsprop_eps = kUnsetFloat;  // forgotten
  std::string what;
  try {
    Pool pool(net, shared, {&env}, opt);
  } catch (const std::invalid_argument& e) {
    what = e.what();
  }
  expect(what.find("TrainOptions fields not set: rmsprop_eps.") == 0, "a forgotten option is named: " + what);
}

}  // namespace

// Usage: pool_stress [scale]  -- scale divides the step budgets (TSan runs ~10x slower than
// ASan); every configuration still runs at least one rollout whatever the scale.
int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const long scale = argc > 1 ? std::max(1L, std::atol(argv[1])) : 1;
  a3c::enable_flush_denormals();
  for (const char* arch : {"mlp", "a3c"})
    for (int threads : {1, 2, 4})
      for (int k : {1, 4})
        for (bool locked : {false, true})
          run_pool(arch, threads, k, locked, std::max(1L, (arch[0] == 'm' ? 20000 : 600) * k / scale));
  // The recurrent worker: per-env LSTM state carried across rollouts, BPTT (issue 19).
  for (int threads : {1, 2})
    for (bool locked : {false, true}) run_pool("mlp_lstm", threads, 4, locked, std::max(1L, 20000L * 4 / scale));
  // The value-based methods (issue 20): the shared target network refreshed while read.
  for (a3c::Method m : {a3c::Method::kOneStepQ, a3c::Method::kOneStepSarsa, a3c::Method::kNStepQ})
    for (int threads : {1, 2})
      for (bool locked : {false, true})
        run_pool(threads == 1 ? "a3c" : "mlp", threads, 4, locked,
                 std::max(1L, (threads == 1 ? 600L : 20000L) * 4 / scale), m);
  // The cluster mode's exchange (issue 21) beside the workers.
  for (bool locked : {false, true}) run_pool("mlp", 2, 4, locked, std::max(1L, 20000L * 4 / scale), a3c::Method::kA3C, true);
  run_failing_pool();
  run_unset_options();
  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
