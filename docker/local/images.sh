#!/usr/bin/env bash
# Build Driftline's three images (`make images`): Airflow (docker/airflow.Dockerfile), training
# (docker/train.Dockerfile) and the predictions service (docker/service.Dockerfile), tagged
# ghcr.io/driftline/<name>:<version>, the names docker-compose.yaml, the Helm values and the pod
# templates use.
#
#   CONTAINER_ENGINE   docker or podman (default: podman where installed, else docker)
#   DRIFTLINE_IMAGE_BASE
#                      official  FROM the official images (apache/airflow, python:3.11-slim-bookworm)
#                      local     FROM stand-ins built here from Debian's packages and PyPI
#                                (docker/local/build-base-images.sh), for machines that reach no
#                                container registry
#                      (default: official when the engine can pull python:3.11-slim-bookworm, else local)
#   IMAGES             which images, default "airflow train service"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
engine="${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
command -v "$engine" >/dev/null || { echo "images: $engine is not installed (set CONTAINER_ENGINE)" >&2; exit 1; }
if [ "$engine" = podman ]; then
    # shellcheck source=docker/local/podman-env.sh
    source "$here/podman-env.sh"
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)
base="${DRIFTLINE_IMAGE_BASE:-}"
if [ -z "$base" ]; then
    if "$engine" image inspect python:3.11-slim-bookworm >/dev/null 2>&1 \
        || timeout 120 "$engine" pull -q python:3.11-slim-bookworm >/dev/null 2>&1; then
        base=official
    else
        base=local
        echo "images: no registry reachable: building FROM local base images (docker/local/)"
    fi
fi
args=()
if [ "$base" = local ]; then
    [ "$engine" = podman ] || { echo "images: DRIFTLINE_IMAGE_BASE=local needs podman (docker/local/build-base-images.sh)" >&2; exit 1; }
    moto=$(awk '/^name = "moto"$/ {getline; sub(/version = "/, ""); sub(/"/, ""); print; exit}' "$repo/uv.lock")
    MOTO_VERSION="$moto" "$here/build-base-images.sh"
    args=(--build-arg PYTHON_IMAGE=localhost/driftline/python:3.11
          --build-arg AIRFLOW_IMAGE=localhost/driftline/airflow:3.3.2)
elif [ "$base" != official ]; then
    echo "images: DRIFTLINE_IMAGE_BASE must be official or local, not '$base'" >&2; exit 2
fi
for name in ${IMAGES:-airflow train service}; do
    tag="ghcr.io/driftline/$name:$version"
    echo "== $tag ($engine, $base base)"
    start=$(date +%s)
    "$engine" build "${args[@]}" -f "$repo/docker/$name.Dockerfile" -t "$tag" "$repo"
    echo "built $tag in $(( $(date +%s) - start )) s"
done
