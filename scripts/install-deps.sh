#!/usr/bin/env bash
# Installs every Debian 12 package shmlog needs to build and test. Idempotent: when everything is
# already installed it only asks dpkg and exits, without touching the network.
#
#   scripts/install-deps.sh --build-only   only what building the shmlog program needs (the
#                                          container image's build stage): no test tools, no npm
set -euo pipefail

# What building libshm and the shmlog program needs (--build-only installs only these).
build_packages=(
  build-essential g++ cmake ninja-build pkg-config
  libboost-dev                           # Boost.Interprocess (header-only)
  rapidjson-dev libfmt-dev               # JSON lines and schema validation; message formatting
  libcpp-httplib-dev libcli11-dev        # the sidecar's HTTP server and Loki client; its CLI
  zlib1g-dev                             # gzip of rotated log files
  libyaml-cpp-dev                        # the sidecar's config file
  libprotobuf-dev protobuf-compiler      # Loki's protobuf push request (proto/loki_push.proto)
  libsnappy-dev                          # ... snappy-compressed, as Loki takes it
  libdeflate-dev                         # gzip of JSON push bodies (1.6x zlib's speed)
  libssl-dev                             # the webhook's TLS certificate reload, base64
)
# What the tests, the benchmarks and the second compiler need on top.
test_packages=(
  git
  clang clang-format libclang-rt-14-dev  # clang 14: sanitizers and the libFuzzer runtime
  doctest-dev                            # unit tests
  prometheus                             # promtool check metrics: the /metrics test
  libspdlog-dev                          # benchmarks only (the comparison baseline)
  chromium                               # the live page's browser test (tests/browser), headless
)

die() {
  echo "install-deps: error: $*" >&2
  exit 1
}

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) die "unknown argument '$1' (usage: install-deps.sh [--build-only])" ;;
esac
packages=("${build_packages[@]}")
((build_only)) || packages+=("${test_packages[@]}")

# The node tests' packages: tests/browser (playwright-core, which drives the chromium above) and
# tests/k8s (kubernetes-models, the manifests' schema check), each from its package-lock.json.
# They need Node.js 20 or later with npm, which is not in the list above:
# Debian 12's nodejs is 18 and comes without npm; NodeSource's nodejs package brings both. Does
# nothing, and touches no network, when node_modules already holds this lock file.
npm_ci_browser_test() {
  local dir stamp major
  for dir in "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"/tests/{browser,k8s}; do
    stamp="$dir/node_modules/.installed-package-lock.json"
    [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp" && continue
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      die "node and npm not found: $dir needs Node.js 20 or later with npm (e.g. NodeSource's nodejs package)"
    fi
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= 20)) || die "node $(node --version) is too old for $dir (20 or later)"
    echo "install-deps: npm ci --prefix $dir"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error || die "npm ci in $dir failed (network or npm registry?)"
    cp "$dir/package-lock.json" "$stamp"
  done
}

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  ((build_only)) || npm_ci_browser_test
  exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found; install these by hand: ${missing[*]}"
sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || die "not root and sudo not found; as root run: apt-get install ${missing[*]}"
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
  die "apt-get update failed (network or apt sources?)"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
  die "apt-get install failed for: ${missing[*]}"

still_missing=()
for pkg in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || still_missing+=("$pkg")
done
((${#still_missing[@]} == 0)) || die "still not installed after apt-get: ${still_missing[*]}"
((build_only)) || npm_ci_browser_test
echo "install-deps: done"
