#include "nn/layout.h"

#include "common/check.h"

namespace a3c {

Index ParamLayout::add(const std::string& name, std::vector<Index> shape) {
  Index size = 1;
  for (Index d : shape) {
    A3C_CHECK(d > 0, "tensor ", name, " has a non-positive dimension");
    size *= d;
  }
  tensors_.push_back(TensorSpec{name, std::move(shape), total_, size});
  total_ += size;
  return tensors_.back().offset;
}

const TensorSpec& ParamLayout::at(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw std::invalid_argument("no tensor named '" + name + "' in this network's layout");
}

}  // namespace a3c
