// Network: forward over observations keeping every activation, and the backward pass of the
// A3C loss over a rollout, reusing those activations (layers in exact reverse order).
// The Network itself is immutable and shared by threads; all mutable state (activations,
// packed weights, scratch) lives in a Workspace owned by one thread.
#pragma once

#include <cstdint>
#include <vector>

#include "common/aligned.h"
#include "nn/a3c_loss.h"
#include "nn/q_loss.h"
#include "nn/arch.h"

namespace a3c {

// Images per GEMM of the im2col conv layers (Workspace::conv_chunk): up to kMaxConvChunk, and
// only as many as keep one layer's unrolled input within kConvChunkFloats (1 MiB, L2-sized).
inline constexpr Index kMaxConvChunk = 8;
inline constexpr Index kConvChunkFloats = Index{1} << 18;

// Activations of up to `capacity` forward steps ("slots") plus scratch. Sized once.
struct Workspace {
  Workspace(const ArchSpec& a, Index capacity);
  Index capacity;
  Index conv_chunk = 1;  // images per im2col GEMM (see kMaxConvChunk)
  // Kept per slot, [capacity, size] each: what the backward pass needs.
  AlignedBuffer<unsigned char> obs_u8;         // [cap, C*H*W]  conv archs
  AlignedBuffer<float> obs_f32;                // [cap, D]      mlp
  std::vector<AlignedBuffer<float>> conv_out;  // [cap, P*Cout] NHWC, after ReLU
  AlignedBuffer<float> flat;                   // [cap, C*H*W]  last conv output, CHW order
  std::vector<AlignedBuffer<float>> hid;       // [cap, out]    after ReLU
  AlignedBuffer<float> head;                   // [cap, A+1]    logits then value
  // Recurrent archs (nn/lstm.h), per slot: the LSTM's input state, its activated gates,
  // cell, tanh(cell) and output h (the heads' input); [cap, H] each, gates [cap, 4H].
  AlignedBuffer<float> lstm_h_in, lstm_c_in, lstm_gates, lstm_c, lstm_tc, lstm_h;
  // Packed conv weights of the current parameters (see Network::prepare).
  std::vector<AlignedBuffer<float>> wk, wt;    // [K, Cout], [Cout, K]
  // Backward scratch.
  AlignedBuffer<float> col, dcol;              // [conv_chunk * P*K] of the largest conv
  AlignedBuffer<float> img;                    // one observation as floats (im2col or s2d)
  AlignedBuffer<float> s2d_tmp;                // [s2d_rows, Cout] first-layer GEMM rows
  std::vector<AlignedBuffer<float>> dwk;       // [K, Cout]
  std::vector<AlignedBuffer<float>> dconv;     // [conv_chunk * P*Cout]
  AlignedBuffer<float> dhead;                  // [cap, A+1]
  std::vector<AlignedBuffer<float>> dhid;      // [cap, out]
  AlignedBuffer<float> dflat;                  // [cap, C*H*W]
  AlignedBuffer<float> lstm_dh, lstm_dc, lstm_dh_in;  // [cap, H]
  AlignedBuffer<float> lstm_dgates;                   // [cap, 4H]
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
  // [slot0, slot0+n). Results: ws.head[slot*(A+1) + a] logits, [... + A] value; for a
  // q_values net ws.head[slot*A + a] = Q(s, a).
  // Recurrent archs: h_in, c_in [n, H] are the n sequences' states entering this step (null:
  // zero); the states leaving it are ws.lstm_h / ws.lstm_c at the same slots.
  void forward(const float* params, const void* obs, Index n, Workspace& ws, Index slot0,
               const float* h_in = nullptr, const float* c_in = nullptr) const;

  // grad [num_params] = d loss / d params for slots [0, n) given ws.dhead [n, A+1].
  // Every element is written (no need to zero grad first).
  // Recurrent archs: the slots are time steps of `step` sequences (slot t*step + e is step t
  // of sequence e; n a multiple of step), and carry[s] != 0 says that slot s's input state
  // was slot s-step's output state, so the gradient flows back through it (backprop through
  // time). Where carry[s] == 0 (carry null: everywhere) the input state was a constant: a
  // zeroed state after a terminal, or the state carried into the rollout (truncated BPTT).
  void backward(const float* params, Workspace& ws, Index n, float* grad, Index step = 0,
                const unsigned char* carry = nullptr) const;

  // TD loss of slots [0, n) of a q_values net (nn/q_loss.h) and grad = its gradient.
  LossTerms q_loss_and_backward(const float* params, Workspace& ws, Index n, const int* actions,
                                const float* targets, bool mean, float* grad, Index step = 0,
                                const unsigned char* carry = nullptr) const;

  // A3C loss of slots [0, n) and grad = its gradient (step and carry as for backward).
  LossTerms loss_and_backward(const float* params, Workspace& ws, Index n, const int* actions,
                              const float* returns, const LossCoefs& coefs, float* grad,
                              Index step = 0, const unsigned char* carry = nullptr) const;

  // The LSTM's part of backward (recurrent archs): from ws.lstm_dh (the heads' input
  // gradient) through time to the LSTM's weight gradients and ws.dhid of the last hidden
  // layer. Public for the layer microbenchmarks.
  void lstm_backward(const float* params, Workspace& ws, Index n, float* grad, Index step,
                     const unsigned char* carry) const;

 private:
  ArchSpec spec_;
};

}  // namespace a3c
