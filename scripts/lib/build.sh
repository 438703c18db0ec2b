# shellcheck shell=bash
# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run): how a build directory is
# configured and built, so the demo reuses build/gcc exactly as the tests configure it.

# The gcc stage's configuration (build/gcc).
# shellcheck disable=SC2034  # used by the scripts that source this file
gcc_config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMLOG_WERROR=ON -DSHMLOG_SANITIZE=
            -DSHMLOG_BUILD_TESTS=ON -DSHMLOG_BUILD_BENCH=ON -DSHMLOG_BUILD_FUZZ=OFF
            -DSHMLOG_BUILD_SIDECAR=ON)

build_jobs=${SHMLOG_TEST_JOBS:-2}

# configure <dir> <c++ compiler> <cmake args...>: a build directory configured for another
# generator or compiler is wiped first (CMake cannot switch those in place).
configure() {
  local dir=$1 cxx_name=$2 cxx
  shift 2
  cxx=$(command -v "$cxx_name") || { echo "compiler $cxx_name not found" >&2; return 1; }
  if [[ -f "$dir/CMakeCache.txt" ]]; then
    local gen old_cxx
    gen=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")
    old_cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
    if [[ "$gen" != Ninja || "$old_cxx" != "$cxx" ]]; then
      echo "$dir was configured with '$gen' / '$old_cxx'; starting it afresh"
      rm -rf "$dir"
    fi
  fi
  echo "+ cmake -S . -B $dir -G Ninja -DCMAKE_CXX_COMPILER=$cxx $*"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "$@"
}

# build <dir> [targets...]
build() {
  local dir=$1 targets=()
  shift
  (($# == 0)) || targets=(--target "$@")
  echo "+ cmake --build $dir -j$build_jobs${targets[*]:+ ${targets[*]}}"
  cmake --build "$dir" -j"$build_jobs" "${targets[@]}"
}
