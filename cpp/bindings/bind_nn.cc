// Python bindings of the networks: NetworkCore (forward, loss and gradient on NumPy arrays,
// GIL released for the math), the kernel-set switch used by tests and benchmarks, and one
// linear layer alone (_linear_forward / _linear_backward) for the kernel tests.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/network_core.h"
#include "common/cpu.h"
#include "nn/linear.h"

namespace py = pybind11;

namespace a3c::bind {

namespace {

std::vector<py::ssize_t> obs_dims(const ArchSpec& a) {
  std::vector<py::ssize_t> d{-1};
  for (Index s : a.obs_shape) d.push_back(s);
  return d;
}

void check_obs(const ArchSpec& a, const py::array& obs) {
  if (a.obs_u8)
    require_array<std::uint8_t>("obs", obs, obs_dims(a));
  else
    require_array<float>("obs", obs, obs_dims(a));
}

// Small per-step arrays: int64 or int32 actions (NumPy's two default integer types),
// float32 returns; copied (a few bytes) and range-checked.
std::vector<int> read_actions(const py::array& a, py::ssize_t n, Index num_actions) {
  if (a.ndim() != 1 || a.shape(0) != n)
    throw py::value_error("invalid shape for actions: expected (" + std::to_string(n) +
                          ",) to match obs, got " + shape_of(a));
  const bool int_ok = a.dtype().is(py::dtype::of<std::int64_t>()) || a.dtype().is(py::dtype::of<std::int32_t>());
  if (!int_ok)
    throw py::type_error("actions must be an int64 or int32 array of shape (" + std::to_string(n) +
                         ",), got a " + dtype_name(a) + " array");
  auto as64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  std::vector<int> out(n);
  for (py::ssize_t i = 0; i < n; ++i) {
    const std::int64_t v = as64.at(i);
    if (v < 0 || v >= num_actions)
      throw py::value_error("actions[" + std::to_string(i) + "]=" + std::to_string(v) +
                            " is out of range: must be in [0, " + std::to_string(num_actions) + ")");
    out[i] = static_cast<int>(v);
  }
  return out;
}

// A NaN or inf return makes every gradient entry NaN: refused here, with the first bad step,
// rather than handed back as a gradient that silently poisons an update.
std::vector<float> read_returns(const py::array& r, py::ssize_t n) {
  require_array<float>("returns", r, {n});
  const float* p = static_cast<const float*>(r.data());
  std::vector<float> out(p, p + n);
  py::ssize_t bad = 0, first = -1;
  for (py::ssize_t i = 0; i < n; ++i)
    if (!std::isfinite(out[i])) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad > 0)
    throw py::value_error("returns[" + std::to_string(first) + "]=" +
                          py::str(py::float_(out[first])).cast<std::string>() + " is not finite (" +
                          std::to_string(bad) + " of " + std::to_string(n) +
                          " returns are NaN or inf): check the rewards and the bootstrap value");
  return out;
}

// A loss weight: finite, >= 0 and representable as the core's float32.
float read_coef(const char* name, double v) {
  if (!(std::isfinite(v) && v >= 0 && v <= std::numeric_limits<float>::max()))
    throw py::value_error(std::string(name) + "=" + py::str(py::float_(v)).cast<std::string>() +
                          " is invalid: must be a finite number >= 0 (and <= 3.4e38, float32)");
  return static_cast<float>(v);
}

// Byte ranges of two C-contiguous arrays intersect (what np.shares_memory decides for them).
bool overlaps(const py::array& a, const py::array& b) {
  const char* a0 = static_cast<const char*>(a.data());
  const char* b0 = static_cast<const char*>(b.data());
  const std::uintptr_t a_lo = reinterpret_cast<std::uintptr_t>(a0), b_lo = reinterpret_cast<std::uintptr_t>(b0);
  const std::uintptr_t a_hi = a_lo + static_cast<std::uintptr_t>(a.nbytes());
  const std::uintptr_t b_hi = b_lo + static_cast<std::uintptr_t>(b.nbytes());
  return a_lo < b_hi && b_lo < a_hi;
}

// A linear layer's weight [out, in]: any 2-D float32 C-contiguous array.
void require_weight(const py::array& w) {
  if (w.ndim() != 2)
    throw py::value_error("invalid shape for weight: expected (out, in), got " + shape_of(w));
  require_array<float>("weight", w, {w.shape(0), w.shape(1)});
}

}  // namespace

void register_nn(py::module_& m) {
  m.def("kernel_isa", &kernel_isa, "The kernel set in use: 'avx2' or 'scalar'.");
  m.def("set_kernel_isa", &set_kernel_isa, py::arg("isa"),
        "Select the kernel set ('avx2' or 'scalar'). RuntimeError while a training pool runs "
        "(the workers read it on every kernel call), ValueError for an unknown or unsupported set.");
  m.def("cpu_has_avx2", [] { return cpu_features().avx2_fma; });

  // One fully connected layer through linear.cc, the code path of the networks' FC layers,
  // with the kernel set chosen by set_kernel_isa: lets the tests check the GEMM kernels at
  // the batched shapes (k = 4..64 acting rows, k x t_max rollout rows) against NumPy
  // without a network, its ReLU kinks and its float64 reference around them.
  m.def(
      "_linear_forward",
      [](const py::array& x, const py::array& weight, const py::array& bias, bool relu) {
        require_weight(weight);
        const LinearSpec l{weight.shape(1), weight.shape(0), 0, 0};
        require_array<float>("x", x, {-1, l.in});
        require_array<float>("bias", bias, {l.out});
        const Index n = x.shape(0);
        py::array_t<float> y({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(l.out)});
        const float* xp = static_cast<const float*>(x.data());
        const float* wp = static_cast<const float*>(weight.data());
        const float* bp = static_cast<const float*>(bias.data());
        float* yp = y.mutable_data();
        {
          py::gil_scoped_release nogil;
          ScopedFlushDenormals ftz;
          linear_forward(yp, xp, wp, bp, n, l, relu);
        }
        return y;
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("relu"),
      "y [N, out] = x [N, in] weight[out, in]^T + bias (ReLU if relu); kernel test hook.");
  m.def(
      "_linear_backward",
      [](const py::array& dy, const py::array& x, const py::array& weight, bool input_grad) {
        require_weight(weight);
        const LinearSpec l{weight.shape(1), weight.shape(0), 0, 0};
        require_array<float>("dy", dy, {-1, l.out});
        require_array<float>("x", x, {dy.shape(0), l.in});
        const Index n = dy.shape(0);
        py::array_t<float> dweight({static_cast<py::ssize_t>(l.out), static_cast<py::ssize_t>(l.in)});
        py::array_t<float> dbias(l.out);
        py::object dx = py::none();
        float* dxp = nullptr;
        if (input_grad) {
          py::array_t<float> a({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(l.in)});
          dxp = a.mutable_data();
          dx = a;
        }
        const float* dyp = static_cast<const float*>(dy.data());
        const float* xp = static_cast<const float*>(x.data());
        const float* wp = static_cast<const float*>(weight.data());
        float* dwp = dweight.mutable_data();
        float* dbp = dbias.mutable_data();
        {
          py::gil_scoped_release nogil;
          ScopedFlushDenormals ftz;
          linear_backward(dwp, dbp, dxp, dyp, xp, wp, n, l);
        }
        return py::make_tuple(dweight, dbias, dx);
      },
      py::arg("dy"), py::arg("x"), py::arg("weight"), py::arg("input_grad"),
      "(dweight [out, in], dbias [out], dx [N, in] or None) of one linear layer given\n"
      "dy [N, out]; kernel test hook.");

  py::class_<NetworkCore>(m, "NetworkCore")
      .def(py::init<const std::string&, std::vector<Index>, Index, std::vector<Index>>(),
           py::arg("arch"), py::arg("obs_shape"), py::arg("num_actions"), py::arg("hidden"))
      .def_property_readonly("arch", [](const NetworkCore& n) { return n.net().spec().name; })
      .def_property_readonly("obs_shape", [](const NetworkCore& n) { return py::tuple(py::cast(n.net().spec().obs_shape)); })
      .def_property_readonly("obs_is_uint8", [](const NetworkCore& n) { return n.net().spec().obs_u8; })
      .def_property_readonly("num_actions", [](const NetworkCore& n) { return n.net().spec().num_actions; })
      .def_property_readonly("num_params", [](const NetworkCore& n) { return n.net().num_params(); })
      .def_property_readonly("flops_forward", [](const NetworkCore& n) { return n.net().spec().flops_forward(); })
      .def_property_readonly("layout",
                             [](const NetworkCore& n) {
                               py::list out;
                               for (const auto& t : n.net().spec().layout.tensors())
                                 out.append(py::make_tuple(t.name, py::tuple(py::cast(t.shape)), t.offset, t.size));
                               return out;
                             })
      .def("init_params",
           [](const NetworkCore& n, std::uint64_t seed) {
             py::array_t<float> p(n.net().num_params());
             float* ptr = p.mutable_data();
             {
               py::gil_scoped_release nogil;
               n.net().init_params(ptr, seed);
             }
             return p;
           },
           py::arg("seed"))
      .def("forward",
           [](NetworkCore& n, const py::array& params, const py::array& obs) {
             const ArchSpec& a = n.net().spec();
             require_array<float>("params", params, {n.net().num_params()});
             check_obs(a, obs);
             const py::ssize_t count = obs.shape(0);
             py::array_t<float> logits({count, static_cast<py::ssize_t>(a.num_actions)});
             py::array_t<float> values(count);
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             float* lg = logits.mutable_data();
             float* v = values.mutable_data();
             {
               py::gil_scoped_release nogil;
               n.forward(p, o, count, lg, v);
             }
             return py::make_tuple(logits, values);
           },
           py::arg("params"), py::arg("obs"))
      .def("loss_and_grad",
           [](NetworkCore& n, const py::array& params, const py::array& obs, const py::array& actions,
              const py::array& returns, double entropy_beta, double value_coef, const std::string& reduction,
              const py::object& out) {
             const ArchSpec& a = n.net().spec();
             require_array<float>("params", params, {n.net().num_params()});
             check_obs(a, obs);
             const py::ssize_t count = obs.shape(0);
             if (count < 1) throw py::value_error("obs must hold at least one observation, got 0");
             if (reduction != "sum" && reduction != "mean")
               throw py::value_error("reduction='" + reduction + "' is invalid: expected 'sum' or 'mean'");
             std::vector<int> acts = read_actions(actions, count, a.num_actions);
             std::vector<float> rets = read_returns(returns, count);
             LossCoefs coefs{read_coef("entropy_beta", entropy_beta), read_coef("value_coef", value_coef),
                             reduction == "mean"};
             // out: a caller-owned gradient buffer, overwritten (saves a 2.7 MB allocation and
             // its page faults per call); otherwise a fresh array.
             py::array grad;
             if (out.is_none()) {
               grad = py::array_t<float>(n.net().num_params());
             } else {
               grad = out.cast<py::array>();
               require_array<float>("out", grad, {n.net().num_params()});
               if (!grad.writeable()) throw py::value_error("out must be a writeable array");
               // The backward pass reads params while it writes the gradient: an out that shares
               // memory with params would be read half-overwritten (and params destroyed).
               if (overlaps(grad, params))
                 throw py::value_error("out overlaps params (they share memory): the gradient would be "
                                       "written over the parameters; pass a separate array");
             }
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             float* g = static_cast<float*>(grad.mutable_data());
             LossTerms t;
             {
               py::gil_scoped_release nogil;
               t = n.loss_and_grad(p, o, count, acts.data(), rets.data(), coefs, g);
             }
             py::dict terms;
             terms["policy_loss"] = t.policy_loss;
             terms["value_loss"] = t.value_loss;
             terms["entropy"] = t.entropy;
             terms["total"] = t.total;
             return py::make_tuple(terms, grad);
           },
           py::arg("params"), py::arg("obs"), py::arg("actions"), py::arg("returns"),
           py::arg("entropy_beta"), py::arg("value_coef"), py::arg("reduction"), py::arg("out") = py::none());
}

}  // namespace a3c::bind
