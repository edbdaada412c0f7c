// Python bindings of the training pool: Trainer owns the shared buffers and runs the pool with
// the GIL released; the calling (main) thread wakes every <= 100 ms to check for signals
// (Ctrl-C) and, every `interval` seconds, to call the Python progress callback.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/network_core.h"
#include "bindings/py_env.h"
#include "common/check.h"
#include "common/cpu.h"
#include "train/actor_learner.h"
#include "train/q_learner.h"
#include "train/pool.h"
#include "train/synthetic_env.h"

namespace py = pybind11;

namespace a3c::bind {

namespace {

// What Trainer.run returns and its progress callback receives: the pool's statistics at one
// moment, typed (bound read-only as _core.RunStats; python/a3c_native/_core.pyi lists them).
struct RunStats {
  std::int64_t steps = 0;      // global agent steps, earlier runs (start_step) included
  std::int64_t run_steps = 0;  // agent steps of this run
  double seconds = 0;          // wall time of this run
  double lr = 0;               // the scheduled learning rate now
  std::int64_t updates = 0, skipped_updates = 0;  // cumulative over the run
  std::vector<std::int64_t> staleness_hist;       // [kStalenessBins], cumulative
  double staleness_mean = 0;
  // Cumulative seconds summed over the workers: waiting for the GIL, inside the Python env
  // call (wall and CPU), stepping envs, in the network, in the shared update.
  double gil_wait_seconds = 0, env_call_seconds = 0, env_call_cpu_seconds = 0;
  double env_seconds = 0, net_seconds = 0, update_seconds = 0;
  std::vector<EpisodeRecord> episodes;  // games ended since the last RunStats, by wall time
  // Means over the updates since the last RunStats (loss_count of them; 0 if none).
  std::int64_t loss_count = 0;
  double policy_loss = 0, value_loss = 0, entropy = 0;
  // Value-based methods: each worker's mean epsilon now, the mean of max_a Q(s_t, a) over all
  // acting steps so far (0 before any), and the target network's refreshes in this run.
  std::vector<double> epsilons;
  double mean_max_q = 0;
  std::int64_t target_refreshes = 0;
  bool stopped_by_callback = false, interrupted = false;  // how run() ended (run() only)
};

RunStats run_stats(const WorkerStats& s) {
  RunStats r;
  r.updates = s.updates;
  r.skipped_updates = s.skipped_updates;
  r.staleness_hist.assign(s.staleness_hist, s.staleness_hist + kStalenessBins);
  r.staleness_mean = s.updates > 0 ? s.staleness_sum / static_cast<double>(s.updates) : 0.0;
  r.gil_wait_seconds = s.gil_wait_ns * 1e-9;
  r.env_call_seconds = s.env_call_ns * 1e-9;
  r.env_call_cpu_seconds = s.env_call_cpu_ns * 1e-9;
  r.env_seconds = s.env_ns * 1e-9;
  r.net_seconds = s.net_ns * 1e-9;
  r.update_seconds = s.update_ns * 1e-9;
  r.episodes = s.episodes;
  const double c = s.loss_count > 0 ? static_cast<double>(s.loss_count) : 1.0;
  r.loss_count = s.loss_count;
  r.policy_loss = s.policy_loss / c;
  r.value_loss = s.value_loss / c;
  r.entropy = s.entropy / c;
  r.epsilons = s.epsilons;
  r.mean_max_q = s.max_q_count > 0 ? s.max_q_sum / static_cast<double>(s.max_q_count) : 0.0;
  return r;
}

// A Python handle to SyntheticEnv settings. Each run builds (and owns) its own SyntheticEnv
// from it for the network it runs, so no env is shared between runs or outlived by a worker.
class SyntheticEnvHandle {
 public:
  SyntheticEnvHandle(std::uint64_t seed, std::int64_t episode_length, int num_envs)
      : seed_(seed), episode_length_(episode_length), num_envs_(num_envs) {
    A3C_REQUIRE(episode_length >= 1, "episode_length=", episode_length, " must be >= 1");
    A3C_REQUIRE(num_envs >= 1 && num_envs <= 4096, "num_envs=", num_envs, " must be in [1, 4096]");
  }
  std::unique_ptr<SyntheticEnv> make(const ArchSpec& spec) const {
    return std::make_unique<SyntheticEnv>(spec, seed_, episode_length_, num_envs_);
  }
  int num_envs() const { return num_envs_; }

 private:
  std::uint64_t seed_;
  std::int64_t episode_length_;
  int num_envs_;
};

// The envs of one run: Python vector envs (PyEnv) or SyntheticEnvs, owned here. Must be
// destroyed with the GIL held (PyEnv holds Python objects).
struct RunEnvs {
  RunEnvs(const py::list& envs, const ArchSpec& spec) {
    for (const auto& e : envs) {
      if (py::isinstance<SyntheticEnvHandle>(e)) {  // C++ env: no Python, no GIL
        synthetic.push_back(e.cast<const SyntheticEnvHandle&>().make(spec));
        raw.push_back(synthetic.back().get());
        continue;
      }
      python.push_back(std::make_unique<PyEnv>(py::reinterpret_borrow<py::object>(e), spec));
      raw.push_back(python.back().get());
    }
  }
  std::vector<std::unique_ptr<PyEnv>> python;
  std::vector<std::unique_ptr<SyntheticEnv>> synthetic;
  std::vector<Env*> raw;
};

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v, py::ssize_t rows, py::ssize_t cols) {
  py::array_t<T> a({rows, cols});
  std::memcpy(a.mutable_data(), v.data(), static_cast<std::size_t>(rows * cols) * sizeof(T));
  return a;
}

// One rollout of one learner (ActorLearner or QLearner, by options.method), outside any pool:
// the loop's steps in the pool's order, without the shared update, with the record returned
// for checking (tests/test_batched_rollout.py, tests/test_q_learner.py).
py::dict probe_rollout(NetworkCore& net, const py::array& params, const py::object& env, const TrainOptions& opt,
                       int rollouts, const py::object& target, std::int64_t global_step) {
  const Network& nw = net.net();
  const Index n = nw.num_params();
  require_array<float>("params", params, {n});
  A3C_REQUIRE(rollouts >= 1, "rollouts=", rollouts, " must be >= 1");
  A3C_REQUIRE(global_step >= 0, "global_step=", global_step, " must be >= 0");
  validate_train_options(opt);
  const bool q = is_value_based(opt.method);
  A3C_REQUIRE(nw.spec().q_values == q, "options.method does not match the network's head");
  py::array target_arr = target.is_none() ? params : target.cast<py::array>();
  require_array<float>("target", target_arr, {n});
  const auto* p0 = static_cast<const float*>(params.data());
  SharedParams shared(p0, nullptr, n, false);
  // The boundary is never reached: the probe's target stays the one given.
  SharedTarget shared_target(static_cast<const float*>(target_arr.data()), n, std::numeric_limits<std::int64_t>::max() / 2,
                             0, false);
  py::list one;
  one.append(env);
  RunEnvs envs(one, nw.spec());
  std::unique_ptr<Learner> owned = make_learner(nw, *envs.raw[0], opt, shared, q ? &shared_target : nullptr, 1000);
  AlignedBuffer<float> theta(n);
  std::memcpy(theta.data(), p0, n * sizeof(float));
  py::array_t<float> grad(n);
  float* g = grad.mutable_data();
  LossTerms terms;
  std::vector<std::tuple<int, int, double, std::int64_t>> ended;  // rollout step, env, score, length
  std::vector<float> h0, c0;  // recurrent archs: the state entering the last rollout
  auto* actor = dynamic_cast<ActorLearner*>(owned.get());
  auto* qlearner = dynamic_cast<QLearner*>(owned.get());
  Learner& learner = *owned;
  {
    py::gil_scoped_release nogil;
    KernelIsaInUse kernels;
    ScopedFlushDenormals ftz;
    learner.reset_envs();
    for (int r = 0; r < rollouts; ++r) {
      ended.clear();
      if (actor) {
        h0 = actor->state_h();
        c0 = actor->state_c();
      }
      learner.begin_rollout(theta.data(), global_step);
      for (int t = 0; t < opt.t_max; ++t) {
        learner.act(theta.data());
        learner.step_envs();
        for (const EndedGame& e : learner.ended()) ended.emplace_back(t, e.env, e.score, e.length);
      }
      learner.bootstrap_and_returns(theta.data());
      terms = learner.gradient(theta.data(), g);
    }
  }
  const ArchSpec& a = nw.spec();
  const py::ssize_t T = learner.steps(), k = learner.num_envs(), A = a.num_actions;
  const Workspace& ws = learner.workspace();
  const EnvRollout& roll = learner.rollout();
  std::vector<py::ssize_t> obs_shape{T, k};
  for (Index d : a.obs_shape) obs_shape.push_back(d);
  py::array obs = a.obs_u8 ? py::array(py::array_t<std::uint8_t>(obs_shape)) : py::array(py::array_t<float>(obs_shape));
  std::memcpy(obs.mutable_data(), a.obs_u8 ? static_cast<const void*>(ws.obs_u8.data()) : ws.obs_f32.data(),
              obs.nbytes());
  std::vector<py::ssize_t> boot_shape{k};
  for (Index d : a.obs_shape) boot_shape.push_back(d);
  py::array next_obs =
      a.obs_u8 ? py::array(py::array_t<std::uint8_t>(boot_shape)) : py::array(py::array_t<float>(boot_shape));
  std::memcpy(next_obs.mutable_data(), roll.obs(), next_obs.nbytes());
  py::dict d;
  d["grad"] = grad;
  d["obs"] = obs;
  d["next_obs"] = next_obs;
  d["actions"] = to_array(roll.actions, T, k);
  d["rewards"] = to_array(roll.rewards, T, k);
  d["terminals"] = to_array(roll.terminals, T, k).attr("astype")("bool");
  if (actor) {
    d["returns"] = to_array(actor->returns(), T, k);
    py::array_t<float> values({T, k});
    for (py::ssize_t s = 0; s < T * k; ++s) values.mutable_data()[s] = ws.head[s * (A + 1) + A];
    d["values"] = values;
  } else {
    d["targets"] = to_array(qlearner->targets(), T, k);
    py::array_t<float> qv({T, k, A});
    std::memcpy(qv.mutable_data(), ws.head.data(), static_cast<std::size_t>(T * k * A) * sizeof(float));
    d["q"] = qv;
    d["epsilons"] = qlearner->epsilons();
    d["final_epsilons"] = qlearner->final_epsilons();
    d["next_actions"] = qlearner->next_actions();
  }
  py::list ends;
  for (const auto& [t, e, sc, len] : ended) ends.append(py::make_tuple(t, e, sc, len));
  d["ended"] = ends;
  if (a.recurrent()) {
    const py::ssize_t H = a.state_size();
    d["state_h0"] = to_array(h0, k, H);
    d["state_c0"] = to_array(c0, k, H);
    d["state_h"] = to_array(actor->state_h(), k, H);
    d["state_c"] = to_array(actor->state_c(), k, H);
  }
  d["policy_loss"] = terms.policy_loss;
  d["value_loss"] = terms.value_loss;
  d["entropy"] = terms.entropy;
  d["total"] = terms.total;
  return d;
}

class Trainer {
 public:
  Trainer(NetworkCore& net, const py::array& params, const py::object& rms, const TrainOptions& opt,
          const py::object& target)
      : net_(net), opt_(opt) {
    validate_train_options(opt_);  // before any buffer: a forgotten field fails first
    const Index n = net.net().num_params();
    require_array<float>("params", params, {n});
    const float* rms_ptr = nullptr;
    py::array rms_arr;
    if (!rms.is_none()) {
      rms_arr = rms.cast<py::array>();
      require_array<float>("rms", rms_arr, {n});
      rms_ptr = static_cast<const float*>(rms_arr.data());
    }
    shared_ = std::make_unique<SharedParams>(static_cast<const float*>(params.data()), rms_ptr, n,
                                             opt_.update == UpdateMode::kLocked);
    const bool q = is_value_based(opt_.method);
    A3C_REQUIRE(net.net().spec().q_values == q, "options.method is ", q ? "value-based" : "a3c",
                " but the network has ", net.net().spec().q_values ? "a q-value head" : "policy and value heads");
    if (!q) {
      A3C_REQUIRE(target.is_none(), "target= is for the value-based methods only");
      return;
    }
    // theta^- starts as the given target (resume) or as theta (a fresh run).
    py::array target_arr = target.is_none() ? params : target.cast<py::array>();
    require_array<float>("target", target_arr, {n});
    target_ = std::make_unique<SharedTarget>(static_cast<const float*>(target_arr.data()), n, opt_.target_update_steps,
                                             opt_.start_step, opt_.update == UpdateMode::kLocked);
  }

  // A copy of the shared target network theta^- (value-based methods; None for A3C).
  py::object target_params() {
    if (!target_) return py::none();
    py::array_t<float> out(target_->size());
    float* p = out.mutable_data();
    {
      py::gil_scoped_release nogil;
      target_->read(p);
    }
    return std::move(out);
  }

  // The shared parameters and RMSProp statistics, copied in ONE read (SharedParams::read): a
  // checkpoint must not pair parameters with statistics from a later update.
  py::tuple state() {
    py::array_t<float> params(shared_->size()), rms(shared_->size());
    float* p = params.mutable_data();
    float* g = rms.mutable_data();
    {
      py::gil_scoped_release nogil;
      shared_->read(p, g);
    }
    return py::make_tuple(params, rms);
  }
  std::int64_t steps() const {
    return opt_.start_step + (pool_ ? pool_->steps_done() + pool_->external_steps() : pending_external_);
  }

  // The cluster mode's exchange (a3c_native/cluster/node.py), callable while run() runs (from
  // its callback or another thread): theta += after - before in the live shared buffer
  // (SharedParams::shift, a Hogwild write), and the other nodes' steps added to the global
  // step count.
  void shift_params(const py::array& before, const py::array& after) {
    const Index n = shared_->size();
    require_array<float>("before", before, {n});
    require_array<float>("after", after, {n});
    const auto* b = static_cast<const float*>(before.data());
    const auto* a = static_cast<const float*>(after.data());
    py::gil_scoped_release nogil;
    shared_->shift(b, a);
  }
  void add_external_steps(std::int64_t n) {
    A3C_REQUIRE(n >= 0, "add_external_steps(", n, "): the step count only grows");
    if (pool_)
      pool_->add_external_steps(n);
    else
      pending_external_ += n;
  }

  // Asks the pool to stop, as a budget would: for Python signal handlers, which run on the
  // main thread inside run()'s wait loop (PyErr_CheckSignals) and must not raise there, or the
  // exception could surface anywhere in the caller's wind-down. Before run(), the request
  // is kept and the run stops as soon as it starts.
  void request_stop() {
    stop_requested_ = true;
    if (pool_) pool_->request_stop();
  }

  RunStats run(const py::list& envs_in, const py::object& callback, double interval) {
    A3C_REQUIRE(!pool_, "a Trainer runs once; make a new one to continue (resume)");
    A3C_REQUIRE(interval > 0, "interval=", interval, " must be > 0");
    auto envs = std::make_unique<RunEnvs>(envs_in, net_.net().spec());
    pool_ = std::make_unique<Pool>(net_.net(), *shared_, envs->raw, opt_, target_.get());
    pool_->add_external_steps(pending_external_);
    if (stop_requested_) pool_->request_stop();
    std::exception_ptr main_error;
    bool stopped_by_callback = false, interrupted = false;
    {
      py::gil_scoped_release nogil;
      pool_->start();
      double next_cb = now_seconds() + interval;
      for (;;) {
        const double now = now_seconds();
        const bool done = pool_->wait_for(std::min(0.1, std::max(0.0, next_cb - now)));
        if (opt_.max_seconds > 0 && pool_->seconds() >= opt_.max_seconds) pool_->request_stop();
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
          // Ctrl-C ends the run like a budget would: the caller gets the result (and can
          // checkpoint it) with interrupted=True. Any other exception raised by a signal
          // handler propagates.
          py::error_already_set e;
          if (e.matches(PyExc_KeyboardInterrupt))
            interrupted = true;
          else
            main_error = std::make_exception_ptr(e);
          pool_->request_stop();
          break;
        }
        if (done) break;
        if (now_seconds() >= next_cb) {
          next_cb = now_seconds() + interval;
          if (callback.is_none()) continue;
          try {
            py::object keep_going = callback(progress());
            if (!keep_going.is_none() && !keep_going.cast<bool>()) {
              stopped_by_callback = true;
              pool_->request_stop();
            }
          } catch (...) {
            main_error = std::current_exception();
            pool_->request_stop();
            break;
          }
        }
      }
      pool_->request_stop();
      pool_->join();
    }
    // Envs hold Python objects: destroy them here, with the GIL held.
    envs.reset();
    if (std::exception_ptr e = pool_->error()) std::rethrow_exception(e);
    if (main_error) std::rethrow_exception(main_error);
    RunStats result = progress();  // losses since the last callback
    result.stopped_by_callback = stopped_by_callback;
    result.interrupted = interrupted;
    return result;
  }

 private:
  RunStats progress() {
    RunStats r = run_stats(pool_->collect(true));
    r.run_steps = pool_->steps_done();
    r.steps = opt_.start_step + r.run_steps + pool_->external_steps();
    r.seconds = pool_->seconds();
    r.lr = scheduled_lr(opt_, r.steps, opt_.start_seconds + r.seconds);
    r.target_refreshes = target_ ? target_->refreshes() : 0;
    return r;
  }

  NetworkCore& net_;
  TrainOptions opt_;
  std::unique_ptr<SharedParams> shared_;
  std::unique_ptr<SharedTarget> target_;  // value-based methods only
  std::unique_ptr<Pool> pool_;
  bool stop_requested_ = false;  // main thread only (GIL held)
  std::int64_t pending_external_ = 0;  // add_external_steps before run() (GIL held)
};

}  // namespace

void register_train(py::module_& m) {
  // The choices' names are A3CConfig's strings ("inside", "sum", "hogwild", ...); kUnset is
  // not bound: it is only what a TrainOptions() holds before its caller sets the field.
  py::enum_<EpsPlacement>(m, "EpsPlacement", "Where RMSProp's eps sits: A3CConfig.rmsprop_eps_placement.")
      .value("inside", EpsPlacement::kInside)
      .value("outside", EpsPlacement::kOutside);
  py::enum_<LossReduction>(m, "LossReduction", "A3CConfig.loss_reduction.")
      .value("sum", LossReduction::kSum)
      .value("mean", LossReduction::kMean);
  py::enum_<Method>(m, "Method", "A3CConfig.method.")
      .value("a3c", Method::kA3C)
      .value("one_step_q", Method::kOneStepQ)
      .value("one_step_sarsa", Method::kOneStepSarsa)
      .value("n_step_q", Method::kNStepQ);
  py::enum_<EpsilonDraw>(m, "EpsilonDraw", "A3CConfig.epsilon_draw.")
      .value("env", EpsilonDraw::kPerEnv)
      .value("thread", EpsilonDraw::kPerThread);
  py::enum_<UpdateMode>(m, "UpdateMode", "A3CConfig.update.")
      .value("hogwild", UpdateMode::kHogwild)
      .value("locked", UpdateMode::kLocked);

  py::class_<TrainOptions>(m, "TrainOptions",
                           "The native pool's settings, with no defaults: every field starts unset "
                           "and validate() (and Trainer) refuse it. Filled from an A3CConfig by "
                           "a3c_native.native_options.native_options, the one mapping.")
      .def(py::init<>())
      .def("validate", &validate_train_options,
           "Raise ValueError naming every field not set, else the first one out of range.")
      .def_readwrite("threads", &TrainOptions::threads)
      .def_readwrite("total_steps", &TrainOptions::total_steps)
      .def_readwrite("start_step", &TrainOptions::start_step)
      .def_readwrite("max_seconds", &TrainOptions::max_seconds)
      .def_readwrite("lr_anneal_seconds", &TrainOptions::lr_anneal_seconds)
      .def_readwrite("start_seconds", &TrainOptions::start_seconds)
      .def_readwrite("method", &TrainOptions::method)
      .def_readwrite("target_update_steps", &TrainOptions::target_update_steps)
      .def_readwrite("epsilon_anneal_steps", &TrainOptions::epsilon_anneal_steps)
      .def_readwrite("epsilon_draw", &TrainOptions::epsilon_draw)
      .def_readwrite("t_max", &TrainOptions::t_max)
      .def_readwrite("gamma", &TrainOptions::gamma)
      .def_readwrite("lr", &TrainOptions::lr)
      .def_readwrite("entropy_beta", &TrainOptions::entropy_beta)
      .def_readwrite("value_coef", &TrainOptions::value_coef)
      .def_readwrite("rmsprop_alpha", &TrainOptions::rmsprop_alpha)
      .def_readwrite("rmsprop_eps", &TrainOptions::rmsprop_eps)
      .def_readwrite("rmsprop_eps_placement", &TrainOptions::rmsprop_eps_placement)
      .def_readwrite("grad_clip", &TrainOptions::grad_clip)
      .def_readwrite("loss_reduction", &TrainOptions::loss_reduction)
      .def_readwrite("reward_clip", &TrainOptions::reward_clip)
      .def_readwrite("seed", &TrainOptions::seed)
      .def_readwrite("update", &TrainOptions::update)
      .def_readwrite("worker_cpus", &TrainOptions::worker_cpus);

  py::class_<EpisodeRecord>(m, "Episode", "One whole game that ended during a run.")
      .def_readonly("wall_time", &EpisodeRecord::wall_time, "Seconds since the run started.")
      .def_readonly("step", &EpisodeRecord::step, "Global agent step count when the game ended.")
      .def_readonly("worker", &EpisodeRecord::worker)
      .def_readonly("score", &EpisodeRecord::score, "Unclipped game score.")
      .def_readonly("length", &EpisodeRecord::length, "Agent steps.")
      .def_readonly("epsilon", &EpisodeRecord::epsilon,
                    "The env's exploration epsilon when the game ended (value-based methods); NaN for A3C.");

  py::class_<RunStats>(m, "RunStats",
                       "The pool's statistics at one moment: what Trainer.run returns and its "
                       "callback receives.")
      .def_readonly("steps", &RunStats::steps)
      .def_readonly("run_steps", &RunStats::run_steps)
      .def_readonly("seconds", &RunStats::seconds)
      .def_readonly("lr", &RunStats::lr)
      .def_readonly("updates", &RunStats::updates)
      .def_readonly("skipped_updates", &RunStats::skipped_updates)
      .def_property_readonly(
          "staleness_hist",
          [](const RunStats& r) {
            py::array_t<std::int64_t> a(static_cast<py::ssize_t>(r.staleness_hist.size()));
            std::copy(r.staleness_hist.begin(), r.staleness_hist.end(), a.mutable_data());
            return a;
          },
          "int64 [64]: updates by staleness, bin 63 = 63 or more.")
      .def_readonly("staleness_mean", &RunStats::staleness_mean)
      .def_readonly("gil_wait_seconds", &RunStats::gil_wait_seconds)
      .def_readonly("env_call_seconds", &RunStats::env_call_seconds)
      .def_readonly("env_call_cpu_seconds", &RunStats::env_call_cpu_seconds)
      .def_readonly("env_seconds", &RunStats::env_seconds)
      .def_readonly("net_seconds", &RunStats::net_seconds)
      .def_readonly("update_seconds", &RunStats::update_seconds)
      .def_readonly("episodes", &RunStats::episodes)
      .def_readonly("loss_count", &RunStats::loss_count)
      .def_readonly("policy_loss", &RunStats::policy_loss)
      .def_readonly("value_loss", &RunStats::value_loss)
      .def_readonly("entropy", &RunStats::entropy)
      .def_readonly("epsilons", &RunStats::epsilons, "Value-based methods: each worker's mean epsilon now.")
      .def_readonly("mean_max_q", &RunStats::mean_max_q,
                    "Value-based methods: mean of max_a Q(s_t, a) over the acting steps so far.")
      .def_readonly("target_refreshes", &RunStats::target_refreshes,
                    "Value-based methods: refreshes of the target network in this run.")
      .def_readonly("stopped_by_callback", &RunStats::stopped_by_callback)
      .def_readonly("interrupted", &RunStats::interrupted);

  py::class_<SyntheticEnvHandle>(m, "SyntheticEnv",
                                 "A zero-cost C++ environment (random frames, no Python): for timing "
                                 "the network and the update alone, and for sanitizer runs.")
      .def(py::init<std::uint64_t, std::int64_t, int>(), py::arg("seed") = 0, py::arg("episode_length") = 1000,
           py::arg("num_envs") = 1)
      .def_property_readonly("num_envs", &SyntheticEnvHandle::num_envs);

  m.def("probe_rollout", &probe_rollout, py::arg("net"), py::arg("params"), py::arg("env"), py::arg("options"),
        py::arg("rollouts") = 1, py::arg("target") = py::none(), py::arg("global_step") = 0,
        "Runs `rollouts` rollouts of one actor-learner (Algorithm S3's steps as the pool runs them, "
        "without the shared update) from `params` on `env` (a worker-protocol vector env or a "
        "SyntheticEnv), and returns the last one's record: obs/actions/rewards/terminals/returns/"
        "values [T, k, ...], next_obs [k, ...] (s_T), the gradient, the loss terms and the games that ended. "
        "Value-based methods (options.method): targets and q [T, k(, A)] instead of returns and values, "
        "the envs' epsilons at `global_step`, Sarsa's next_actions; `target` is theta^- (default: params).");

  py::class_<Trainer>(m, "Trainer")
      .def(py::init<NetworkCore&, const py::array&, const py::object&, const TrainOptions&, const py::object&>(),
           py::arg("net"), py::arg("params"), py::arg("rms"), py::arg("options"), py::arg("target") = py::none(),
           py::keep_alive<1, 2>())
      .def("target_params", &Trainer::target_params,
           "A copy of the shared target network (value-based methods), None for a3c.")
      .def("run", &Trainer::run, py::arg("envs"), py::arg("callback"), py::arg("interval"))
      .def("state", &Trainer::state,
           "(params, rms): copies of the shared parameters and RMSProp statistics, read in one "
           "call (one state under update='locked'; a Hogwild read during a hogwild run).")
      .def("request_stop", &Trainer::request_stop,
           "Stop the run as a budget would (safe from a signal handler; never blocks).")
      .def("shift_params", &Trainer::shift_params, py::arg("before"), py::arg("after"),
           "theta += after - before in the live shared buffer (a Hogwild write; the cluster mode's "
           "exchange folds the global parameters in with it while the workers run).")
      .def("add_external_steps", &Trainer::add_external_steps, py::arg("n"),
           "Count n agent steps done elsewhere (other cluster nodes) toward the global step: the lr "
           "schedule, epsilon, target refreshes and the total_steps budget.")
      .def_property_readonly("steps", &Trainer::steps);
}

}  // namespace a3c::bind
