// SyntheticEnv: k environments that cost (almost) nothing and never touch Python, so the
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
  // gives reward +1 or 0 by a fixed pattern of the action; env e's games last
  // `episode_length + e` steps, so the k envs end their games at different steps.
  SyntheticEnv(const ArchSpec& spec, std::uint64_t seed, std::int64_t episode_length = 1000,
               int num_envs = 1, int frames = 8)
      : bytes_(spec.obs_size() * (spec.obs_u8 ? 1 : sizeof(float))),
        episode_length_(episode_length),
        k_(num_envs),
        t_(num_envs, 0),
        score_(num_envs, 0.0) {
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

  int num_envs() const override { return k_; }

  void reset(void* obs) override {
    for (int e = 0; e < k_; ++e) {
      t_[e] = 0;
      score_[e] = 0;
      std::memcpy(static_cast<unsigned char*>(obs) + e * bytes_, bank_.data() + (e % frames_) * bytes_, bytes_);
    }
  }

  void step(const int* actions, void* obs, StepResult* results) override {
    for (int e = 0; e < k_; ++e) {
      const std::int64_t t = ++t_[e];
      StepResult& r = results[e];
      r = StepResult{};
      r.reward = ((t + actions[e] + e) % 7 == 0) ? 1.0f : 0.0f;
      score_[e] += r.reward;
      std::memcpy(static_cast<unsigned char*>(obs) + e * bytes_, bank_.data() + ((t + e) % frames_) * bytes_,
                  bytes_);
      if (t >= episode_length_ + e) {
        r.terminal = r.episode_end = true;
        r.episode_score = score_[e];
        r.episode_length = t;
        t_[e] = 0;
        score_[e] = 0;
      }
    }
  }

 private:
  std::size_t bytes_;
  std::int64_t episode_length_;
  int k_;
  std::vector<unsigned char> bank_;
  std::int64_t frames_ = 1;
  std::vector<std::int64_t> t_;
  std::vector<double> score_;
};

}  // namespace a3c
