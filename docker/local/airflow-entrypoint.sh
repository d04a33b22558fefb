#!/usr/bin/env bash
# The stand-in image's entrypoint (see airflow.Containerfile): the parts of the official
# /entrypoint that Driftline's compose stack relies on.
set -euo pipefail
if [ "${_AIRFLOW_DB_MIGRATE:-}" = "true" ]; then
    for _ in $(seq 1 30); do airflow db check >/dev/null 2>&1 && break; sleep 2; done
    airflow db migrate
fi
if [ "$#" -eq 0 ]; then exec bash; fi
case "$1" in
    bash|python|python3|airflow|driftline|mlflow|/*) exec "$@" ;;
    *) exec airflow "$@" ;;
esac
