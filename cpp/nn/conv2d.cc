#include "nn/conv2d.h"

#include <cstring>

namespace a3c {

void im2col_nchw_u8(float* col, const unsigned char* inp, const ConvSpec& c) {
  const float scale = 1.0f / 255.0f;
  const Index K = c.k();
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < c.wout; ++ox) {
      float* row = col + (oy * c.wout + ox) * K;
      for (Index ci = 0; ci < c.cin; ++ci)
        for (Index ky = 0; ky < c.kh; ++ky) {
          const unsigned char* src = inp + (ci * c.hin + oy * c.stride + ky) * c.win + ox * c.stride;
          float* dst = row + (ci * c.kh + ky) * c.kw;
          for (Index kx = 0; kx < c.kw; ++kx) dst[kx] = static_cast<float>(src[kx]) * scale;
        }
    }
}

void im2col_nhwc(float* col, const float* inp, const ConvSpec& c) {
  const Index K = c.k();
  const Index run = c.kw * c.cin;
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < c.wout; ++ox) {
      float* row = col + (oy * c.wout + ox) * K;
      for (Index ky = 0; ky < c.kh; ++ky)
        std::memcpy(row + ky * run, inp + ((oy * c.stride + ky) * c.win + ox * c.stride) * c.cin,
                    run * sizeof(float));
    }
}

void col2im_nhwc_add(float* dinp, const float* dcol, const ConvSpec& c) {
  const Index K = c.k();
  const Index run = c.kw * c.cin;
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < c.wout; ++ox) {
      const float* row = dcol + (oy * c.wout + ox) * K;
      for (Index ky = 0; ky < c.kh; ++ky) {
        float* dst = dinp + ((oy * c.stride + ky) * c.win + ox * c.stride) * c.cin;
        const float* src = row + ky * run;
        for (Index i = 0; i < run; ++i) dst[i] += src[i];
      }
    }
}

// Position of OIHW element (ci, ky, kx) in the K order of this layer's unrolled input.
static inline Index k_index(const ConvSpec& c, Index ci, Index ky, Index kx) {
  return c.input_nchw_u8 ? (ci * c.kh + ky) * c.kw + kx : (ky * c.kw + kx) * c.cin + ci;
}

void conv_pack_weights(float* wk, float* wt, const float* weight, const ConvSpec& c) {
  const Index K = c.k();
  for (Index co = 0; co < c.cout; ++co)
    for (Index ci = 0; ci < c.cin; ++ci)
      for (Index ky = 0; ky < c.kh; ++ky)
        for (Index kx = 0; kx < c.kw; ++kx) {
          const float v = weight[((co * c.cin + ci) * c.kh + ky) * c.kw + kx];
          const Index k = k_index(c, ci, ky, kx);
          wk[k * c.cout + co] = v;
          if (wt) wt[co * K + k] = v;
        }
}

void conv_unpack_grad_add(float* dweight, const float* dwk, const ConvSpec& c) {
  for (Index co = 0; co < c.cout; ++co)
    for (Index ci = 0; ci < c.cin; ++ci)
      for (Index ky = 0; ky < c.kh; ++ky)
        for (Index kx = 0; kx < c.kw; ++kx)
          dweight[((co * c.cin + ci) * c.kh + ky) * c.kw + kx] +=
              dwk[k_index(c, ci, ky, kx) * c.cout + co];
}

void conv2d_forward(float* out, const float* col, const float* wk, const float* bias,
                    const ConvSpec& c) {
  const Index P = c.p(), K = c.k(), Co = c.cout;
  gemm_nn(P, Co, K, col, K, 1, wk, Co, out, Co, false);
  for (Index p = 0; p < P; ++p) {
    float* o = out + p * Co;
    for (Index co = 0; co < Co; ++co) {
      const float v = o[co] + bias[co];
      o[co] = v > 0.0f ? v : 0.0f;
    }
  }
}

void conv2d_backward(float* dwk, float* dbias, float* dcol, const float* dout,
                     const float* col, const float* wt, const ConvSpec& c) {
  const Index P = c.p(), K = c.k(), Co = c.cout;
  for (Index p = 0; p < P; ++p)
    for (Index co = 0; co < Co; ++co) dbias[co] += dout[p * Co + co];
  // dW^T[K, Cout] += col^T [K, P] * dout [P, Cout]: col read through a transposed view.
  gemm_nn(K, Co, P, col, 1, K, dout, Co, dwk, Co, true);
  if (dcol) gemm_nn(P, K, Co, dout, Co, 1, wt, K, dcol, K, false);
}

}  // namespace a3c
