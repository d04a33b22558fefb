#!/usr/bin/env bash
# Build, from Debian's packages and PyPI alone, the base images that Driftline's images and the
# compose stack start FROM, for a machine that reaches no container registry:
#
#   localhost/driftline/debian:bookworm     debootstrap --variant=minbase, CA certificates of this host
#   localhost/driftline/python:3.11         stands in for python:3.11-slim-bookworm (Debian's python3 3.11)
#   localhost/driftline/airflow:3.3.2       stands in for apache/airflow:3.3.2-python3.11 (uid 50000, /entrypoint)
#   localhost/driftline/postgres:15         stands in for postgres:16 (Debian's postgresql-15, same env and initdb.d)
#   localhost/driftline/redis:7             stands in for redis:7.2-bookworm (Debian's redis-server 7.0)
#   localhost/driftline/moto:dynamodb       stands in for amazon/dynamodb-local (moto's server, DynamoDB API on :8000)
#
# An image that already exists is kept (FORCE=1 rebuilds). Uses podman (docker/local/podman-env.sh).
# With Docker and a registry, none of this is needed: the Dockerfiles default to the official images.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=docker/local/podman-env.sh
source "$here/podman-env.sh"
PREFIX=localhost/driftline
MIRROR="${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)}"

have() { [ -z "${FORCE:-}" ] && podman image exists "$1"; }

if ! have "$PREFIX/debian:bookworm"; then
    command -v debootstrap >/dev/null || { echo "build-base-images: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "debootstrap bookworm from $MIRROR into $root"
    debootstrap --variant=minbase --include=ca-certificates,curl bookworm "$root" "$MIRROR" >/dev/null
    # Package registries may be reached through a proxy with its own CA: the host's bundle goes in.
    cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/host-bundle.crt"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -c . | podman import \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["bash"]' - "$PREFIX/debian:bookworm"
    rm -rf "$root"; trap - EXIT
fi

build() {  # build NAME CONTAINERFILE
    if have "$1"; then echo "kept $1"; return; fi
    podman build --build-arg "BASE=$PREFIX" --build-arg "MOTO_VERSION=${MOTO_VERSION:?set by images.sh from uv.lock}" -t "$1" -f "$here/$2" "$here"
}
build "$PREFIX/python:3.11" python.Containerfile
build "$PREFIX/airflow:3.3.2" airflow.Containerfile
build "$PREFIX/postgres:15" postgres.Containerfile
build "$PREFIX/redis:7" redis.Containerfile
build "$PREFIX/moto:dynamodb" moto.Containerfile
podman images --filter "reference=$PREFIX/*"
