// The A3C loss of one rollout and its gradient w.r.t. the network outputs (Mnih et al. 2016,
// Algorithm S3, with the entropy bonus of section 4):
//   total = sum_t [ -log pi(a_t|s_t) * adv_t + value_coef * 0.5 * (R_t - V(s_t))^2
//                   - beta * H(pi(.|s_t)) ]        adv_t = R_t - V(s_t), held constant
// reduction "mean" divides every term by T. Softmax and log-softmax subtract the row max.
#pragma once

#include "nn/gemm.h"

namespace a3c {

struct LossTerms {
  double policy_loss = 0, value_loss = 0, entropy = 0, total = 0;
};

// No defaults: training takes them from TrainOptions (A3CConfig), Network.loss_and_grad from
// its arguments.
struct LossCoefs {
  float entropy_beta;
  float value_coef;
  bool mean;  // false: summed over the rollout (the paper's accumulation)
};

// logits [T, A] with row stride ld (the heads output keeps the value in column A: ld = A+1),
// values V(s_t) read as values[t * ld]. Writes dlogits into dout[t*ld + a] and dvalue into
// dout[t*ld + A]: the gradient w.r.t. the heads' output, in the heads' own layout.
LossTerms a3c_loss_backward(float* dout, const float* out, Index ld, const int* actions,
                            const float* returns, Index T, Index A, const LossCoefs& coefs);

}  // namespace a3c
