// ParamLayout: the ordered table of named tensors inside ONE flat float32 buffer.
// Parameters, gradients and RMSProp statistics all share a network's layout, so a
// gradient or optimizer entry sits at the same offset as its parameter.
//
// Dimension letters used across cpp/nn/:
//   N batch (or rollout steps T), Cin/Cout channels, H/W height/width, KH/KW kernel,
//   S stride, P = OH*OW output pixels, K = reduced dimension of a GEMM, A actions.
// Tensor conventions follow PyTorch so weights move both ways: conv weights OIHW
// [Cout, Cin, KH, KW], linear weights [out, in], flatten of a conv output in C,H,W order.
#pragma once

#include <string>
#include <vector>

#include "nn/gemm.h"

namespace a3c {

// The largest parameter count of a network, and the largest number of floats one
// observation's activations and scratch may take (Workspace): 2^31 - 1 elements, 8 GiB of
// float32 per buffer. Any Atari net is far below (the nature net has 1.7M parameters); a
// size past it is a typo, and sizes are only ever multiplied once bounded by it, so no
// product of two of them can overflow 64 bits.
constexpr Index kMaxElements = 2147483647;

// *out = a * b for sizes a, b >= 0, or false (out untouched) when the product would exceed
// kMaxElements. Each operand is bounded before the multiply: (2^31 - 1)^2 < 2^63.
inline bool size_mul(Index a, Index b, Index* out) {
  if (a > kMaxElements || b > kMaxElements) return false;
  const Index p = a * b;
  if (p > kMaxElements) return false;
  *out = p;
  return true;
}

struct TensorSpec {
  std::string name;          // PyTorch state-dict key, e.g. "conv1.weight"
  std::vector<Index> shape;  // e.g. {16, 4, 8, 8}
  Index offset = 0;          // first element in the flat buffer
  Index size = 0;            // product of shape
};

class ParamLayout {
 public:
  // Appends a tensor after the last one; returns its offset. Throws std::invalid_argument
  // when the tensor would take the total past kMaxElements.
  Index add(const std::string& name, std::vector<Index> shape);
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  const TensorSpec& at(const std::string& name) const;
  Index total() const { return total_; }

 private:
  std::vector<TensorSpec> tensors_;
  Index total_ = 0;
};

}  // namespace a3c
