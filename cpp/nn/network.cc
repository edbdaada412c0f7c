#include "nn/network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/rng.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/lstm.h"

namespace a3c {

Workspace::Workspace(const ArchSpec& a, Index cap) : capacity(cap) {
  static_assert(kMaxConvChunk >= 1, "a chunk holds at least one image");
  if (a.obs_u8)
    obs_u8.resize(cap * a.obs_size());
  else
    obs_f32.resize(cap * a.obs_size());
  // Images per im2col GEMM: as many as keep the unrolled input within kConvChunkFloats (one
  // image if a single one is larger), at most kMaxConvChunk; the same for every layer, so
  // the backward pass can take a chunk of images through the whole conv stack.
  conv_chunk = kMaxConvChunk;
  for (const auto& c : a.convs)
    if (!c.s2d) conv_chunk = std::min(conv_chunk, std::max<Index>(1, kConvChunkFloats / (c.p() * c.k())));
  Index col_size = 0;
  for (const auto& c : a.convs) {
    conv_out.emplace_back(cap * c.p() * c.cout);
    wk.emplace_back(c.k() * c.cout);
    wt.emplace_back(c.k() * c.cout);
    dwk.emplace_back(c.k() * c.cout);
    dconv.emplace_back(conv_chunk * c.p() * c.cout);
    if (!c.s2d) col_size = std::max(col_size, conv_chunk * c.p() * c.k());
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
  if (a.recurrent()) {
    const Index H = a.lstm.hidden;
    for (auto* b : {&lstm_h_in, &lstm_c_in, &lstm_c, &lstm_tc, &lstm_h, &lstm_dh, &lstm_dc, &lstm_dh_in})
      b->resize(cap * H);
    lstm_gates.resize(cap * 4 * H);
    lstm_dgates.resize(cap * 4 * H);
  }
}

// Initialization (seeded; tensor i draws from Rng(seed, i), so adding a layer does not
// change the others):
//  - conv and hidden linear weights: He-uniform U(-sqrt(6/fan_in), +sqrt(6/fan_in)), the
//    ReLU-preserving variance scale (He et al. 2015); fan_in = Cin*KH*KW or in.
//  - policy.weight: rows of N(0,1) normalised to norm 0.01, so the initial policy is close
//    to uniform (maximum entropy); value.weight (and each row of q.weight): normalised to norm 1.0
//    (the "normalized columns" init of the common A3C implementations, e.g. pytorch-a3c).
//  - lstm.weight_ih and lstm.weight_hh: U(-1/sqrt(H), 1/sqrt(H)), PyTorch's LSTMCell init.
//  - all biases 0, except the forget gate's slice of lstm.bias_ih: 1.
void Network::init_params(float* params, std::uint64_t seed) const {
  const auto& tensors = spec_.layout.tensors();
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const TensorSpec& t = tensors[ti];
    float* p = params + t.offset;
    Rng rng(seed, ti);
    const bool is_bias = t.shape.size() == 1;
    if (is_bias) {
      std::memset(p, 0, t.size * sizeof(float));
      if (t.name == "lstm.bias_ih") {
        // Forget gate bias 1 (Jozefowicz et al. 2015; TensorFlow's LSTM cells, used by the
        // DeepMind-style A3C-LSTM re-implementations): the cell keeps its memory at first.
        const Index H = t.size / 4;
        for (Index j = H; j < 2 * H; ++j) p[j] = 1.0f;
      }
    } else if (t.name == "lstm.weight_ih" || t.name == "lstm.weight_hh") {
      // PyTorch nn.LSTMCell's U(-1/sqrt(H), 1/sqrt(H)): with tanh/sigmoid gates the ReLU
      // He scale would saturate them.
      const float bound = static_cast<float>(1.0 / std::sqrt(static_cast<double>(t.shape[0] / 4)));
      for (Index i = 0; i < t.size; ++i) p[i] = rng.uniform(-bound, bound);
    } else if (t.name == "policy.weight" || t.name == "value.weight" || t.name == "q.weight") {
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
                      Index slot0, const float* h_in, const float* c_in) const {
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
    std::memcpy(ws.obs_u8.data() + slot0 * obs_size, obs, n * obs_size);
    // Layer by layer over the n images: the first layer one image at a time (its GEMMs are
    // already P = 400 rows tall), the later ones m images per GEMM (m*P rows).
    for (Index l = 0; l < L; ++l) {
      const ConvSpec& c = a.convs[l];
      const Index osz = c.p() * c.cout;
      if (l == 0) {
        for (Index i = 0; i < n; ++i) {
          const Index s = slot0 + i;
          const unsigned char* o = ws.obs_u8.data() + s * obs_size;
          float* out = ws.conv_out[0].data() + s * osz;
          if (c.s2d) {
            space_to_depth_u8(ws.img.data(), o, c);
            conv2d_forward_s2d(out, ws.s2d_tmp.data(), ws.img.data(), ws.wk[0].data(), params + c.b_off, c);
          } else {
            im2col_nchw_u8(ws.col.data(), ws.img.data(), o, c);
            conv2d_forward(out, ws.col.data(), ws.wk[0].data(), params + c.b_off, c);
          }
        }
        continue;
      }
      const ConvSpec& prev = a.convs[l - 1];
      const Index isz = prev.p() * prev.cout, PK = c.p() * c.k();
      for (Index i0 = 0; i0 < n; i0 += ws.conv_chunk) {
        const Index m = std::min(ws.conv_chunk, n - i0);
        for (Index i = 0; i < m; ++i)
          im2col_nhwc(ws.col.data() + i * PK, ws.conv_out[l - 1].data() + (slot0 + i0 + i) * isz, c);
        conv2d_forward(ws.conv_out[l].data() + (slot0 + i0) * osz, ws.col.data(), ws.wk[l].data(), params + c.b_off,
                       c, m * c.p());
      }
    }
    // NHWC [P, C] -> CHW flatten, the order PyTorch's fc weights expect.
    const ConvSpec& last = a.convs.back();
    for (Index i = 0; i < n; ++i) {
      const Index s = slot0 + i;
      const float* src = ws.conv_out[L - 1].data() + s * last.p() * last.cout;
      float* dst = ws.flat.data() + s * flat_size;
      for (Index p = 0; p < last.p(); ++p)
        for (Index ch = 0; ch < last.cout; ++ch) dst[ch * last.p() + p] = src[p * last.cout + ch];
    }
    x = ws.flat.data() + slot0 * flat_size;
  }
  for (size_t l = 0; l < a.hidden.size(); ++l) {
    const LinearSpec& h = a.hidden[l];
    float* y = ws.hid[l].data() + slot0 * h.out;
    linear_forward(y, x, params + h.w_off, params + h.b_off, n, h, true);
    x = y;
  }
  if (a.recurrent()) {
    // The input state is kept per slot: the backward pass reads it (c_in in the forget gate's
    // gradient, h_in in W_hh's).
    const Index H = a.lstm.hidden;
    float* hs = ws.lstm_h_in.data() + slot0 * H;
    float* cs = ws.lstm_c_in.data() + slot0 * H;
    if (h_in)
      std::memcpy(hs, h_in, n * H * sizeof(float));
    else
      std::fill(hs, hs + n * H, 0.0f);
    if (c_in)
      std::memcpy(cs, c_in, n * H * sizeof(float));
    else
      std::fill(cs, cs + n * H, 0.0f);
    float* h = ws.lstm_h.data() + slot0 * H;
    lstm_forward(a.lstm, params, x, h_in ? hs : nullptr, c_in ? cs : nullptr, n,
                 ws.lstm_gates.data() + slot0 * 4 * H, ws.lstm_c.data() + slot0 * H,
                 ws.lstm_tc.data() + slot0 * H, h);
    x = h;
  }
  linear_forward(ws.head.data() + slot0 * a.heads.out, x, params + a.heads.w_off,
                 params + a.heads.b_off, n, a.heads, false);
}

void Network::backward(const float* params, Workspace& ws, Index n, float* grad, Index step,
                       const unsigned char* carry) const {
  const ArchSpec& a = spec_;
  const Index H = static_cast<Index>(a.hidden.size());
  // Heads, (the LSTM through time,) then hidden linear layers, batched over the rollout.
  if (a.recurrent()) {
    linear_backward(grad + a.heads.w_off, grad + a.heads.b_off, ws.lstm_dh.data(), ws.dhead.data(),
                    ws.lstm_h.data(), params + a.heads.w_off, n, a.heads);
    lstm_backward(params, ws, n, grad, step, carry);
  } else {
    linear_backward(grad + a.heads.w_off, grad + a.heads.b_off, ws.dhid[H - 1].data(),
                    ws.dhead.data(), ws.hid[H - 1].data(), params + a.heads.w_off, n, a.heads);
  }
  for (Index l = H - 1; l >= 0; --l) {
    const LinearSpec& h = a.hidden[l];
    relu_backward_inplace(ws.dhid[l].data(), ws.hid[l].data(), n * h.out);
    const float* x = l > 0 ? ws.hid[l - 1].data() : (a.convs.empty() ? ws.obs_f32.data() : ws.flat.data());
    float* dx = l > 0 ? ws.dhid[l - 1].data() : (a.convs.empty() ? nullptr : ws.dflat.data());
    linear_backward(grad + h.w_off, grad + h.b_off, dx, ws.dhid[l].data(), x, params + h.w_off, n, h);
  }
  if (a.convs.empty()) return;

  // Convolutions a chunk of images at a time through the whole conv stack: the chunk's
  // unrolled inputs stay cache-sized, and the later layers' GEMMs see m*P rows (dW: a
  // reduction over m*P). The unrolled inputs are re-gathered from the kept activations rather
  // than kept (400 KB per step for conv1), which is a copy, not recomputation.
  const Index L = static_cast<Index>(a.convs.size());
  for (Index l = 0; l < L; ++l) {
    ws.dwk[l].zero();
    std::memset(grad + a.convs[l].b_off, 0, a.convs[l].cout * sizeof(float));
  }
  const Index flat_size = a.flat_size();
  for (Index i0 = 0; i0 < n; i0 += ws.conv_chunk) {
    const Index m = std::min(ws.conv_chunk, n - i0);
    {
      const ConvSpec& c = a.convs[L - 1];
      const Index osz = c.p() * c.cout;
      for (Index i = 0; i < m; ++i) {
        const float* src = ws.dflat.data() + (i0 + i) * flat_size;
        float* dst = ws.dconv[L - 1].data() + i * osz;
        for (Index p = 0; p < c.p(); ++p)
          for (Index ch = 0; ch < c.cout; ++ch) dst[p * c.cout + ch] = src[ch * c.p() + p];
      }
      relu_backward_inplace(ws.dconv[L - 1].data(), ws.conv_out[L - 1].data() + i0 * osz, m * osz);
    }
    for (Index l = L - 1; l >= 0; --l) {
      const ConvSpec& c = a.convs[l];
      const Index osz = c.p() * c.cout;
      if (l == 0) {
        for (Index i = 0; i < m; ++i) {
          const unsigned char* o = ws.obs_u8.data() + (i0 + i) * a.obs_size();
          if (c.s2d) {
            space_to_depth_u8(ws.img.data(), o, c);
            conv2d_backward_s2d(ws.dwk[0].data(), grad + c.b_off, ws.s2d_tmp.data(), ws.dconv[0].data() + i * osz,
                                ws.img.data(), c);
          } else {
            im2col_nchw_u8(ws.col.data(), ws.img.data(), o, c);
            conv2d_backward(ws.dwk[0].data(), grad + c.b_off, nullptr, ws.dconv[0].data() + i * osz, ws.col.data(),
                            nullptr, c);
          }
        }
        continue;
      }
      const ConvSpec& prev = a.convs[l - 1];
      const Index isz = prev.p() * prev.cout, PK = c.p() * c.k();
      const float* inp = ws.conv_out[l - 1].data() + i0 * isz;
      for (Index i = 0; i < m; ++i) im2col_nhwc(ws.col.data() + i * PK, inp + i * isz, c);
      conv2d_backward(ws.dwk[l].data(), grad + c.b_off, ws.dcol.data(), ws.dconv[l].data(), ws.col.data(),
                      ws.wt[l].data(), c, m * c.p());
      std::memset(ws.dconv[l - 1].data(), 0, m * isz * sizeof(float));
      for (Index i = 0; i < m; ++i) col2im_nhwc_add(ws.dconv[l - 1].data() + i * isz, ws.dcol.data() + i * PK, c);
      relu_backward_inplace(ws.dconv[l - 1].data(), inp, m * isz);
    }
  }
  for (Index l = 0; l < L; ++l) conv_unpack_grad(grad + a.convs[l].w_off, ws.dwk[l].data(), a.convs[l]);
}

void Network::lstm_backward(const float* params, Workspace& ws, Index n, float* grad, Index step,
                            const unsigned char* carry) const {
  const Index last = static_cast<Index>(spec_.hidden.size()) - 1;
  const LstmTape tape{ws.hid[last].data(), ws.lstm_h_in.data(), ws.lstm_c_in.data(), ws.lstm_gates.data(),
                      ws.lstm_tc.data(),   ws.lstm_dh.data(),   ws.lstm_dc.data(),   ws.lstm_dgates.data(),
                      ws.lstm_dh_in.data()};
  a3c::lstm_backward(spec_.lstm, params, n, step, carry, tape, grad, ws.dhid[last].data());
}

LossTerms Network::q_loss_and_backward(const float* params, Workspace& ws, Index n, const int* actions,
                                       const float* targets, bool mean, float* grad, Index step,
                                       const unsigned char* carry) const {
  const Index A = spec_.num_actions;
  LossTerms t = q_loss_backward(ws.dhead.data(), ws.head.data(), A, actions, targets, n, A, mean);
  backward(params, ws, n, grad, step, carry);
  return t;
}

LossTerms Network::loss_and_backward(const float* params, Workspace& ws, Index n,
                                     const int* actions, const float* returns,
                                     const LossCoefs& coefs, float* grad, Index step,
                                     const unsigned char* carry) const {
  const Index A = spec_.num_actions;
  LossTerms t = a3c_loss_backward(ws.dhead.data(), ws.head.data(), A + 1, actions, returns, n, A, coefs);
  backward(params, ws, n, grad, step, carry);
  return t;
}

}  // namespace a3c
