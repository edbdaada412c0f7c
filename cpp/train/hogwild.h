// The shared parameters and RMSProp statistics (and the value-based methods' shared target
// network), and the ONLY code that touches them without synchronization: SharedParams'
// snapshot(), apply_update(), read() and shift(), SharedTarget's refresh and copy_to(). See hogwild.cc
// for why that race is the algorithm and not a bug; tsan.supp names exactly these functions.
#pragma once

#include <atomic>
#include <cstdint>
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

  // theta <- theta + (after - before), while the workers run: the cluster mode folds in the
  // other nodes' progress this way (before = what this node sent to the parameter server,
  // after = the global parameters it got back), keeping the updates its workers made since.
  // A Hogwild write like apply_update: a worker's update landing on the same element in the
  // same instant may be lost. (Not a plain copy of `after`, which would drop those updates.)
  void shift(const float* before, const float* after);

 private:
  Index n_;
  bool locked_;
  std::mutex mu_;
  AlignedBuffer<float> theta_;
  AlignedBuffer<float> g_;
};

// The target network theta^- of the value-based methods (Mnih et al. 2016, Algorithm 1): a
// second shared buffer, refreshed from theta every `interval` global agent steps by whichever
// worker first sees the step count cross the next boundary (it claims the boundary with one
// compare-and-swap, so exactly one worker copies per boundary; no lock). Workers copy theta^-
// into their own memory when its version changes. The copy into theta^- is a Hogwild read of
// theta, and a worker copying theta^- out while it is being refreshed may get a mix of the old
// and new target: the same documented race as SharedParams::snapshot, and as rare (once per
// `interval` steps). The learning update never writes theta^- (only refresh() does).
class SharedTarget {
 public:
  // theta^- starts as `params`; the first refresh is at the first multiple of `interval`
  // above start_step (a resumed run keeps the schedule of the run it continues).
  SharedTarget(const float* params, Index n, std::int64_t interval, std::int64_t start_step, bool locked);
  Index size() const { return n_; }

  // If global_step has reached the next boundary and this caller claims it: theta^- <- theta
  // (read from `online`), the version advances, and true is returned.
  bool maybe_refresh(std::int64_t global_step, SharedParams& online);
  // Copies theta^- into `local` if its version differs from `version` (then updated); true if
  // it copied.
  bool copy_if_newer(float* local, std::int64_t& version);
  // A copy of theta^- (checkpoints).
  void read(float* out);
  std::int64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }

 private:
  void copy_to(float* out);
  Index n_;
  std::int64_t interval_;
  bool locked_;
  std::mutex mu_;
  std::atomic<std::int64_t> next_;      // the next boundary (global agent steps)
  std::atomic<std::int64_t> version_{0};
  std::atomic<std::int64_t> refreshes_{0};
  AlignedBuffer<float> theta_;
};

}  // namespace a3c
