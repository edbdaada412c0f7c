// Python bindings of the networks: NetworkCore (forward, loss and gradient on NumPy arrays,
// GIL released for the math), the kernel-set switch used by tests and benchmarks, and one
// linear layer alone (_linear_forward / _linear_backward) for the kernel tests.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "bindings/arrays.h"
#include "bindings/network_core.h"
#include "common/cpu.h"
#include "nn/linear.h"
#include "nn/lstm.h"

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
  const bool int_ok = a.dtype().equal(py::dtype::of<std::int64_t>()) || a.dtype().equal(py::dtype::of<std::int32_t>());
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
std::vector<float> read_returns(const py::array& r, py::ssize_t n, const char* name = "returns") {
  require_array<float>(name, r, {n});
  const float* p = static_cast<const float*>(r.data());
  std::vector<float> out(p, p + n);
  py::ssize_t bad = 0, first = -1;
  for (py::ssize_t i = 0; i < n; ++i)
    if (!std::isfinite(out[i])) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad > 0)
    throw py::value_error(std::string(name) + "[" + std::to_string(first) + "]=" +
                          py::str(py::float_(out[first])).cast<std::string>() + " is not finite (" +
                          std::to_string(bad) + " of " + std::to_string(n) + " " + name +
                          " are NaN or inf): check the rewards and the bootstrap value");
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

// The A3C loss terms as loss_and_grad returns them to Python.
py::dict terms_dict(const LossTerms& t) {
  py::dict d;
  d["policy_loss"] = t.policy_loss;
  d["value_loss"] = t.value_loss;
  d["entropy"] = t.entropy;
  d["total"] = t.total;
  return d;
}

// true for "mean", false for "sum".
bool read_reduction(const std::string& reduction) {
  if (reduction != "sum" && reduction != "mean")
    throw py::value_error("reduction='" + reduction + "' is invalid: expected 'sum' or 'mean'");
  return reduction == "mean";
}

LossCoefs read_coefs(double entropy_beta, double value_coef, const std::string& reduction) {
  const bool mean = read_reduction(reduction);
  return LossCoefs{read_coef("entropy_beta", entropy_beta), read_coef("value_coef", value_coef), mean};
}

// The per-step arrays of a feed-forward rollout: params, obs (at least one), actions and one
// float per step (the returns, or the targets), checked and copied.
struct RolloutArgs {
  py::ssize_t count;
  std::vector<int> actions;
  std::vector<float> values;
};

RolloutArgs read_rollout(const NetworkCore& n, const py::array& params, const py::array& obs,
                         const py::array& actions, const py::array& values, const char* values_name) {
  const ArchSpec& a = n.net().spec();
  require_array<float>("params", params, {n.net().num_params()});
  check_obs(a, obs);
  const py::ssize_t count = obs.shape(0);
  if (count < 1) throw py::value_error("obs must hold at least one observation, got 0");
  return RolloutArgs{count, read_actions(actions, count, a.num_actions), read_returns(values, count, values_name)};
}

// A recurrent state h or c: None (zero) or float32 [n, H], finite.
const float* read_state(const char* name, const py::object& s, py::ssize_t n, py::ssize_t H) {
  if (s.is_none()) return nullptr;
  if (!py::isinstance<py::array>(s))
    throw py::type_error(std::string(name) + " must be a float32 array of shape (" + std::to_string(n) + ", " +
                         std::to_string(H) + ") or None");
  const py::array arr = s.cast<py::array>();
  require_array<float>(name, arr, {n, H});
  const float* p = static_cast<const float*>(arr.data());
  for (py::ssize_t i = 0; i < n * H; ++i)
    if (!std::isfinite(p[i]))
      throw py::value_error(std::string(name) + " holds a non-finite value at flat index " + std::to_string(i));
  return p;
}

// out: a caller-owned gradient buffer, overwritten (saves a 2.7 MB allocation and its page
// faults per call); otherwise a fresh array.
py::array grad_buffer(const NetworkCore& n, const py::array& params, const py::object& out) {
  if (out.is_none()) return py::array_t<float>(n.net().num_params());
  py::array grad = out.cast<py::array>();
  require_array<float>("out", grad, {n.net().num_params()});
  if (!grad.writeable()) throw py::value_error("out must be a writeable array");
  // The backward pass reads params while it writes the gradient: an out that shares memory
  // with params would be read half-overwritten (and params destroyed).
  if (overlaps(grad, params))
    throw py::value_error("out overlaps params (they share memory): the gradient would be "
                          "written over the parameters; pass a separate array");
  return grad;
}

// A linear layer's weight [out, in]: any 2-D float32 C-contiguous array.
void require_weight(const py::array& w) {
  if (w.ndim() != 2)
    throw py::value_error("invalid shape for weight: expected (out, in), got " + shape_of(w));
  require_array<float>("weight", w, {w.shape(0), w.shape(1)});
}

// The LSTM layer of _LstmLayer: its parameters in one buffer in the layout's order
// (weight_ih, weight_hh, bias_ih, bias_hh), copied once, and the tape of the last rollout.
class LstmLayer {
 public:
  LstmLayer(const py::array& w_ih, const py::array& w_hh, const py::array& b_ih, const py::array& b_hh) {
    if (w_ih.ndim() != 2 || w_ih.shape(0) % 4 != 0 || w_ih.shape(0) == 0)
      throw py::value_error("invalid shape for weight_ih: expected (4H, in), got " + shape_of(w_ih));
    H_ = w_ih.shape(0) / 4;
    in_ = w_ih.shape(1);
    require_array<float>("weight_ih", w_ih, {4 * H_, in_});
    require_array<float>("weight_hh", w_hh, {4 * H_, H_});
    require_array<float>("bias_ih", b_ih, {4 * H_});
    require_array<float>("bias_hh", b_hh, {4 * H_});
    const Index G = 4 * H_;
    spec_ = LstmSpec{in_, H_, 0, G * in_, G * in_ + G * H_, G * in_ + G * H_ + G};
    params_.resize(spec_.b_hh_off + G);
    auto put = [&](const py::array& a, Index off) {
      std::memcpy(params_.data() + off, a.data(), static_cast<std::size_t>(a.size()) * sizeof(float));
    };
    put(w_ih, spec_.w_ih_off);
    put(w_hh, spec_.w_hh_off);
    put(b_ih, spec_.b_ih_off);
    put(b_hh, spec_.b_hh_off);
    grad_.resize(params_.size());
  }

  py::tuple rollout(const py::array& x, py::ssize_t k, const py::array& h0, const py::array& c0, const py::object& dh) {
    require_array<float>("x", x, {-1, in_});
    const py::ssize_t n = x.shape(0);
    if (k < 1 || n == 0 || n % k != 0)
      throw py::value_error("x holds " + std::to_string(n) + " rows: need T*k rows for k=" + std::to_string(k) +
                            " sequences and T >= 1 steps");
    require_array<float>("h0", h0, {k, H_});
    require_array<float>("c0", c0, {k, H_});
    const float* dhp = nullptr;
    if (!dh.is_none()) {
      const py::array d = dh.cast<py::array>();
      require_array<float>("dh", d, {n, H_});
      dhp = static_cast<const float*>(d.data());
    }
    for (auto* v : {&h_, &c_, &tc_, &h_in_, &c_in_, &dh_, &dc_, &dh_in_}) v->resize(n * H_);
    gates_.resize(n * 4 * H_);
    dgates_.resize(n * 4 * H_);
    carry_.resize(n);
    dx_.resize(n * in_);
    py::array_t<float> h({n, H_});
    const auto* xp = static_cast<const float*>(x.data());
    {
      py::gil_scoped_release nogil;
      ScopedFlushDenormals ftz;
      forward(xp, n, k, static_cast<const float*>(h0.data()), static_cast<const float*>(c0.data()));
      if (dhp) backward(xp, n, k, dhp);
    }
    std::memcpy(h.mutable_data(), h_.data(), static_cast<std::size_t>(n * H_) * sizeof(float));
    if (!dhp) return py::make_tuple(h, py::none());
    auto out = [&](const float* src, std::vector<py::ssize_t> shape) {
      py::array_t<float> a(shape);
      std::memcpy(a.mutable_data(), src, static_cast<std::size_t>(a.size()) * sizeof(float));
      return a;
    };
    const py::ssize_t G = 4 * H_;
    return py::make_tuple(h, py::make_tuple(out(grad_.data() + spec_.w_ih_off, {G, in_}),
                                            out(grad_.data() + spec_.w_hh_off, {G, H_}),
                                            out(grad_.data() + spec_.b_ih_off, {G}),
                                            out(grad_.data() + spec_.b_hh_off, {G}), out(dx_.data(), {n, in_})));
  }

 private:
  void forward(const float* x, Index n, Index k, const float* h0, const float* c0) {
    const Index H = H_;
    for (Index s = 0; s < n; s += k) {
      std::memcpy(h_in_.data() + s * H, s == 0 ? h0 : h_.data() + (s - k) * H, k * H * sizeof(float));
      std::memcpy(c_in_.data() + s * H, s == 0 ? c0 : c_.data() + (s - k) * H, k * H * sizeof(float));
      lstm_forward(spec_, params_.data(), x + s * in_, h_in_.data() + s * H, c_in_.data() + s * H, k,
                   gates_.data() + s * 4 * H, c_.data() + s * H, tc_.data() + s * H, h_.data() + s * H);
      for (Index e = 0; e < k; ++e) carry_[s + e] = s > 0;
    }
  }

  void backward(const float* x, Index n, Index k, const float* dh_top) {
    std::memcpy(dh_.data(), dh_top, static_cast<std::size_t>(n * H_) * sizeof(float));
    const LstmTape tape{x, h_in_.data(), c_in_.data(), gates_.data(), tc_.data(),
                        dh_.data(), dc_.data(), dgates_.data(), dh_in_.data()};
    lstm_backward(spec_, params_.data(), n, k, carry_.data(), tape, grad_.data(), dx_.data());
  }

  py::ssize_t in_ = 0, H_ = 0;
  LstmSpec spec_;
  std::vector<float> params_, grad_, h_, c_, tc_, gates_, h_in_, c_in_, dh_, dc_, dgates_, dh_in_, dx_;
  std::vector<unsigned char> carry_;
};

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

  // One LSTM layer through lstm.cc, the code path of the recurrent archs: for the LSTM
  // benchmark against torch.nn.LSTMCell (bench/vs_pytorch_lstm.py) and the kernel tests.
  py::class_<LstmLayer>(m, "_LstmLayer")
      .def(py::init<const py::array&, const py::array&, const py::array&, const py::array&>(), py::arg("weight_ih"),
           py::arg("weight_hh"), py::arg("bias_ih"), py::arg("bias_hh"))
      .def("rollout", &LstmLayer::rollout, py::arg("x"), py::arg("k"), py::arg("h0"), py::arg("c0"),
           py::arg("dh") = py::none(),
           "x [T*k, in] (slot t*k + e), the state (h0, c0) [k, H] entering step 0. Returns (h [T*k, H], None),\n"
           "or with dh [T*k, H] = d loss / d h of every step, (h, (dweight_ih, dweight_hh, dbias_ih, dbias_hh,\n"
           "dx [T*k, in])) by backprop through time. The weights are PyTorch LSTMCell's, copied once.");

  py::class_<NetworkCore>(m, "NetworkCore")
      .def(py::init<const std::string&, std::vector<Index>, Index, std::vector<Index>, bool>(),
           py::arg("arch"), py::arg("obs_shape"), py::arg("num_actions"), py::arg("hidden"),
           py::arg("q_values") = false)
      .def_property_readonly("q_values", [](const NetworkCore& n) { return n.net().spec().q_values; })
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
      .def_property_readonly("state_size", [](const NetworkCore& n) { return n.net().spec().state_size(); })
      .def("forward",
           [](NetworkCore& n, const py::array& params, const py::array& obs, const py::object& h,
              const py::object& c) -> py::tuple {
             const ArchSpec& a = n.net().spec();
             require_array<float>("params", params, {n.net().num_params()});
             check_obs(a, obs);
             const py::ssize_t count = obs.shape(0);
             const py::ssize_t H = a.state_size();
             py::array_t<float> logits({count, static_cast<py::ssize_t>(a.num_actions)});
             py::array_t<float> values(count);
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             float* lg = logits.mutable_data();
             float* v = values.mutable_data();
             if (!a.recurrent()) {
               if (!h.is_none() || !c.is_none())
                 throw py::value_error("arch '" + a.name + "' is feed-forward: it takes no state");
               {
                 py::gil_scoped_release nogil;
                 n.forward(p, o, count, lg, v);
               }
               if (a.q_values) return py::make_tuple(logits);  // Q [N, A]
               return py::make_tuple(logits, values);
             }
             if (a.q_values) throw py::value_error("recurrent q-value nets are not supported");
             const float* hp = read_state("h", h, count, H);
             const float* cp = read_state("c", c, count, H);
             py::array_t<float> h_out({count, H}), c_out({count, H});
             float* ho = h_out.mutable_data();
             float* co = c_out.mutable_data();
             {
               py::gil_scoped_release nogil;
               n.forward(p, o, count, lg, v, hp, cp, ho, co);
             }
             return py::make_tuple(logits, values, h_out, c_out);
           },
           py::arg("params"), py::arg("obs"), py::arg("h") = py::none(), py::arg("c") = py::none())
      .def("loss_and_grad",
           [](NetworkCore& n, const py::array& params, const py::array& obs, const py::array& actions,
              const py::array& returns, double entropy_beta, double value_coef, const std::string& reduction,
              const py::object& out) {
             const ArchSpec& a = n.net().spec();
             if (a.recurrent())
               throw py::value_error("arch '" + a.name + "' is recurrent: use loss_and_grad_recurrent");
             if (a.q_values) throw py::value_error("this network has q-value heads: use q_loss_and_grad");
             const RolloutArgs r = read_rollout(n, params, obs, actions, returns, "returns");
             const LossCoefs coefs = read_coefs(entropy_beta, value_coef, reduction);
             py::array grad = grad_buffer(n, params, out);
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             float* g = static_cast<float*>(grad.mutable_data());
             LossTerms t;
             {
               py::gil_scoped_release nogil;
               t = n.loss_and_grad(p, o, r.count, r.actions.data(), r.values.data(), coefs, g);
             }
             return py::make_tuple(terms_dict(t), grad);
           },
           py::arg("params"), py::arg("obs"), py::arg("actions"), py::arg("returns"),
           py::arg("entropy_beta"), py::arg("value_coef"), py::arg("reduction"), py::arg("out") = py::none())
      .def("q_loss_and_grad",
           [](NetworkCore& n, const py::array& params, const py::array& obs, const py::array& actions,
              const py::array& targets, const std::string& reduction, const py::object& out) {
             const ArchSpec& a = n.net().spec();
             if (!a.q_values) throw py::value_error("this network has policy and value heads: use loss_and_grad");
             if (a.recurrent()) throw py::value_error("recurrent q-value nets are not supported");
             const RolloutArgs r = read_rollout(n, params, obs, actions, targets, "targets");
             const bool mean = read_reduction(reduction);
             py::array grad = grad_buffer(n, params, out);
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             float* g = static_cast<float*>(grad.mutable_data());
             LossTerms t;
             {
               py::gil_scoped_release nogil;
               t = n.q_loss_and_grad(p, o, r.count, r.actions.data(), r.values.data(), mean, g);
             }
             return py::make_tuple(t.total, grad);
           },
           py::arg("params"), py::arg("obs"), py::arg("actions"), py::arg("targets"), py::arg("reduction"),
           py::arg("out") = py::none())
      // Recurrent archs: obs [T*k, ...], actions, returns and resets [T*k] in slot order t*k + e
      // (networks.py flattens the [T, k] arrays), h and c [k, H] or None (zero).
      .def("loss_and_grad_recurrent",
           [](NetworkCore& n, const py::array& params, const py::array& obs, py::ssize_t T, py::ssize_t k,
              const py::array& actions, const py::array& returns, const py::array& resets, const py::object& h,
              const py::object& c, double entropy_beta, double value_coef, const std::string& reduction,
              const py::object& out) {
             const ArchSpec& a = n.net().spec();
             if (!a.recurrent()) throw py::value_error("arch '" + a.name + "' is feed-forward: use loss_and_grad");
             require_array<float>("params", params, {n.net().num_params()});
             if (T < 1 || k < 1)
               throw py::value_error("a rollout needs T >= 1 steps of k >= 1 sequences, got T=" + std::to_string(T) +
                                     ", k=" + std::to_string(k));
             check_obs(a, obs);
             const py::ssize_t count = obs.shape(0);
             if (count != T * k)
               throw py::value_error("obs holds " + std::to_string(count) + " observations, expected T*k = " +
                                     std::to_string(T * k));
             std::vector<int> acts = read_actions(actions, count, a.num_actions);
             std::vector<float> rets = read_returns(returns, count);
             require_array<bool>("resets", resets, {count});
             const LossCoefs coefs = read_coefs(entropy_beta, value_coef, reduction);
             py::array grad = grad_buffer(n, params, out);
             const py::ssize_t H = a.state_size();
             py::array_t<float> h_io({k, H}), c_io({k, H});
             float* hp = h_io.mutable_data();
             float* cp = c_io.mutable_data();
             if (const float* h0 = read_state("h", h, k, H)) std::memcpy(hp, h0, k * H * sizeof(float));
             else std::fill_n(hp, k * H, 0.0f);
             if (const float* c0 = read_state("c", c, k, H)) std::memcpy(cp, c0, k * H * sizeof(float));
             else std::fill_n(cp, k * H, 0.0f);
             const float* p = static_cast<const float*>(params.data());
             const void* o = obs.data();
             const auto* rs = static_cast<const unsigned char*>(resets.data());
             float* g = static_cast<float*>(grad.mutable_data());
             LossTerms t;
             {
               py::gil_scoped_release nogil;
               t = n.loss_and_grad_recurrent(p, o, T, k, acts.data(), rets.data(), rs, hp, cp, coefs, g);
             }
             return py::make_tuple(terms_dict(t), grad, h_io, c_io);
           },
           py::arg("params"), py::arg("obs"), py::arg("T"), py::arg("k"), py::arg("actions"), py::arg("returns"),
           py::arg("resets"), py::arg("h"), py::arg("c"), py::arg("entropy_beta"), py::arg("value_coef"),
           py::arg("reduction"), py::arg("out") = py::none());
}

}  // namespace a3c::bind
