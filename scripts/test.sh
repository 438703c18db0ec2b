#!/usr/bin/env bash
# The project's test command (the README's, and what .ci/run runs). Stages, each a separate
# build directory under build/:
#
#   gcc    g++ RelWithDebInfo, warnings as errors        ctest (all tests)
#   clang  clang++ RelWithDebInfo, warnings as errors    ctest (all tests)
#   asan   clang++ -O1 AddressSanitizer + UBSan, no bench ctest (all tests)
#   tsan   clang++ -O1 ThreadSanitizer                    ctest -L tsan
#   fuzz   clang++ -O1 libFuzzer targets (+ASan/UBSan)    ctest -L fuzz
#   image  the Dockerfile built with buildah              its smoke test (scripts/image.sh)
#
# The tsan and fuzz stages build only what their tests run (see build_for_tests): a test that
# starts another program of the build must name it with add_dependencies().
#
# Every selected stage runs even when an earlier one fails; the exit status is non-zero if any
# failed. Environment:
#   SHMLOG_TEST_STAGES="gcc clang"   run a subset, in the order given (default: all six)
#   SHMLOG_TEST_JOBS=2               parallel build and ctest jobs (default: 2)
#   SHMLOG_TEST_SKIP_DEPS=1          do not run scripts/install-deps.sh
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

all_stages=(gcc clang asan tsan fuzz image)
read -r -a stages <<<"${SHMLOG_TEST_STAGES:-${all_stages[*]}}"
for s in "${stages[@]}"; do
  [[ " ${all_stages[*]} " == *" $s "* ]] || {
    echo "test.sh: unknown stage '$s' in SHMLOG_TEST_STAGES (known: ${all_stages[*]})" >&2
    exit 2
  }
done
((${#stages[@]} > 0)) || { echo "test.sh: SHMLOG_TEST_STAGES selects no stage" >&2; exit 2; }

# shellcheck source-path=SCRIPTDIR source=lib/build.sh
source "$root/scripts/lib/build.sh"
jobs=$build_jobs
# A test without its own TIMEOUT property gets this many seconds, so one hung test cannot eat
# the whole run.
ctest_timeout=300

header() { printf '\n======== %s ========\n' "$*"; }

# ---- the steps a stage is made of ----

# run_ctest <dir> [ctest args...]: a selection that matches no test is an error, not a pass.
run_ctest() {
  local dir=$1
  shift
  echo "+ ctest --test-dir $dir --output-on-failure -j$jobs --timeout $ctest_timeout --no-tests=error $*"
  "${run_prefix[@]}" ctest --test-dir "$dir" --output-on-failure -j"$jobs" \
    --timeout "$ctest_timeout" --no-tests=error "$@"
}

# build_for_tests <dir> <ctest selection...>: builds only what the selected tests run: the build
# outputs named on their command lines, and through those targets' add_dependencies() the
# helper programs they start. Builds everything when that comes out empty.
build_for_tests() {
  local dir=$1 abs known targets=()
  shift
  abs=$(cd "$dir" && pwd)
  known=$(ninja -C "$dir" -t targets all | sed 's/: [^:]*$//')
  mapfile -t targets < <(
    ctest --test-dir "$dir" -N -V "$@" | sed -n 's/^[0-9]*: Test command: //p' |
      xargs -n1 printf '%s\n' | sed -n "s|^$abs/||p" | grep -xF -f <(printf '%s\n' "$known") | sort -u)
  if ((${#targets[@]} == 0)); then
    build "$dir"
  else
    echo "(building only what ctest $* runs)"
    build "$dir" "${targets[@]}"
  fi
}

# Some kernels randomise mmap more than older sanitizer runtimes allow ("unexpected memory
# mapping"). If a trivial sanitized program fails here, run the tests with ASLR off.
run_prefix=()
check_sanitizer_runtime() {
  local flags=$1 probe
  run_prefix=()
  probe=$(mktemp -d) || return 1
  printf 'int main() { return 0; }\n' >"$probe/p.cpp"
  if clang++ -fsanitize="$flags" "$probe/p.cpp" -o "$probe/p" && ! "$probe/p" >/dev/null 2>&1; then
    if setarch "$(uname -m)" -R "$probe/p" >/dev/null 2>&1; then
      echo "test.sh: -fsanitize=$flags needs ASLR off on this kernel; running ctest under setarch -R"
      run_prefix=(setarch "$(uname -m)" -R)
    fi
  fi
  rm -rf "$probe"
}

common=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
# Sanitizer builds: asserts on, -O1 as the sanitizers recommend, line tables only (enough for
# symbolized stack traces, and much cheaper to compile and link than full debug info).
sanitized=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only")

# scripts/demo.sh reuses this build directory: its configuration lives in lib/build.sh.
stage_gcc() {
  configure build/gcc g++ "${gcc_config[@]}" && build build/gcc && run_ctest build/gcc
}

stage_clang() {
  configure build/clang clang++ "${common[@]}" -DSHMLOG_WERROR=ON -DSHMLOG_SANITIZE= \
    -DSHMLOG_BUILD_TESTS=ON -DSHMLOG_BUILD_BENCH=ON -DSHMLOG_BUILD_FUZZ=OFF -DSHMLOG_BUILD_SIDECAR=ON &&
    build build/clang && run_ctest build/clang
}

# Warnings are the gcc and clang stages' job; sanitizer builds only look for runtime errors.
stage_asan() {
  check_sanitizer_runtime address,undefined
  configure build/asan clang++ "${sanitized[@]}" -DSHMLOG_WERROR=OFF -DSHMLOG_SANITIZE=address,undefined \
    -DSHMLOG_BUILD_TESTS=ON -DSHMLOG_BUILD_BENCH=OFF -DSHMLOG_BUILD_FUZZ=OFF -DSHMLOG_BUILD_SIDECAR=ON &&
    build build/asan &&
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} run_ctest build/asan
}

stage_tsan() {
  check_sanitizer_runtime thread
  configure build/tsan clang++ "${sanitized[@]}" -DSHMLOG_WERROR=OFF -DSHMLOG_SANITIZE=thread \
    -DSHMLOG_BUILD_TESTS=ON -DSHMLOG_BUILD_BENCH=OFF -DSHMLOG_BUILD_FUZZ=OFF -DSHMLOG_BUILD_SIDECAR=ON &&
    build_for_tests build/tsan -L tsan &&
    TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} run_ctest build/tsan -L tsan
}

# The fuzz targets bring their own sanitizers (tests/fuzz/CMakeLists.txt) and run a bounded time
# each (their ctest entries say how long).
stage_fuzz() {
  check_sanitizer_runtime address,undefined
  configure build/fuzz clang++ "${sanitized[@]}" -DSHMLOG_WERROR=OFF -DSHMLOG_SANITIZE= \
    -DSHMLOG_BUILD_TESTS=OFF -DSHMLOG_BUILD_BENCH=OFF -DSHMLOG_BUILD_FUZZ=ON -DSHMLOG_BUILD_SIDECAR=ON &&
    build_for_tests build/fuzz -L fuzz &&
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} run_ctest build/fuzz -L fuzz
}

# Root, buildah and debootstrap (installed when missing); fails with buildah's own error when
# buildah cannot work on this machine.
stage_image() {
  scripts/image.sh
}

describe() {
  case $1 in
    gcc) echo "g++, RelWithDebInfo, -Werror: build, ctest" ;;
    clang) echo "clang++, RelWithDebInfo, -Werror: build, ctest" ;;
    asan) echo "clang++, ASan+UBSan: build, ctest" ;;
    tsan) echo "clang++, TSan: build, ctest -L tsan" ;;
    fuzz) echo "clang++, libFuzzer targets: build, ctest -L fuzz" ;;
    image) echo "container image: buildah bud (vfs, chroot), smoke test with buildah run" ;;
  esac
}

# ---- run ----

results=()
passed=0
failed=0
total_start=$SECONDS

deps_ok=1
if [[ -z "${SHMLOG_TEST_SKIP_DEPS:-}" ]]; then
  header "deps: scripts/install-deps.sh"
  scripts/install-deps.sh || deps_ok=0
fi

for s in "${stages[@]}"; do
  start=$SECONDS
  run_prefix=()
  if ((deps_ok)); then
    header "stage $s: $(describe "$s") (build/$s)"
    "stage_$s"
    rc=$?
  else
    echo "test.sh: skipping stage $s: dependencies could not be installed" >&2
    rc=1
  fi
  secs=$((SECONDS - start))
  if ((rc == 0)); then
    passed=$((passed + 1))
    results+=("$(printf '  %-6s PASS  %4dm%02ds' "$s" $((secs / 60)) $((secs % 60)))")
  else
    failed=$((failed + 1))
    results+=("$(printf '  %-6s FAIL  %4dm%02ds  (exit %d)' "$s" $((secs / 60)) $((secs % 60)) "$rc")")
    echo "test.sh: stage $s FAILED (exit $rc)" >&2
  fi
done

total=$((SECONDS - total_start))
header "summary ($((total / 60))m$((total % 60))s)"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
