// PyEnv: the Env a worker steps, backed by a Python object with reset() and step(action)
// (python/a3c_native/envs.py). The GIL is taken for the call only; no py::object is used
// outside that scope except the two bound methods, which are created and destroyed by the
// binding with the GIL held.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <time.h>

#include <chrono>
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
      : reset_(env.attr("reset")), step_(env.attr("step")), spec_(spec) {}
  // Requires the GIL (py::object members).
  ~PyEnv() override = default;

  void reset(void* obs) override {
    py::gil_scoped_acquire gil;
    copy_obs(reset_(), obs, "reset()");
  }

  StepResult step(int action, void* obs) override {
    const auto t0 = clock::now();
    py::gil_scoped_acquire gil;
    const auto t1 = clock::now();
    const std::int64_t c1 = thread_cpu_ns();
    StepResult r;
    {
      py::object res = step_(action);
      auto tup = py::reinterpret_borrow<py::tuple>(res);
      if (!py::isinstance<py::tuple>(res) || tup.size() != 5)
        throw py::type_error(
            "env.step() must return a tuple (obs, reward, terminal, episode_score, episode_length)");
      copy_obs(tup[0], obs, "step()");
      r.reward = tup[1].cast<float>();
      r.terminal = tup[2].cast<bool>();
      if (!tup[3].is_none()) {
        r.episode_end = true;
        r.episode_score = tup[3].cast<double>();
        r.episode_length = tup[4].cast<std::int64_t>();
      }
    }
    const std::int64_t c2 = thread_cpu_ns();
    const auto t2 = clock::now();
    wait_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    call_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(t2 - t1).count();
    call_cpu_ns_ += c2 - c1;
    return r;
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

  void copy_obs(const py::handle& o, void* dst, const char* where) {
    const bool u8 = spec_.obs_u8;
    const std::string want = std::string(u8 ? "uint8" : "float32") + " array of shape " + shape_str();
    if (!py::isinstance<py::array>(o))
      throw py::type_error(std::string("env.") + where + " returned an observation of type " +
                           py::str(py::type::handle_of(o)).cast<std::string>() + "; the network expects a " + want);
    auto a = py::reinterpret_borrow<py::array>(o);
    const bool dtype_ok = u8 ? a.dtype().is(py::dtype::of<std::uint8_t>()) : a.dtype().is(py::dtype::of<float>());
    if (!dtype_ok || a.size() != spec_.obs_size() || !(a.flags() & py::array::c_style))
      throw py::value_error(std::string("env.") + where + " returned a " + dtype_name(a) + " array of shape " +
                            shape_of(a) + (a.flags() & py::array::c_style ? "" : " (not C-contiguous)") +
                            "; the network expects a C-contiguous " + want);
    std::memcpy(dst, a.data(), a.nbytes());
  }

  std::string shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < spec_.obs_shape.size(); ++i) s += (i ? ", " : "") + std::to_string(spec_.obs_shape[i]);
    return s + (spec_.obs_shape.size() == 1 ? ",)" : ")");
  }

  py::object reset_, step_;
  const ArchSpec& spec_;
  std::int64_t wait_ns_ = 0, call_ns_ = 0, call_cpu_ns_ = 0;
};

}  // namespace a3c::bind
