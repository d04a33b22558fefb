# Driftline developer commands. Everything local lives under .driftline/ (git-ignored).
#   make demo   install, generate example data, run the example pipeline end to end (dag.test)
#   make test   install, run the test suite (pytest-xdist, PYTEST_WORKERS=3 processes)
#   make test-fast  the inner loop: unit tests only, no servers, no whole DAG runs (-m "not slow and not integration", in parallel too)
#   make docs   build the documentation site with --strict into .driftline/site
#   make up     Airflow (UI on 127.0.0.1:8080, login) + MLflow (:5000) + moto DynamoDB/S3 (:4566), loopback only
#   make check-stack  check a running stack: login required, connections loaded, loopback only
#   make run MODEL=churn DATE=2026-01-16   run a model's pipeline for a data day (or START=.. END=..)
#   make airflow ARGS="dags list"   the airflow CLI with the project's environment (not ~/airflow)
#   make env    write .driftline/env: `source .driftline/env` gives a shell the same environment
#   make clean  delete .driftline/ (it lists what); make clean-demo deletes only the demo's state
#   make compose-up / compose-down   the compose stack (docker/docker-compose.yaml; needs Docker)
#   make images   build the Airflow, training and service images (Docker or podman; local bases without a registry)
#   make compose-up-local / compose-down-local   the compose stack with podman-compose and local base images
#   make k8s-local / k8s-down   a single-node Kubernetes 1.20 from Debian's sources (binaries cached in ~/.cache/driftline)
#   make test-containers   the opt-in container tests (images, compose stack, training pod on k8s-local)
#   make test-compose / test-k8s   one part of them: the compose stack, or the training pod on k8s-local
#   make down / make lint (ruff + mypy strict) / make bench / make validate

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3

export DRIFTLINE_HOME := $(CURDIR)/.driftline
export DRIFTLINE_PROJECT_ROOT := $(CURDIR)
export DRIFTLINE_CONFIGS := $(CURDIR)/dags/configs
export AIRFLOW_HOME := $(DRIFTLINE_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN := sqlite:///$(AIRFLOW_HOME)/airflow.db
export GIT_PYTHON_REFRESH := quiet
export UV_PYTHON_DOWNLOADS := never

UV_BOOT := $(DRIFTLINE_HOME)/tools
UV := $(shell command -v uv 2>/dev/null || echo $(UV_BOOT)/bin/uv)
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.driftline-synced

.PHONY: help install demo test test-fast test-scheduler-matrix docs config-reference up down compose-up compose-down compose-up-local compose-down-local images k8s-local k8s-down test-containers test-compose test-k8s check-stack clean clean-demo lint format bench validate schema data env airflow run

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(UV_BOOT)/bin/uv:
	@echo "uv not found: bootstrapping it with pip into $(UV_BOOT)"
	$(PYTHON) -m venv $(UV_BOOT)
	$(UV_BOOT)/bin/pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra local --extra spark --compile-bytecode --python $(PYTHON)
	$(VENV)/bin/python -m compileall -q plugins dags benchmarks include
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/python -m driftline.demo

# Tests run in PYTEST_WORKERS processes (pytest-xdist): most of the slow ones wait on servers they
# start (MLflow, moto, Airflow's API server, a browser), so 3 workers beat 2 on 2 cores. loadgroup
# hands out tests one at a time in collection order (tests/conftest.py puts the heaviest first) and
# keeps an xdist_group on one worker. PYTEST_WORKERS=0 runs them in this process, one at a time.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL = -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder

# mypy (3-4 min from a cold cache on a busy machine) runs beside pytest, its output printed after
# the tests; either one failing fails `make test`.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@mkdir -p $(DRIFTLINE_HOME)
	@$(VENV)/bin/mypy >$(DRIFTLINE_HOME)/mypy.log 2>&1 & types=$$!; \
	echo "$(VENV)/bin/mypy (beside pytest, output in $(DRIFTLINE_HOME)/mypy.log)"; \
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) --durations=25; tests=$$?; \
	wait $$types; typed=$$?; echo "mypy:"; cat $(DRIFTLINE_HOME)/mypy.log; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

test-fast: install
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not slow and not integration" -q -p no:cacheprovider

# The concurrency matrix under the real scheduler (Postgres, LocalExecutor, REST triggers): opt-in, ~30 min.
test-scheduler-matrix: install
	DRIFTLINE_SCHEDULER_MATRIX=1 scripts/with_postgres.sh $(VENV)/bin/pytest tests/integration/test_scheduler_matrix.py -s -p no:cacheprovider

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(DRIFTLINE_HOME)/site

config-reference: install
	$(VENV)/bin/python scripts/config_reference.py

up: install
	$(VENV)/bin/python -m driftline.devstack up

check-stack:
	scripts/check_stack.sh

down:
	@if [ -x $(VENV)/bin/python ]; then $(VENV)/bin/python -m driftline.devstack down; fi

clean: down
	@if [ -d "$(DRIFTLINE_HOME)" ]; then \
		echo "make clean deletes $(DRIFTLINE_HOME): every local model's MLflow runs and registered versions,"; \
		echo "its snapshots, quarantine ledger and alerts, the local Airflow database and logs, the demo's state"; \
		echo "and the generated example data:"; \
		du -sh "$(DRIFTLINE_HOME)"/* 2>/dev/null | sed 's/^/  /'; \
		rm -rf "$(DRIFTLINE_HOME)"; echo "deleted $(DRIFTLINE_HOME)"; \
	else echo "nothing to clean: $(DRIFTLINE_HOME) does not exist"; fi

clean-demo:
	@echo "deleting only the demo's state: $(DRIFTLINE_HOME)/demo"
	rm -rf "$(DRIFTLINE_HOME)/demo"

env: install
	@mkdir -p $(DRIFTLINE_HOME)
	$(VENV)/bin/driftline env > $(DRIFTLINE_HOME)/env
	@echo "wrote $(DRIFTLINE_HOME)/env: run 'source $(DRIFTLINE_HOME)/env' in a shell, then 'airflow ...' uses this project"

airflow: install
	$(VENV)/bin/airflow $(ARGS)

run: install
	@if [ -z "$(MODEL)" ]; then echo "usage: make run MODEL=churn DATE=2026-01-16 (or START=... END=...)"; exit 2; fi
	$(VENV)/bin/driftline run $(MODEL) $(if $(DATE),--date $(DATE)) $(if $(START),--start $(START)) $(if $(END),--end $(END)) $(if $(CONF),--conf '$(CONF)')

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

validate: install
	$(VENV)/bin/driftline validate dags/configs

schema: install
	$(VENV)/bin/driftline schema -o include/schema/driftline-model.schema.json
	$(VENV)/bin/python scripts/config_reference.py

data: install
	$(VENV)/bin/python include/generate_churn_data.py --out $(DRIFTLINE_HOME)/data

COMPOSE := docker compose -f docker/docker-compose.yaml

compose-up: data
	docker/compose-env.sh
	$(COMPOSE) up -d --build

compose-down:
	$(COMPOSE) down

images:
	docker/local/images.sh

compose-up-local: data
	docker/local/compose.sh up

compose-down-local:
	docker/local/compose.sh down

k8s-local: install
	docker/local/k8s.sh build
	docker/local/k8s.sh up

k8s-down:
	docker/local/k8s.sh down

# Opt-in: builds images and starts a compose stack (and, with k8s-local up, a training pod).
test-containers: install
	DRIFTLINE_CONTAINER_TESTS=1 $(VENV)/bin/pytest -m containers tests/containers -v

# Opt-in, one part each: the compose stack (a model-day through the REST API, then a lookup), and
# the training pod on k8s-local (a run, a pod deleted mid-run, a reattach). Each stops what it started.
test-compose: install
	DRIFTLINE_CONTAINER_TESTS=1 $(VENV)/bin/pytest -m containers tests/containers/test_compose_stack.py -v -p no:cacheprovider

test-k8s: install
	DRIFTLINE_CONTAINER_TESTS=1 $(VENV)/bin/pytest -m containers tests/containers/test_train_pod_k8s.py -v -p no:cacheprovider

bench: install
	$(UV) sync --frozen --extra local --group bench --python $(PYTHON)
	$(VENV)/bin/python benchmarks/table.py $(BENCH_ARGS)
