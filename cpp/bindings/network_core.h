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
              std::vector<Index> hidden)
      : net_(make_arch(arch, std::move(obs_shape), num_actions, std::move(hidden))) {}

  const Network& net() const { return net_; }

  // logits [n, A], values [n]; forward in chunks of the workspace's capacity.
  void forward(const float* params, const void* obs, Index n, float* logits, float* values) {
    ScopedFlushDenormals ftz;
    Lease ws(*this, kChunk);
    net_.prepare(params, *ws);
    const ArchSpec& a = net_.spec();
    const Index A = a.num_actions;
    const Index obs_bytes = a.obs_size() * (a.obs_u8 ? 1 : sizeof(float));
    for (Index start = 0; start < n; start += ws->capacity) {
      const Index m = std::min(ws->capacity, n - start);
      net_.forward(params, static_cast<const char*>(obs) + start * obs_bytes, m, *ws, 0);
      for (Index i = 0; i < m; ++i) {
        std::memcpy(logits + (start + i) * A, ws->head.data() + i * (A + 1), A * sizeof(float));
        values[start + i] = ws->head[i * (A + 1) + A];
      }
    }
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
