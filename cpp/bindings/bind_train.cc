// Python bindings of the training pool: Trainer owns the shared buffers and runs the pool with
// the GIL released; the calling (main) thread wakes every <= 100 ms to check for signals
// (Ctrl-C) and, every `interval` seconds, to call the Python progress callback.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/network_core.h"
#include "bindings/py_env.h"
#include "common/check.h"
#include "train/pool.h"
#include "train/synthetic_env.h"

namespace py = pybind11;

namespace a3c::bind {

namespace {

py::dict stats_dict(const WorkerStats& s, bool with_losses) {
  py::dict d;
  d["updates"] = s.updates;
  d["skipped_updates"] = s.skipped_updates;
  py::list hist;
  for (int b = 0; b < kStalenessBins; ++b) hist.append(s.staleness_hist[b]);
  d["staleness_hist"] = hist;
  d["staleness_mean"] = s.updates > 0 ? s.staleness_sum / static_cast<double>(s.updates) : 0.0;
  d["gil_wait_seconds"] = s.gil_wait_ns * 1e-9;
  d["env_call_seconds"] = s.env_call_ns * 1e-9;
  d["env_call_cpu_seconds"] = s.env_call_cpu_ns * 1e-9;
  d["env_seconds"] = s.env_ns * 1e-9;
  d["net_seconds"] = s.net_ns * 1e-9;
  d["update_seconds"] = s.update_ns * 1e-9;
  py::list eps;
  for (const auto& e : s.episodes) eps.append(py::make_tuple(e.wall_time, e.step, e.worker, e.score, e.length));
  d["episodes"] = eps;
  if (with_losses) {
    const double c = s.loss_count > 0 ? static_cast<double>(s.loss_count) : 1.0;
    d["loss_count"] = s.loss_count;
    d["policy_loss"] = s.policy_loss / c;
    d["value_loss"] = s.value_loss / c;
    d["entropy"] = s.entropy / c;
  }
  return d;
}

// A Python handle to a SyntheticEnv, built lazily for the network it is run with.
class SyntheticEnvHandle {
 public:
  SyntheticEnvHandle(std::uint64_t seed, std::int64_t episode_length)
      : seed_(seed), episode_length_(episode_length) {}
  Env* get(const ArchSpec& spec) {
    env_ = std::make_unique<SyntheticEnv>(spec, seed_, episode_length_);
    return env_.get();
  }

 private:
  std::uint64_t seed_;
  std::int64_t episode_length_;
  std::unique_ptr<SyntheticEnv> env_;
};

class Trainer {
 public:
  Trainer(NetworkCore& net, const py::array& params, const py::object& rms, const TrainOptions& opt,
          bool locked)
      : net_(net), opt_(opt) {
    const Index n = net.net().num_params();
    require_array<float>("params", params, {n});
    const float* rms_ptr = nullptr;
    py::array rms_arr;
    if (!rms.is_none()) {
      rms_arr = rms.cast<py::array>();
      require_array<float>("rms", rms_arr, {n});
      rms_ptr = static_cast<const float*>(rms_arr.data());
    }
    shared_ = std::make_unique<SharedParams>(static_cast<const float*>(params.data()), rms_ptr, n, locked);
  }

  py::array_t<float> params() {
    py::array_t<float> out(shared_->size());
    float* p = out.mutable_data();
    py::gil_scoped_release nogil;
    shared_->read(p, nullptr);
    return out;
  }
  py::array_t<float> rms() {
    py::array_t<float> out(shared_->size());
    float* p = out.mutable_data();
    py::gil_scoped_release nogil;
    shared_->read(nullptr, p);
    return out;
  }
  std::int64_t steps() const { return pool_ ? opt_.start_step + pool_->steps_done() : opt_.start_step; }

  // Asks the pool to stop, as a budget would: for Python signal handlers, which run on the
  // main thread inside run()'s wait loop (PyErr_CheckSignals) and must not raise there, or the
  // exception could surface anywhere in the caller's wind-down. Before run(), the request
  // is kept and the run stops as soon as it starts.
  void request_stop() {
    stop_requested_ = true;
    if (pool_) pool_->request_stop();
  }

  py::dict run(const py::list& envs, const py::object& callback, double interval) {
    A3C_REQUIRE(!pool_, "a Trainer runs once; make a new one to continue (resume)");
    A3C_REQUIRE(interval > 0, "interval=", interval, " must be > 0");
    std::vector<std::unique_ptr<PyEnv>> penvs;
    std::vector<Env*> raw;
    for (const auto& e : envs) {
      if (py::isinstance<SyntheticEnvHandle>(e)) {  // C++ env: no Python, no GIL
        raw.push_back(e.cast<SyntheticEnvHandle&>().get(net_.net().spec()));
        continue;
      }
      penvs.push_back(std::make_unique<PyEnv>(py::reinterpret_borrow<py::object>(e), net_.net().spec()));
      raw.push_back(penvs.back().get());
    }
    pool_ = std::make_unique<Pool>(net_.net(), *shared_, raw, opt_);
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
    penvs.clear();
    if (std::exception_ptr e = pool_->error()) std::rethrow_exception(e);
    if (main_error) std::rethrow_exception(main_error);
    py::dict result = stats_dict(pool_->collect(true), false);
    result["run_steps"] = pool_->steps_done();
    result["steps"] = opt_.start_step + pool_->steps_done();
    result["seconds"] = pool_->seconds();
    result["stopped_by_callback"] = stopped_by_callback;
    result["interrupted"] = interrupted;
    return result;
  }

 private:
  py::dict progress() {
    py::dict d = stats_dict(pool_->collect(true), true);
    const std::int64_t steps = opt_.start_step + pool_->steps_done();
    d["steps"] = steps;
    d["run_steps"] = pool_->steps_done();
    d["seconds"] = pool_->seconds();
    d["lr"] = scheduled_lr(opt_, steps, opt_.start_seconds + pool_->seconds());
    return d;
  }

  NetworkCore& net_;
  TrainOptions opt_;
  std::unique_ptr<SharedParams> shared_;
  std::unique_ptr<Pool> pool_;
  bool stop_requested_ = false;  // main thread only (GIL held)
};

}  // namespace

void register_train(py::module_& m) {
  py::class_<TrainOptions>(m, "TrainOptions")
      .def(py::init<>())
      .def_readwrite("threads", &TrainOptions::threads)
      .def_readwrite("total_steps", &TrainOptions::total_steps)
      .def_readwrite("start_step", &TrainOptions::start_step)
      .def_readwrite("max_seconds", &TrainOptions::max_seconds)
      .def_readwrite("anneal_seconds", &TrainOptions::anneal_seconds)
      .def_readwrite("start_seconds", &TrainOptions::start_seconds)
      .def_readwrite("t_max", &TrainOptions::t_max)
      .def_readwrite("gamma", &TrainOptions::gamma)
      .def_readwrite("lr", &TrainOptions::lr)
      .def_readwrite("entropy_beta", &TrainOptions::entropy_beta)
      .def_readwrite("value_coef", &TrainOptions::value_coef)
      .def_readwrite("rmsprop_alpha", &TrainOptions::rmsprop_alpha)
      .def_readwrite("rmsprop_eps", &TrainOptions::rmsprop_eps)
      .def_readwrite("rmsprop_eps_inside", &TrainOptions::rmsprop_eps_inside)
      .def_readwrite("grad_clip", &TrainOptions::grad_clip)
      .def_readwrite("loss_mean", &TrainOptions::loss_mean)
      .def_readwrite("reward_clip", &TrainOptions::reward_clip)
      .def_readwrite("seed", &TrainOptions::seed)
      .def_readwrite("worker_cpus", &TrainOptions::worker_cpus);

  py::class_<SyntheticEnvHandle>(m, "SyntheticEnv",
                                 "A zero-cost C++ environment (random frames, no Python): for timing "
                                 "the network and the update alone, and for sanitizer runs.")
      .def(py::init<std::uint64_t, std::int64_t>(), py::arg("seed") = 0, py::arg("episode_length") = 1000);

  py::class_<Trainer>(m, "Trainer")
      .def(py::init<NetworkCore&, const py::array&, const py::object&, const TrainOptions&, bool>(),
           py::arg("net"), py::arg("params"), py::arg("rms"), py::arg("options"), py::arg("locked"),
           py::keep_alive<1, 2>())
      .def("run", &Trainer::run, py::arg("envs"), py::arg("callback"), py::arg("interval"))
      .def("params", &Trainer::params, "Copy of the shared parameters (a Hogwild read during a run).")
      .def("rms", &Trainer::rms, "Copy of the shared RMSProp statistics.")
      .def("request_stop", &Trainer::request_stop,
           "Stop the run as a budget would (safe from a signal handler; never blocks).")
      .def_property_readonly("steps", &Trainer::steps);
}

}  // namespace a3c::bind
