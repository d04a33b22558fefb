"""Overlapping runs reach the in-order end state: the concurrency matrix (harness.py).

Scenarios x schedules x seeds: several data days of one model triggered at once, shuffled and
reversed backfills, and two models on one schedule (identical Airflow run ids), each run scoring
and writing through run_batch_inference (the scoring lock, the newest-data marker, conditional
writes for older data) against a moto DynamoDB server, in threads. Every cell's DynamoDB end
state (items, run records, marker, generation, lock token) must equal the in-order run's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from concurrency_harness import Cell, LinearizableMotoServer, Run, diff, execute, format_matrix, table_state

pytestmark = pytest.mark.slow
D0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[3]

SCENARIOS: dict[str, list[Run]] = {
    "one model, 4 days at once": [Run("churn", d, 10 + d) for d in range(4)],
    "backfill of 6 days": [Run("churn", d, 10 + d // 2) for d in range(6)],
    "two models, one schedule": [Run(m, d, 20 + d) for m in ("churn", "churn_b") for d in range(3)],
}
CELLS = [
    ("one model, 4 days at once", "at_once", (1, 2, 3)),
    ("backfill of 6 days", "shuffled", (1, 2)),
    ("backfill of 6 days", "reversed", (0,)),
    ("two models, one schedule", "at_once", (1, 2)),
    ("two models, one schedule", "shuffled", (3,)),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import importlib.util

    from driftline.config import load_config
    from driftline.data.snapshots import mark, snapshot_uri, write_snapshot
    from driftline.training.estimators import fit_model, prepare_features

    spec = importlib.util.spec_from_file_location("gen", REPO / "include" / "generate_churn_data.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    config = load_config(REPO / "dags" / "configs" / "churn.yaml")
    train = gen.day_frame(dt.date(2026, 2, 27), 300, False, 1).dropna(subset=[config.data.entity_id])
    model = fit_model(
        config.training.estimator,
        config.data.features,
        prepare_features(train, config.data.features),
        train[config.data.label],
    )
    current = gen.day_frame(dt.date(2026, 3, 1), 100, False, 2).dropna(subset=[config.data.entity_id])
    root = tmp_path_factory.mktemp("concurrency")
    uri = snapshot_uri(str(root / "snapshots"), "churn", "scheduled__2026-03-01", "current_window")
    validated = mark(write_snapshot(current.reset_index(drop=True), uri, {}), "validated").to_dict()
    server = LinearizableMotoServer()  # per-item atomic conditional writes, as DynamoDB's
    endpoint = server.start()
    yield {"config": config, "model": model, "validated": validated, "endpoint": endpoint}
    server.stop()


def client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=Config(max_pool_connections=64)
    )


def run_cell(
    lab: dict[str, Any], runs: list[Run], schedule: str, seed: int
) -> tuple[dict[str, Any], list[str]]:
    from driftline.config.models import InferenceSection
    from driftline.inference.batch import run_batch_inference

    ddb = client(lab["endpoint"])
    prefix = f"cc-{uuid.uuid4().hex[:8]}"
    configs = {
        model: lab["config"].model_copy(
            update={
                "inference": InferenceSection(
                    table=f"{prefix}-{model}", writers=4, chunk_rows=100, ttl_days=7
                )
            }
        )
        for model in {r.model for r in runs}
    }

    def one(run: Run) -> None:
        run_batch_inference(
            ddb,
            configs[run.model],
            lab["validated"],
            run_id=f"scheduled__{(D0 + dt.timedelta(days=run.day)).date()}",  # one id for every model
            data_time=D0 + dt.timedelta(days=run.day + 1),
            champion_version=run.version,
            load_model=lambda v: lab["model"],
        )

    errors = execute(runs, schedule, seed, one)
    state = {m: table_state(ddb, c.inference.table) for m, c in sorted(configs.items())}
    return state, errors


@pytest.mark.timeout(1800)  # about 25 runs; minutes on a busy 2-core machine
def test_overlapping_runs_reach_the_in_order_end_state(lab, capsys):
    import time

    cells: list[Cell] = []
    expected: dict[str, Any] = {}
    for scenario, runs in SCENARIOS.items():
        state, errors = run_cell(lab, runs, "in_order", 0)
        assert not errors, (scenario, errors)
        newest = max(r.day for r in runs)
        for items in state.values():
            scored = [i for k, i in items.items() if not k.startswith("__driftline")]
            assert {i["data_time"] for i in scored} == {(D0 + dt.timedelta(days=newest + 1)).isoformat()}
        expected[scenario] = state
    for scenario, schedule, seeds in CELLS:
        for seed in seeds:
            started = time.perf_counter()
            state, errors = run_cell(lab, SCENARIOS[scenario], schedule, seed)
            problems = errors + diff(_flat(expected[scenario]), _flat(state))
            cells.append(
                Cell(scenario, schedule, seed, not problems, time.perf_counter() - started, problems)
            )
    matrix = format_matrix(cells)
    with capsys.disabled():
        print("\n" + matrix)
    assert all(c.converged for c in cells), matrix


def _flat(state: dict[str, Any]) -> dict[str, Any]:
    return {f"{model}/{key}": item for model, items in state.items() for key, item in items.items()}
