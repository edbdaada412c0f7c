#include "nn/conv2d.h"

#include <cstring>

namespace a3c {

namespace {

// col rows from a float CHW image, copying runs of KW contiguous pixels. KW is a template
// parameter for the common 8x8 first layer so each run is two fixed-size vector moves.
template <int KW>
void im2col_nchw_runs(float* col, const float* img, const ConvSpec& c, Index kw) {
  const Index K = c.k();
  const Index run = KW > 0 ? KW : kw;
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < c.wout; ++ox) {
      float* dst = col + (oy * c.wout + ox) * K;
      for (Index ci = 0; ci < c.cin; ++ci)
        for (Index ky = 0; ky < c.kh; ++ky, dst += run)
          std::memcpy(dst, img + (ci * c.hin + oy * c.stride + ky) * c.win + ox * c.stride, run * sizeof(float));
    }
}

}  // namespace

void im2col_nchw_u8(float* col, float* img, const unsigned char* inp, const ConvSpec& c) {
  // Convert (and scale) each pixel once, not once per patch that contains it.
  const float scale = 1.0f / 255.0f;
  const Index n = c.cin * c.hin * c.win;
  for (Index i = 0; i < n; ++i) img[i] = static_cast<float>(inp[i]) * scale;
  if (c.kw == 8)
    im2col_nchw_runs<8>(col, img, c, 8);
  else
    im2col_nchw_runs<0>(col, img, c, c.kw);
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

std::vector<std::int32_t> conv_k_order(const ConvSpec& c) {
  std::vector<std::int32_t> order(c.k());
  const Index S = c.stride;
  for (Index ci = 0; ci < c.cin; ++ci)
    for (Index ky = 0; ky < c.kh; ++ky)
      for (Index kx = 0; kx < c.kw; ++kx) {
        Index k;
        if (c.s2d)
          k = ((ky / S) * c.s2d_kw() + kx / S) * c.s2d_c() + (ci * S + ky % S) * S + kx % S;
        else if (c.input_nchw_u8)
          k = (ci * c.kh + ky) * c.kw + kx;
        else
          k = (ky * c.kw + kx) * c.cin + ci;
        order[(ci * c.kh + ky) * c.kw + kx] = static_cast<std::int32_t>(k);
      }
  return order;
}

namespace {

template <int S>
void space_to_depth_rows(float* x, const unsigned char* inp, const ConvSpec& c, Index stride) {
  const float scale = 1.0f / 255.0f;
  const Index s = S > 0 ? S : stride, Ws = c.s2d_w(), Cs = c.s2d_c();
  for (Index ci = 0; ci < c.cin; ++ci)
    for (Index y = 0; y < c.hin; ++y) {
      const unsigned char* src = inp + (ci * c.hin + y) * c.win;
      float* dst = x + (y / s) * Ws * Cs + (ci * s + y % s) * s;
      for (Index X = 0; X < Ws; ++X)
        for (Index rx = 0; rx < s; ++rx) dst[X * Cs + rx] = static_cast<float>(src[X * s + rx]) * scale;
    }
}

}  // namespace

void space_to_depth_u8(float* x, const unsigned char* inp, const ConvSpec& c) {
  if (c.stride == 4)  // the Atari nets: a fixed-size inner run the compiler vectorizes
    space_to_depth_rows<4>(x, inp, c, 4);
  else
    space_to_depth_rows<0>(x, inp, c, c.stride);
  for (Index i = c.cin * c.hin * c.win; i < c.s2d_size(); ++i) x[i] = 0.0f;
}

void conv_pack_weights(float* wk, float* wt, const float* weight, const ConvSpec& c) {
  const Index K = c.k(), Co = c.cout;
  const std::int32_t* order = c.k_order.data();
  for (Index j = 0; j < K; ++j) {
    float* dst = wk + order[j] * Co;
    for (Index co = 0; co < Co; ++co) dst[co] = weight[co * K + j];
  }
  if (wt)
    for (Index co = 0; co < Co; ++co)
      for (Index j = 0; j < K; ++j) wt[co * K + order[j]] = weight[co * K + j];
}

void conv_unpack_grad(float* dweight, const float* dwk, const ConvSpec& c) {
  const Index K = c.k(), Co = c.cout;
  const std::int32_t* order = c.k_order.data();
  for (Index j = 0; j < K; ++j) {
    const float* src = dwk + order[j] * Co;
    for (Index co = 0; co < Co; ++co) dweight[co * K + j] = src[co];
  }
}

void conv2d_forward(float* out, const float* col, const float* wk, const float* bias,
                    const ConvSpec& c, Index rows) {
  const Index P = rows < 0 ? c.p() : rows, K = c.k(), Co = c.cout;
  gemm_nn(P, Co, K, col, K, 1, wk, Co, out, Co, false);
  for (Index p = 0; p < P; ++p) {
    float* o = out + p * Co;
    for (Index co = 0; co < Co; ++co) {
      const float v = o[co] + bias[co];
      o[co] = v > 0.0f ? v : 0.0f;
    }
  }
}

void conv2d_forward_s2d(float* out, float* tmp, const float* x, const float* wk, const float* bias,
                        const ConvSpec& c) {
  const Index Ws = c.s2d_w(), Cs = c.s2d_c(), Co = c.cout;
  const Index rows = c.s2d_rows(), Kd = c.s2d_kw() * Cs;
  for (Index dy = 0; dy < c.s2d_kh(); ++dy)
    gemm_nn(rows, Co, Kd, x + dy * Ws * Cs, Cs, 1, wk + dy * Kd * Co, Co, tmp, Co, dy > 0);
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < c.wout; ++ox) {
      const float* t = tmp + (oy * Ws + ox) * Co;
      float* o = out + (oy * c.wout + ox) * Co;
      for (Index co = 0; co < Co; ++co) {
        const float v = t[co] + bias[co];
        o[co] = v > 0.0f ? v : 0.0f;
      }
    }
}

void conv2d_backward_s2d(float* dwk, float* dbias, float* tmp, const float* dout, const float* x,
                         const ConvSpec& c) {
  const Index Ws = c.s2d_w(), Cs = c.s2d_c(), Co = c.cout;
  const Index rows = c.s2d_rows(), Kd = c.s2d_kw() * Cs;
  // dout on the GEMM's full-width rows: the dropped (wrapped) columns get zero gradient.
  for (Index oy = 0; oy < c.hout; ++oy)
    for (Index ox = 0; ox < Ws; ++ox) {
      float* t = tmp + (oy * Ws + ox) * Co;
      if (ox < c.wout) {
        const float* d = dout + (oy * c.wout + ox) * Co;
        for (Index co = 0; co < Co; ++co) {
          t[co] = d[co];
          dbias[co] += d[co];
        }
      } else {
        for (Index co = 0; co < Co; ++co) t[co] = 0.0f;
      }
    }
  for (Index dy = 0; dy < c.s2d_kh(); ++dy)
    gemm_nn(Kd, Co, rows, x + dy * Ws * Cs, 1, Cs, tmp, Co, dwk + dy * Kd * Co, Co, true);
}

void conv2d_backward(float* dwk, float* dbias, float* dcol, const float* dout,
                     const float* col, const float* wt, const ConvSpec& c, Index rows) {
  const Index P = rows < 0 ? c.p() : rows, K = c.k(), Co = c.cout;
  for (Index p = 0; p < P; ++p)
    for (Index co = 0; co < Co; ++co) dbias[co] += dout[p * Co + co];
  // dW^T[K, Cout] += col^T [K, P] * dout [P, Cout]: col read through a transposed view.
  gemm_nn(K, Co, P, col, 1, K, dout, Co, dwk, Co, true);
  if (dcol) gemm_nn(P, K, Co, dout, Co, 1, wt, K, dcol, K, false);
}

}  // namespace a3c
