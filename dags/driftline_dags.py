"""Driftline's only DAG file: one DAG family per model config in dags/configs/.

Airflow discovers this file (it mentions airflow and dag); each YAML in configs/ becomes a
pipeline DAG and a rollback DAG. A broken YAML becomes a `driftline__config_error__<file>` DAG
that shows its errors; the other models are unaffected. Parsing imports only airflow.sdk,
pydantic, yaml and the factory: no ML library, no network, no database.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import get_parsing_context
from driftline.factory import build_all
from driftline.settings import configs_dir

build_all(configs_dir(default=Path(__file__).parent / "configs"), only_dag_id=get_parsing_context().dag_id)
