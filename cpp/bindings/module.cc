// The private native module a3c_native._core: version and submodule registration only.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace a3c::bind {
void register_nn(py::module_& m);
void register_train(py::module_& m);
}

#define A3C_STRINGIFY(x) #x
#define A3C_MACRO_STRINGIFY(x) A3C_STRINGIFY(x)

PYBIND11_MODULE(_core, m) {
  m.doc() = "a3c_native native core: networks, kernels and the actor-learner pool";
  a3c::bind::register_nn(m);
  a3c::bind::register_train(m);
#ifdef A3C_VERSION_INFO
  m.attr("__version__") = A3C_MACRO_STRINGIFY(A3C_VERSION_INFO);
#else
  m.attr("__version__") = "dev";
#endif
}
