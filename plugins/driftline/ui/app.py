"""The Driftline FastAPI app, mounted by Airflow's API server at `/driftline`, behind Airflow's login.

Every route depends on `airflow.api_fastapi.core_api.security.requires_authenticated()` (the UI's
session cookie or an `Authorization: Bearer <JWT>` from `POST /auth/token`; none -> 401, a bad
token -> 403). What a user sees follows Airflow's auth manager per DAG (`driftline.ui.access`): a
model only to users who may read the runs of its pipeline DAG (404 otherwise, as for a model that
does not exist), a broken config file only to users who may read its config-error DAG.

Routes: `/` models page (HTML), `/models/{model}` one model (HTML),
`/models/{model}/drift-report/{mlflow_run_id}` a page framing the stored Evidently report,
`.../content` the report itself (sandboxed, `driftline.ui.headers.REPORT`), `/api/models` and
`/api/models/{model}` the same data as JSON. `?source=stack|demo` picks the history
(`driftline.ui.sources`). Every response carries the headers of `driftline.ui.headers`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep, requires_authenticated
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from driftline.drift.report import ReportFormatError, inert_script_data
from driftline.ui import data, headers, render
from driftline.ui.access import Access
from driftline.ui.sources import DEMO, STACK, Source, demo_source, stack_source

log = logging.getLogger(__name__)

SourceName = Annotated[str, Query(pattern="^(stack|demo)$")]
RunId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]  # an MLflow run id


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


def _configs(access: Access) -> tuple[list[Any], dict[str, str]]:
    """The models and the broken config files this user may see."""
    configs, errors = data.load_models()
    readable = access.models([c.model.name for c in configs])
    return [c for c in configs if c.model.name in readable], access.config_errors(errors)


def _one(access: Access, model: str) -> Any:
    """The config of `model`; 404 alike when it does not exist and when the user may not read it."""
    configs, _ = data.load_models()
    for config in configs:
        if config.model.name == model and access.model(model):
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


def _report_artifact(source: Source, model: str, run_id: str) -> tuple[data.ReadOnlyMlflow, str]:
    """The MLflow store and artifact path of the Evidently report of a drift check of `model` (else 404)."""
    mlflow = data.ReadOnlyMlflow(source.tracking_uri)
    try:
        run = mlflow.client.get_run(run_id)
    except Exception as exc:
        raise HTTPException(404, f"no MLflow run {run_id!r}") from exc
    if run.data.tags.get("driftline.model") != model:
        raise HTTPException(404, f"MLflow run {run_id!r} is not a drift check of {model!r}")
    path = data.report_path(data.drift_artifacts(mlflow, run_id))
    if path is None:
        raise HTTPException(404, f"MLflow run {run_id!r} stores no drift report (it was not built)")
    return mlflow, path


def _report_html(source: Source, model: str, run_id: str) -> str:
    """The stored report, its data script made inert (`drift.report.inert_script_data`)."""
    mlflow, path = _report_artifact(source, model, run_id)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.client.download_artifacts(run_id, path, tmp)
        html = Path(local).read_text(encoding="utf-8", errors="replace")
    try:
        return inert_script_data(html)
    except ReportFormatError as exc:  # still served only sandboxed (headers.REPORT): inert for Airflow
        log.warning("drift report %s of run %s: %s; served sandboxed as stored", path, run_id, exc)
        return html


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


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Every response (errors and 401s included) gets `driftline.ui.headers`, unless it set its own."""
    response = await call_next(request)
    for key, value in headers.for_content_type(response.headers.get("content-type")).items():
        if key not in response.headers:
            response.headers[key] = value
    return response


def create_app() -> FastAPI:
    app = FastAPI(
        title="Driftline",
        description="Driftline models: champions, runs, drift, experiments, cost and alerts.",
        dependencies=[Depends(requires_authenticated())],
        # FastAPI's own /docs, /redoc and /openapi.json are routes without the app's dependencies: they
        # would serve pages without a login that load Swagger's scripts from a CDN in Airflow's origin.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.middleware("http")(_security_headers)

    @app.get("/", response_class=HTMLResponse)
    def models_page(user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        chosen, sources = _pick(source)
        configs, errors = _configs(Access(user))
        return HTMLResponse(render.models_page(_pages(chosen, configs), chosen, sources, errors))

    @app.get("/models/{model}", response_class=HTMLResponse)
    def model_page(model: str, user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        chosen, sources = _pick(source)
        page = data.model_page(chosen, _one(Access(user), model))
        return HTMLResponse(render.model_detail(page, chosen, sources, _reports(chosen, page)))

    @app.get("/models/{model}/drift-report/{run_id}", response_class=HTMLResponse)
    def drift_report(model: str, run_id: RunId, user: GetUserDep, source: SourceName = STACK) -> HTMLResponse:
        """A Driftline page that frames the report in `<iframe sandbox="allow-scripts">`."""
        chosen, sources = _pick(source)
        _one(Access(user), model)
        _report_artifact(chosen, model, run_id)  # 404 here, not inside the frame, when there is none
        return HTMLResponse(render.report_frame(model, run_id, chosen, sources))

    @app.get("/models/{model}/drift-report/{run_id}/content", response_class=HTMLResponse)
    def drift_report_content(
        model: str,
        run_id: RunId,
        request: Request,
        user: GetUserDep,
        source: SourceName = STACK,
        download: bool = False,
    ) -> HTMLResponse:
        """The report, sandboxed; rendered only as a frame (`Sec-Fetch-Dest: iframe`), else downloaded."""
        chosen, _ = _pick(source)
        _one(Access(user), model)
        html = _report_html(chosen, model, run_id)
        response = HTMLResponse(html, headers=headers.REPORT)
        if download or request.headers.get("sec-fetch-dest") != "iframe":
            response.headers["Content-Disposition"] = (
                f'attachment; filename="drift-report-{model}-{run_id}.html"'
            )
        return response

    @app.get("/api/models")
    def api_models(user: GetUserDep, source: SourceName = STACK) -> Response:
        chosen, _ = _pick(source)
        configs, errors = _configs(Access(user))
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
        page = data.model_page(chosen, _one(Access(user), model))
        return _json({"source": chosen.name, "model": _page_json(page)})

    return app
