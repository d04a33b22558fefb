# The Airflow image for Driftline: the locked dependencies, the plugin package, DAGs and configs.
# Build from the repo root:  docker build -f docker/airflow.Dockerfile -t driftline/airflow:0.1.0 .
# (Not buildable on the development machines used so far: they have no Docker engine.)
FROM python:3.11-slim-bookworm

ENV AIRFLOW_HOME=/opt/airflow \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1

RUN pip install --no-cache-dir uv==0.13.9 \
 && useradd --uid 50000 --create-home --home-dir /home/airflow airflow \
 && mkdir -p /opt/airflow && chown airflow /opt/airflow

WORKDIR /opt/airflow
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY plugins/ plugins/
RUN uv sync --frozen --no-dev
COPY dags/ dags/
COPY include/ include/
COPY airflow_settings.yaml ./

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DRIFTLINE_PROJECT_ROOT=/opt/airflow \
    DRIFTLINE_HOME=/opt/airflow/state

USER airflow
ENTRYPOINT ["airflow"]
CMD ["api-server"]
