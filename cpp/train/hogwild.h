// The shared parameters and RMSProp statistics, and the ONLY code that touches them without
// synchronization: snapshot() and apply_update(). See hogwild.cc for why that race is the
// algorithm and not a bug; tsan.supp names exactly these functions.
#pragma once

#include <mutex>

#include "common/aligned.h"
#include "optim/rmsprop.h"

namespace a3c {

class SharedParams {
 public:
  SharedParams(const float* params, const float* rms, Index n, bool locked);
  Index size() const { return n_; }
  bool locked() const { return locked_; }

  // theta_local <- theta (plain copy, no lock in Hogwild mode).
  void snapshot(float* theta_local);

  // Applies RMSProp with gradient gscale*d to the shared buffers, then (fused, to read theta
  // once) writes the updated theta into theta_local as the worker's next snapshot. Locked
  // mode holds one mutex around the whole update.
  void apply_update(const float* d, float gscale, const RmsPropParams& p, float* theta_local);

  // Copies of the shared buffers, either may be null. Both in one call for a checkpoint: in
  // locked mode they are then one state (under the update mutex); in Hogwild mode this is a
  // Hogwild read like snapshot(), updates may land during the copy.
  void read(float* params_out, float* rms_out);

 private:
  Index n_;
  bool locked_;
  std::mutex mu_;
  AlignedBuffer<float> theta_;
  AlignedBuffer<float> g_;
};

}  // namespace a3c
