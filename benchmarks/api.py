"""Predictions service lookup speed vs a bare boto3 get_item loop on the same table.

A moto DynamoDB server (its own process) holds `entities` predictions written by Driftline's
writer. The service runs as `driftline serve` (uvicorn, its own process); `concurrency` client
threads each hold a keep-alive connection and GET /v1/models/churn/predictions/<id> for random
ids. The baseline, in the same run, is `concurrency` threads calling `get_item` on the same
table with one shared boto3 client: the ceiling a service adds its own cost to. `ratio` is
rps / baseline_rps.

The scoring phase (POST /score, the champion loaded from a SQLite MLflow store by alias), against
two baselines in the same run:
- `first_request_ms`: the first /score answer after /readyz said ready (the service as deployed:
  `driftline serve` with its default workers, one per core);
- `score_rps`, `score_p50_ms`, `score_p99_ms`: one row per request from `concurrency` clients;
- `score_floor_rps`: the floor, a bare in-process loop of `model.predict_proba` on a one-row
  DataFrame of the same rows (one thread; no HTTP, no JSON);
- `mlserver_rps` (and p50/p99): MLServer with its scikit-learn runtime serving the same fitted
  pipeline (joblib) at the same concurrency over its V2 REST protocol (pandas codec, one row per
  request, `predict_proba`). mlserver pins fastapi<0.125, Airflow 3.3 needs >=0.129: they cannot
  share the lock, so the benchmark makes its own venv at .driftline/bench/mlserver-venv
  (`python -m venv` + pip: mlserver, mlserver-sklearn and our scikit-learn and pandas versions);
  `mlserver_same_scores` checks its scores equal ours;
- `batch1000_ms`: median of /score with 1,000 rows per request (one client), and
  `batch1000_floor_ms`: the median of a bare `predict_proba` on the same 1,000-row DataFrame.

The service runs twice: with its lookup response cache switched off (`*_no_cache` figures,
DRIFTLINE_SERVICE_CACHE_ITEMS=0: every lookup is a GetItem) and as deployed, with the cache on
after one warm-up pass over every entity (`rps`, `p50_ms`, `p99_ms`: the steady state of a
working set that fits the cache; `cache_hit_rate` is null: /healthz counts per worker). Cached
answers stay valid until the table's data generation moves (driftline.service.generation), so the
warm-up pass is not lost to the cache's TTL however slowly it runs. `load_avg` is the machine's
1-minute load average at the start and the end (the end's includes this benchmark's own threads;
the machine is shared: read the ratios).

    .venv/bin/python benchmarks/api.py            # 5000 requests per side, 8 clients
    .venv/bin/python benchmarks/api.py --quick    # 300 requests per side
    .venv/bin/python benchmarks/api.py --no-mlserver   # leave out the MLServer baseline

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
MLSERVER_VENV = _dynamo.REPO / ".driftline" / "bench" / "mlserver-venv"
MLSERVER_PACKAGES = ("mlserver>=1.7,<1.8", "mlserver-sklearn>=1.7,<1.8")


def mlserver_python() -> Path:
    """The venv's python with mlserver and our scikit-learn/pandas versions (made once)."""
    import pandas
    import sklearn

    python = MLSERVER_VENV / "bin" / "python"
    pins = [*MLSERVER_PACKAGES, f"scikit-learn=={sklearn.__version__}", f"pandas=={pandas.__version__}"]
    marker = MLSERVER_VENV / "driftline-pins.txt"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(pins):
        return python
    MLSERVER_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True, stdout=sys.stderr)
    marker.write_text("\n".join(pins))
    return python


class MLServer:
    """`mlserver start` serving `model` (joblib) with the scikit-learn runtime on free loopback ports."""

    def __init__(self, model: Any, folder: Path) -> None:
        import joblib

        self.folder = folder / "mlserver"
        (self.folder / "churn").mkdir(parents=True)
        joblib.dump(model, self.folder / "churn" / "model.joblib")
        self.port = _dynamo.free_port()
        settings = {
            "http_port": self.port,
            "grpc_port": _dynamo.free_port(),
            "metrics_port": _dynamo.free_port(),
            "host": "127.0.0.1",
            "debug": False,
            # MLServer 1.7.1's parallel inference pool dies here at start-up ("There is no current
            # event loop in thread 'MainThread'" in its worker process, Python 3.11): inference runs
            # in its server process instead (one process, where `driftline serve` runs one per core)
            "parallel_workers": 0,
        }
        (self.folder / "settings.json").write_text(json.dumps(settings))
        model_settings = {
            "name": "churn",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v1"},
        }
        (self.folder / "churn" / "model-settings.json").write_text(json.dumps(model_settings))

    def __enter__(self) -> MLServer:
        python = mlserver_python()
        self.proc = subprocess.Popen(
            [str(python.with_name("mlserver")), "start", str(self.folder)],
            cwd=self.folder,
            env={**os.environ, "OMP_NUM_THREADS": "1"},  # as `driftline serve` runs: one thread per core
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/v2/models/churn/ready")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError("mlserver did not start (run it by hand: mlserver start <folder>)")
            time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def v2_request(row: dict[str, Any], features: list[Any]) -> bytes:
    """One row as a V2 inference request decoded by MLServer's pandas codec."""
    inputs = []
    for f in features:
        value = row[f.name]
        if f.type in ("category", "string"):
            inputs.append(
                {
                    "name": f.name,
                    "shape": [1],
                    "datatype": "BYTES",
                    "data": [value],
                    "parameters": {"content_type": "str"},
                }
            )
        elif f.type == "bool":
            inputs.append({"name": f.name, "shape": [1], "datatype": "BOOL", "data": [bool(value)]})
        else:
            inputs.append({"name": f.name, "shape": [1], "datatype": "FP64", "data": [value]})
    body = {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    return json.dumps(body).encode()


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


def measure_mlserver(
    model: Any,
    folder: Path,
    rows: list[dict[str, Any]],
    features: list[Any],
    n: int,
    concurrency: int,
    expected: list[float],
) -> dict[str, Any]:
    """MLServer's figures at the same concurrency on the same rows."""
    with MLServer(model, folder) as ml:
        v2 = [v2_request(r, features) for r in rows]

        def via_mlserver(state: dict[str, Any], i: int) -> None:
            conn = state.get("conn")
            if conn is None:
                conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", ml.port, timeout=120)
            conn.request(
                "POST",
                "/v2/models/churn/infer",
                body=v2[i % len(v2)],
                headers={"Content-Type": "application/json"},
            )
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {body[:200]!r}")

        load(concurrency * 4, concurrency, via_mlserver)
        ml_lat, ml_errors, ml_wall = load(n, concurrency, via_mlserver)
        theirs = []
        for body in v2[:20]:
            conn = http.client.HTTPConnection("127.0.0.1", ml.port, timeout=120)
            conn.request(
                "POST",
                "/v2/models/churn/infer",
                body=body,
                headers={"Content-Type": "application/json"},
            )
            out = json.loads(conn.getresponse().read())["outputs"][0]
            theirs.append(float(out["data"][1]))
        mlserver = {
            "mlserver": "MLServer 1.7 + mlserver-sklearn (V2 REST, pandas codec, predict_proba), own venv, parallel_workers 0",
            "mlserver_rps": round(n / ml_wall, 1),
            "mlserver_p50_ms": round(statistics.median(ml_lat) * 1000, 2),
            "mlserver_p99_ms": round(pct(ml_lat, 0.99), 2),
            "mlserver_errors": ml_errors,
            "mlserver_same_scores": all(abs(a - b) < 1e-9 for a, b in zip(theirs, expected, strict=True)),
        }
    return mlserver


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None, help="per side (default 5000, quick 300)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-mlserver", action="store_true", help="leave out the MLServer baseline")
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
            log = (folder / f"serve-{port}.log").open("wb")
            proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(port), "--configs", str(configs)],
                env={**env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            deadline = time.monotonic() + 600  # a loaded machine starts it slowly
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/readyz")
                    response = conn.getresponse()
                    if response.status == 200:
                        return proc, port
                    response.read()
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.terminate()
                    tail = (folder / f"serve-{port}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"driftline serve did not become ready:\n{tail}")
                time.sleep(0.2)

        def stop(proc: subprocess.Popen[bytes]) -> None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

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
        rows = frame[[config.data.entity_id, *config.feature_names]].head(200).to_dict(orient="records")
        rows = [{k: (None if v != v else v) for k, v in r.items()} for r in rows]  # NaN -> null
        rows = [r for r in rows if all(r[f.name] is not None or f.optional for f in config.data.features)]
        headers = {"X-API-Key": KEY, "Content-Type": "application/json"}

        def post(port: int, path: str, body: bytes, conn: Any = None) -> tuple[int, bytes]:
            conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()

        server, port = serve({})
        try:
            started = time.perf_counter()
            status, first = post(port, "/v1/models/churn/score", json.dumps({"rows": [rows[0]]}).encode())
            first_request_ms = (time.perf_counter() - started) * 1000
            if status != 200:
                raise RuntimeError(f"the first /score answered {status}: {first[:200]!r}")
            every = picks
            picks = ids  # the warm-up pass: every entity once
            load(len(ids), args.concurrency, via_service)
            picks = every
            lat, errors, wall = load(n, args.concurrency, via_service)
            bodies = [json.dumps({"rows": [r]}).encode() for r in rows]

            def score(state: dict[str, Any], i: int) -> None:
                conn = state.get("conn")
                if conn is None:
                    conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status, body = post(port, "/v1/models/churn/score", bodies[i % len(bodies)], conn)
                if status != 200 or b"score" not in body:
                    raise RuntimeError(status)

            load(args.concurrency * 4, args.concurrency, score)  # connections
            score_lat, score_errors, score_wall = load(n, args.concurrency, score)
            ours = [
                json.loads(post(port, "/v1/models/churn/score", b)[1])["predictions"][0]["score"]
                for b in bodies[:20]
            ]
            big = json.dumps({"rows": [rows[i % len(rows)] for i in range(1000)]}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            batch_times = []
            for _ in range(3 + (5 if args.quick else 20)):
                t0 = time.perf_counter()
                status, _ = post(port, "/v1/models/churn/score", big, conn)
                batch_times.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"1,000-row /score answered {status}")
            batch_times = batch_times[3:]
        finally:
            stop(server)

        # the floor: a bare in-process predict loop on the same rows
        import pandas as pd
        from driftline.training.estimators import prepare_features
        from threadpoolctl import threadpool_limits

        floor_limits = threadpool_limits(
            limits=1
        )  # the thread setting `driftline serve` and MLServer run with
        features = config.data.features
        one_row = [prepare_features(pd.DataFrame([r]), features) for r in rows]
        for X in one_row[:20]:
            model.predict_proba(X)
        floor_n = min(n, 2000)
        t0 = time.perf_counter()
        for i in range(floor_n):
            model.predict_proba(one_row[i % len(one_row)])
        floor_rps = floor_n / (time.perf_counter() - t0)
        big_frame = prepare_features(pd.DataFrame([rows[i % len(rows)] for i in range(1000)]), features)
        floor_times = []
        for _ in range(3 + (5 if args.quick else 20)):
            t0 = time.perf_counter()
            model.predict_proba(big_frame)
            floor_times.append(time.perf_counter() - t0)
        floor_times = floor_times[3:]
        expected = [float(model.predict_proba(one_row[i])[0, 1]) for i in range(20)]
        floor_limits.restore_original_limits()

        mlserver: dict[str, Any] = {}
        if not args.no_mlserver:
            try:
                mlserver = measure_mlserver(model, folder, rows, features, n, args.concurrency, expected)
            except Exception as exc:  # reported, never a silent gap: mlserver_rps stays null
                mlserver = {"mlserver_rps": None, "mlserver_error": str(exc)[:300]}
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
        # /healthz's cache counters are per worker (several answer the same port): not summed here
        "cache_hit_rate": None,
        "rps_no_cache": round(n / nc_wall, 1),
        "p50_ms_no_cache": round(statistics.median(nc_lat) * 1000, 2),
        "p99_ms_no_cache": round(pct(nc_lat, 0.99), 2),
        "errors_no_cache": nc_errors,
        "ratio_no_cache": round((n / nc_wall) / (n / base_wall), 2),
        "score_requests": n,
        "score_rps": round(n / score_wall, 1),
        "score_p50_ms": round(statistics.median(score_lat) * 1000, 2),
        "score_p99_ms": round(pct(score_lat, 0.99), 2),
        "score_errors": score_errors,
        "score_same_scores": all(abs(a - b) < 1e-9 for a, b in zip(ours, expected, strict=True)),
        "score_floor": "bare in-process predict_proba loop on one-row DataFrames of the same rows, 1 thread, OMP 1",
        "score_floor_rps": round(floor_rps, 1),
        **mlserver,
        "score_ratio_mlserver": round((n / score_wall) / mlserver["mlserver_rps"], 2) if mlserver else None,
        "batch1000_ms": round(statistics.median(batch_times) * 1000, 2),
        "batch1000_floor_ms": round(statistics.median(floor_times) * 1000, 2),
        "batch1000_ratio_to_floor": round(statistics.median(batch_times) / statistics.median(floor_times), 2),
        "first_request_ms": round(first_request_ms, 1),
        "workers": "driftline serve default (one per core, at most 4)",
        "cpu_count": os.cpu_count(),
        "load_avg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
