# The shmlog sidecar image: `shmlog sidecar` as UID/GID 65532 on debian:bookworm-slim, for a
# read-only root filesystem (it writes only to its two volumes).
#
#   buildah bud --layers -t shmlog:0.1.0 .     or   docker build -t shmlog:0.1.0 .  (BuildKit)
#
# CI builds and smoke-tests it with scripts/image.sh (the `image` stage of scripts/test.sh).
#
# BASE names the base image of both stages. CI has no registry and passes a local one made with
# debootstrap (scripts/image.sh); elsewhere the default is pulled.
ARG BASE=debian:bookworm-slim

# ---- build: the project's own dependency script and build commands ----
FROM ${BASE} AS build
# The dependency layer first, so editing the source does not reinstall the toolchain.
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh --build-only
COPY . /src
WORKDIR /src
ARG JOBS=2
RUN SHMLOG_TEST_JOBS=${JOBS} scripts/build-image-binary.sh /out

# ---- runtime: the binary and the libraries it loads, nothing else ----
FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="shmlog" \
      org.opencontainers.image.description="Sidecar that drains shmlog's shared-memory log rings to JSON-lines files and Grafana Loki" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

COPY --from=build /out/usr/local/bin/shmlog /usr/local/bin/shmlog
# The runtime libraries are installed as Debian packages (the build stage asked dpkg -S which
# packages own the libraries ldd resolves for the binary), not copied out of the build stage:
# so dpkg's database lists them, image scanners see their versions and their CVEs, and a
# rebuild picks up Debian's security fixes. Packages the base already has are left as they are.
# Then the binary must find every library, and user 65532 (distroless's "nonroot", numeric
# below so runAsNonRoot can check it) gets the two volume directories.
RUN --mount=type=bind,from=build,source=/out/runtime-packages,target=/tmp/runtime-packages \
    set -eu; \
    missing=; \
    for p in $(cat /tmp/runtime-packages); do \
      dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update -q; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; \
      apt-get clean; \
      rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old; \
    fi; \
    if ldd /usr/local/bin/shmlog | grep 'not found'; then exit 1; fi; \
    /usr/local/bin/shmlog --version; \
    groupadd --system --gid 65532 nonroot; \
    useradd --system --no-log-init --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot; \
    install -d -o 65532 -g 65532 -m 2770 /run/shmlog; \
    install -d -o 65532 -g 65532 -m 0750 /var/log/shmlog

# The rings (/var/run/shmlog, shared with the apps: an emptyDir in Kubernetes) and the JSON-lines
# files (/var/log/shmlog) are the only places the sidecar writes, so the root filesystem can be
# read-only; both are mount points for volumes, made above for uid 65532 (/var/run is a symlink to
# /run in Debian). No VOLUME instruction: the rings must be a volume shared with the apps anyway,
# and buildah 1.28 lets `run -v` override only one of an image's declared volumes.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/shmlog"]
CMD ["sidecar"]
