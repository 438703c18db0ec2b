#!/usr/bin/env bash
# The README's demo: build, run a demo app that logs into rings under demo-out/rings, then look
# at those rings with the shmlog program. Each step is a function; add one (drain to files,
# ship to Loki, ...) and list it in `steps` below.
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

step_produce() {
  rm -rf "$rings"
  mkdir -p "$rings"
  echo "\$ SHMLOG_DIR=$rings $demo_bin ${demo_args[*]}"
  local rc=0
  # The app stops by itself after --seconds; the timeout only guards against a hang.
  SHMLOG_DIR=$rings timeout --kill-after=5 $((demo_seconds + 30)) "$demo_bin" "${demo_args[@]}" || rc=$?
  if ((rc != 0)); then
    echo "demo: $demo_bin exited with status $rc$( ((rc == 124)) && echo ' (timed out)')" >&2
    exit 1
  fi
  ls -l "$rings"
}

step_inspect() {
  show "$shmlog_bin" ring inspect "$rings"
}

step_tail() {
  echo "\$ $shmlog_bin ring tail $rings | head -20"
  # head closes the pipe after 20 lines, so a SIGPIPE (141) ends the tail normally; the timeout
  # (124) stops a tail that follows the rings and has fewer lines to show.
  timeout 10 "$shmlog_bin" ring tail "$rings" | head -20 && return 0
  local status=${PIPESTATUS[0]}
  if ((status != 141 && status != 124)); then
    echo "demo: ring tail exited with status $status" >&2
    exit 1
  fi
}

steps=(deps build produce inspect tail)
for step in "${steps[@]}"; do
  header "$step"
  "step_$step"
done
header "done: rings in $rings"
