#include "nn/linear.h"

namespace a3c {

void linear_forward(float* y, const float* x, const float* weight, const float* bias, Index n,
                    const LinearSpec& l, bool relu) {
  gemm_nt(n, l.out, l.in, x, l.in, weight, l.in, y, l.out, false);
  for (Index r = 0; r < n; ++r) {
    float* yr = y + r * l.out;
    for (Index o = 0; o < l.out; ++o) {
      const float v = yr[o] + bias[o];
      yr[o] = (relu && v < 0.0f) ? 0.0f : v;
    }
  }
}

void linear_backward(float* dweight, float* dbias, float* dx, const float* dy, const float* x,
                     const float* weight, Index n, const LinearSpec& l) {
  for (Index o = 0; o < l.out; ++o) dbias[o] = 0.0f;
  for (Index r = 0; r < n; ++r)
    for (Index o = 0; o < l.out; ++o) dbias[o] += dy[r * l.out + o];
  // dW [out, in] = dy^T [out, N] x [N, in]: dy read through a transposed view.
  gemm_nn(l.out, l.in, n, dy, 1, l.out, x, l.in, dweight, l.in, false);
  if (dx) gemm_nn(n, l.in, l.out, dy, l.out, 1, weight, l.in, dx, l.in, false);
}

void relu_backward_inplace(float* dx, const float* y, Index count) {
  for (Index i = 0; i < count; ++i)
    if (!(y[i] > 0.0f)) dx[i] = 0.0f;
}

}  // namespace a3c
