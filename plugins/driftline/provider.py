"""Provider metadata for Airflow's providers manager (entry point `apache_airflow_provider`).

Airflow reads it without importing any hook: the UI learns the `mlflow` connection type and its
form fields, and `airflow config list` shows the `[driftline]` section. Connection form fields
are declared here (`conn-fields`, `ui-field-behaviour`), as Airflow 3.2+ asks, rather than with
the deprecated `get_connection_form_widgets` on the hook.
"""

from __future__ import annotations

from typing import Any

from driftline import __version__

MLFLOW_CONN_TYPE = "mlflow"

MLFLOW_CONN_FIELDS: dict[str, Any] = {
    "tracking_uri": {
        "label": "Tracking URI",
        "schema": {"type": ["string", "null"]},
        "description": "Full MLflow tracking URI (e.g. https://mlflow.example.com or sqlite:///...); "
        "overrides host, port and scheme.",
    },
}

MLFLOW_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["extra"],
    "relabeling": {"schema": "Scheme (http or https)", "login": "Username"},
    "placeholders": {
        "host": "mlflow.example.com",
        "port": "5000",
        "schema": "http",
        "tracking_uri": "https://mlflow.example.com",
    },
}


def _option(description: str, example: str | None = None, type_: str = "string") -> dict[str, Any]:
    return {
        "description": description,
        "version_added": "0.1.0",
        "type": type_,
        "example": example,
        "default": None,
    }


CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "home": _option(
        "Local state folder (snapshots, local MLflow store). Env: DRIFTLINE_HOME.", "/opt/driftline"
    ),
    "configs": _option(
        "Folder of per-model YAML configs. Env: DRIFTLINE_CONFIGS.", "/opt/airflow/dags/configs"
    ),
    "project_root": _option(
        "Folder holding dags/ and include/; relative config paths start here. Env: DRIFTLINE_PROJECT_ROOT.",
        "/opt/airflow",
    ),
    "data": _option("Where {data_root} in a source path points. Env: DRIFTLINE_DATA.", "s3://bucket/data"),
    "snapshot_conn_id": _option(
        "Airflow connection of an object-store snapshot root. Env: DRIFTLINE_SNAPSHOT_CONN_ID.", "aws_default"
    ),
    "cost_ledger_url": _option(
        "SQLAlchemy URL of the cost ledger (SQLite or PostgreSQL); default: SQLite under the home folder. "
        "Env: DRIFTLINE_COST_LEDGER_URL.",
        "postgresql+psycopg2://driftline@db/driftline",
    ),
    "registry_retries": _option(
        "Attempts per MLflow registry call. Env: DRIFTLINE_REGISTRY_RETRIES.", "4", "integer"
    ),
    "registry_budget": _option(
        "Seconds one registry call may take with its retries. Env: DRIFTLINE_REGISTRY_BUDGET.", "30", "float"
    ),
    "external_timeout_s": _option(
        "Seconds one call to an external system may take: MLflow (its own HTTP retries off), DynamoDB, "
        "S3, SQL connect/statement. Env: DRIFTLINE_EXTERNAL_TIMEOUT_S.",
        "30",
        "float",
    ),
    "registry_backoff": _option(
        "Seconds of the first retry delay of a registry call. Env: DRIFTLINE_REGISTRY_BACKOFF.",
        "1.0",
        "float",
    ),
}


def get_provider_info() -> dict[str, Any]:
    """The provider info dictionary (schema: airflow/provider_info.schema.json)."""
    return {
        "package-name": "driftline",
        "name": "Driftline",
        "description": "One YAML file per model becomes validated, drift-aware training and inference "
        "pipelines on Apache Airflow 3.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "MLflow",
                "external-doc-url": "https://mlflow.org/docs/latest/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": "MLflow", "python-modules": ["driftline.hooks.mlflow"]}],
        "connection-types": [
            {
                "hook-class-name": "driftline.hooks.mlflow.MlflowHook",
                "hook-name": "MLflow",
                "connection-type": MLFLOW_CONN_TYPE,
                "conn-fields": MLFLOW_CONN_FIELDS,
                "ui-field-behaviour": MLFLOW_UI_FIELD_BEHAVIOUR,
            }
        ],
        "config": {
            "driftline": {
                "description": "Driftline platform settings. Each option can also be set with its "
                "DRIFTLINE_<OPTION> environment variable, which takes precedence.",
                "options": CONFIG_OPTIONS,
            }
        },
    }
