#!/usr/bin/env bash
# Runs once, on the first start of the compose stack's Postgres (docker-entrypoint-initdb.d): the
# MLflow backend store and the Driftline cost ledger get their own database and owner, next to
# Airflow's metadata database (POSTGRES_DB). Passwords come from the container's environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v mlflow_pw="$MLFLOW_DB_PASSWORD" -v driftline_pw="$DRIFTLINE_DB_PASSWORD" <<'SQL'
CREATE USER mlflow WITH PASSWORD :'mlflow_pw';
CREATE DATABASE mlflow OWNER mlflow;
CREATE USER driftline WITH PASSWORD :'driftline_pw';
CREATE DATABASE driftline OWNER driftline;
SQL
