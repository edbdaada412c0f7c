#include "nn/lstm.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/cpu.h"
#include "nn/linear.h"

namespace a3c {

void lstm_activate_ref(Index n, Index H, float* gates, const float* b_ih, const float* b_hh, const float* c_in,
                       float* c, float* tc, float* h) {
  for (Index r = 0; r < n; ++r)
    lstm_activate_row(0, H, gates + r * 4 * H, b_ih, b_hh, c_in ? c_in + r * H : nullptr, c + r * H, tc + r * H,
                      h + r * H);
}

void lstm_forward(const LstmSpec& l, const float* params, const float* x, const float* h_in,
                  const float* c_in, Index n, float* gates, float* c, float* tc, float* h) {
  const Index H = l.hidden, G = 4 * H;
  gemm_nt(n, G, l.in, x, l.in, params + l.w_ih_off, l.in, gates, G, false);
  if (h_in) gemm_nt(n, G, H, h_in, H, params + l.w_hh_off, H, gates, G, true);
  const float* b_ih = params + l.b_ih_off;
  const float* b_hh = params + l.b_hh_off;
#if defined(A3C_X86)
  if (active_isa() == Isa::kAvx2) return lstm_activate_avx2(n, H, gates, b_ih, b_hh, c_in, c, tc, h);
#endif
  lstm_activate_ref(n, H, gates, b_ih, b_hh, c_in, c, tc, h);
}

void lstm_cell_backward(Index n, Index H, const float* gates, const float* c_in, const float* tc,
                        const float* dh, const float* dc, float* dgates, float* dc_in) {
  const Index G = 4 * H;
  for (Index r = 0; r < n; ++r) {
    const float* gi = gates + r * G;
    const float* gf = gi + H;
    const float* gg = gi + 2 * H;
    const float* go = gi + 3 * H;
    float* di = dgates + r * G;
    float* df = di + H;
    float* dg = di + 2 * H;
    float* dO = di + 3 * H;
    const float* cr_in = c_in + r * H;
    const float* tcr = tc + r * H;
    const float* dhr = dh + r * H;
    const float* dcr = dc + r * H;
    float* dcr_in = dc_in + r * H;
    for (Index j = 0; j < H; ++j) {
      const float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tcr[j];
      const float dct = dcr[j] + dhr[j] * o * (1.0f - t * t);
      dO[j] = dhr[j] * t * o * (1.0f - o);
      di[j] = dct * g * i * (1.0f - i);
      df[j] = dct * cr_in[j] * f * (1.0f - f);
      dg[j] = dct * i * (1.0f - g * g);
      dcr_in[j] = dct * f;  // last: dc_in may alias dc
    }
  }
}

void lstm_backward(const LstmSpec& l, const float* params, Index n, Index step, const unsigned char* carry,
                   const LstmTape& tp, float* grad, float* dx) {
  const Index H = l.hidden, G = 4 * H;
  A3C_REQUIRE(!carry || (step >= 1 && n % step == 0), "recurrent backward: ", n,
              " slots are not whole time steps of ", step, " sequences");
  std::fill(tp.dc, tp.dc + n * H, 0.0f);
  // Time steps from the last: a step's (h, c) gradient is complete once every later step that
  // read them has been processed, and the carry links only go one step back.
  const Index width = carry ? step : n;
  for (Index start = n - width; start >= 0; start -= width) {
    float* dc = tp.dc + start * H;
    lstm_cell_backward(width, H, tp.gates + start * G, tp.c_in + start * H, tp.tc + start * H, tp.dh + start * H,
                       dc, tp.dgates + start * G, dc);
    if (!carry || start == 0) continue;
    bool any = false;
    for (Index s = start; s < start + width; ++s) any = any || carry[s];
    if (!any) continue;
    // dh_in = dgates W_hh, then into the previous step's output gradients where carried.
    gemm_nn(width, H, G, tp.dgates + start * G, G, 1, params + l.w_hh_off, H, tp.dh_in, H, false);
    for (Index s = start; s < start + width; ++s) {
      if (!carry[s]) continue;
      const float* src_h = tp.dh_in + (s - start) * H;
      const float* src_c = tp.dc + s * H;
      float* dst_h = tp.dh + (s - step) * H;
      float* dst_c = tp.dc + (s - step) * H;
      for (Index j = 0; j < H; ++j) {
        dst_h[j] += src_h[j];
        dst_c[j] += src_c[j];
      }
    }
  }
  // Weight gradients over every step at once; b_ih and b_hh get the same sum of dgates.
  const LinearSpec ih{l.in, G, l.w_ih_off, l.b_ih_off};
  const LinearSpec hh{H, G, l.w_hh_off, l.b_hh_off};
  linear_backward(grad + l.w_ih_off, grad + l.b_ih_off, dx, tp.dgates, tp.x, params + l.w_ih_off, n, ih);
  linear_backward(grad + l.w_hh_off, grad + l.b_hh_off, nullptr, tp.dgates, tp.h_in, params + l.w_hh_off, n, hh);
}

}  // namespace a3c
