#include "nn/layout.h"

#include "common/check.h"

namespace a3c {

namespace {

std::string shape_str(const std::vector<Index>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

Index ParamLayout::add(const std::string& name, std::vector<Index> shape) {
  Index size = 1;
  bool fits = true;
  for (Index d : shape) {
    A3C_CHECK(d > 0, "tensor ", name, " has a non-positive dimension");
    fits = fits && size_mul(size, d, &size);
  }
  fits = fits && size <= kMaxElements - total_;
  A3C_REQUIRE(fits, "the network is too large: tensor ", name, " ", shape_str(shape),
              " takes its parameter count past ", kMaxElements,
              " (the limit, 8 GiB of float32 per buffer); check obs_shape, num_actions and hidden");
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
