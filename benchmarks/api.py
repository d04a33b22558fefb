"""Predictions service lookup speed vs a bare boto3 get_item loop on the same table.

A moto DynamoDB server (its own process) holds `entities` predictions written by Driftline's
writer. The service runs as `driftline serve` (uvicorn, its own process); `concurrency` client
threads each hold a keep-alive connection and GET /v1/models/churn/predictions/<id> for random
ids. The baseline, in the same run, is `concurrency` threads calling `get_item` on the same
table with one shared boto3 client: the ceiling a service adds its own cost to. `ratio` is
rps / baseline_rps. The scoring endpoint (POST /score, one row per request, the champion loaded
from a SQLite MLflow store by alias) is measured the same way (`score_*` figures).

The service runs twice: with its lookup response cache switched off (`*_no_cache` figures,
DRIFTLINE_SERVICE_CACHE_ITEMS=0: every lookup is a GetItem) and as deployed, with the cache on
after one warm-up pass over every entity (`rps`, `p50_ms`, `p99_ms`: the steady state of a
working set that fits the cache; `cache_hit_rate` is measured from the service's /healthz). Cached
answers stay valid until the table's data generation moves (driftline.service.generation), so the
warm-up pass is not lost to the cache's TTL however slowly it runs. `load_avg` is the machine's
1-minute load average at the start and the end (the end's includes this benchmark's own threads;
the machine is shared: read the ratios).

    .venv/bin/python benchmarks/api.py            # 5000 requests per side, 8 clients
    .venv/bin/python benchmarks/api.py --quick    # 300 requests per side

The last stdout line is one JSON object (keys in shared/CONVENTIONS.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dynamo

KEY = "dl_benchmark_key"
TABLE = "bench-api-preds"


def load(n: int, concurrency: int, call: Any) -> tuple[list[float], int, float]:
    """(latencies in s, errors, wall seconds) of `n` calls of `call(thread_state, i)` from `concurrency` threads."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        state: dict[str, Any] = {}
        mine: list[float] = []
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            start = time.perf_counter()
            try:
                call(state, i)
            except Exception:
                with lock:
                    errors[0] += 1
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def register_champion(model: Any, folder: Path) -> str:
    """Log `model` to a SQLite MLflow store under `folder` as version 1 with alias champion."""
    import mlflow
    import mlflow.sklearn

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # an exported MLFLOW_REGISTRY_URI must not take the version elsewhere
    experiment = mlflow.create_experiment("bench", artifact_location=(folder / "artifacts").as_uri())
    import skops.io as sio

    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(  # skops: the only format the service loads without an opt-in
            model,
            name="model",
            registered_model_name="churn",
            serialization_format="skops",
            skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)),
        )
    mlflow.MlflowClient().set_registered_model_alias("churn", "champion", info.registered_model_version)
    return uri


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None, help="per side (default 5000, quick 300)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--entities", type=int, default=None, help="items in the table (default 5000, quick 500)"
    )
    args = parser.parse_args()
    n = args.requests or (300 if args.quick else 5000)
    entities = args.entities or (500 if args.quick else 5000)

    from driftline.inference.batch import run_batch_inference
    from driftline.service.auth import digest

    load_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp, _dynamo.MotoServer() as endpoint:
        folder = Path(tmp)
        config = _dynamo.example_config(TABLE)
        config.inference.conn_id = "bench_aws"
        frame = _dynamo.churn_frame(entities)
        model = _dynamo.fitted_model(config)
        snapshot = _dynamo.validated_snapshot(frame, folder, "current")
        client = _dynamo.client(endpoint, pool=max(10, 2 * args.concurrency))
        run_batch_inference(
            client,
            config,
            snapshot,
            run_id="bench",
            data_time=dt.datetime(2026, 1, 16, tzinfo=dt.UTC),
            champion_version=1,
            load_model=lambda v: model,
        )
        ids = [str(e) for e in frame["customer_id"]]
        tracking = register_champion(model, folder)
        configs = folder / "configs"
        configs.mkdir()
        raw = (_dynamo.REPO / "dags" / "configs" / "churn.yaml").read_text()
        (configs / "churn.yaml").write_text(raw + f"\ninference:\n  table: {TABLE}\n  conn_id: bench_aws\n")
        port = _dynamo.free_port()
        env = {
            **os.environ,
            "AIRFLOW_CONN_BENCH_AWS": json.dumps(
                {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
            ),
            "DRIFTLINE_API_KEY_SHA256": digest(KEY),
            "DRIFTLINE_HOME": str(folder / "home"),
            "AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps(
                {"conn_type": "http", "extra": {"tracking_uri": tracking}}
            ),
        }
        exe = Path(sys.executable).with_name("driftline")

        def serve(extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
            port = _dynamo.free_port()
            proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(port), "--configs", str(configs)],
                env={**env, **extra},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 600  # a loaded machine starts it slowly
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        return proc, port
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        proc.terminate()
                        raise RuntimeError("driftline serve did not start") from None
                    time.sleep(0.3)

        def stop(proc: subprocess.Popen[bytes]) -> None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        def cache_stats(port: int) -> dict[str, int]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            return dict(json.loads(conn.getresponse().read())["cache"])

        server, port = serve({"DRIFTLINE_SERVICE_CACHE_ITEMS": "0"})
        try:
            rng = random.Random(5)
            picks = [rng.choice(ids) for _ in range(n)]

            def via_service(state: dict[str, Any], i: int) -> None:
                conn = state.get("conn")
                if conn is None:
                    conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", f"/v1/models/churn/predictions/{picks[i]}", headers={"X-API-Key": KEY})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or b"score" not in body:
                    raise RuntimeError(response.status)

            def bare(state: dict[str, Any], i: int) -> None:
                item = client.get_item(TableName=TABLE, Key={"entity_id": {"S": picks[i]}})
                if "Item" not in item:
                    raise RuntimeError("missing")

            load(min(50, n), args.concurrency, via_service)  # warm up: connections, imports
            nc_lat, nc_errors, nc_wall = load(n, args.concurrency, via_service)
            base_lat, base_errors, base_wall = load(n, args.concurrency, bare)
        finally:
            stop(server)
        server, port = serve({})
        try:
            every = picks
            picks = ids  # the warm-up pass: every entity once
            load(len(ids), args.concurrency, via_service)
            picks = every
            before = cache_stats(port)
            lat, errors, wall = load(n, args.concurrency, via_service)
            after = cache_stats(port)
            lookups = (after["hits"] - before["hits"]) + (after["misses"] - before["misses"])
            hit_rate = (after["hits"] - before["hits"]) / max(1, lookups)
            rows = frame[[config.data.entity_id, *config.feature_names]].head(200).to_dict(orient="records")
            score_n = min(n, 200)

            def score(state: dict[str, Any], i: int) -> None:
                conn = state.get("conn")
                if conn is None:
                    conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                body = json.dumps({"rows": [rows[i % len(rows)]]}, default=str)
                headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
                conn.request("POST", "/v1/models/churn/score", body=body, headers=headers)
                response = conn.getresponse()
                if response.status != 200 or b"score" not in response.read():
                    raise RuntimeError(response.status)

            load(args.concurrency, args.concurrency, score)  # loads the champion once
            score_lat, score_errors, score_wall = load(score_n, args.concurrency, score)
        finally:
            stop(server)
    figures = {
        "benchmark": "api",
        "requests": n,
        "concurrency": args.concurrency,
        "rps": round(n / wall, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(pct(lat, 0.99), 2),
        "errors": errors,
        "baseline": "bare boto3 get_item loop, same concurrency and table",
        "baseline_rps": round(n / base_wall, 1),
        "baseline_p50_ms": round(statistics.median(base_lat) * 1000, 2),
        "baseline_p99_ms": round(pct(base_lat, 0.99), 2),
        "baseline_errors": base_errors,
        "ratio": round((n / wall) / (n / base_wall), 2),
        "cache_hit_rate": round(hit_rate, 3),
        "rps_no_cache": round(n / nc_wall, 1),
        "p50_ms_no_cache": round(statistics.median(nc_lat) * 1000, 2),
        "p99_ms_no_cache": round(pct(nc_lat, 0.99), 2),
        "errors_no_cache": nc_errors,
        "ratio_no_cache": round((n / nc_wall) / (n / base_wall), 2),
        "score_requests": score_n,
        "score_rps": round(score_n / score_wall, 1),
        "score_p50_ms": round(statistics.median(score_lat) * 1000, 2),
        "score_p99_ms": round(pct(score_lat, 0.99), 2),
        "score_errors": score_errors,
        "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
