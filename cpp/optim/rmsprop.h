// Shared RMSProp (Mnih et al. 2016, section 4 and S2): one statistics buffer g shared by all
// actor-learners, updated elementwise from each worker's gradient d:
//     g     <- alpha * g + (1 - alpha) * d^2
//     theta <- theta - lr * d / sqrt(g + eps)     (eps_inside, TensorFlow's placement)
//     theta <- theta - lr * d / (sqrt(g) + eps)   (!eps_inside, Torch7's placement)
// The paper leaves the placement open; with eps = 0.1 it changes the step size by up to
// an order of magnitude for small g (sqrt(0.1) = 0.32 vs 0.1), so it is an explicit option.
// The loops that apply this to the shared buffers live in train/hogwild.cc.
#pragma once

#include <cmath>

#include "nn/gemm.h"

namespace a3c {

// No defaults: the run's values come from TrainOptions (train/pool.h), i.e. from A3CConfig.
struct RmsPropParams {
  float lr;
  float alpha;
  float eps;
  bool eps_inside;
};

// Sum of squares in double; NaN/Inf propagate, so a non-finite result flags a bad gradient.
double sum_squares(const float* d, Index n);

// The scale that clips ||d|| to max_norm (1 if already within, or if max_norm <= 0).
inline float clip_scale(double sumsq, float max_norm) {
  const double norm = std::sqrt(sumsq);
  return (max_norm > 0 && norm > max_norm) ? static_cast<float>(max_norm / norm) : 1.0f;
}

}  // namespace a3c
