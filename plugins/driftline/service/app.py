"""The predictions service (FastAPI): lookups from DynamoDB and on-demand scoring by the champion.

    GET  /v1/models/{model}/predictions/{entity_id}   one entity's prediction (404 if none)
    POST /v1/models/{model}/predictions:batchGet      {"entity_ids": [...]} (BatchGetItem, <= 100)
    POST /v1/models/{model}/score                     {"rows": [{<entity_id>, <features>...}]}
    GET  /healthz                                     liveness (no key needed)
    GET  /docs, /openapi.json                         the OpenAPI page

Every /v1 route needs an API key (driftline.service.auth). The service reads the predictions
tables and the model registry, never the training data. Lookups go through a response cache
(driftline.service.cache) keyed by the model's data generation (driftline.service.generation:
the pointer's table or the table's generation item, and the champion's version).

The lookup routes are async and a cache hit never leaves the event loop: the key check (a sha256
compare), the generation (re-read in the background) and the cached JSON bytes, returned as they
are. Only misses go to the threadpool for DynamoDB. Scoring stays a sync route (CPU-bound).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.concurrency import run_in_threadpool

from driftline.config.models import Feature, InferenceSection, ModelConfig
from driftline.service.auth import is_valid
from driftline.service.cache import MISSING, ResponseCache
from driftline.service.champion import ChampionCache
from driftline.service.generation import Generation, GenerationTracker
from driftline.service.store import PredictionStore, plain

_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "category": str, "string": str}
MAX_BATCH = 100
MAX_SCORE_ROWS = 1000
# Module-level: FastAPI resolves the (string) annotations of a route against the module's globals.
api_key = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer = HTTPBearer(auto_error=False)


class BatchLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_ids: list[str] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    predictions: list[dict[str, Any]]
    missing: list[str]


class ScoreResult(BaseModel):
    model: str
    version: int
    predictions: list[dict[str, Any]]


def row_model(config: ModelConfig) -> type[BaseModel]:
    """The pydantic model of one posted feature row: the entity id and every feature, typed."""
    fields: dict[str, Any] = {config.data.entity_id: (str, Field(min_length=1))}
    for feature in config.data.features:
        fields[feature.name] = (_TYPES[feature.type] | None, ...)
    return create_model(
        f"{config.model.name.title().replace('_', '')}Row",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )


def _frame(rows: list[BaseModel], features: list[Feature]) -> Any:
    import pandas as pd

    return pd.DataFrame([r.model_dump() for r in rows])


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
) -> FastAPI:
    """The app for the models in `configs` that have an inference section (`cache`: none by default).

    `pointer_ttl_s`: how often a model's generation (pointer, generation item, champion version)
    is re-read, and so how long a completed run, a moved pointer or alias takes to reach lookups.
    """
    served = {name: c for name, c in configs.items() if c.inference is not None}
    if not key_hashes:
        raise ValueError("the predictions service needs at least one API key hash")
    stores = {
        name: PredictionStore(client_for(c.inference), c.inference)
        for name, c in served.items()
        if c.inference
    }
    responses = cache if cache is not None else ResponseCache(max_items=0)

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

    app = FastAPI(
        title="Driftline predictions",
        version="1",
        description="Batch predictions written by the Driftline pipelines, and on-demand scoring by the champion.",
    )

    async def authenticated(
        key: Annotated[str | None, Security(api_key)],
        token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> None:
        given = key or (token.credentials if token is not None else None)
        if not is_valid(given, key_hashes):
            raise HTTPException(status_code=401, detail="a valid API key is required (X-API-Key or Bearer)")

    def config_of(model: str) -> ModelConfig:
        if model not in served:
            raise HTTPException(status_code=404, detail=f"unknown model {model!r}; served: {sorted(served)}")
        return served[model]

    def fetch_one(model: str, gen: Generation, entity_id: str) -> Any:
        """The rendered item or MISSING, read from the table (in the threadpool). An answer that
        will be cached is read strongly consistent: it then reflects every write its generation
        counts, not a replica that lags behind it."""
        consistent = responses.enabled and gen.cacheable
        item = stores[model].get_from(gen.table, entity_id, consistent)
        return MISSING if item is None else render(item)

    def fetch_many(model: str, gen: Generation, wanted: list[str]) -> dict[str, bytes]:
        consistent = responses.enabled and gen.cacheable
        return {
            e: render(item) for e, item in stores[model].get_many_from(gen.table, wanted, consistent).items()
        }

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        stats = responses.stats
        cache_info = {"items": len(responses), "hits": stats.hits, "misses": stats.misses}
        return {"status": "ok", "models": sorted(served), "cache": cache_info}

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
        gen = await generations[model].current()
        body = responses.get(model, key_of(gen), entity_id)
        if body is None:
            body = await run_in_threadpool(fetch_one, model, gen, entity_id)
            responses.put(model, key_of(gen), entity_id, body)
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
        wanted = []
        for entity in entities:
            hit = responses.get(model, cache_gen, entity)
            if hit is None:
                wanted.append(entity)
            elif hit is not MISSING:
                found[entity] = hit
        if wanted:
            fetched = await run_in_threadpool(fetch_many, model, gen, wanted)
            for entity in wanted:
                responses.put(model, cache_gen, entity, fetched.get(entity, MISSING))
            found.update(fetched)
        predictions = b",".join(found[e] for e in entities if e in found)
        missing = render([e for e in entities if e not in found])
        return Response(
            b'{"predictions":[' + predictions + b'],"missing":' + missing + b"}",
            media_type="application/json",
        )

    for name, config in served.items():
        _add_score_route(app, name, config, champions, authenticated)

    @app.post("/v1/models/{model}/score", dependencies=[Depends(authenticated)], include_in_schema=False)
    async def score_unknown(model: str) -> None:
        config_of(model)  # a served model matched its own route above: this one is always a 404

    return app


def _add_score_route(
    app: FastAPI,
    name: str,
    config: ModelConfig,
    champions: ChampionCache | None,
    authenticated: Callable[..., Any],
) -> None:
    """POST /v1/models/<name>/score with a body typed from the model's features (OpenAPI shows it)."""
    row = row_model(config)
    body_model = create_model(
        f"{row.__name__}s",
        __config__=ConfigDict(extra="forbid"),
        rows=(list[row], Field(min_length=1, max_length=MAX_SCORE_ROWS)),  # type: ignore[valid-type]
    )
    entity = config.data.entity_id

    def score(body: body_model) -> ScoreResult:  # type: ignore[valid-type]
        from driftline.inference.scoring import predict_chunk

        if champions is None:
            raise HTTPException(
                status_code=503, detail="on-demand scoring is not configured (no model registry)"
            )
        loaded = champions.get(config.registered_model_name)
        if loaded is None:
            raise HTTPException(status_code=404, detail=f"model {name!r} has no champion yet")
        version, estimator = loaded
        rows = body.rows  # type: ignore[attr-defined]
        frame = _frame(rows, config.data.features)
        predictions, scores, probabilities = predict_chunk(estimator, frame, config)
        out = []
        for i, r in enumerate(rows):
            entry: dict[str, Any] = {entity: getattr(r, entity), "prediction": plain(predictions[i])}
            if scores is not None:
                entry["score"] = float(scores[i])
            if probabilities is not None:
                entry["probabilities"] = probabilities[i]
            out.append(entry)
        return ScoreResult(model=name, version=version, predictions=out)

    score.__annotations__["body"] = body_model  # a local class: not resolvable from a string annotation
    app.post(
        f"/v1/models/{name}/score",
        dependencies=[Depends(authenticated)],
        summary=f"Score feature rows of {name} with its champion",
        operation_id=f"score_{name}",
    )(score)
