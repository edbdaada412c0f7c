#include "nn/a3c_loss.h"

#include <cmath>

namespace a3c {

LossTerms a3c_loss_backward(float* dout, const float* out, Index ld, const int* actions,
                            const float* returns, Index T, Index A, const LossCoefs& coefs) {
  LossTerms terms;
  const double scale = coefs.mean && T > 0 ? 1.0 / static_cast<double>(T) : 1.0;
  for (Index t = 0; t < T; ++t) {
    const float* z = out + t * ld;
    float* dz = dout + t * ld;
    const double v = z[A];
    const double adv = returns[t] - v;
    double m = z[0];
    for (Index a = 1; a < A; ++a) m = z[a] > m ? z[a] : m;
    double sum = 0;
    for (Index a = 0; a < A; ++a) sum += std::exp(z[a] - m);
    const double lse = m + std::log(sum);
    // H = -sum pi log pi; dH/dz_j = -pi_j (log pi_j + H)
    double h = 0;
    for (Index a = 0; a < A; ++a) {
      const double logp = z[a] - lse;
      h -= std::exp(logp) * logp;
    }
    const int act = actions[t];
    for (Index a = 0; a < A; ++a) {
      const double logp = z[a] - lse;
      const double p = std::exp(logp);
      const double dpolicy = -adv * ((a == act ? 1.0 : 0.0) - p);
      const double dentropy = -p * (logp + h);
      dz[a] = static_cast<float>(scale * (dpolicy - coefs.entropy_beta * dentropy));
    }
    dz[A] = static_cast<float>(scale * coefs.value_coef * (v - returns[t]));
    terms.policy_loss += -(z[act] - lse) * adv;
    terms.value_loss += 0.5 * adv * adv;
    terms.entropy += h;
  }
  terms.policy_loss *= scale;
  terms.value_loss *= scale;
  terms.entropy *= scale;
  terms.total = terms.policy_loss + coefs.value_coef * terms.value_loss -
                coefs.entropy_beta * terms.entropy;
  return terms;
}

}  // namespace a3c
