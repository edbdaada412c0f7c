#!/usr/bin/env bash
# Builds the native core with ASan+UBSan, then with TSan (the Hogwild buffer suppressed by
# cpp/tsan.supp), and runs the C++ pool/kernel stress driver under each. Needs cmake and g++.
# Usage: scripts/run_sanitizers.sh [build-root]   (default /tmp/a3c-sanitize)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
root="${1:-/tmp/a3c-sanitize}"
pybind11_dir="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')"
for san in address thread; do
  build="$root/$san"
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DA3C_SANITIZE=$san \
    -DA3C_BUILD_CPP_TESTS=ON -DSKBUILD_PROJECT_NAME=a3c_native -DSKBUILD_PROJECT_VERSION=0.0 \
    -Dpybind11_DIR="$pybind11_dir" >/dev/null
  cmake --build "$build" --target pool_stress -j2 >/dev/null
  echo "== $san"
  if [ "$san" = thread ]; then
    TSAN_OPTIONS="suppressions=$src/cpp/tsan.supp halt_on_error=1 second_deadlock_stack=1" "$build/tests/cpp/pool_stress" 10
  else
    ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" "$build/tests/cpp/pool_stress"
  fi
done
