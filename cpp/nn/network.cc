#include "nn/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/rng.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace a3c {

Workspace::Workspace(const ArchSpec& a, Index cap) : capacity(cap) {
  if (a.obs_u8)
    obs_u8.resize(cap * a.obs_size());
  else
    obs_f32.resize(cap * a.obs_size());
  Index col_size = 0;
  for (const auto& c : a.convs) {
    conv_out.emplace_back(cap * c.p() * c.cout);
    wk.emplace_back(c.k() * c.cout);
    wt.emplace_back(c.k() * c.cout);
    dwk.emplace_back(c.k() * c.cout);
    dconv.emplace_back(c.p() * c.cout);
    if (!c.s2d) col_size = std::max(col_size, c.p() * c.k());
  }
  col.resize(col_size);
  if (a.obs_u8) {
    const ConvSpec& c0 = a.convs[0];
    img.resize(c0.s2d ? c0.s2d_size() : a.obs_size());
    if (c0.s2d) s2d_tmp.resize(c0.s2d_rows() * c0.cout);
  }
  dcol.resize(col_size);
  flat.resize(cap * a.flat_size());
  dflat.resize(cap * a.flat_size());
  for (const auto& l : a.hidden) {
    hid.emplace_back(cap * l.out);
    dhid.emplace_back(cap * l.out);
  }
  head.resize(cap * a.heads.out);
  dhead.resize(cap * a.heads.out);
}

// Initialization (seeded; tensor i draws from Rng(seed, i), so adding a layer does not
// change the others):
//  - conv and hidden linear weights: He-uniform U(-sqrt(6/fan_in), +sqrt(6/fan_in)), the
//    ReLU-preserving variance scale (He et al. 2015); fan_in = Cin*KH*KW or in.
//  - policy.weight: rows of N(0,1) normalised to norm 0.01, so the initial policy is close
//    to uniform (maximum entropy); value.weight: one row normalised to norm 1.0
//    (the "normalized columns" init of the common A3C implementations, e.g. pytorch-a3c).
//  - all biases 0.
void Network::init_params(float* params, std::uint64_t seed) const {
  const auto& tensors = spec_.layout.tensors();
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const TensorSpec& t = tensors[ti];
    float* p = params + t.offset;
    Rng rng(seed, ti);
    const bool is_bias = t.shape.size() == 1;
    if (is_bias) {
      std::memset(p, 0, t.size * sizeof(float));
    } else if (t.name == "policy.weight" || t.name == "value.weight") {
      const double norm = t.name == "policy.weight" ? 0.01 : 1.0;
      const Index rows = t.shape[0], cols = t.shape[1];
      for (Index r = 0; r < rows; ++r) {
        double ss = 0;
        std::vector<double> row(cols);
        for (auto& v : row) {
          v = rng.normal();
          ss += v * v;
        }
        const double s = norm / std::sqrt(ss);
        for (Index c = 0; c < cols; ++c) p[r * cols + c] = static_cast<float>(row[c] * s);
      }
    } else {
      Index fan_in = 1;
      for (size_t d = 1; d < t.shape.size(); ++d) fan_in *= t.shape[d];
      const float bound = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in)));
      for (Index i = 0; i < t.size; ++i) p[i] = rng.uniform(-bound, bound);
    }
  }
}

void Network::prepare(const float* params, Workspace& ws) const {
  for (size_t l = 0; l < spec_.convs.size(); ++l) {
    const ConvSpec& c = spec_.convs[l];
    // The first layer's input gradient is never needed (its input is the observation).
    conv_pack_weights(ws.wk[l].data(), l == 0 ? nullptr : ws.wt[l].data(), params + c.w_off, c);
  }
}

void Network::forward(const float* params, const void* obs, Index n, Workspace& ws,
                      Index slot0) const {
  const ArchSpec& a = spec_;
  const Index obs_size = a.obs_size();
  const float* x = nullptr;  // input rows of the first linear layer, [n, in]
  if (a.convs.empty()) {
    float* dst = ws.obs_f32.data() + slot0 * obs_size;
    std::memcpy(dst, obs, n * obs_size * sizeof(float));
    x = dst;
  } else {
    const Index L = static_cast<Index>(a.convs.size());
    const Index flat_size = a.flat_size();
    for (Index i = 0; i < n; ++i) {
      const Index s = slot0 + i;
      unsigned char* o = ws.obs_u8.data() + s * obs_size;
      std::memcpy(o, static_cast<const unsigned char*>(obs) + i * obs_size, obs_size);
      for (Index l = 0; l < L; ++l) {
        const ConvSpec& c = a.convs[l];
        float* out = ws.conv_out[l].data() + s * c.p() * c.cout;
        if (c.s2d) {
          space_to_depth_u8(ws.img.data(), o, c);
          conv2d_forward_s2d(out, ws.s2d_tmp.data(), ws.img.data(), ws.wk[l].data(), params + c.b_off, c);
          continue;
        }
        if (l == 0)
          im2col_nchw_u8(ws.col.data(), ws.img.data(), o, c);
        else
          im2col_nhwc(ws.col.data(), ws.conv_out[l - 1].data() + s * a.convs[l - 1].p() * a.convs[l - 1].cout, c);
        conv2d_forward(out, ws.col.data(), ws.wk[l].data(), params + c.b_off, c);
      }
      // NHWC [P, C] -> CHW flatten, the order PyTorch's fc weights expect.
      const ConvSpec& c = a.convs.back();
      const float* src = ws.conv_out[L - 1].data() + s * c.p() * c.cout;
      float* dst = ws.flat.data() + s * flat_size;
      for (Index p = 0; p < c.p(); ++p)
        for (Index ch = 0; ch < c.cout; ++ch) dst[ch * c.p() + p] = src[p * c.cout + ch];
    }
    x = ws.flat.data() + slot0 * flat_size;
  }
  for (size_t l = 0; l < a.hidden.size(); ++l) {
    const LinearSpec& h = a.hidden[l];
    float* y = ws.hid[l].data() + slot0 * h.out;
    linear_forward(y, x, params + h.w_off, params + h.b_off, n, h, true);
    x = y;
  }
  linear_forward(ws.head.data() + slot0 * a.heads.out, x, params + a.heads.w_off,
                 params + a.heads.b_off, n, a.heads, false);
}

void Network::backward(const float* params, Workspace& ws, Index n, float* grad) const {
  const ArchSpec& a = spec_;
  const Index H = static_cast<Index>(a.hidden.size());
  // Heads, then hidden linear layers, batched over the rollout.
  linear_backward(grad + a.heads.w_off, grad + a.heads.b_off, ws.dhid[H - 1].data(),
                  ws.dhead.data(), ws.hid[H - 1].data(), params + a.heads.w_off, n, a.heads);
  for (Index l = H - 1; l >= 0; --l) {
    const LinearSpec& h = a.hidden[l];
    relu_backward_inplace(ws.dhid[l].data(), ws.hid[l].data(), n * h.out);
    const float* x = l > 0 ? ws.hid[l - 1].data() : (a.convs.empty() ? ws.obs_f32.data() : ws.flat.data());
    float* dx = l > 0 ? ws.dhid[l - 1].data() : (a.convs.empty() ? nullptr : ws.dflat.data());
    linear_backward(grad + h.w_off, grad + h.b_off, dx, ws.dhid[l].data(), x, params + h.w_off, n, h);
  }
  if (a.convs.empty()) return;

  // Convolutions one image at a time through the whole conv stack: the per-image
  // unrolled inputs stay cache-sized. They are re-gathered from the kept activations
  // rather than kept (400 KB per step for conv1), which is a copy, not recomputation.
  const Index L = static_cast<Index>(a.convs.size());
  for (Index l = 0; l < L; ++l) {
    ws.dwk[l].zero();
    std::memset(grad + a.convs[l].b_off, 0, a.convs[l].cout * sizeof(float));
  }
  const Index flat_size = a.flat_size();
  for (Index i = 0; i < n; ++i) {
    {
      const ConvSpec& c = a.convs[L - 1];
      const float* src = ws.dflat.data() + i * flat_size;
      float* dst = ws.dconv[L - 1].data();
      for (Index p = 0; p < c.p(); ++p)
        for (Index ch = 0; ch < c.cout; ++ch) dst[p * c.cout + ch] = src[ch * c.p() + p];
      relu_backward_inplace(dst, ws.conv_out[L - 1].data() + i * c.p() * c.cout, c.p() * c.cout);
    }
    for (Index l = L - 1; l >= 0; --l) {
      const ConvSpec& c = a.convs[l];
      if (l == 0 && c.s2d) {
        space_to_depth_u8(ws.img.data(), ws.obs_u8.data() + i * a.obs_size(), c);
        conv2d_backward_s2d(ws.dwk[l].data(), grad + c.b_off, ws.s2d_tmp.data(), ws.dconv[l].data(),
                            ws.img.data(), c);
      } else if (l == 0) {
        im2col_nchw_u8(ws.col.data(), ws.img.data(), ws.obs_u8.data() + i * a.obs_size(), c);
        conv2d_backward(ws.dwk[l].data(), grad + c.b_off, nullptr, ws.dconv[l].data(),
                        ws.col.data(), nullptr, c);
      } else {
        const ConvSpec& prev = a.convs[l - 1];
        const float* inp = ws.conv_out[l - 1].data() + i * prev.p() * prev.cout;
        im2col_nhwc(ws.col.data(), inp, c);
        conv2d_backward(ws.dwk[l].data(), grad + c.b_off, ws.dcol.data(), ws.dconv[l].data(),
                        ws.col.data(), ws.wt[l].data(), c);
        ws.dconv[l - 1].zero();
        col2im_nhwc_add(ws.dconv[l - 1].data(), ws.dcol.data(), c);
        relu_backward_inplace(ws.dconv[l - 1].data(), inp, prev.p() * prev.cout);
      }
    }
  }
  for (Index l = 0; l < L; ++l) conv_unpack_grad(grad + a.convs[l].w_off, ws.dwk[l].data(), a.convs[l]);
}

LossTerms Network::loss_and_backward(const float* params, Workspace& ws, Index n,
                                     const int* actions, const float* returns,
                                     const LossCoefs& coefs, float* grad) const {
  const Index A = spec_.num_actions;
  LossTerms t = a3c_loss_backward(ws.dhead.data(), ws.head.data(), A + 1, actions, returns, n, A, coefs);
  backward(params, ws, n, grad);
  return t;
}

}  // namespace a3c
