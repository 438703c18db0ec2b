#!/usr/bin/env bash
# Installs an already-built shmlog into a temporary prefix, then builds and runs a small app
# against it twice: through find_package(shmlog CONFIG) and through pkg-config. Each run must
# log into a ring file in its own SHMLOG_DIR.
#
#   tests/install/run.sh <build dir> [c++ compiler]     (registered with ctest as install_package)
set -euo pipefail

if (($# < 1)); then
  echo "usage: $0 <build dir> [c++ compiler]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
cxx=${2:-c++}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/shmlog-install.XXXXXX")
cleanup() { if [[ -z "${SHMLOG_KEEP_INSTALL_TEST:-}" ]]; then rm -rf "$work"; fi; }
trap cleanup EXIT
prefix=$work/prefix

step() { echo "== install test: $*"; }
fail() {
  echo "install test FAILED: $*" >&2
  echo "(set SHMLOG_KEEP_INSTALL_TEST=1 to keep $work)" >&2
  exit 1
}

# Runs the app with a fresh, existing SHMLOG_DIR and checks that a ring file appeared there.
run_app() {
  local name=$1 binary=$2 rings=$work/rings-$1
  mkdir "$rings"
  step "run ($name): SHMLOG_DIR=$rings"
  SHMLOG_DIR=$rings "$binary" || fail "$name app exited with status $?"
  compgen -G "$rings/*.ring" >/dev/null || fail "$name app left no *.ring file in $rings: $(ls -A "$rings")"
  echo "   ring: $(cd "$rings" && ls -- *.ring)"
}

step "cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log"; fail "cmake --install failed"; }
for f in include/shmlog/logger.hpp include/shmlog/detail/producer.hpp; do
  [[ -f "$prefix/$f" ]] || fail "missing from the install: $f"
done

# ---- 1. CMake: find_package(shmlog CONFIG REQUIRED) ----
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
step "configure the app with find_package (CMAKE_PREFIX_PATH=$prefix, CXX=$cxx)"
# No package registry: the app must find the package under the prefix and nowhere else.
cmake -S "$here" -B "$work/app-cmake" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF >"$work/configure.log" ||
  { cat "$work/configure.log"; fail "configuring the find_package app failed"; }
found=$(sed -n 's/^shmlog_DIR:PATH=//p' "$work/app-cmake/CMakeCache.txt")
[[ "$found" == "$prefix"/* ]] || fail "find_package found shmlog at '$found', not under $prefix"
step "build the app"
cmake --build "$work/app-cmake" >"$work/build.log" || { cat "$work/build.log"; fail "building the find_package app failed"; }
run_app cmake "$work/app-cmake/install_app"

# ---- 2. pkg-config with plain g++ ----
pc=$(find "$prefix" -name shmlog.pc -path '*/pkgconfig/*' -print -quit)
[[ -n "$pc" ]] || fail "no shmlog.pc installed under $prefix"
PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
pc_prefix=$(pkg-config --variable=prefix shmlog) || fail "pkg-config cannot read $pc"
[[ "$pc_prefix" == "$prefix" ]] || fail "shmlog.pc says prefix=$pc_prefix, installed to $prefix"
flags=$(pkg-config --cflags --libs shmlog) || fail "pkg-config --cflags --libs shmlog failed"
step "g++ -std=c++20 app.cpp $flags"
# shellcheck disable=SC2086  # the flags are meant to split into words
g++ -std=c++20 -O1 "$here/app.cpp" -o "$work/app-pkgconfig" $flags || fail "building with pkg-config flags failed"
run_app pkg-config "$work/app-pkgconfig"

step "passed"
