#!/usr/bin/env bash
# The container image's build stage (Dockerfile): builds the shmlog program the way the tests
# build it (scripts/lib/build.sh), as Release without tests, benchmarks or fuzz targets, and
# installs it stripped under <out>. Also writes <out>/runtime-packages: the Debian packages that
# hold the shared libraries the binary loads, which the runtime stage installs.
#
#   scripts/build-image-binary.sh <out>     ->  <out>/usr/local/bin/shmlog, <out>/runtime-packages
#
# Environment: SHMLOG_IMAGE_BUILD_DIR (default build/image), SHMLOG_TEST_JOBS (default 2).
set -euo pipefail

(($# == 1)) || { echo "usage: build-image-binary.sh <out>" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dir=${SHMLOG_IMAGE_BUILD_DIR:-build/image}

# shellcheck source-path=SCRIPTDIR source=lib/build.sh
source "$root/scripts/lib/build.sh"

# Warnings are the gcc and clang stages' job: a new compiler warning must not break the image.
configure "$dir" g++ -DCMAKE_BUILD_TYPE=Release -DSHMLOG_WERROR=OFF -DSHMLOG_SANITIZE= \
  -DSHMLOG_BUILD_TESTS=OFF -DSHMLOG_BUILD_BENCH=OFF -DSHMLOG_BUILD_FUZZ=OFF -DSHMLOG_BUILD_SIDECAR=ON
build "$dir" shmlog_cli
# The project's own install rule for the program (cmake/install.cmake), stripped.
cmake --install "$dir" --prefix "$out/usr/local" --component shmlog_Runtime --strip
bin=$out/usr/local/bin/shmlog
"$bin" --version

# The package of every shared library the loader resolves (ldd: NEEDED ones and theirs). dpkg
# knows a file by the path its package installed it at, which on a merged-/usr system may be the
# /lib or the /usr/lib spelling, so both are asked.
owner() {
  local path=$1 real
  real=$(readlink -f "$path")
  for p in "$path" "$real" "${real#/usr}" "/usr${real}"; do
    dpkg-query -S "$p" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
  done
  echo "build-image-binary: no Debian package owns $path" >&2
  return 1
}
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
pkgs=$(for lib in $libs; do owner "$lib"; done | sort -u)
[[ -n "$pkgs" ]] || { echo "build-image-binary: found no runtime packages" >&2; exit 1; }
printf '%s\n' "$pkgs" >"$out/runtime-packages"
echo "build-image-binary: runtime packages: $(tr '\n' ' ' <"$out/runtime-packages")"
