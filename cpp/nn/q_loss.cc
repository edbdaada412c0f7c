#include "nn/q_loss.h"

namespace a3c {

LossTerms q_loss_backward(float* dout, const float* q, Index ld, const int* actions, const float* targets,
                          Index T, Index A, bool mean) {
  LossTerms terms;
  const double scale = mean && T > 0 ? 1.0 / static_cast<double>(T) : 1.0;
  for (Index t = 0; t < T; ++t) {
    float* dq = dout + t * ld;
    for (Index a = 0; a < A; ++a) dq[a] = 0.0f;
    const int act = actions[t];
    const double err = static_cast<double>(q[t * ld + act]) - targets[t];
    dq[act] = static_cast<float>(scale * err);
    terms.value_loss += 0.5 * err * err;
  }
  terms.value_loss *= scale;
  terms.total = terms.value_loss;
  return terms;
}

}  // namespace a3c
