"""The predictions service (FastAPI): lookups from DynamoDB and on-demand scoring by the champion.

    GET  /v1/models/{model}/predictions/{entity_id}   one entity's prediction (404 if none)
    POST /v1/models/{model}/predictions:batchGet      {"entity_ids": [...]} (BatchGetItem, <= 100)
    POST /v1/models/{model}/score                     {"rows": [{<entity_id>, <features>...}]}
    GET  /healthz                                     liveness (no key needed)
    GET  /docs, /openapi.json                         the OpenAPI page

Every /v1 route needs an API key (driftline.service.auth). The service reads the predictions
tables and the model registry, never the training data. Lookups go through a response cache
(driftline.service.cache) keyed by the table the pointer names and the champion's version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, create_model

from driftline.config.models import Feature, InferenceSection, ModelConfig
from driftline.service.auth import is_valid
from driftline.service.cache import MISSING, ResponseCache
from driftline.service.champion import ChampionCache
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


def create_app(
    configs: dict[str, ModelConfig],
    client_for: Callable[[InferenceSection], Any],
    key_hashes: frozenset[str],
    champions: ChampionCache | None = None,
    cache: ResponseCache | None = None,
    pointer_ttl_s: float = 5.0,
) -> FastAPI:
    """The app for the models in `configs` that have an inference section (`cache`: none by default)."""
    served = {name: c for name, c in configs.items() if c.inference is not None}
    if not key_hashes:
        raise ValueError("the predictions service needs at least one API key hash")
    stores = {
        name: PredictionStore(client_for(c.inference), c.inference, pointer_ttl_s=pointer_ttl_s)
        for name, c in served.items()
        if c.inference
    }
    responses = cache if cache is not None else ResponseCache(max_items=0)

    def generation(model: str) -> tuple[str | None, int | None]:
        """(table read, champion version): cached answers are dropped when either moves."""
        version = champions.version(served[model].registered_model_name) if champions else None
        return stores[model].table(), version

    app = FastAPI(
        title="Driftline predictions",
        version="1",
        description="Batch predictions written by the Driftline pipelines, and on-demand scoring by the champion.",
    )

    def authenticated(
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

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        stats = responses.stats
        cache_info = {"items": len(responses), "hits": stats.hits, "misses": stats.misses}
        return {"status": "ok", "models": sorted(served), "cache": cache_info}

    @app.get("/v1/models/{model}/predictions/{entity_id}", dependencies=[Depends(authenticated)])
    def get_prediction(model: str, entity_id: str) -> dict[str, Any]:
        config_of(model)
        gen = generation(model)
        item: dict[str, Any] | None = responses.get(model, gen, entity_id)
        if item is None:
            item = stores[model].get_from(gen[0], entity_id)
            responses.put(model, gen, entity_id, MISSING if item is None else item)
        if item is None or item is MISSING:
            raise HTTPException(
                status_code=404, detail=f"no prediction for entity {entity_id!r} of model {model!r}"
            )
        return item

    @app.post("/v1/models/{model}/predictions:batchGet", dependencies=[Depends(authenticated)])
    def batch_get(model: str, body: BatchLookup) -> BatchResult:
        config_of(model)
        gen = generation(model)
        found: dict[str, dict[str, Any]] = {}
        wanted = []
        for entity in dict.fromkeys(body.entity_ids):
            hit = responses.get(model, gen, entity)
            if hit is None:
                wanted.append(entity)
            elif hit is not MISSING:
                found[entity] = hit
        if wanted:
            fetched = stores[model].get_many_from(gen[0], wanted)
            for entity in wanted:
                responses.put(model, gen, entity, fetched.get(entity, MISSING))
            found.update(fetched)
        return BatchResult(
            predictions=[found[e] for e in dict.fromkeys(body.entity_ids) if e in found],
            missing=[e for e in dict.fromkeys(body.entity_ids) if e not in found],
        )

    for name, config in served.items():
        _add_score_route(app, name, config, champions, authenticated)

    @app.post("/v1/models/{model}/score", dependencies=[Depends(authenticated)], include_in_schema=False)
    def score_unknown(model: str) -> None:
        config_of(model)  # a served model matched its own route above: this one is always a 404

    return app


def _add_score_route(
    app: FastAPI,
    name: str,
    config: ModelConfig,
    champions: ChampionCache | None,
    authenticated: Callable[..., None],
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
