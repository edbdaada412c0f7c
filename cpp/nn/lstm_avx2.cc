// The LSTM's elementwise step in AVX2: gate nonlinearities, cell and output. Compiled with
// -mavx2 -mfma and called only when the CPU has them (lstm.cc dispatches). At batch k the
// 5H sigmoids/tanhs per sample cost as much as the gate GEMMs when done one libm call at a
// time; here they are 8 at a time with a Cephes-style exp (relative error ~2e-7, the same
// polynomial as the widely used avx_mathfun).
#include <immintrin.h>

#include <cmath>

#include "nn/lstm.h"

namespace a3c {

namespace {

inline __m256 exp256(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
  x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
  // x = n ln2 + r, |r| <= ln2 / 2, with ln2 split in two for an exact n ln2.
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

inline __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

// tanh(x) = 2 sigmoid(2x) - 1: absolute error ~1e-7 (relative error grows near 0, where the
// LSTM only needs the absolute one).
inline __m256 tanh256(__m256 x) {
  const __m256 two = _mm256_set1_ps(2.0f);
  return _mm256_fmsub_ps(two, sigmoid256(_mm256_mul_ps(two, x)), _mm256_set1_ps(1.0f));
}

}  // namespace

void lstm_activate_avx2(Index n, Index H, float* gates, const float* b_ih, const float* b_hh, const float* c_in,
                        float* c, float* tc, float* h) {
  const Index G = 4 * H;
  for (Index r = 0; r < n; ++r) {
    float* gi = gates + r * G;
    float* gf = gi + H;
    float* gg = gi + 2 * H;
    float* go = gi + 3 * H;
    const float* cr_in = c_in ? c_in + r * H : nullptr;
    float* cr = c + r * H;
    float* tcr = tc + r * H;
    float* hr = h + r * H;
    Index j = 0;
    for (; j + 8 <= H; j += 8) {
      auto gate = [&](const float* pre, Index off) {
        return _mm256_add_ps(_mm256_loadu_ps(pre + j),
                             _mm256_add_ps(_mm256_loadu_ps(b_ih + off + j), _mm256_loadu_ps(b_hh + off + j)));
      };
      const __m256 i = sigmoid256(gate(gi, 0));
      const __m256 f = sigmoid256(gate(gf, H));
      const __m256 g = tanh256(gate(gg, 2 * H));
      const __m256 o = sigmoid256(gate(go, 3 * H));
      const __m256 cin = cr_in ? _mm256_loadu_ps(cr_in + j) : _mm256_setzero_ps();
      const __m256 cv = _mm256_fmadd_ps(f, cin, _mm256_mul_ps(i, g));
      const __m256 t = tanh256(cv);
      _mm256_storeu_ps(gi + j, i);
      _mm256_storeu_ps(gf + j, f);
      _mm256_storeu_ps(gg + j, g);
      _mm256_storeu_ps(go + j, o);
      _mm256_storeu_ps(cr + j, cv);
      _mm256_storeu_ps(tcr + j, t);
      _mm256_storeu_ps(hr + j, _mm256_mul_ps(o, t));
    }
    lstm_activate_row(j, H, gi, b_ih, b_hh, cr_in, cr, tcr, hr);  // the tail when H % 8 != 0
  }
}

}  // namespace a3c
