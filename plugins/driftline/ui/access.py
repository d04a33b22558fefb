"""Who may see what on the Driftline page: Airflow's auth manager, asked per DAG, for every view.

- A model (its page, history, drift reports, cost, alerts, experiment; in HTML and JSON) is shown
  to a user the auth manager lets read the runs of the model's pipeline DAG
  (`is_authorized_dag(GET, RUN, DagDetails(id=driftline__<model>, team_name=...))`), the same
  check Airflow's API makes for `GET /api/v2/dags/{dag_id}/dagRuns`.
- A config file that does not load becomes the DAG `driftline__config_error__<file>`, whose
  description and docs show the file's errors; the page shows that file (its name, its errors) to a
  user who may read that DAG (`is_authorized_dag(GET, DagDetails(id=...))`), as Airflow's own UI
  would. A user who may read only some models' DAGs sees no other file.
- A model the user may not read is answered exactly like a model that does not exist (404), so
  its name cannot be probed.
The team of each DAG (multi-team deployments) is read from Airflow's database, as
`requires_access_dag` does, in one query per request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.config.loader import display_path
from driftline.factory.ids import config_error_dag_id, pipeline_dag_id


def config_error_dag(path: str) -> str:
    """The DAG id the loader gives a config file that does not load (`factory.dags.build_config_error_dag`)."""
    return config_error_dag_id(Path(display_path(path)).stem)


def _teams(dag_ids: list[str]) -> dict[str, str | None]:
    from airflow.models.dag import DagModel

    return DagModel.get_dag_id_to_team_name_mapping(dag_ids) if dag_ids else {}


class Access:
    """One user's view: which models and which config errors the auth manager lets them read."""

    def __init__(self, user: Any, manager: Any = None) -> None:
        if manager is None:
            from airflow.api_fastapi.app import get_auth_manager

            manager = get_auth_manager()
        self.user = user
        self.manager = manager

    def _allowed(self, dag_ids: list[str], run: bool) -> set[str]:
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        teams = _teams(dag_ids)
        return {
            dag_id
            for dag_id in dag_ids
            if self.manager.is_authorized_dag(
                method="GET",
                access_entity=DagAccessEntity.RUN if run else None,
                details=DagDetails(id=dag_id, team_name=teams.get(dag_id)),
                user=self.user,
            )
        }

    def models(self, names: list[str]) -> set[str]:
        """The model names among `names` whose pipeline runs the user may read."""
        allowed = self._allowed([pipeline_dag_id(n) for n in names], run=True)
        return {n for n in names if pipeline_dag_id(n) in allowed}

    def model(self, name: str) -> bool:
        return bool(self.models([name]))

    def config_errors(self, errors: dict[str, str]) -> dict[str, str]:
        """The broken config files (path -> error) whose config-error DAG the user may read."""
        dags = {path: config_error_dag(path) for path in errors}
        allowed = self._allowed(sorted(set(dags.values())), run=False)
        return {path: err for path, err in errors.items() if dags[path] in allowed}
