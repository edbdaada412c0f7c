// Network architectures as data: the layer list, every layer's dimensions and its tensors'
// offsets in the flat parameter buffer. Three feed-forward archs:
//   "a3c"    uint8 CxHxW /255 -> conv 16@8x8 s4 -> ReLU -> conv 32@4x4 s2 -> ReLU -> FC 256
//            -> ReLU -> policy logits (A) + value (1)      (Mnih et al. 2016, FF net)
//   "nature" conv 32@8x8 s4, 64@4x4 s2, 64@3x3 s1, FC 512, same heads (Mnih et al. 2015)
//   "mlp"    float32 D -> FC h0 -> ReLU -> FC h1 -> ReLU -> heads (vector observations)
// and their recurrent versions "a3c_lstm", "nature_lstm", "mlp_lstm": the same layers, then an
// LSTM (nn/lstm.h) of 256 cells ("mlp_lstm": of hidden[1] cells) between the last hidden layer
// and the heads (Mnih et al. 2016: "256 LSTM cells after the final hidden layer").
// Buffer order: each layer's weight then bias, then (recurrent archs) lstm.weight_ih [4H,in],
// lstm.weight_hh [4H,H], lstm.bias_ih [4H], lstm.bias_hh [4H], then policy.weight [A,H], value.weight [1,H],
// policy.bias [A], value.bias [1]: the two heads form one contiguous [A+1, H] matrix and
// one [A+1] bias, so the heads are a single matrix-vector product.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layout.h"

namespace a3c {

struct ConvSpec {
  Index cin, cout, kh, kw, stride;
  Index hin, win, hout, wout;
  bool input_nchw_u8;  // first layer: reads the uint8 observation (NCHW); later: NHWC floats
  // First layer only: the kernel and the image tile by the stride, so the layer runs as a
  // stride-1 conv on the space-to-depth image (see conv2d.h) instead of through im2col.
  bool s2d;
  Index w_off, b_off;  // offsets of weight [Cout,Cin,KH,KW] and bias [Cout]
  std::vector<std::int32_t> k_order;  // see conv_k_order (conv2d.h)
  Index k() const { return cin * kh * kw; }
  Index p() const { return hout * wout; }
  // Space-to-depth geometry (valid when s2d): image [H/S, W/S, Cin*S*S], kernel KH/S x KW/S.
  Index s2d_h() const { return hin / stride; }
  Index s2d_w() const { return win / stride; }
  Index s2d_c() const { return cin * stride * stride; }
  Index s2d_kh() const { return kh / stride; }
  Index s2d_kw() const { return kw / stride; }
  // Floats of the space-to-depth image, plus the zero tail the last wrapped rows read.
  Index s2d_size() const { return cin * hin * win + (s2d_kw() - 1) * s2d_c(); }
  // Rows of the stride-1 GEMM: full image-width rows, the last s2d_kw()-1 columns discarded.
  Index s2d_rows() const { return hout * s2d_w(); }
};

struct LinearSpec {
  Index in, out;
  Index w_off, b_off;  // weight [out, in], bias [out]
};

// The recurrent archs' LSTM layer; hidden == 0 in a feed-forward arch.
struct LstmSpec {
  Index in = 0, hidden = 0;
  Index w_ih_off = 0, w_hh_off = 0, b_ih_off = 0, b_hh_off = 0;
};

struct ArchSpec {
  std::string name;
  std::vector<Index> obs_shape;  // (C,H,W) for conv archs, (D,) for mlp
  bool obs_u8 = false;           // conv archs take uint8 images, mlp float32 vectors
  Index num_actions = 0;
  std::vector<ConvSpec> convs;
  std::vector<LinearSpec> hidden;  // fc (conv archs) or fc1, fc2 (mlp); ReLU after each
  LstmSpec lstm{};                 // recurrent archs only
  // Heads: [A+1, H], rows 0..A-1 policy logits, row A the value (actor-critic, A3C); or, with
  // q_values, [A, H]: one action value per row (the value-based methods; tensors "q.weight",
  // "q.bias").
  bool q_values = false;
  LinearSpec heads{};
  ParamLayout layout;

  bool recurrent() const { return lstm.hidden > 0; }
  // Floats of one sequence's recurrent state h (and as many again for c); 0 if feed-forward.
  Index state_size() const { return lstm.hidden; }
  Index obs_size() const;
  Index flat_size() const;  // conv output flattened (C*H*W), 0 for mlp
  // Multiply-adds x2 of one observation's forward pass.
  double flops_forward() const;
};

// Valid arch names, for error messages.
const std::vector<std::string>& arch_names();

// obs_shape empty means the arch's default ((4,84,84) for conv archs; required for mlp).
// hidden: the mlp's two hidden sizes (ignored by conv archs). Throws std::invalid_argument
// naming the problem for an unknown arch, a too-small image, non-positive sizes, or sizes
// whose parameter count or per-observation workspace would pass kMaxElements (layout.h).
// q_values: the action-value head instead of the policy and value heads.
ArchSpec make_arch(const std::string& name, std::vector<Index> obs_shape, Index num_actions,
                   std::vector<Index> hidden, bool q_values = false);

}  // namespace a3c
