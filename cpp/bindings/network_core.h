// NetworkCore: a Network plus a small pool of Workspaces, so that Python-side calls (from any
// number of Python threads) neither allocate on every call nor share scratch memory.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/cpu.h"
#include "nn/network.h"

namespace a3c::bind {

class NetworkCore {
 public:
  NetworkCore(const std::string& arch, std::vector<Index> obs_shape, Index num_actions,
              std::vector<Index> hidden, bool q_values = false)
      : net_(make_arch(arch, std::move(obs_shape), num_actions, std::move(hidden), q_values)) {}

  const Network& net() const { return net_; }

  // logits [n, A], values [n] (a q_values net: Q [n, A] into logits, values unused); forward
  // in chunks of the workspace's capacity.
  // Recurrent archs: h_in, c_in [n, H] the input states (null: zero), h_out, c_out [n, H]
  // the states after this step.
  void forward(const float* params, const void* obs, Index n, float* logits, float* values,
               const float* h_in = nullptr, const float* c_in = nullptr, float* h_out = nullptr,
               float* c_out = nullptr) {
    ScopedFlushDenormals ftz;
    Lease ws(*this, kChunk);
    net_.prepare(params, *ws);
    const ArchSpec& a = net_.spec();
    const Index A = a.num_actions, H = a.state_size();
    const Index obs_bytes = a.obs_size() * (a.obs_u8 ? 1 : sizeof(float));
    for (Index start = 0; start < n; start += ws->capacity) {
      const Index m = std::min(ws->capacity, n - start);
      net_.forward(params, static_cast<const char*>(obs) + start * obs_bytes, m, *ws, 0,
                   h_in ? h_in + start * H : nullptr, c_in ? c_in + start * H : nullptr);
      const Index ld = a.heads.out;
      for (Index i = 0; i < m; ++i) {
        std::memcpy(logits + (start + i) * A, ws->head.data() + i * ld, A * sizeof(float));
        if (!a.q_values) values[start + i] = ws->head[i * ld + A];
      }
      if (h_out) std::memcpy(h_out + start * H, ws->lstm_h.data(), m * H * sizeof(float));
      if (c_out) std::memcpy(c_out + start * H, ws->lstm_c.data(), m * H * sizeof(float));
    }
  }

  // A recurrent arch's rollout of T steps of k sequences (slot t*k + e; obs, actions and
  // returns in that order): steps the LSTM from the state (h, c) [k, H] (in: the state
  // entering step 0; out: the state after the last step), zeroing a sequence's state where
  // resets[t*k + e], then the loss and its gradient through time.
  LossTerms loss_and_grad_recurrent(const float* params, const void* obs, Index T, Index k,
                                    const int* actions, const float* returns,
                                    const unsigned char* resets, float* h, float* c,
                                    const LossCoefs& coefs, float* grad) {
    ScopedFlushDenormals ftz;
    const ArchSpec& a = net_.spec();
    const Index n = T * k, H = a.state_size();
    const Index obs_bytes = a.obs_size() * (a.obs_u8 ? 1 : sizeof(float));
    Lease ws(*this, n);
    net_.prepare(params, *ws);
    std::vector<unsigned char> carry(n);
    for (Index t = 0; t < T; ++t) {
      for (Index e = 0; e < k; ++e) {
        const Index s = t * k + e;
        if (resets[s]) {
          std::fill_n(h + e * H, H, 0.0f);
          std::fill_n(c + e * H, H, 0.0f);
        }
        carry[s] = (t > 0 && !resets[s]) ? 1 : 0;
      }
      net_.forward(params, static_cast<const char*>(obs) + t * k * obs_bytes, k, *ws, t * k, h, c);
      std::memcpy(h, ws->lstm_h.data() + t * k * H, k * H * sizeof(float));
      std::memcpy(c, ws->lstm_c.data() + t * k * H, k * H * sizeof(float));
    }
    return net_.loss_and_backward(params, *ws, n, actions, returns, coefs, grad, k, carry.data());
  }

  LossTerms q_loss_and_grad(const float* params, const void* obs, Index n, const int* actions,
                            const float* targets, bool mean, float* grad) {
    ScopedFlushDenormals ftz;
    Lease ws(*this, n);
    net_.prepare(params, *ws);
    net_.forward(params, obs, n, *ws, 0);
    return net_.q_loss_and_backward(params, *ws, n, actions, targets, mean, grad);
  }

  LossTerms loss_and_grad(const float* params, const void* obs, Index n, const int* actions,
                          const float* returns, const LossCoefs& coefs, float* grad) {
    ScopedFlushDenormals ftz;
    Lease ws(*this, n);
    net_.prepare(params, *ws);
    net_.forward(params, obs, n, *ws, 0);
    return net_.loss_and_backward(params, *ws, n, actions, returns, coefs, grad);
  }

 private:
  static constexpr Index kChunk = 32;

  // Borrows a workspace of at least `capacity` slots for the duration of one call.
  class Lease {
   public:
    Lease(NetworkCore& owner, Index capacity) : owner_(owner) {
      {
        std::lock_guard<std::mutex> lock(owner_.mu_);
        for (auto it = owner_.free_.begin(); it != owner_.free_.end(); ++it)
          if ((*it)->capacity >= capacity) {
            ws_ = std::move(*it);
            owner_.free_.erase(it);
            break;
          }
      }
      if (!ws_) ws_ = std::make_unique<Workspace>(owner_.net_.spec(), std::max(capacity, kChunk));
    }
    ~Lease() {
      std::lock_guard<std::mutex> lock(owner_.mu_);
      owner_.free_.push_back(std::move(ws_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Workspace* operator->() { return ws_.get(); }
    Workspace& operator*() { return *ws_; }

   private:
    NetworkCore& owner_;
    std::unique_ptr<Workspace> ws_;
  };

  Network net_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace a3c::bind
