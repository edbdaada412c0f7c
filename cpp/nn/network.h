// Network: forward over observations keeping every activation, and the backward pass of the
// A3C loss over a rollout, reusing those activations (layers in exact reverse order).
// The Network itself is immutable and shared by threads; all mutable state (activations,
// packed weights, scratch) lives in a Workspace owned by one thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/aligned.h"
#include "nn/a3c_loss.h"
#include "nn/arch.h"

namespace a3c {

// Activations of up to `capacity` forward steps ("slots") plus scratch. Sized once.
struct Workspace {
  Workspace(const ArchSpec& a, Index capacity);
  Index capacity;
  // Kept per slot, [capacity, size] each: what the backward pass needs.
  AlignedBuffer<unsigned char> obs_u8;         // [cap, C*H*W]  conv archs
  AlignedBuffer<float> obs_f32;                // [cap, D]      mlp
  std::vector<AlignedBuffer<float>> conv_out;  // [cap, P*Cout] NHWC, after ReLU
  AlignedBuffer<float> flat;                   // [cap, C*H*W]  last conv output, CHW order
  std::vector<AlignedBuffer<float>> hid;       // [cap, out]    after ReLU
  AlignedBuffer<float> head;                   // [cap, A+1]    logits then value
  // Packed conv weights of the current parameters (see Network::prepare).
  std::vector<AlignedBuffer<float>> wk, wt;    // [K, Cout], [Cout, K]
  // Backward scratch.
  AlignedBuffer<float> col, dcol;              // [P*K] of the largest conv, one image
  AlignedBuffer<float> img;                    // one observation as floats (im2col or s2d)
  AlignedBuffer<float> s2d_tmp;                // [s2d_rows, Cout] first-layer GEMM rows
  std::vector<AlignedBuffer<float>> dwk;       // [K, Cout]
  std::vector<AlignedBuffer<float>> dconv;     // [P*Cout] one image
  AlignedBuffer<float> dhead;                  // [cap, A+1]
  std::vector<AlignedBuffer<float>> dhid;      // [cap, out]
  AlignedBuffer<float> dflat;                  // [cap, C*H*W]
};

class Network {
 public:
  explicit Network(ArchSpec spec) : spec_(std::move(spec)) {}
  const ArchSpec& spec() const { return spec_; }
  Index num_params() const { return spec_.layout.total(); }

  // Fills params [num_params] for `seed` (documented in network.cc).
  void init_params(float* params, std::uint64_t seed) const;

  // Packs the conv weights of `params` into ws. Call once per parameter snapshot, before
  // forward; the backward pass uses the same packed weights.
  void prepare(const float* params, Workspace& ws) const;

  // Forward of n observations (uint8 [n, C,H,W] or float32 [n, D]) into slots
  // [slot0, slot0+n). Results: ws.head[slot*(A+1) + a] logits, [... + A] value.
  void forward(const float* params, const void* obs, Index n, Workspace& ws, Index slot0) const;

  // grad [num_params] = d loss / d params for slots [0, n) given ws.dhead [n, A+1].
  // Every element is written (no need to zero grad first).
  void backward(const float* params, Workspace& ws, Index n, float* grad) const;

  // A3C loss of slots [0, n) and grad = its gradient.
  LossTerms loss_and_backward(const float* params, Workspace& ws, Index n, const int* actions,
                              const float* returns, const LossCoefs& coefs, float* grad) const;

 private:
  ArchSpec spec_;
};

}  // namespace a3c
