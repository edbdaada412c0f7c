// The LSTM layer of the recurrent archs (a3c_lstm, nature_lstm, mlp_lstm), in PyTorch's
// nn.LSTMCell convention so state dicts move both ways:
//   gates [n, 4H] = x [n, in] W_ih^T + b_ih + h_in [n, H] W_hh^T + b_hh,  gate order i, f, g, o
//   i, f, o = sigmoid,  g = tanh,  c = f * c_in + i * g,  h = o * tanh(c)
// One call is one time step of n independent sequences (the k envs of an actor-learner).
// Backprop through time is the caller's loop over steps (network.cc): lstm_cell_backward
// turns the gradient reaching a step's (h, c) into its gate gradient and the gradient of its
// input cell state; the input hidden state's gradient is one GEMM with W_hh, and the weight
// gradients are two GEMMs over all steps at once (linear_backward), after the loop.
#pragma once

#include <cmath>

#include "nn/arch.h"

namespace a3c {

// gates [n, 4H]: the activated gates (i, f, g, o after their nonlinearities), kept for the
// backward; c, tc = tanh(c), h [n, H]. h_in / c_in null: a zero state.
void lstm_forward(const LstmSpec& l, const float* params, const float* x, const float* h_in,
                  const float* c_in, Index n, float* gates, float* c, float* tc, float* h);

// Elements [j0, H) of one row of lstm_activate, scalar (libm): the reference's whole row and
// the AVX2 kernel's tail. gi is the row's gates (f, g, o follow at H, 2H, 3H), c_in the row's
// input cell or null; c, tc, h the row's outputs.
inline void lstm_activate_row(Index j0, Index H, float* gi, const float* b_ih, const float* b_hh,
                              const float* c_in, float* c, float* tc, float* h) {
  float* gf = gi + H;
  float* gg = gi + 2 * H;
  float* go = gi + 3 * H;
  for (Index j = j0; j < H; ++j) {
    gi[j] = 1.0f / (1.0f + std::exp(-(gi[j] + b_ih[j] + b_hh[j])));
    gf[j] = 1.0f / (1.0f + std::exp(-(gf[j] + b_ih[H + j] + b_hh[H + j])));
    gg[j] = std::tanh(gg[j] + b_ih[2 * H + j] + b_hh[2 * H + j]);
    go[j] = 1.0f / (1.0f + std::exp(-(go[j] + b_ih[3 * H + j] + b_hh[3 * H + j])));
    c[j] = gf[j] * (c_in ? c_in[j] : 0.0f) + gi[j] * gg[j];
    tc[j] = std::tanh(c[j]);
    h[j] = go[j] * tc[j];
  }
}

// The elementwise part of lstm_forward: gates [n, 4H] holds the GEMMs' x W_ih^T + h W_hh^T
// and becomes the activated gates after adding b_ih + b_hh; then c, tc = tanh(c), h. c_in
// null: zero. Scalar reference (libm) and AVX2 (lstm_avx2.cc), chosen by the kernel set.
void lstm_activate_ref(Index n, Index H, float* gates, const float* b_ih, const float* b_hh, const float* c_in,
                       float* c, float* tc, float* h);
#if defined(A3C_X86)
void lstm_activate_avx2(Index n, Index H, float* gates, const float* b_ih, const float* b_hh, const float* c_in,
                        float* c, float* tc, float* h);
#endif

// dh, dc [n, H]: gradients w.r.t. the step's outputs h and c (dc from the next step only;
// h's own path through tanh(c) is added here). Writes dgates [n, 4H] (w.r.t. the gates'
// pre-activations) and dc_in [n, H] = the gradient w.r.t. c_in (may alias dc).
void lstm_cell_backward(Index n, Index H, const float* gates, const float* c_in, const float* tc,
                        const float* dh, const float* dc, float* dgates, float* dc_in);

// Buffers of lstm_backward: per slot, what lstm_forward kept and the gradients it works in.
struct LstmTape {
  const float* x;      // [n, in]   the layer's input
  const float* h_in;   // [n, H]    input states (zeros where a sequence started from zero)
  const float* c_in;   // [n, H]
  const float* gates;  // [n, 4H]   activated gates
  const float* tc;     // [n, H]    tanh(c)
  float* dh;           // [n, H]    in: d loss / d h from above (the heads); clobbered
  float* dc;           // [n, H]    scratch
  float* dgates;       // [n, 4H]   out: d loss / d gate pre-activations
  float* dh_in;        // [step, H] scratch (n if carry is null)
};

// Backprop through time over n slots: slot t*step + e is step t of sequence e, and carry[s]
// says slot s's input state was slot s-step's output (null: no links, every input state a
// constant). Writes the LSTM's weight and bias gradients at their offsets in grad (each
// overwritten: b_ih and b_hh both get the sum of dgates) and dx [n, in] (skipped if null).
void lstm_backward(const LstmSpec& l, const float* params, Index n, Index step, const unsigned char* carry,
                   const LstmTape& tape, float* grad, float* dx);

}  // namespace a3c
