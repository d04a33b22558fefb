"""The Spark application the spark engine submits: runs one data step, writes its result back.

`spark-submit .../driftline/engines/spark_job.py REQUEST RESULT` (through the Spark provider's
SparkSubmitHook, `driftline.engines.spark_submit`): REQUEST is a pickle of the step (`load_window`,
`validate`, `data_drift` or `score`), the model's compute section and the step's arguments;
the step runs on `SparkEngine` in this application's SparkSession (master and conf from
spark-submit), and RESULT receives `("ok", value)` or `("error", exception)`, so the Driftline
operator returns the same values (and XComs) and raises the same errors as on the other engines.
`score` streams its items into RESULT.items (one pickle per item) and returns the counts.

The exchange folder is on the machine that runs spark-submit: the driver runs there
(deploy mode client); the executors are the cluster's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script, this file's folder is sys.path[0]; its neighbours (duckdb.py) would shadow the
# libraries of the same name.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != _HERE]

import pickle  # noqa: E402
from typing import Any  # noqa: E402


def run(request: dict[str, Any], result_path: Path) -> tuple[str, Any]:
    from pyspark.sql import SparkSession

    from driftline.engines.spark import BASE_CONF, SparkEngine

    builder = SparkSession.builder.appName(f"driftline-{request['model']}-{request['step']}")
    for key, value in BASE_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()  # master and conf: spark-submit's
    spark.sparkContext.setLogLevel("WARN")
    engine = SparkEngine(request["compute"], request["model"])
    args, kwargs = request["args"], dict(request["kwargs"])
    try:
        if request.get("access"):
            from driftline.hooks.sources import AirflowSourceAccess

            kwargs["access"] = AirflowSourceAccess()
        step = request["step"]
        if step == "score":
            from driftline.engines.spark_scoring import score_items

            counts: dict[str, int] = {}
            with open(f"{result_path}.items", "wb") as out:
                for item in score_items(*args, stats=counts, **kwargs):  # type: ignore[misc]
                    pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            return "ok", counts
        if step not in ("load_window", "validate", "data_drift"):
            raise ValueError(f"unknown step {step!r}")
        return "ok", getattr(engine, step)(*args, **kwargs)
    except Exception as exc:
        return "error", exc
    finally:
        spark.stop()


def main(argv: list[str]) -> int:
    request_path, result_path = Path(argv[0]), Path(argv[1])
    with request_path.open("rb") as handle:
        request = pickle.load(handle)  # noqa: S301 -- written by the submitting Driftline operator
    status, value = run(request, result_path)
    try:
        payload = pickle.dumps((status, value))
        pickle.loads(payload)  # noqa: S301 -- an exception that cannot come back is sent as text
    except Exception:
        from driftline.exceptions import DataSourceError

        payload = pickle.dumps(("error", DataSourceError(f"{type(value).__name__}: {value}")))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
