#!/usr/bin/env bash
# The compose stack (docker/docker-compose.yaml) on a machine without Docker or a registry:
# podman-compose, the images built by `make images` from local bases, and the stand-ins of
# docker/local/compose.local.yaml for the hub images (Postgres, Redis, DynamoDB). Healthchecks
# do not run by themselves under podman without systemd, so this polls them.
#
#   docker/local/compose.sh up       build what is missing, start the stack, wait until healthy
#   docker/local/compose.sh down     stop it (volumes kept; `down -v` to delete them)
#   docker/local/compose.sh health   run every container's healthcheck once and print the states
#   docker/local/compose.sh ARGS...  any other podman-compose command (ps, logs SERVICE, ...)
#
# Env: COMPOSE_PROJECT_NAME (default driftline), DRIFTLINE_COMPOSE_ENV_FILE (default docker/.env,
# written by docker/compose-env.sh), DRIFTLINE_AIRFLOW_PORT / _MLFLOW_PORT / _SERVICE_PORT (host
# ports on 127.0.0.1; defaults 8080, 5000, 8000), DRIFTLINE_COMPOSE_TIMEOUT_S (default 900),
# DRIFTLINE_COMPOSE_BUILD=0 (start the images as they are instead of `images.sh` first).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=docker/local/podman-env.sh
source "$here/podman-env.sh"
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-driftline}"
export DRIFTLINE_STATSD_ON=False
export MLFLOW_WORKERS="${MLFLOW_WORKERS:-1}"
env_file="${DRIFTLINE_COMPOSE_ENV_FILE:-$repo/docker/.env}"
tools="$repo/.driftline/tools"
pc="$tools/bin/podman-compose"
if [ ! -x "$pc" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet "podman-compose==1.6.0"
fi
compose() {
    "$pc" --project-name "$COMPOSE_PROJECT_NAME" --env-file "$env_file" \
        -f "$repo/docker/docker-compose.yaml" -f "$here/compose.local.yaml" "$@"
}
containers() { podman ps -a --filter "label=io.podman.compose.project=$COMPOSE_PROJECT_NAME" --format '{{.Names}}'; }
health() {  # run each healthcheck once; print "name state"
    local name state
    for name in $(containers); do
        if podman healthcheck run "$name" >/dev/null 2>&1; then state=healthy
        elif [ "$(podman inspect -f '{{.State.Healthcheck.Status}}' "$name" 2>/dev/null)" = "" ]; then
            state=$(podman inspect -f '{{.State.Status}}' "$name")
        else state=unhealthy; fi
        echo "$name $state"
    done
}
stage() {  # start the services named in $1 (their dependencies are up) and wait until each is healthy
    local service name
    # shellcheck disable=SC2086
    compose up -d --no-deps --no-build $1
    for service in $1; do
        name="${COMPOSE_PROJECT_NAME}_${service}_1"
        until podman healthcheck run "$name" >/dev/null 2>&1 \
            || { [ -z "$(podman inspect -f '{{.Config.Healthcheck}}' "$name" 2>/dev/null | tr -d '<>nil')" ] \
                 && [ "$(podman inspect -f '{{.State.Status}}' "$name")" = running ]; }; do
            if [ "$(podman inspect -f '{{.State.Status}}' "$name")" = exited ]; then
                echo "$service exited:"; podman logs --tail 40 "$name"; exit 1
            fi
            if [ "$(date +%s)" -gt "$deadline" ]; then
                echo "$service not healthy in time:"; podman logs --tail 40 "$name"; exit 1
            fi
            sleep 5
        done
        echo "$service ready"
    done
}
case "${1:-}" in
    up)
        [ -f "$env_file" ] || "$repo/docker/compose-env.sh"
        if [ "${DRIFTLINE_COMPOSE_BUILD:-1}" = 0 ]; then  # the caller built them (the container test does)
            for image in airflow service; do
                podman image exists "ghcr.io/driftline/$image:$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml" | head -n 1)" \
                    || { echo "ghcr.io/driftline/$image is missing: run 'make images'" >&2; exit 1; }
            done
        else
            IMAGES="airflow service" "$here/images.sh"
        fi
        # podman 4.3 has neither `healthy` nor `completed_successfully` dependencies (podman-compose
        # ignores the first, and a container that `--requires` a finished one never starts), so
        # the stack starts in the order of docker-compose.yaml's depends_on, one stage at a time,
        # each waited for here.
        deadline=$(( $(date +%s) + ${DRIFTLINE_COMPOSE_TIMEOUT_S:-900} ))
        stage "postgres redis dynamodb"
        stage "mlflow"
        compose up -d --no-deps --no-build airflow-init
        init="${COMPOSE_PROJECT_NAME}_airflow-init_1"
        rc=$(podman wait "$init")
        if [ "$rc" != 0 ]; then echo "airflow-init failed ($rc):"; podman logs --tail 40 "$init"; exit 1; fi
        stage "airflow-apiserver airflow-scheduler airflow-dag-processor airflow-triggerer airflow-worker predictions"
        health
        echo "stack up: Airflow http://127.0.0.1:${DRIFTLINE_AIRFLOW_PORT:-8080}  MLflow http://127.0.0.1:${DRIFTLINE_MLFLOW_PORT:-5000}  predictions http://127.0.0.1:${DRIFTLINE_SERVICE_PORT:-8000}"
        ;;
    down) shift; compose down "$@" ;;
    health) health ;;
    "") echo "usage: $0 up|down|health|PODMAN-COMPOSE-ARGS" >&2; exit 2 ;;
    *) compose "$@" ;;
esac
