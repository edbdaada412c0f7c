// Convolution (no padding) as im2col + GEMM in channels-last (NHWC) layout, one image at a
// time. Channels-last makes each (output pixel, kernel row) of the unrolled input one
// contiguous run of KW*Cin floats, so im2col and col2im are memcpy-like. The first layer
// reads the uint8 NCHW observation directly and folds in the /255.
// Weights stay OIHW in the parameter buffer (PyTorch order); conv_pack_weights lays them out
// for the GEMMs once per parameter snapshot.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/arch.h"

namespace a3c {

// Row order of the unrolled input's columns (the "K" index): (c,ky,kx) for the NCHW first
// layer, (ky,kx,c) for NHWC layers. Packed weights follow the same order.
//
// The first layer (8x8 stride 4 on 84x84) avoids im2col when the kernel and the image tile by
// the stride (ConvSpec::s2d): the uint8 image becomes, once, a float space-to-depth image
// X[H/S, W/S, Cin*S*S] (NHWC), on which the layer is a stride-1 conv with a (KH/S)x(KW/S)
// kernel. For each kernel row dy, the unrolled input of a whole output row band is then a
// plain strided view of X (row i = oy*W/S + ox reads KW/S*Cin*S*S contiguous floats), so the
// layer is KH/S GEMMs straight on X; the KW/S-1 wrapped columns per row are computed and
// dropped. The packed weights of such a layer are [KH/S][KW/S * Cin*S*S][Cout].

// col [P, K]  <-  inp uint8 [Cin, H, W] / 255, via img [Cin, H, W] (scratch, overwritten)
void im2col_nchw_u8(float* col, float* img, const unsigned char* inp, const ConvSpec& c);
// col [P, K]  <-  inp [H, W, Cin]
void im2col_nhwc(float* col, const float* inp, const ConvSpec& c);
// dinp [H, W, Cin]  +=  scatter of dcol [P, K]
void col2im_nhwc_add(float* dinp, const float* dcol, const ConvSpec& c);

// k_order[j]: the K index of the j-th element of an OIHW filter (j = (ci*KH + ky)*KW + kx)
// in this layer's unrolled-input order; computed once per layer (ConvSpec::k_order).
std::vector<std::int32_t> conv_k_order(const ConvSpec& c);

// x [s2d_size()] <- space-to-depth of inp uint8 [Cin, H, W] / 255 (layers with s2d).
void space_to_depth_u8(float* x, const unsigned char* inp, const ConvSpec& c);

// wk [K, Cout]: weight as the GEMM's B operand (forward, and layout of dW accumulation).
// wt [Cout, K]: weight rows in K order (the B operand of the input-gradient GEMM).
void conv_pack_weights(float* wk, float* wt, const float* weight /* [Cout,Cin,KH,KW] */,
                       const ConvSpec& c);
// dweight [Cout,Cin,KH,KW] = unpack(dwk [K, Cout])
void conv_unpack_grad(float* dweight, const float* dwk, const ConvSpec& c);

// out [rows, Cout] (NHWC) = relu(col [rows,K] * wk [K,Cout] + bias); rows = P for one image,
// m*P for m images unrolled one after the other (one GEMM for all of them: see Network).
void conv2d_forward(float* out, const float* col, const float* wk, const float* bias,
                    const ConvSpec& c, Index rows = -1);
// The same on the space-to-depth image x; tmp [s2d_rows(), Cout] scratch.
void conv2d_forward_s2d(float* out, float* tmp, const float* x, const float* wk, const float* bias,
                        const ConvSpec& c);

// dout [rows, Cout]: gradient w.r.t. the pre-activation (ReLU mask already applied).
// dwk [K, Cout] += col^T dout ; dbias [Cout] += sum over rows of dout ;
// dcol [rows, K] = dout * wt   (skipped when dcol is null: the first layer's input is data)
// rows as for conv2d_forward (default P: one image).
void conv2d_backward(float* dwk, float* dbias, float* dcol, const float* dout,
                     const float* col, const float* wt, const ConvSpec& c, Index rows = -1);
// dwk += and dbias += for a space-to-depth layer (no input gradient); tmp as above.
void conv2d_backward_s2d(float* dwk, float* dbias, float* tmp, const float* dout, const float* x,
                         const ConvSpec& c);

}  // namespace a3c
