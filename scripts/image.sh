#!/usr/bin/env bash
# Builds the container image (Dockerfile) with buildah and smoke-tests it: the test stage `image`
# of scripts/test.sh. No image registry is needed:
#
#   1. the base: debian:bookworm-slim made here with debootstrap from the apt mirror this machine
#      uses, committed as localhost/debian:bookworm-slim (kept, and reused while it exists);
#   2. the image: buildah bud (vfs storage, chroot isolation, cached layers) ->
#      localhost/shmlog:<version>;
#   3. the smoke test (buildah run): `shmlog --version` and the image's config; `shmlog sidecar`
#      as 65532:65532 drains every record a producer outside the container (shmlog-loadgen, a
#      host build in build/image) writes into the bind-mounted ring directory, its exec probe
#      answers, SIGTERM ends it with exit 0 and its root filesystem is unchanged; then the same
#      on a read-only root filesystem.
#
# Runs as root (debootstrap and buildah's vfs storage; through sudo otherwise). Environment:
#   SHMLOG_IMAGE_CONTEXT=DIR   build from this source tree (default: this checkout)
#   SHMLOG_IMAGE_RECORDS=N     records the smoke test's producer writes (default 20000)
#   SHMLOG_TEST_JOBS=2         parallel build jobs
# Ends with "N passed, N failed"; the exit status is non-zero if anything failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "image.sh: needs root (debootstrap, buildah); sudo not found" >&2; exit 1; }
  exec sudo --preserve-env=SHMLOG_IMAGE_CONTEXT,SHMLOG_IMAGE_RECORDS,SHMLOG_TEST_JOBS "$0" "$@"
fi

# shellcheck source-path=SCRIPTDIR source=lib/build.sh
source "$root/scripts/lib/build.sh"

context=${SHMLOG_IMAGE_CONTEXT:-$root}
records=${SHMLOG_IMAGE_RECORDS:-20000}
version=$(sed -n 's/^project(shmlog VERSION \([0-9.]*\).*/\1/p' "$context/CMakeLists.txt")
base=localhost/debian:bookworm-slim
image=localhost/shmlog:$version
build_image=localhost/shmlog-build:cache
uid=65532
buildah=(buildah --storage-driver vfs)
run=("${buildah[@]}" run --isolation chroot)

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
step() { printf '\n---- %s ----\n' "$*"; }
die() {
  echo "image.sh: error: $*" >&2
  echo "$passed passed, $((failed + 1)) failed"
  exit 1
}

work=""
container=""
sidecar_pid=""
ro_mount=""
cleanup() {
  [[ -n "$sidecar_pid" ]] && kill -KILL "$sidecar_pid" 2>/dev/null
  [[ -n "$ro_mount" ]] && umount "$ro_mount" 2>/dev/null
  [[ -n "$container" ]] && "${buildah[@]}" rm "$container" >/dev/null 2>&1
  [[ -n "$work" ]] && rm -rf "$work"
}
trap cleanup EXIT

[[ -n "$version" ]] || die "no 'project(shmlog VERSION x.y.z' in $context/CMakeLists.txt"

# ---- tools ----

install_tools() {
  local missing=() tool
  for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "apt-get not found; install these by hand: ${missing[*]}"
  echo "image.sh: installing ${missing[*]}"
  env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    { env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } ||
    die "apt-get install ${missing[*]} failed"
}

# buildah itself must work here (user namespaces, mounts): say so plainly when it cannot.
check_buildah() {
  local out
  out=$("${buildah[@]}" info 2>&1) || die "buildah cannot run here: $out"
  "${buildah[@]}" --version
}

# ---- 1. the base image ----

# The Debian mirror of this machine's apt sources (one-line .list or deb822 .sources) that
# serves <suite>: the base is made from the same mirror the build stage then installs from.
mirror_for() {
  local suite=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk -v s="$suite" '$1 == "deb" { line = $0; sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, "", line)
                                     split(line, f, /[ \t]+/); if (f[2] == s) { print f[1]; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v s="$suite" '
      function flush() { if (deb && uri != "" && (" " suites " ") ~ (" " s " ")) { print uri; found = 1 }
                         deb = 0; uri = ""; suites = "" }
      /^[ \t]*$/ { flush(); if (found) exit; next }
      /^Types:/ { deb = ($0 ~ /[ \t]deb([ \t]|$)/) }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      END { if (!found) flush() }' "$f"
  done | sed -n 1p
}

# What debuerreotype leaves out of Debian's official "slim" images; kept out of later installs too.
slim_excludes='path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*'

make_base() {
  if "${buildah[@]}" inspect --type image "$base" >/dev/null 2>&1; then
    echo "image.sh: base $base exists (cached); 'buildah --storage-driver vfs rmi $base' makes it afresh"
    return 0
  fi
  local mirror security rootfs ctr
  mirror=$(mirror_for bookworm)
  [[ -n "$mirror" ]] || die "no apt source for suite bookworm in /etc/apt/sources.list(.d)"
  security=$(mirror_for bookworm-security)
  rootfs=$(mktemp -d /var/tmp/shmlog-base.XXXXXX) || die "mktemp failed"
  echo "+ debootstrap --variant=minbase bookworm $rootfs $mirror"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -20 "$rootfs.log" >&2
    rm -rf "$rootfs" "$rootfs.log"
    die "debootstrap failed (log above)"
  fi
  rm -f "$rootfs.log"
  # Slim it as the official image is, and leave apt pointing at the same mirrors.
  printf '%s\n' "$slim_excludes" >"$rootfs/etc/dpkg/dpkg.cfg.d/docker"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/*
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$mirror"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    [[ -z "$security" ]] ||
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs/etc/machine-id"
  : >"$rootfs/etc/resolv.conf"
  echo debian >"$rootfs/etc/hostname"

  ctr=$("${buildah[@]}" from scratch) || { rm -rf "$rootfs"; die "buildah from scratch failed"; }
  "${buildah[@]}" copy "$ctr" "$rootfs" / >/dev/null &&
    "${buildah[@]}" config --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --label "org.opencontainers.image.description=debian bookworm minbase (debootstrap from $mirror)" "$ctr" &&
    "${buildah[@]}" commit --rm "$ctr" "$base" >/dev/null
  local rc=$?
  rm -rf "$rootfs"
  ((rc == 0)) || { "${buildah[@]}" rm "$ctr" >/dev/null 2>&1; die "committing $base failed"; }
  echo "image.sh: made $base"
}

# ---- 2. the image ----

# Twice: the build stage first, tagged, so its layers (the toolchain above all) are an image's
# and stay cached when old layers are pruned; then the image, whose build stage is all cache hits.
build_image() {
  local revision args
  revision=$(git -C "$context" rev-parse --short HEAD 2>/dev/null || echo unknown)
  args=(--isolation chroot --layers --pull=never --force-rm --build-arg BASE="$base" --build-arg VERSION="$version"
        --build-arg REVISION="$revision" --build-arg JOBS="$build_jobs" -f "$context/Dockerfile")
  echo "+ buildah bud ${args[*]} --target build -t $build_image $context"
  "${buildah[@]}" bud "${args[@]}" --target build -t "$build_image" "$context" || return 1
  echo "+ buildah bud ${args[*]} -t $image $context"
  "${buildah[@]}" bud "${args[@]}" -t "$image" "$context"
}

# The producer runs outside the container: shmlog-loadgen from a host build of its own.
build_loadgen() {
  cd "$context" || return 1
  configure build/image g++ -DCMAKE_BUILD_TYPE=Release -DSHMLOG_WERROR=OFF -DSHMLOG_SANITIZE= \
    -DSHMLOG_BUILD_TESTS=OFF -DSHMLOG_BUILD_BENCH=ON -DSHMLOG_BUILD_FUZZ=OFF -DSHMLOG_BUILD_SIDECAR=OFF &&
    build build/image shmlog-loadgen
  cd "$root" || return 1
}

# ---- 3. the smoke test ----

# The pid of the process named <comm> below <ancestor>, or nothing.
descendant_named() {
  local ancestor=$1 comm=$2 p q
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == "$comm" ]] || continue
    q=$p
    while [[ -n "$q" && "$q" != 0 && "$q" != 1 ]]; do
      [[ "$q" == "$ancestor" ]] && { echo "$p"; return 0; }
      q=$(awk '{ print $4 }' "/proc/$q/stat" 2>/dev/null)
    done
  done
  return 1
}

# wait_for <seconds> <command...>: polls every 0.1 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

lines_in() { cat "$1"/*.log 2>/dev/null | wc -l; }
# has_lines <dir> <n>: counted anew at each call, so wait_for polls it.
has_lines() { (($(lines_in "$1") >= $2)); }

# Every entry of the container's root filesystem: type, mode, owner, size, mtime, link target.
# Of /run itself only type, mode and owner: buildah run makes and removes /run/.containerenv.
rootfs_listing() {
  (cd "$1" && find . -xdev \! -path ./run -printf '%p %y %m %U:%G %s %T@ %l\n' &&
    find ./run -maxdepth 0 -printf '%p %y %m %U:%G\n') | sort
}

# start_sidecar <name> [buildah run options...]: `shmlog sidecar` in the container as uid:gid
# 65532 with fresh ring and output volumes ($work/<name>/{rings,logs}, group 65532 and setgid, as
# a pod's fsGroup makes them). Sets sidecar_pid (its pid on the host: chroot isolation keeps the
# host's PID namespace), run_pid (buildah run's) and port (its status endpoint's).
run_pid=""
port=""
start_sidecar() {
  local dir=$work/$1
  shift
  mkdir -p "$dir" && install -d -g "$uid" -m 2770 "$dir/rings" "$dir/logs" || return 1
  # /run/shmlog is /var/run/shmlog (SHMLOG_DIR) by its real path: buildah 1.28 resolves the
  # absolute symlink /var/run -> /run of a mount target on the host, outside the container.
  "${run[@]}" --user "$uid:$uid" --env SHMLOG_HTTP_ADDR=127.0.0.1:0 "$@" \
    -v "$dir/rings:/run/shmlog" -v "$dir/logs:/var/log/shmlog" "$container" -- /usr/local/bin/shmlog sidecar \
    >"$dir/sidecar.out" 2>&1 &
  run_pid=$!
  if wait_for 30 grep -q "status at" "$dir/sidecar.out" && sidecar_pid=$(descendant_named "$run_pid" shmlog); then
    port=$(sed -n 's|.*status at http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$dir/sidecar.out" | head -1)
    echo "sidecar: host pid $sidecar_pid; $(head -2 "$dir/sidecar.out" | tr '\n' ' ')"
    [[ "$(readlink "/proc/$sidecar_pid/ns/pid")" == "$(readlink /proc/self/ns/pid)" ]] ||
      echo "(the container has a PID namespace of its own; the signals go to the host pid all the same)"
    return 0
  fi
  cat "$dir/sidecar.out"
  kill -KILL "$run_pid" 2>/dev/null
  wait "$run_pid" 2>/dev/null
  return 1
}

# produce <name> <records>: shmlog-loadgen on the host writes into the container's ring volume,
# then every record must arrive in the output volume as one JSON line with its id.
produce() {
  local dir=$work/$1 n=$2 processes=2 threads=2 loadgen expected got
  loadgen=$context/build/image/bench/shmlog-loadgen
  echo "+ SHMLOG_DIR=$dir/rings shmlog-loadgen --processes $processes --threads $threads --records $n --overflow block"
  SHMLOG_DIR=$dir/rings "$loadgen" --processes "$processes" --threads "$threads" --records "$n" \
    --overflow block --flush-ms 20000 || fail "shmlog-loadgen failed"
  wait_for 60 has_lines "$dir/logs" "$n"
  expected=$(awk -v n="$n" -v P="$processes" -v T="$threads" \
    'BEGIN { for (k = 0; k < n; k++) printf "%d-%d-%d\n", k % P, int(k / P) % T, int(k / (P * T)) }' | sort)
  got=$(cat "$dir/logs"/*.log | sed -n 's/^{.*"id":"\([0-9]*-[0-9]*-[0-9]*\)".*}$/\1/p' | sort)
  if [[ "$(lines_in "$dir/logs")" -eq "$n" && "$got" == "$expected" ]]; then
    pass "all $n records arrived once each as JSON lines with every id ($(cd "$dir/logs" && echo *))"
  else
    fail "$(lines_in "$dir/logs") lines, $(printf '%s' "$got" | grep -c .) with an id, for $n records;" \
      "missing: $(comm -23 <(echo "$expected") <(echo "$got") | head -3 | tr '\n' ' ')" \
      "twice: $(printf '%s\n' "$got" | uniq -d | head -3 | tr '\n' ' ')"
  fi
}

# stop_sidecar: SIGTERM to the sidecar itself; sets stop_rc to buildah run's exit status.
stop_rc=0
stop_sidecar() {
  kill -TERM "$sidecar_pid"
  stop_rc=0
  wait "$run_pid" || stop_rc=$?
  sidecar_pid=""
}

smoke_test() {
  local out v mnt before after dir
  container=$("${buildah[@]}" from --pull=never "$image") || die "buildah from $image failed"
  mnt=$("${buildah[@]}" mount "$container") || die "buildah mount failed"
  work=$(mktemp -d /var/tmp/shmlog-smoke.XXXXXX) || die "mktemp failed"

  step "shmlog --version"
  out=$("${run[@]}" "$container" -- /usr/local/bin/shmlog --version 2>&1)
  if [[ "$out" == "shmlog $version" ]]; then pass "--version prints 'shmlog $version'"; else fail "--version printed '$out'"; fi

  step "image config"
  v=$("${buildah[@]}" inspect --type image --format \
    '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}} {{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}' "$image")
  if [[ "$v" == "$uid:$uid [/usr/local/bin/shmlog] [sidecar] $version" ]]; then
    pass "user $uid:$uid, entrypoint /usr/local/bin/shmlog, cmd sidecar, version label $version"
  else
    fail "image config is '$v'"
  fi

  # ---- run A: the drain, the probe, SIGTERM; the root filesystem compared before and after
  step "sidecar in the container drains a producer outside it ($records records)"
  before=$(rootfs_listing "$mnt")
  start_sidecar a || { fail "the sidecar did not start in the container"; return; }
  v=$(awk '$1 == "Uid:" || $1 == "Gid:" { printf "%s%s", sep, $2; sep = ":" }' "/proc/$sidecar_pid/status")
  if [[ "$v" == "$uid:$uid" ]]; then pass "the sidecar runs as uid:gid $uid:$uid"; else fail "the sidecar runs as uid:gid $v"; fi
  if out=$("${run[@]}" --user "$uid:$uid" "$container" -- /usr/local/bin/shmlog probe --url "http://127.0.0.1:$port" /livez 2>&1); then
    pass "the exec probe 'shmlog probe /livez' answers 0"
  else
    fail "'shmlog probe /livez' failed: $out"
  fi
  produce a "$records"
  v=$(find "$work/a/logs" -type f \! -user "$uid" -printf '%u:%g %f ')
  if [[ -z "$v" ]]; then pass "the output files belong to uid $uid"; else fail "not uid $uid's: $v"; fi
  stop_sidecar
  tail -1 "$work/a/sidecar.out"
  if ((stop_rc == 0)); then pass "SIGTERM: the sidecar exited 0"; else fail "SIGTERM: the sidecar exited $stop_rc"; fi
  if [[ -z "$(find "$work/a/rings" -mindepth 1)" ]]; then
    pass "the producers' rings were drained and removed"
  else
    fail "rings left: $(ls "$work/a/rings")"
  fi
  after=$(rootfs_listing "$mnt")
  if [[ "$before" == "$after" ]]; then
    pass "nothing changed on the root filesystem outside the two volumes ($(wc -l <<<"$after") entries compared)"
  else
    fail "the root filesystem changed: $(diff <(echo "$before") <(echo "$after") | head -10)"
  fi

  # ---- run B: the same on a read-only root filesystem. buildah run has no --read-only: the
  # container's root becomes a read-only bind mount of itself. buildah bind-mounts
  # /run/.containerenv, so that file is made first; buildah 1.28 then fails to remove it after the
  # run and panics ("invalid memory address or nil pointer dereference"), so buildah's exit
  # status says nothing here: the sidecar's own last line does.
  step "the same on a read-only root filesystem"
  if ! { touch "$mnt/run/.containerenv" && mount --bind "$mnt" "$mnt" && ro_mount=$mnt &&
    mount -o remount,bind,ro "$mnt"; }; then
    die "cannot make $mnt a read-only bind mount"
  fi
  out=$("${run[@]}" --user "$uid:$uid" "$container" -- /usr/bin/touch /ro-probe 2>&1)
  if [[ "$out" == *"cannot touch '/ro-probe': Read-only file system"* ]]; then
    pass "the root filesystem is read-only in the container"
  else
    fail "touch /ro-probe in the container did not fail as read-only: $(head -3 <<<"$out")"
  fi
  if start_sidecar b; then
    if awk '$5 == "/" { print $6 }' "/proc/$sidecar_pid/mountinfo" | grep -q '^ro'; then
      pass "the sidecar's root mount is read-only"
    else
      fail "the sidecar's root mount is not read-only: $(awk '$5 == "/"' "/proc/$sidecar_pid/mountinfo")"
    fi
    produce b 1000
    stop_sidecar
    if grep -q 'shmlog sidecar: stopped; 1000 records written' "$work/b/sidecar.out" &&
        ! grep -q 'subprocess exited with status' "$work/b/sidecar.out"; then
      pass "SIGTERM: the sidecar stopped cleanly ($(grep 'shmlog sidecar: stopped' "$work/b/sidecar.out"))"
    else
      fail "SIGTERM on a read-only root: $(grep -E 'shmlog sidecar|subprocess' "$work/b/sidecar.out" | tail -3)"
    fi
  else
    fail "the sidecar did not start on a read-only root filesystem"
  fi
  umount "$mnt" && ro_mount="" && rm -f "$mnt/run/.containerenv"
}

# ---- run ----

start=$SECONDS
step "tools"
install_tools
check_buildah
step "base image $base"
t=$SECONDS
make_base
echo "image.sh: base: $((SECONDS - t)) s"
step "image $image"
t=$SECONDS
build_image || die "buildah bud failed"
echo "image.sh: build: $((SECONDS - t)) s"
"${buildah[@]}" images "$image"
# A build with changed sources leaves the old layers behind untagged (and vfs stores each layer
# in full): they go, the tagged images' layers stay as the next run's cache.
"${buildah[@]}" rmi --prune >/dev/null 2>&1 || true
step "producer (host build)"
build_loadgen || die "building shmlog-loadgen failed"
t=$SECONDS
smoke_test
echo "image.sh: smoke test: $((SECONDS - t)) s; total $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
((failed == 0))
