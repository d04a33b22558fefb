"""The predictions service (FastAPI): lookups from DynamoDB and on-demand scoring by the champion.

    GET  /v1/models/{model}/predictions/{entity_id}   one entity's prediction (404 if none)
    POST /v1/models/{model}/predictions:batchGet      {"entity_ids": [...]} (BatchGetItem, <= 100)
    POST /v1/models/{model}/score                     {"rows": [{<entity_id>, <features>...}]}
    GET  /healthz                                     liveness: the worker's event loop answers (no key)
    GET  /readyz                                      readiness: 200 once every champion is loaded and
                                                      warmed up (driftline.service.live), else 503 (no key)
    GET  /metrics                                     Prometheus text (driftline.service.metrics)
    GET  /docs, /openapi.json                         the OpenAPI page

Every /v1 route needs an API key (driftline.service.auth). The service reads the predictions
tables and the model registry, never the training data. Lookups go through a response cache
(driftline.service.cache) keyed by the model's data generation (driftline.service.generation:
the pointer's table or the table's generation item, and the champion's version).

The lookup routes are async and a cache hit never leaves the event loop: the key check (a sha256
compare), the generation (re-read in the background) and the cached JSON bytes, returned as they
are. Only misses go to the threadpool for DynamoDB. An item whose TTL has passed is never served
(DynamoDB deletes expired items up to days late): not from the table, not from the cache.

Scoring (driftline.service.scorer, .batching, .live): the body is read as bytes, checked and turned
into a float matrix by the champion's compiled transform, and scored by micro-batches in one thread
per champion version; no DataFrame or pydantic model per request. Limits and headers:
driftline.service.security (413 over the body limit, 422 naming the field for an entity id over
the DynamoDB key limit, for a non-finite, missing or mistyped feature value or an unknown category).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from starlette.concurrency import run_in_threadpool

from driftline.config.models import InferenceSection, ModelConfig
from driftline.service.auth import is_valid, presented_key
from driftline.service.batching import DEFAULT_MAX_WAIT_S
from driftline.service.cache import MISSING, ResponseCache
from driftline.service.champion import ChampionCache
from driftline.service.generation import Generation, GenerationTracker
from driftline.service.live import FAILED, NO_CHAMPION, LiveChampions
from driftline.service.metrics import Metrics
from driftline.service.scorer import RowsError, Scored, parse_body
from driftline.service.security import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_ENTITY_ID_BYTES,
    Guard,
    install_log_redaction,
)
from driftline.service.store import PredictionStore

log = logging.getLogger(__name__)

_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "category": str, "string": str}
MAX_BATCH = 100
MAX_SCORE_ROWS = 1000
# Module-level: FastAPI resolves the (string) annotations of a route against the module's globals.
api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer = HTTPBearer(auto_error=False)
UNAUTHENTICATED = "a valid API key is required (X-API-Key or Bearer)"


@dataclass(frozen=True)
class ServiceSettings:
    """The service's knobs (driftline.service.server reads them from the environment)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_wait_s: float = DEFAULT_MAX_WAIT_S  # micro-batching: how long a batch waits for more rows
    startup_timeout_s: float = 120.0  # how long start-up waits for the champions before serving


class BatchLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("entity_ids")
    @classmethod
    def _short_ids(cls, ids: list[str]) -> list[str]:
        for i, e in enumerate(ids):
            if len(e.encode()) > MAX_ENTITY_ID_BYTES:
                raise ValueError(
                    f"entity_ids[{i}]: at most {MAX_ENTITY_ID_BYTES} bytes (the DynamoDB key limit)"
                )
        return ids


class BatchResult(BaseModel):
    predictions: list[dict[str, Any]]
    missing: list[str]


class ScoreResult(BaseModel):
    model: str
    version: int
    predictions: list[dict[str, Any]]


def row_model(config: ModelConfig) -> type[BaseModel]:
    """The pydantic model of one posted feature row (the OpenAPI schema of /score; the route itself
    checks rows with the champion's compiled scorer, driftline.service.scorer)."""
    fields: dict[str, Any] = {
        config.data.entity_id: (str, Field(min_length=1, max_length=MAX_ENTITY_ID_BYTES))
    }
    for feature in config.data.features:
        kind = _TYPES[feature.type]
        fields[feature.name] = (kind | None, None) if feature.optional else (kind, ...)
    return create_model(
        f"{config.model.name.title().replace('_', '')}Row",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 80:
        return value[:80] + f"... ({len(value)} characters)"
    if isinstance(value, list | dict):
        return f"<{type(value).__name__}>"
    return value


def render(value: Any) -> bytes:
    """`value` as the JSON body FastAPI's JSONResponse would send (an item: rendered once, cached)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def create_app(
    configs: dict[str, ModelConfig],
    client_for: Callable[[InferenceSection], Any],
    key_hashes: frozenset[str],
    champions: ChampionCache | None = None,
    cache: ResponseCache | None = None,
    pointer_ttl_s: float = 5.0,
    settings: ServiceSettings | None = None,
) -> FastAPI:
    """The app for the models in `configs` that have an inference section (`cache`: none by default).

    `pointer_ttl_s`: how often a model's generation (pointer, generation item, champion version)
    is re-read, and so how long a completed run, a moved pointer or alias takes to reach lookups.
    """
    settings = settings or ServiceSettings()
    served = {name: c for name, c in configs.items() if c.inference is not None}
    if not key_hashes:
        raise ValueError("the predictions service needs at least one API key hash")
    responses = cache if cache is not None else ResponseCache(max_items=0)
    stores = {
        name: PredictionStore(client_for(c.inference), c.inference, responses.wall_clock)
        for name, c in served.items()
        if c.inference
    }

    def tracker(model: str) -> GenerationTracker:
        def read() -> Generation:
            table, data = stores[model].read_generation()
            version = champions.version(served[model].registered_model_name) if champions else None
            return Generation(table, data, version)

        def moved(gen: Generation) -> None:
            responses.advance(model, gen if gen.cacheable else None)

        return GenerationTracker(read, pointer_ttl_s, moved)

    generations = {name: tracker(name) for name in served}

    def key_of(gen: Generation) -> Generation | None:
        """The generation to cache under (None: not cacheable)."""
        return gen if gen.cacheable else None

    metrics = Metrics()
    live = LiveChampions(
        served,
        champions,
        metrics,
        max_rows=MAX_SCORE_ROWS,
        max_wait_s=settings.max_wait_s,
        startup_timeout_s=settings.startup_timeout_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # after uvicorn has set up its handlers
        for name, tracker in generations.items():  # the lookup path's imports and first read
            try:
                await tracker.current()
            except Exception as exc:
                log.warning("model %s: first read of its predictions table failed: %s", name, exc)
        await live.start()
        yield
        await live.stop()

    app = FastAPI(
        title="Driftline predictions",
        version="1",
        description="Batch predictions written by the Driftline pipelines, and on-demand scoring by the champion.",
        lifespan=lifespan,
    )
    app.state.live = live
    app.state.metrics = metrics
    app.add_middleware(Guard, max_body_bytes=settings.max_body_bytes, observe=metrics.observe)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming the field, with refused values cut short (a 5 MB id is not echoed back)."""
        errors = [
            {
                "loc": [_short(part) for part in e.get("loc", ())],
                "msg": _short(str(e.get("msg", ""))),
                "type": e.get("type"),
                **(
                    {"input": _short(e["input"])} if "input" in e and not isinstance(e["input"], dict) else {}
                ),
            }
            for e in exc.errors()[:20]
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    async def authenticated(
        key: Annotated[str | None, Security(api_key)],
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        given = key or (token.credentials if token is not None else None)
        if not is_valid(given, key_hashes):
            raise HTTPException(status_code=401, detail=UNAUTHENTICATED)

    def config_of(model: str) -> ModelConfig:
        if model not in served:
            raise HTTPException(status_code=404, detail=f"unknown model {model!r}; served: {sorted(served)}")
        return served[model]

    def fetch_one(model: str, gen: Generation, entity_id: str) -> tuple[Any, float | None]:
        """(the rendered item or MISSING, its TTL), read from the table (in the threadpool). An
        answer that will be cached is read strongly consistent: it then reflects every write its
        generation counts, not a replica that lags behind it."""
        consistent = responses.enabled and gen.cacheable
        store = stores[model]
        item = store.get_from(gen.table, entity_id, consistent)
        return (MISSING, None) if item is None else (render(item), store.expires_at(item))

    def fetch_many(model: str, gen: Generation, wanted: list[str]) -> dict[str, tuple[bytes, float | None]]:
        consistent = responses.enabled and gen.cacheable
        store = stores[model]
        return {
            e: (render(item), store.expires_at(item))
            for e, item in store.get_many_from(gen.table, wanted, consistent).items()
        }

    def check_entity(entity_id: str) -> None:
        if len(entity_id) > MAX_ENTITY_ID_BYTES // 4 and len(entity_id.encode()) > MAX_ENTITY_ID_BYTES:
            detail = [
                {
                    "loc": ["path", "entity_id"],
                    "msg": f"at most {MAX_ENTITY_ID_BYTES} bytes (the DynamoDB key limit)",
                    "type": "string_too_long",
                    "input": _short(entity_id),
                }
            ]
            raise HTTPException(status_code=422, detail=detail)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        """Liveness: this worker's event loop answers (a model still loading is not a reason to restart)."""
        stats = responses.stats
        cache_info = {"items": len(responses), "hits": stats.hits, "misses": stats.misses}
        return {"status": "ok", "models": sorted(served), "cache": cache_info}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: every champion loaded and warmed up (or the model has none yet)."""
        ready = live.ready
        return JSONResponse({"ready": ready, "models": live.describe()}, status_code=200 if ready else 503)

    @app.get("/metrics", dependencies=[Depends(authenticated)], include_in_schema=False)
    async def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get(
        "/v1/models/{model}/predictions/{entity_id}",
        dependencies=[Depends(authenticated)],
        response_class=Response,
        responses={
            200: {"description": "The entity's prediction item", "content": {"application/json": {}}},
            401: {"description": "No valid API key"},
            404: {"description": "Unknown model, or no prediction for the entity"},
        },
    )
    async def get_prediction(model: str, entity_id: str) -> Response:
        config_of(model)
        check_entity(entity_id)
        gen = await generations[model].current()
        body = responses.get(model, key_of(gen), entity_id)
        if body is None:
            body, expires = await run_in_threadpool(fetch_one, model, gen, entity_id)
            responses.put(model, key_of(gen), entity_id, body, expires)
        if body is MISSING:
            raise HTTPException(
                status_code=404, detail=f"no prediction for entity {entity_id!r} of model {model!r}"
            )
        return Response(body, media_type="application/json")

    @app.post(
        "/v1/models/{model}/predictions:batchGet",
        dependencies=[Depends(authenticated)],
        response_model=BatchResult,
    )
    async def batch_get(model: str, body: BatchLookup) -> Response:
        config_of(model)
        gen = await generations[model].current()
        cache_gen = key_of(gen)
        entities = list(dict.fromkeys(body.entity_ids))
        found: dict[str, bytes] = {}
        wanted: list[str] = []
        for entity in entities:
            hit = responses.get(model, cache_gen, entity)
            if hit is None:
                wanted.append(entity)
            elif hit is not MISSING:
                found[entity] = hit
        if wanted:
            fetched = await run_in_threadpool(fetch_many, model, gen, wanted)
            for entity in wanted:
                value, expires = fetched.get(entity, (MISSING, None))
                responses.put(model, cache_gen, entity, value, expires)
                if value is not MISSING:
                    found[entity] = value
        predictions = b",".join(found[e] for e in entities if e in found)
        missing = render([e for e in entities if e not in found])
        return Response(
            b'{"predictions":[' + predictions + b'],"missing":' + missing + b"}",
            media_type="application/json",
        )

    for name, config in served.items():
        _add_score_route(app, name, config, live, key_hashes)

    @app.post("/v1/models/{model}/score", dependencies=[Depends(authenticated)], include_in_schema=False)
    async def score_unknown(model: str) -> None:
        config_of(model)  # a served model matched its own route above: this one is always a 404

    return app


def _add_score_route(
    app: FastAPI,
    name: str,
    config: ModelConfig,
    live: LiveChampions,
    key_hashes: frozenset[str],
) -> None:
    """POST /v1/models/<name>/score; the body's schema (OpenAPI) is typed from the model's features.

    The hot path checks the API key itself (`auth.presented_key`, the same reading as the
    `authenticated` dependency of the other routes): FastAPI's dependency resolution was about 15%
    of the event loop's samples under load (docs/how-to/serving.md). The OpenAPI document still
    lists both schemes for it."""
    row = row_model(config).model_json_schema()
    body_schema = {
        "type": "object",
        "properties": {"rows": {"type": "array", "items": row, "minItems": 1, "maxItems": MAX_SCORE_ROWS}},
        "required": ["rows"],
        "additionalProperties": False,
    }
    entity = config.data.entity_id

    async def score(request: Request) -> Response:
        if not is_valid(presented_key(request.headers), key_hashes):
            raise HTTPException(status_code=401, detail=UNAUTHENTICATED)
        state = await live.current(name)
        batcher = state.batcher
        if batcher is None:
            if state.state == NO_CHAMPION:
                detail = state.error or f"model {name!r} has no champion yet"
                code = 503 if state.error else 404
                raise HTTPException(status_code=code, detail=detail)
            why = state.error if state.state == FAILED else "its champion is still loading"
            raise HTTPException(status_code=503, detail=f"model {name!r} cannot score now: {why}")
        scorer = batcher.scorer
        try:
            ids, X = scorer.matrix(parse_body(await request.body()), MAX_SCORE_ROWS)
        except RowsError as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        scored = await batcher.submit(X)
        return Response(
            render_scores(name, scorer.version, entity, ids, scored), media_type="application/json"
        )

    app.post(
        f"/v1/models/{name}/score",
        summary=f"Score feature rows of {name} with its champion",
        operation_id=f"score_{name}",
        response_model=ScoreResult,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
            "security": [{"APIKeyHeader": []}, {"HTTPBearer": []}],
        },
    )(score)


def render_scores(model: str, version: int, entity: str, ids: list[str], scored: Scored) -> bytes:
    out = []
    scores, probabilities = scored.scores, scored.probabilities
    for i, key in enumerate(ids):
        entry: dict[str, Any] = {entity: key, "prediction": scored.predictions[i]}
        if scores is not None:
            entry["score"] = scores[i]
        if probabilities is not None:
            entry["probabilities"] = probabilities[i]
        out.append(entry)
    return render({"model": model, "version": version, "predictions": out})
