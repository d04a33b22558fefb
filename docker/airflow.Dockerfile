# The Airflow image with Driftline: the official Airflow image plus the dependencies locked in
# uv.lock, the `driftline` package (provider entry point, `driftline` CLI), the DAG file, the model
# configs and include/. One image for every Airflow component (api-server, scheduler, dag-processor,
# triggerer, Celery workers) of the compose stack and the Helm chart.
#
#   docker build -f docker/airflow.Dockerfile -t ghcr.io/driftline/airflow:0.1.0 .
#
# Built here with podman from local base images (`make images`, docker/local/); linted by hadolint in
# tests/unit/deploy/test_dockerfiles.py.

ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
# The image stage 1 runs `uv export` in; `make images` passes local stand-ins for both where no
# registry is reachable (docker/local/).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1: the locked requirement set. `uv export --frozen` reads uv.lock only (no resolution):
# the runtime dependencies plus the `deploy` extra (Celery, Postgres, StatsD), every file hashed.
FROM ${PYTHON_IMAGE} AS requirements
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --extra deploy --no-emit-project --format requirements-txt \
      --output-file /requirements.txt

# Stage 2: the official image, extended as its documentation describes (pip as the airflow user).
FROM ${AIRFLOW_IMAGE}
COPY --from=requirements /requirements.txt /requirements.txt
# The lock pins apache-airflow==3.3.2 (the image's own version), so pip keeps Airflow and moves
# only the libraries whose locked version differs from the image's constraints.
RUN pip install --no-cache-dir --require-hashes -r /requirements.txt

# The package itself, without dependencies (they are all in the locked set above).
COPY --chown=airflow:0 pyproject.toml README.md /opt/driftline-src/
COPY --chown=airflow:0 plugins/driftline/ /opt/driftline-src/plugins/driftline/
RUN pip install --no-cache-dir --no-deps /opt/driftline-src

# DAGs and configs baked in (a deploy of a new model = a new image tag). The Helm values can
# instead sync dags/ from git (git-sync), which needs no rebuild for config-only changes.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DRIFTLINE_PROJECT_ROOT=/opt/airflow \
    DRIFTLINE_CONFIGS=/opt/airflow/dags/configs \
    DRIFTLINE_HOME=/opt/airflow/driftline \
    GIT_PYTHON_REFRESH=quiet \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver \
    AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow.executors.local_executor,driftline.preload
# The last two: with the LocalExecutor (a single-container deployment) the scheduler's worker pool
# comes from a fork server that has imported pandas, pyarrow, MLflow, scikit-learn, GX and
# Evidently once (driftline/preload.py); every task process is a fork of it. With the
# CeleryExecutor the scheduler runs no task, so docker-compose.yaml and the Helm values clear them.

# uid 50000 is the official image's `airflow` user (group 0, as the image expects).
USER 50000:0
# Mount points of the compose volumes (Driftline's state, MLflow's artifacts): a new named volume
# takes the ownership of the folder it is mounted on.
RUN mkdir -p /opt/airflow/driftline /opt/airflow/mlflow-artifacts
# ENTRYPOINT and CMD stay the official image's (`/entrypoint`, e.g. `airflow scheduler`).
