#!/usr/bin/env bash
# Builds the native core with ASan+UBSan, then with TSan (the Hogwild race annotated in
# cpp/train/hogwild.cc, backstopped by cpp/tsan.supp), and runs the C++ pool/kernel stress
# driver tests/cpp/pool_stress under each. Any sanitizer report stops the driver
# (halt_on_error) and this script with a non-zero status, as does a failed check; CI runs it.
# Needs g++ (its ASan/UBSan/TSan runtimes come with it on Debian: libasan8, libubsan1,
# libtsan2), cmake, a build tool (ninja or make) and pybind11 (its CMake files), e.g.
# `pip install cmake ninja pybind11`.
#
# Usage: scripts/run_sanitizers.sh [--scale N] [build-root]   (default root /tmp/a3c-sanitize)
#   --scale N  divides pool_stress's step budgets by N (default 1; TSan always runs 10x fewer
#              steps, being ~10x slower than ASan). .ci/run uses a CI-sized N; every
#              configuration (arch, threads 1/2/4, k 1/4, hogwild/locked) runs at any N.
set -euo pipefail
scale=1
if [ "${1:-}" = "--scale" ]; then
  scale="$2"
  shift 2
fi
src="$(cd "$(dirname "$0")/.." && pwd)"
root="${1:-/tmp/a3c-sanitize}"
pybind11_dir="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')"
for san in address thread; do
  build="$root/$san"
  start=$SECONDS
  gen=()  # Ninja when there is one (pip's), unless the build dir already has a generator
  if command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ]; then gen=(-G Ninja); fi
  cmake -S "$src" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DA3C_SANITIZE=$san \
    -DA3C_BUILD_CPP_TESTS=ON -DSKBUILD_PROJECT_NAME=a3c_native -DSKBUILD_PROJECT_VERSION=0.0 \
    -Dpybind11_DIR="$pybind11_dir" >/dev/null
  cmake --build "$build" --target pool_stress -j2 >/dev/null
  built=$SECONDS
  echo "== $san: built in $((built - start)) s"
  if [ "$san" = thread ]; then
    TSAN_OPTIONS="suppressions=$src/cpp/tsan.supp halt_on_error=1 second_deadlock_stack=1" \
      "$build/tests/cpp/pool_stress" $((10 * scale))
  else
    ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1" \
      "$build/tests/cpp/pool_stress" "$scale"
  fi
  echo "== $san: no reports, every check passed (ran in $((SECONDS - built)) s)"
done
