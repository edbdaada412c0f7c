// Error checks for the native core. The library never exits or aborts: a failed check
// throws, and pybind11 turns std::invalid_argument into ValueError and
// std::runtime_error into RuntimeError on the Python side.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace a3c {

// Builds a message from any streamable arguments: A3C_REQUIRE(n > 0, "n=", n, " must be > 0").
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace a3c

// Bad input from the caller: becomes ValueError.
#define A3C_REQUIRE(cond, ...)                                        \
  do {                                                                \
    if (!(cond)) throw std::invalid_argument(::a3c::str_cat(__VA_ARGS__)); \
  } while (0)

// Broken internal invariant: becomes RuntimeError and names the place.
#define A3C_CHECK(cond, ...)                                                     \
  do {                                                                           \
    if (!(cond))                                                                 \
      throw std::runtime_error(::a3c::str_cat("internal error at ", __FILE__,   \
                                              ":", __LINE__, ": ", __VA_ARGS__)); \
  } while (0)
