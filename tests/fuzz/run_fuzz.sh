#!/bin/sh
# Runs fuzz_ring_reader for a while on a copy of the corpus plus seeds made now (the source tree is
# never written to) and fails on any crash, hang (10 s per input), leak or broken invariant.
# usage: run_fuzz.sh <fuzz_ring_reader> <shmlog-fuzz-make-corpus> <corpus dir> <seconds> <artifact dir>
set -eu
fuzzer=$1 make_corpus=$2 corpus=$3 seconds=$4 artifacts=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/shmlog-fuzz-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/seeds" "$artifacts"
cp "$corpus"/* "$work/corpus/"
"$make_corpus" "$work/seeds" --full
status=0
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=131072 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$work/corpus" "$work/seeds" || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz_ring_reader failed (status $status); the input is in $artifacts/ (reproduce: $fuzzer <file>)"
fi
exit "$status"
