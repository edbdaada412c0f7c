// SyntheticEnv: an environment that costs (almost) nothing and never touches Python, so the
// pool can be timed with the network and the Hogwild update alone (the "network ceiling"
// of bench/throughput.py) and run under the sanitizers without an interpreter.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/rng.h"
#include "nn/arch.h"
#include "train/env.h"

namespace a3c {

class SyntheticEnv final : public Env {
 public:
  // Observations cycle through `frames` random frames of the arch's obs shape; every step
  // gives reward +1 or 0 by a fixed pattern; a game lasts `episode_length` steps.
  SyntheticEnv(const ArchSpec& spec, std::uint64_t seed, std::int64_t episode_length = 1000, int frames = 8)
      : bytes_(spec.obs_size() * (spec.obs_u8 ? 1 : sizeof(float))), episode_length_(episode_length) {
    Rng rng(seed, 77);
    bank_.resize(bytes_ * frames);
    if (spec.obs_u8) {
      for (auto& b : bank_) b = static_cast<unsigned char>(rng.next_u64() & 0xff);
    } else {
      for (std::size_t i = 0; i < bank_.size() / sizeof(float); ++i) {
        const float v = rng.uniform(-1.0f, 1.0f);
        std::memcpy(bank_.data() + i * sizeof(float), &v, sizeof(float));
      }
    }
    frames_ = frames;
  }

  void reset(void* obs) override {
    t_ = 0;
    score_ = 0;
    std::memcpy(obs, bank_.data(), bytes_);
  }

  StepResult step(int action, void* obs) override {
    ++t_;
    StepResult r;
    r.reward = ((t_ + action) % 7 == 0) ? 1.0f : 0.0f;
    score_ += r.reward;
    std::memcpy(obs, bank_.data() + (t_ % frames_) * bytes_, bytes_);
    if (t_ >= episode_length_) {
      r.terminal = r.episode_end = true;
      r.episode_score = score_;
      r.episode_length = t_;
      t_ = 0;
      score_ = 0;
    }
    return r;
  }

 private:
  std::size_t bytes_;
  std::int64_t episode_length_;
  std::vector<unsigned char> bank_;
  std::int64_t frames_ = 1;
  std::int64_t t_ = 0;
  double score_ = 0;
};

}  // namespace a3c
