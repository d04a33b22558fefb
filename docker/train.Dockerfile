# The training image: `python -m driftline.training` in a Kubernetes (GPU) pod, the same code the
# local backend runs on an Airflow worker. Build from the repo root:
#   docker build -f docker/train.Dockerfile -t ghcr.io/driftline/train:0.1.0 .
# Here: `make images` (podman, local base images).
#
# GPU runtime: the NVIDIA driver and device files are injected into the container by the node's
# NVIDIA container toolkit / device plugin (the pod requests `nvidia.com/gpu`), not by the image.
# scikit-learn uses no GPU; GPU libraries a user callable may add (torch, xgboost, cupy-cuda12x)
# ship their CUDA runtime inside their wheels, so a slim Python base is enough. For system CUDA
# libraries instead, base this on nvidia/cuda:12.x-cudnn-runtime-ubuntu22.04 and install Python 3.11
# with `uv python install 3.11`.
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
    DRIFTLINE_PROJECT_ROOT=/opt/driftline \
    DRIFTLINE_CONFIGS=/opt/driftline/dags/configs \
    DRIFTLINE_HOME=/tmp/driftline \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    GIT_PYTHON_REFRESH=quiet

# libgomp1: OpenMP for scikit-learn's histogram gradient boosting.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv==0.13.9 \
 && groupadd --gid 1000 driftline \
 && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/driftline driftline

WORKDIR /opt/driftline
# Only the `train` dependency group (pyproject.toml): MLflow (skinny), scikit-learn, pandas, pyarrow,
# pydantic, fsspec/s3fs. No Airflow, no providers, no Great Expectations, Evidently or moto:
# driftline.training imports none of them (tests/unit/training/test_train_without_airflow.py).
# 74 packages, a 527 MB environment (the full runtime set: 257 packages, 1.3 GB).
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --only-group train
# The driftline package itself goes on PYTHONPATH (installing it would pull its Airflow runtime deps).
COPY plugins/driftline/ plugins/driftline/
# Configs for `--config dags/configs/<model>.yaml`; the operator passes --config-b64 (the DAG's config).
COPY dags/configs/ dags/configs/
# include/: user training callables (`training.estimator.callable: module:function`).
COPY include/ include/

# uid 1000 matches training.kubernetes.run_as_user (runAsNonRoot in the pod's securityContext).
USER 1000:1000
ENTRYPOINT ["python", "-m", "driftline.training"]
CMD ["--help"]
