#!/usr/bin/env bash
# Installs every Debian 12 package shmlog needs to build and test. Idempotent: when everything is
# already installed it only asks dpkg and exits, without touching the network.
set -euo pipefail

packages=(
  build-essential g++ git cmake ninja-build pkg-config
  clang clang-format libclang-rt-14-dev  # clang 14: sanitizers and the libFuzzer runtime
  libboost-dev                           # Boost.Interprocess (header-only)
  rapidjson-dev libfmt-dev               # JSON lines and schema validation; message formatting
  libcpp-httplib-dev libcli11-dev        # the sidecar's HTTP server and Loki client; its CLI
  zlib1g-dev                             # gzip of rotated log files
  libyaml-cpp-dev                        # the sidecar's config file
  libprotobuf-dev protobuf-compiler      # Loki's protobuf push request (proto/loki_push.proto)
  libsnappy-dev                          # ... snappy-compressed, as Loki takes it
  libdeflate-dev                         # gzip of JSON push bodies (1.6x zlib's speed)
  doctest-dev                            # unit tests
  prometheus                             # promtool check metrics: the /metrics test
  libspdlog-dev                          # benchmarks only (the comparison baseline)
  chromium                               # the live page's browser test (tests/browser), headless
)

die() {
  echo "install-deps: error: $*" >&2
  exit 1
}

# The browser test's node packages (tests/browser/package-lock.json: playwright-core, which drives
# the chromium above). They need Node.js 20 or later with npm, which is not in the list above:
# Debian 12's nodejs is 18 and comes without npm; NodeSource's nodejs package brings both. Does
# nothing, and touches no network, when node_modules already holds this lock file.
npm_ci_browser_test() {
  local dir stamp major
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
  stamp="$dir/node_modules/.installed-package-lock.json"
  [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp" && return 0
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    die "node and npm not found: tests/browser needs Node.js 20 or later with npm (e.g. NodeSource's nodejs package)"
  fi
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "node $(node --version) is too old for tests/browser (playwright-core wants 20 or later)"
  echo "install-deps: npm ci --prefix $dir"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error || die "npm ci in $dir failed (network or npm registry?)"
  cp "$dir/package-lock.json" "$stamp"
}

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  npm_ci_browser_test
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
npm_ci_browser_test
echo "install-deps: done"
