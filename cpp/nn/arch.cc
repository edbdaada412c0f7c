#include "nn/arch.h"

#include <algorithm>

#include "common/check.h"
#include "nn/conv2d.h"

namespace a3c {

namespace {

// "256 LSTM cells after the final hidden layer" (Mnih et al. 2016, section 5.1).
constexpr Index kLstmCells = 256;

struct ConvDef {
  Index cout, k, stride;
};

std::string shape_str(const std::vector<Index>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

void add_heads(ArchSpec& a, Index h) {
  if (a.q_values) {
    a.heads.in = h;
    a.heads.out = a.num_actions;
    a.heads.w_off = a.layout.add("q.weight", {a.num_actions, h});
    a.heads.b_off = a.layout.add("q.bias", {a.num_actions});
    return;
  }
  a.heads.in = h;
  a.heads.out = a.num_actions + 1;
  a.heads.w_off = a.layout.add("policy.weight", {a.num_actions, h});
  a.layout.add("value.weight", {1, h});
  a.heads.b_off = a.layout.add("policy.bias", {a.num_actions});
  a.layout.add("value.bias", {1});
}

// The LSTM of `cells` cells on the last hidden layer's output (PyTorch nn.LSTMCell names).
void add_lstm(ArchSpec& a, Index cells) {
  LstmSpec& l = a.lstm;
  l.in = a.hidden.back().out;
  l.hidden = cells;
  l.w_ih_off = a.layout.add("lstm.weight_ih", {4 * cells, l.in});
  l.w_hh_off = a.layout.add("lstm.weight_hh", {4 * cells, cells});
  l.b_ih_off = a.layout.add("lstm.bias_ih", {4 * cells});
  l.b_hh_off = a.layout.add("lstm.bias_hh", {4 * cells});
}

void add_linear(ArchSpec& a, const std::string& name, Index in, Index out) {
  LinearSpec l{in, out, 0, 0};
  l.w_off = a.layout.add(name + ".weight", {out, in});
  l.b_off = a.layout.add(name + ".bias", {out});
  a.hidden.push_back(l);
}

// Rejects an observation with more than kMaxElements values: every conv output, im2col
// matrix and flatten is then at most a small multiple of that, far from overflowing Index.
void require_obs_size(const std::vector<Index>& obs_shape) {
  Index size = 1;
  bool fits = true;
  for (Index d : obs_shape) fits = fits && size_mul(size, d, &size);
  A3C_REQUIRE(fits, "obs_shape ", shape_str(obs_shape), " is too large: more than ", kMaxElements,
              " values in one observation (the limit, 8 GiB of float32 per buffer)");
}

// Floats one observation takes in a Workspace (network.cc): kept activations and their
// gradients, plus the largest layer's scratch; summed under the same kMaxElements bound.
void require_workspace(const ArchSpec& a) {
  Index total = 0;
  bool fits = true;
  auto add = [&](Index x, Index y) {
    Index p = 0;
    fits = fits && size_mul(x, y, &p) && p <= kMaxElements - total;
    if (fits) total += p;
  };
  add(a.obs_size(), 2);  // the kept observation and the first layer's float image
  for (const auto& c : a.convs) {
    add(c.p(), 2 * c.cout);  // output (kept) and its gradient
    if (!c.s2d) add(c.p(), 2 * c.k());  // im2col matrix and its gradient
    if (c.s2d) add(c.s2d_rows(), c.cout);
  }
  add(a.flat_size(), 2);
  for (const auto& l : a.hidden) add(l.out, 2);
  // LSTM: gates and their gradient, then h_in, c_in, c, tanh(c), h and the gradients of h,
  // c and h_in.
  if (a.recurrent()) {
    add(a.lstm.hidden, 8);
    add(a.lstm.hidden, 8);
  }
  add(a.heads.out, 2);
  A3C_REQUIRE(fits, "obs_shape ", shape_str(a.obs_shape), " is too large for arch '", a.name,
              "': one observation's activations would take more than ", kMaxElements,
              " floats (the limit, 8 GiB per buffer)");
}

}  // namespace

const std::vector<std::string>& arch_names() {
  static const std::vector<std::string> names{"a3c", "nature", "mlp", "a3c_lstm", "nature_lstm", "mlp_lstm"};
  return names;
}

Index ArchSpec::obs_size() const {
  Index s = 1;
  for (Index d : obs_shape) s *= d;
  return s;
}

Index ArchSpec::flat_size() const {
  if (convs.empty()) return 0;
  const ConvSpec& c = convs.back();
  return c.cout * c.p();
}

double ArchSpec::flops_forward() const {
  double macs = 0;
  for (const auto& c : convs) macs += static_cast<double>(c.p()) * c.cout * c.k();
  for (const auto& l : hidden) macs += static_cast<double>(l.in) * l.out;
  if (recurrent()) macs += static_cast<double>(lstm.in + lstm.hidden) * 4 * lstm.hidden;
  macs += static_cast<double>(heads.in) * heads.out;
  return 2 * macs;
}

ArchSpec make_arch(const std::string& name, std::vector<Index> obs_shape, Index num_actions,
                   std::vector<Index> hidden, bool q_values) {
  const auto& names = arch_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "'" : ", '") + n + "'";
    throw std::invalid_argument("unknown arch '" + name + "': expected one of " + list);
  }
  const std::string suffix = "_lstm";
  const bool lstm = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.npos, suffix) == 0;
  const std::string base = lstm ? name.substr(0, name.size() - suffix.size()) : name;
  A3C_REQUIRE(num_actions >= 1 && num_actions < kMaxElements, "num_actions=", num_actions,
              " is invalid: must be >= 1 and < ", kMaxElements);
  ArchSpec a;
  a.name = name;
  a.num_actions = num_actions;
  a.q_values = q_values;

  if (base == "mlp") {
    A3C_REQUIRE(obs_shape.size() == 1 && obs_shape[0] >= 1, "arch '", name, "' needs obs_shape=(D,) with D >= 1, got ",
                obs_shape.empty() ? std::string("none") : shape_str(obs_shape));
    A3C_REQUIRE(hidden.size() == 2 && hidden[0] >= 1 && hidden[1] >= 1,
                "arch '", name, "' needs hidden=(h0, h1) with both sizes >= 1, got ", shape_str(hidden));
    require_obs_size(obs_shape);
    a.obs_shape = obs_shape;
    a.obs_u8 = false;
    add_linear(a, "fc1", obs_shape[0], hidden[0]);
    add_linear(a, "fc2", hidden[0], hidden[1]);
    if (lstm) add_lstm(a, hidden[1]);
    add_heads(a, hidden[1]);
    require_workspace(a);
    return a;
  }

  if (obs_shape.empty()) obs_shape = {4, 84, 84};
  A3C_REQUIRE(obs_shape.size() == 3 && obs_shape[0] >= 1 && obs_shape[1] >= 1 && obs_shape[2] >= 1,
              "arch '", name, "' needs obs_shape=(C, H, W) with positive sizes, got ", shape_str(obs_shape));
  require_obs_size(obs_shape);
  a.obs_shape = obs_shape;
  a.obs_u8 = true;
  const std::vector<ConvDef> defs = base == "a3c"
                                        ? std::vector<ConvDef>{{16, 8, 4}, {32, 4, 2}}
                                        : std::vector<ConvDef>{{32, 8, 4}, {64, 4, 2}, {64, 3, 1}};
  const Index fc_out = base == "a3c" ? 256 : 512;
  Index c = obs_shape[0], h = obs_shape[1], w = obs_shape[2];
  for (size_t i = 0; i < defs.size(); ++i) {
    const ConvDef& d = defs[i];
    A3C_REQUIRE(h >= d.k && w >= d.k, "obs_shape ", shape_str(obs_shape), " is too small for arch '",
                name, "': conv", i + 1, " (", d.k, "x", d.k, " stride ", d.stride,
                ") gets a ", h, "x", w, " input");
    ConvSpec cs{};
    cs.cin = c;
    cs.cout = d.cout;
    cs.kh = cs.kw = d.k;
    cs.stride = d.stride;
    cs.hin = h;
    cs.win = w;
    cs.hout = (h - d.k) / d.stride + 1;
    cs.wout = (w - d.k) / d.stride + 1;
    cs.input_nchw_u8 = (i == 0);
    cs.s2d = i == 0 && d.k % d.stride == 0 && h % d.stride == 0 && w % d.stride == 0;
    cs.k_order = conv_k_order(cs);
    const std::string ln = "conv" + std::to_string(i + 1);
    cs.w_off = a.layout.add(ln + ".weight", {cs.cout, cs.cin, cs.kh, cs.kw});
    cs.b_off = a.layout.add(ln + ".bias", {cs.cout});
    a.convs.push_back(cs);
    c = cs.cout;
    h = cs.hout;
    w = cs.wout;
  }
  add_linear(a, "fc", c * h * w, fc_out);
  if (lstm) add_lstm(a, kLstmCells);
  add_heads(a, lstm ? kLstmCells : fc_out);
  require_workspace(a);
  return a;
}

}  // namespace a3c
