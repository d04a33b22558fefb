# The predictions service image: `driftline serve` (FastAPI on uvicorn) and nothing else.
#
#   docker build -f docker/service.Dockerfile -t ghcr.io/driftline/service:0.1.0 .
#
# Only the `service` dependency group of pyproject.toml (uv.lock): the Airflow core and the amazon
# provider (the service reads its DynamoDB and MLflow credentials through Airflow connections,
# `AIRFLOW_CONN_<ID>`), MLflow (skinny), scikit-learn and skops (the champion for /score), pandas,
# pyarrow, FastAPI and uvicorn. No Great Expectations, Evidently, cncf-kubernetes or Celery:
# 183 packages, a 711 MB environment (checked here: that environment started `driftline serve` on
# dags/configs and answered /openapi.json and an authenticated lookup).
# Built here by `make images` (podman, local base images); linted by hadolint in the tests.
# The base image: the official slim Python by default; `make images` passes a local stand-in
# (docker/local/python.Containerfile) where no registry is reachable.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/driftline/plugins \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/tmp/airflow \
    DRIFTLINE_PROJECT_ROOT=/opt/driftline \
    DRIFTLINE_CONFIGS=/opt/driftline/dags/configs \
    DRIFTLINE_HOME=/tmp/driftline \
    GIT_PYTHON_REFRESH=quiet

# libgomp1: OpenMP for scikit-learn's histogram gradient boosting (the example champion).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv==0.13.9 \
 && groupadd --gid 1000 driftline \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/driftline driftline

WORKDIR /opt/driftline
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --only-group service
# The package goes on PYTHONPATH (installing it would pull its full Airflow runtime set).
COPY plugins/driftline/ plugins/driftline/
# The models served: every config with an `inference` section.
COPY dags/configs/ dags/configs/

USER 1000:1000
EXPOSE 8000
# API keys: DRIFTLINE_API_KEY_SHA256 (comma-separated sha256 of the keys; from a Secret), or a
# keys file mounted at DRIFTLINE_HOME/api_keys. The service refuses to start without any.
ENTRYPOINT ["python", "-m", "driftline.cli", "serve", "--host", "0.0.0.0", "--port", "8000"]
