// The loss of the value-based methods (Mnih et al. 2016, Algorithms 1 and S2: one-step
// Q-learning, one-step Sarsa, n-step Q-learning): the squared TD error of the action taken,
//   total = sum_t 0.5 (y_t - Q(s_t, a_t))^2          (reduction "mean": / T)
// where the targets y_t (bootstrapped from the target network) are constants. Only the
// taken action's output gets a gradient.
#pragma once

#include "nn/a3c_loss.h"

namespace a3c {

// q [T, A] with row stride ld. Writes dout[t*ld + a] = d total / d Q(s_t, a): Q(s_t, a_t) - y_t
// (scaled) at a_t, 0 at the other actions. Returns the terms with value_loss = total = the TD
// loss (policy_loss and entropy are 0: the Q nets have no policy head).
LossTerms q_loss_backward(float* dout, const float* q, Index ld, const int* actions, const float* targets,
                          Index T, Index A, bool mean);

}  // namespace a3c
