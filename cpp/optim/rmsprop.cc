#include "optim/rmsprop.h"

namespace a3c {

double sum_squares(const float* d, Index n) {
  // Four partial sums: independent dependency chains, and vectorizable.
  double s[4] = {0, 0, 0, 0};
  Index i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += static_cast<double>(d[i + j]) * d[i + j];
  for (; i < n; ++i) s[0] += static_cast<double>(d[i]) * d[i];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace a3c
