// The environment interface a worker steps: k environments stepped together (k = 1 is the
// paper's one game per actor-learner). The Python implementation (calling a Python vector env
// with the GIL held only for the call) lives in bindings/py_env.h, so the pool itself has no
// Python in it and can be tested and sanitized with a C++ env.
#pragma once

#include <cstdint>

namespace a3c {

// What one env's agent step gave.
struct StepResult {
  float reward = 0;           // raw (unclipped) reward of the agent step
  bool terminal = false;      // no bootstrapping across this step (game over, life lost, time limit)
  bool episode_end = false;   // a whole game ended: score/length are set
  double episode_score = 0;   // unclipped game score
  std::int64_t episode_length = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // k: the number of environments stepped together.
  virtual int num_envs() const = 0;
  // Writes the k first observations (the network's obs layout and dtype, [k, obs]) into obs.
  virtual void reset(void* obs) = 0;
  // Acts with actions[k]; writes the k next observations (after an auto-reset where a game
  // ended) into obs [k, obs] and the k outcomes into results[k].
  virtual void step(const int* actions, void* obs, StepResult* results) = 0;
  // Time spent waiting for the GIL, inside the Python call (wall), and CPU time of the
  // calling thread inside the call, in ns (0 for envs without Python). The last bounds the
  // GIL-held time from above: an env that releases the GIL while it waits (ale-py) sleeps.
  virtual std::int64_t gil_wait_ns() const { return 0; }
  virtual std::int64_t call_ns() const { return 0; }
  virtual std::int64_t call_cpu_ns() const { return 0; }
};

}  // namespace a3c
