#!/usr/bin/env bash
# The README's demo: build, start the sidecar (`shmlog sidecar`) draining demo-out/rings into
# rotating JSON-lines files under demo-out/logs, run a demo app that logs into the rings, stop the
# sidecar the way Kubernetes does (SIGTERM), and show the files. Each step is a function; add one
# (ship to Loki, ...) and list it in `steps` below.
#
# Environment: SHMLOG_DEMO_SECONDS (how long the demo app logs, default 3),
# SHMLOG_DEMO_BIN / SHMLOG_BIN (override the binaries below), SHMLOG_TEST_SKIP_DEPS=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build_dir=build/gcc                                     # configured exactly as scripts/test.sh does
demo_target=shmlog-demo
demo_bin=${SHMLOG_DEMO_BIN:-$build_dir/bench/shmlog-demo}  # the app that logs
shmlog_target=shmlog_cli
shmlog_bin=${SHMLOG_BIN:-$build_dir/sidecar/shmlog}     # the sidecar program
out=demo-out
rings=$out/rings
logs=$out/logs
# Small files so the demo shows rotation; the defaults are 100MiB x 5.
sidecar_args=(--dir "$rings" --out "$logs" --rotate-bytes 256KiB --rotate-keep 3 --compress true)
sidecar_pid=
demo_seconds=${SHMLOG_DEMO_SECONDS:-3}
demo_args=(--seconds "$demo_seconds" --threads 3)        # see `shmlog-demo --help`

# shellcheck source-path=SCRIPTDIR source=lib/build.sh
source "$root/scripts/lib/build.sh"

header() { printf '\n==== %s ====\n' "$*"; }
# Shows a command, then runs it.
show() {
  echo "\$ $*"
  "$@"
}

step_deps() {
  [[ -n "${SHMLOG_TEST_SKIP_DEPS:-}" ]] || scripts/install-deps.sh
}

step_build() {
  configure "$build_dir" g++ "${gcc_config[@]}" >/dev/null
  build "$build_dir" "$demo_target" "$shmlog_target"
  for bin in "$demo_bin" "$shmlog_bin"; do
    [[ -x "$bin" ]] || { echo "demo: $bin was not built (is the path at the top of $0 right?)" >&2; exit 1; }
  done
}

step_sidecar() {
  rm -rf "$rings" "$logs"
  mkdir -p "$rings"
  echo "\$ $shmlog_bin sidecar ${sidecar_args[*]} &"
  "$shmlog_bin" sidecar "${sidecar_args[@]}" 2> >(sed 's/^/  [sidecar] /' >&2) &
  sidecar_pid=$!
  trap '[[ -n "$sidecar_pid" ]] && kill -KILL "$sidecar_pid" 2>/dev/null' EXIT
}

step_produce() {
  echo "\$ SHMLOG_DIR=$rings $demo_bin ${demo_args[*]}"
  local rc=0
  # The app stops by itself after --seconds; the timeout only guards against a hang.
  SHMLOG_DIR=$rings timeout --kill-after=5 $((demo_seconds + 30)) "$demo_bin" "${demo_args[@]}" || rc=$?
  if ((rc != 0)); then
    echo "demo: $demo_bin exited with status $rc$( ((rc == 124)) && echo ' (timed out)')" >&2
    exit 1
  fi
}

step_stop() {
  echo "\$ kill -TERM $sidecar_pid   # as Kubernetes stops the sidecar container"
  kill -TERM "$sidecar_pid"
  local rc=0
  wait "$sidecar_pid" || rc=$?
  sidecar_pid=
  ((rc == 0)) || { echo "demo: the sidecar exited with status $rc" >&2; exit 1; }
}

step_files() {
  show ls -l "$logs"
  echo "\$ head -3 $logs/shmlog-demo.log"
  head -3 "$logs/shmlog-demo.log"
  echo "# lines in all of them (.gz read with zcat):"
  local n=0 f
  for f in "$logs"/shmlog-demo.log*; do
    if [[ "$f" == *.gz ]]; then n=$((n + $(zcat "$f" | wc -l))); else n=$((n + $(wc -l <"$f"))); fi
  done
  echo "$n lines"
  ((n > 0)) || { echo "demo: the sidecar wrote no lines" >&2; exit 1; }
}

steps=(deps build sidecar produce stop files)
for step in "${steps[@]}"; do
  header "$step"
  "step_$step"
done
header "done: JSON lines in $logs"
