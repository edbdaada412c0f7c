// Small, fast, reproducible PRNG for initialization and per-worker action sampling.
// xoshiro256** (Blackman & Vigna) seeded through splitmix64, so that (seed, stream)
// pairs give independent sequences on every platform, unlike std::mt19937 + distributions
// whose outputs differ between standard libraries.
#pragma once

#include <cmath>
#include <cstdint>

namespace a3c {

inline std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // stream separates workers (or layers) that share one base seed.
  explicit Rng(std::uint64_t seed = 0, std::uint64_t stream = 0) {
    std::uint64_t x = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
    for (auto& w : s_) w = splitmix64(x);
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 24 random bits: exact in float32.
  float uniform() { return static_cast<float>(next_u64() >> 40) * 0x1.0p-24f; }
  double uniform_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

  // Standard normal by Box-Muller (one value per call; simplicity over speed, init only).
  double normal() {
    double u1 = uniform_double();
    double u2 = uniform_double();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace a3c
