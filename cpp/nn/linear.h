// Fully connected layers on a batch of rows: y[N, out] = x[N, in] W^T + b (W is [out, in],
// PyTorch order). At N=1 (acting) the forward is a matrix-vector product bound by memory
// bandwidth; the backward works on a whole rollout so each weight is read once per update.
#pragma once

#include "nn/arch.h"

namespace a3c {

// y [N, out] = x [N, in] W^T + bias, then ReLU if relu.
void linear_forward(float* y, const float* x, const float* weight, const float* bias, Index n,
                    const LinearSpec& l, bool relu);

// dy [N, out]: gradient w.r.t. the pre-activation.
// dweight [out, in] = dy^T x ; dbias [out] = sum_n dy ; dx [N, in] = dy W (skipped if null).
// Overwrites (each weight gets its gradient from one place only): not reading the old
// gradient saves a pass over the largest tensor of the network.
void linear_backward(float* dweight, float* dbias, float* dx, const float* dy, const float* x,
                     const float* weight, Index n, const LinearSpec& l);

// dx *= (y > 0): the ReLU backward, in place, given the ReLU's output y.
void relu_backward_inplace(float* dx, const float* y, Index count);

}  // namespace a3c
