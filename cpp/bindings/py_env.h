// PyEnv: the Env a worker steps, backed by a Python vector env with num_envs, reset() and
// step(actions) (python/a3c_native/envs.py, "the worker protocol"). The GIL is taken for the
// call only; no py::object is used outside that scope except the bound methods and the
// reused actions array, which are created and destroyed by the binding with the GIL held.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>

#include "bindings/arrays.h"
#include "nn/arch.h"
#include "train/env.h"

namespace a3c::bind {

namespace py = pybind11;

class PyEnv final : public Env {
 public:
  // Requires the GIL.
  PyEnv(const py::object& env, const ArchSpec& spec)
      : reset_(env.attr("reset")), step_(env.attr("step")), spec_(spec) {
    const py::object n = env.attr("num_envs");
    if (!py::isinstance<py::int_>(n) || n.cast<long long>() < 1 || n.cast<long long>() > (1 << 20))
      throw py::value_error("env.num_envs must be an int >= 1, got " + py::repr(n).cast<std::string>());
    k_ = n.cast<int>();
    actions_ = py::array_t<std::int32_t>(k_);
  }
  // Requires the GIL (py::object members).
  ~PyEnv() override = default;

  int num_envs() const override { return k_; }

  void reset(void* obs) override {
    py::gil_scoped_acquire gil;
    copy_obs(reset_(), obs, "reset()");
  }

  void step(const int* actions, void* obs, StepResult* results) override {
    const auto t0 = clock::now();
    py::gil_scoped_acquire gil;
    const auto t1 = clock::now();
    const std::int64_t c1 = thread_cpu_ns();
    {
      std::int32_t* a = actions_.mutable_data();
      for (int e = 0; e < k_; ++e) a[e] = actions[e];
      py::object res = step_(actions_);
      if (!py::isinstance<py::tuple>(res) || py::len(res) != 5)
        throw py::type_error(
            "env.step(actions) must return a tuple (obs, rewards, terminals, episode_scores, "
            "episode_lengths) of arrays over its num_envs environments");
      auto tup = py::reinterpret_borrow<py::tuple>(res);
      copy_obs(tup[0], obs, "step()");
      const auto rewards = column<float>(tup[1], "rewards");
      const auto terminals = column<bool>(tup[2], "terminals");
      const auto scores = column<double>(tup[3], "episode_scores");
      const auto lengths = column<std::int64_t>(tup[4], "episode_lengths");
      for (int e = 0; e < k_; ++e) {
        StepResult& r = results[e];
        r = StepResult{};
        r.reward = rewards.at(e);
        r.terminal = terminals.at(e);
        if (!std::isnan(scores.at(e))) {  // NaN: no game ended in env e
          r.episode_end = true;
          r.episode_score = scores.at(e);
          r.episode_length = lengths.at(e);
        }
      }
    }
    const std::int64_t c2 = thread_cpu_ns();
    const auto t2 = clock::now();
    wait_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    call_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count();
    call_cpu_ns_ += c2 - c1;
  }

  std::int64_t gil_wait_ns() const override { return wait_ns_; }
  std::int64_t call_ns() const override { return call_ns_; }
  std::int64_t call_cpu_ns() const override { return call_cpu_ns_; }

 private:
  using clock = std::chrono::steady_clock;

  static std::int64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }

  // A per-env column of k values; small, so a dtype conversion is allowed (ale-py's rewards
  // are int32).
  template <typename T>
  py::array_t<T> column(const py::handle& o, const char* name) const {
    auto a = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(o);
    if (!a || a.ndim() != 1 || a.shape(0) != k_)
      throw py::value_error(std::string("env.step() returned ") + name + " " +
                            py::repr(o).cast<std::string>().substr(0, 80) + "; expected an array of shape (" +
                            std::to_string(k_) + ",), one value per environment");
    return a;
  }

  void copy_obs(const py::handle& o, void* dst, const char* where) const {
    const bool u8 = spec_.obs_u8;
    const std::string want = std::string(u8 ? "uint8" : "float32") + " array of shape " + shape_str();
    if (!py::isinstance<py::array>(o))
      throw py::type_error(std::string("env.") + where + " returned observations of type " +
                           py::str(py::type::handle_of(o)).cast<std::string>() + "; the network expects a " + want);
    auto a = py::reinterpret_borrow<py::array>(o);
    const bool dtype_ok = u8 ? a.dtype().equal(py::dtype::of<std::uint8_t>()) : a.dtype().equal(py::dtype::of<float>());
    const bool shape_ok = a.ndim() >= 1 && a.shape(0) == k_ && a.size() == k_ * spec_.obs_size();
    if (!dtype_ok || !shape_ok || !(a.flags() & py::array::c_style))
      throw py::value_error(std::string("env.") + where + " returned a " + dtype_name(a) + " array of shape " +
                            shape_of(a) + (a.flags() & py::array::c_style ? "" : " (not C-contiguous)") +
                            "; the network expects a C-contiguous " + want);
    std::memcpy(dst, a.data(), a.nbytes());
  }

  std::string shape_str() const {
    std::string s = "(" + std::to_string(k_);
    for (size_t i = 0; i < spec_.obs_shape.size(); ++i) s += ", " + std::to_string(spec_.obs_shape[i]);
    return s + ")";
  }

  py::object reset_, step_;
  const ArchSpec& spec_;
  int k_ = 1;
  py::array_t<std::int32_t> actions_;
  std::int64_t wait_ns_ = 0, call_ns_ = 0, call_cpu_ns_ = 0;
};

}  // namespace a3c::bind
