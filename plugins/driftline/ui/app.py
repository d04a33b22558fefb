"""The Driftline FastAPI app, mounted by Airflow's API server at `/driftline`, behind Airflow's login.

Every route depends on `airflow.api_fastapi.core_api.security.requires_authenticated()` (the UI's
session cookie or an `Authorization: Bearer <JWT>` from `POST /auth/token`; none -> 401, a bad
token -> 403), and shows a model only to users the auth manager lets read the runs of its
pipeline DAG (`is_authorized_dag(GET, RUN)`; otherwise 403 on its page, hidden on the list).

Routes: `/` models page (HTML), `/models/{model}` one model (HTML),
`/models/{model}/drift-report/{mlflow_run_id}` the stored Evidently report,
`/api/models` and `/api/models/{model}` the same data as JSON. `?source=stack|demo` picks the
history (`driftline.ui.sources`).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_authenticated
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from driftline.factory.ids import pipeline_dag_id
from driftline.ui import data, render
from driftline.ui.sources import DEMO, STACK, Source, demo_source, stack_source

SourceName = Annotated[str, Query(pattern="^(stack|demo)$")]


def _sources() -> tuple[list[Source], dict[str, str]]:
    """The sources that can be shown, and why any could not be opened."""
    out, problems = [], {}
    try:
        out.append(stack_source())
    except Exception as exc:  # e.g. no mlflow_default connection: say so on the page
        problems[STACK] = f"{type(exc).__name__}: {exc}"
    demo = demo_source()
    if demo is not None:
        out.append(demo)
    return out, problems


def _pick(name: str) -> tuple[Source, list[Source]]:
    sources, problems = _sources()
    for source in sources:
        if source.name == name:
            return source, sources
    if name in problems:
        raise HTTPException(503, f"the {name!r} history cannot be read: {problems[name]}")
    if name == DEMO:
        raise HTTPException(404, "no demo history here: run `make demo` first")
    raise HTTPException(404, f"unknown source {name!r}")


def _may_read(user: Any, dag_id: str) -> bool:
    return bool(
        get_auth_manager().is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
        )
    )


def _configs(user: Any) -> tuple[list[Any], dict[str, str]]:
    configs, errors = data.load_models()
    return [c for c in configs if _may_read(user, pipeline_dag_id(c.model.name))], errors


def _one(user: Any, model: str) -> Any:
    configs, _ = data.load_models()
    for config in configs:
        if config.model.name == model:
            if not _may_read(user, pipeline_dag_id(model)):
                raise HTTPException(403, f"you may not read the runs of {pipeline_dag_id(model)}")
            return config
    raise HTTPException(404, f"no model {model!r} in the configs folder")


def _pages(source: Source, configs: list[Any]) -> list[data.ModelPage]:
    mlflow = data.ReadOnlyMlflow(source.tracking_uri)
    return [data.model_page(source, c, mlflow) for c in configs]


def _reports(source: Source, page: data.ModelPage) -> dict[str, str | None]:
    if not isinstance(page.drift, list):
        return {}
    mlflow = data.ReadOnlyMlflow(source.tracking_uri)
    out: dict[str, str | None] = {}
    for point in page.drift:
        try:
            out[point.mlflow_run_id] = data.report_path(data.drift_artifacts(mlflow, point.mlflow_run_id))
        except Exception:
            out[point.mlflow_run_id] = None
    return out


def _json(value: Any) -> Response:
    def plain(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        return str(obj)

    body = json.dumps(value, default=plain)
    return Response(body, media_type="application/json")


def _page_json(page: data.ModelPage) -> dict[str, Any]:
    out = dataclasses.asdict(page)
    out["last_run"] = dataclasses.asdict(page.last_run) if page.last_run else None
    return out


def create_app() -> FastAPI:
    app = FastAPI(
        title="Driftline",
        description="Driftline models: champions, runs, drift, experiments, cost and alerts.",
        dependencies=[Depends(requires_authenticated())],
    )

    @app.get("/", response_class=HTMLResponse)
    def models_page(user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        chosen, sources = _pick(source)
        configs, errors = _configs(user)
        return HTMLResponse(render.models_page(_pages(chosen, configs), chosen, sources, errors))

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str, user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        chosen, sources = _pick(source)
        page = data.model_page(chosen, _one(user, model))
        return HTMLResponse(render.model_detail(page, chosen, sources, _reports(chosen, page)))

    @app.get("/models/{model}/drift-report/{run_id}", response_class=HTMLResponse)
    def drift_report(model: str, run_id: str, user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        chosen, _ = _pick(source)
        _one(user, model)
        mlflow = data.ReadOnlyMlflow(chosen.tracking_uri)
        try:
            run = mlflow.client.get_run(run_id)
        except Exception as exc:
            raise HTTPException(404, f"no MLflow run {run_id!r}") from exc
        if run.data.tags.get("driftline.model") != model:
            raise HTTPException(404, f"MLflow run {run_id!r} is not a drift check of {model!r}")
        path = data.report_path(data.drift_artifacts(mlflow, run_id))
        if path is None:
            raise HTTPException(404, f"MLflow run {run_id!r} stores no drift report (it was not built)")
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.client.download_artifacts(run_id, path, tmp)
            return HTMLResponse(Path(local).read_text(encoding="utf-8"))

    @app.get("/api/models")
    def api_models(user: GetUserDep, source: SourceName = STACK) -> Response:
        chosen, _ = _pick(source)
        configs, errors = _configs(user)
        return _json(
            {
                "source": chosen.name,
                "models": [_page_json(p) for p in _pages(chosen, configs)],
                "config_errors": errors,
            }
        )

    @app.get("/api/models/{model}")
    def api_model(model: str, user: GetUserDep, source: SourceName = STACK) -> Response:
        chosen, _ = _pick(source)
        return _json({"source": chosen.name, "model": _page_json(data.model_page(chosen, _one(user, model)))})

    return app
