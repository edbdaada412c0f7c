// Convolution (no padding) as im2col + GEMM in channels-last (NHWC) layout, one image at a
// time. Channels-last makes each (output pixel, kernel row) of the unrolled input one
// contiguous run of KW*Cin floats, so im2col and col2im are memcpy-like. The first layer
// reads the uint8 NCHW observation directly and folds in the /255.
// Weights stay OIHW in the parameter buffer (PyTorch order); conv_pack_weights lays them out
// for the GEMMs once per parameter snapshot.
#pragma once

#include "nn/arch.h"

namespace a3c {

// Row order of the unrolled input's columns (the "K" index): (c,ky,kx) for the NCHW first
// layer, (ky,kx,c) for NHWC layers. Packed weights follow the same order.

// col [P, K]  <-  inp uint8 [Cin, H, W] / 255
void im2col_nchw_u8(float* col, const unsigned char* inp, const ConvSpec& c);
// col [P, K]  <-  inp [H, W, Cin]
void im2col_nhwc(float* col, const float* inp, const ConvSpec& c);
// dinp [H, W, Cin]  +=  scatter of dcol [P, K]
void col2im_nhwc_add(float* dinp, const float* dcol, const ConvSpec& c);

// wk [K, Cout]: weight as the GEMM's B operand (forward, and layout of dW accumulation).
// wt [Cout, K]: weight rows in K order (the B operand of the input-gradient GEMM).
void conv_pack_weights(float* wk, float* wt, const float* weight /* [Cout,Cin,KH,KW] */,
                       const ConvSpec& c);
// dweight [Cout,Cin,KH,KW] += unpack(dwk [K, Cout])
void conv_unpack_grad_add(float* dweight, const float* dwk, const ConvSpec& c);

// out [P, Cout] (NHWC) = relu(col [P,K] * wk [K,Cout] + bias)
void conv2d_forward(float* out, const float* col, const float* wk, const float* bias,
                    const ConvSpec& c);

// dout [P, Cout]: gradient w.r.t. the pre-activation (ReLU mask already applied).
// dwk [K, Cout] += col^T dout ; dbias [Cout] += sum_p dout ;
// dcol [P, K] = dout * wt   (skipped when dcol is null: the first layer's input is data)
void conv2d_backward(float* dwk, float* dbias, float* dcol, const float* dout,
                     const float* col, const float* wt, const ConvSpec& c);

}  // namespace a3c
