// Hogwild (Recht et al. 2011), as A3C uses it (Mnih et al. 2016, section 4): every
// actor-learner reads and writes the shared parameters theta and the shared RMSProp
// statistics g with no lock and no atomic read-modify-write. Concurrent updates may
// interleave element by element, so a snapshot can mix elements from before and after
// another worker's update, and two simultaneous updates of one element can lose one of
// them. The algorithm tolerates this by design: updates are small, and their rare loss or
// mixing behaves like extra gradient noise; the paper reports it is what makes A3C scale.
//
// Formally these are data races on plain floats. They are confined to the functions below
// (SharedParams' snapshot, apply_update, read and shift; SharedTarget's maybe_refresh, copy_to and
// read), which touch only the shared buffers. Under
// ThreadSanitizer each of them runs inside a HogwildRace scope, which tells TSan to ignore
// this thread's reads and writes for its duration (reporting and then suppressing ~10^6
// races per update would take minutes); cpp/tsan.supp names the same functions as a
// backstop. Everything else in the pool is checked, and race-free.
// update="locked" takes a mutex instead, to measure what Hogwild buys.
#include "train/hogwild.h"

#include <cstring>

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace a3c {

namespace {

// The documented Hogwild race, made explicit for ThreadSanitizer (a no-op otherwise).
struct HogwildRace {
#if defined(__SANITIZE_THREAD__)
  HogwildRace() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~HogwildRace() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
#endif
};

}  // namespace

SharedParams::SharedParams(const float* params, const float* rms, Index n, bool locked)
    : n_(n), locked_(locked), theta_(n), g_(n) {
  std::memcpy(theta_.data(), params, n * sizeof(float));
  if (rms) std::memcpy(g_.data(), rms, n * sizeof(float));
}

void SharedParams::snapshot(float* theta_local) {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (locked_) lock.lock();
  [[maybe_unused]] HogwildRace race;
  std::memcpy(theta_local, theta_.data(), n_ * sizeof(float));
}

void SharedParams::apply_update(const float* d, float gscale, const RmsPropParams& p,
                                float* theta_local) {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (locked_) lock.lock();
  [[maybe_unused]] HogwildRace race;
  float* __restrict th = theta_.data();
  float* __restrict g = g_.data();
  const float* __restrict dd = d;
  float* __restrict local = theta_local;
  const float a = p.alpha, one_minus_a = 1.0f - p.alpha, lr = p.lr, eps = p.eps;
  if (p.eps_inside) {
    for (Index i = 0; i < n_; ++i) {
      const float di = dd[i] * gscale;
      const float gi = a * g[i] + one_minus_a * di * di;
      g[i] = gi;
      const float t = th[i] - lr * di / std::sqrt(gi + eps);
      th[i] = t;
      local[i] = t;
    }
  } else {
    for (Index i = 0; i < n_; ++i) {
      const float di = dd[i] * gscale;
      const float gi = a * g[i] + one_minus_a * di * di;
      g[i] = gi;
      const float t = th[i] - lr * di / (std::sqrt(gi) + eps);
      th[i] = t;
      local[i] = t;
    }
  }
}

void SharedParams::read(float* params_out, float* rms_out) {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (locked_) lock.lock();
  [[maybe_unused]] HogwildRace race;
  if (params_out) std::memcpy(params_out, theta_.data(), n_ * sizeof(float));
  if (rms_out) std::memcpy(rms_out, g_.data(), n_ * sizeof(float));
}

void SharedParams::shift(const float* before, const float* after) {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (locked_) lock.lock();
  [[maybe_unused]] HogwildRace race;
  float* __restrict th = theta_.data();
  for (Index i = 0; i < n_; ++i) th[i] += after[i] - before[i];
}

SharedTarget::SharedTarget(const float* params, Index n, std::int64_t interval, std::int64_t start_step,
                           bool locked)
    : n_(n), interval_(interval), locked_(locked), next_((start_step / interval + 1) * interval), theta_(n) {
  std::memcpy(theta_.data(), params, n * sizeof(float));
}

bool SharedTarget::maybe_refresh(std::int64_t global_step, SharedParams& online) {
  std::int64_t next = next_.load(std::memory_order_relaxed);
  if (global_step < next) return false;
  // Claim this boundary (and every one the step count has passed): one winner per boundary.
  const std::int64_t after = (global_step / interval_ + 1) * interval_;
  if (!next_.compare_exchange_strong(next, after, std::memory_order_relaxed)) return false;
  {
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    if (locked_) lock.lock();
    online.snapshot(theta_.data());  // a Hogwild read of theta (under its own lock if locked)
  }
  refreshes_.fetch_add(1, std::memory_order_relaxed);
  // Release: a worker that sees the new version (acquire) sees the whole copy above, unless a
  // later refresh is writing it again (the documented race).
  version_.fetch_add(1, std::memory_order_release);
  return true;
}

bool SharedTarget::copy_if_newer(float* local, std::int64_t& version) {
  const std::int64_t v = version_.load(std::memory_order_acquire);
  if (v == version) return false;
  copy_to(local);
  version = v;
  return true;
}

void SharedTarget::copy_to(float* out) {
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  if (locked_) lock.lock();
  [[maybe_unused]] HogwildRace race;
  std::memcpy(out, theta_.data(), n_ * sizeof(float));
}

void SharedTarget::read(float* out) { copy_to(out); }

}  // namespace a3c
