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

struct TensorSpec {
  std::string name;          // PyTorch state-dict key, e.g. "conv1.weight"
  std::vector<Index> shape;  // e.g. {16, 4, 8, 8}
  Index offset = 0;          // first element in the flat buffer
  Index size = 0;            // product of shape
};

class ParamLayout {
 public:
  // Appends a tensor after the last one; returns its offset.
  Index add(const std::string& name, std::vector<Index> shape);
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  const TensorSpec& at(const std::string& name) const;
  Index total() const { return total_; }

 private:
  std::vector<TensorSpec> tensors_;
  Index total_ = 0;
};

}  // namespace a3c
