// Validation of NumPy arrays at the Python boundary. Every array argument is checked for
// dtype, shape and C-contiguity; the error names the argument, what was expected and what
// was received. Large arrays are never converted or copied silently.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace a3c::bind {

namespace py = pybind11;

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string dims_str(const std::vector<py::ssize_t>& d) {
  std::string s = "(";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + (d[i] < 0 ? std::string("N") : std::to_string(d[i]));
  return s + (d.size() == 1 ? ",)" : ")");
}

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// dims: expected shape, -1 for "any size" (the batch). Throws TypeError on dtype, ValueError
// on shape/contiguity. Dtypes are compared with ==, never by identity: an unpickled array (one
// that came through Ray, say) carries a float32 dtype equal to, but not the same object as,
// numpy's canonical one.
template <typename T>
void require_array(const char* name, const py::array& a, const std::vector<py::ssize_t>& dims) {
  const std::string want_dtype = py::str(py::dtype::of<T>()).cast<std::string>();
  if (!a.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + " must be a " + want_dtype + " array of shape " +
                         dims_str(dims) + ", got a " + dtype_name(a) + " array of shape " +
                         shape_of(a));
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  for (size_t i = 0; ok && i < dims.size(); ++i) ok = dims[i] < 0 || a.shape(i) == dims[i];
  if (!ok)
    throw py::value_error(std::string("invalid shape for ") + name + ": expected " + dims_str(dims) +
                          ", got " + shape_of(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) +
                          " must be C-contiguous; pass np.ascontiguousarray(" + name + ")");
}

}  // namespace a3c::bind
