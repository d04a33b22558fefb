"""Capture the metrics stream of real runs: the example pipeline (dag.test) and Airflow's scheduler.

Regenerates `docker/grafana/capture/*.statsd`, the captured streams test_dashboards.py checks
every dashboard query against. Run it after changing metrics or dashboards (takes minutes):

    .venv/bin/python tests/integration/grafana/capture_run.py

It starts a UDP StatsD listener on loopback, points Airflow's `[metrics]` at it (StatsD with
InfluxDB-style tags, as docker/statsd/README.md configures production), then in a scratch
DRIFTLINE_HOME/AIRFLOW_HOME (1) runs `driftline__churn` with dag.test() for the first day (no
champion: train, register, promote, score) and the drift day (drift, live metric), in a process
whose `Stats` is initialised as Airflow's task runner does, and (2) runs `airflow dag-processor`
and `airflow scheduler` briefly for Airflow's own health metrics.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "docker" / "grafana" / "capture"
DAYS = (dt.date(2026, 1, 15), dt.date(2026, 1, 21))


def _init_stats() -> None:
    from airflow.observability import stats as core_stats
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats as sdk_stats
    from airflow.sdk.observability.metrics import stats_utils

    legacy = conf.getboolean("metrics", "legacy_names_on")
    sdk_stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=legacy)
    core_stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=legacy)


def run_pipeline() -> None:
    """In the child process: the example pipeline for DAYS, metrics on."""
    from driftline import demo
    from driftline.settings import data_root, driftline_home

    sys.path.insert(0, str(REPO / "include"))
    import generate_churn_data as gen

    gen.generate(data_root(), gen.DEFAULT_START, 25, rows=500, drift_day=gen.DEFAULT_DRIFT_DAY)
    _init_stats()
    with demo._dynamodb():
        dag = demo._load_dags()[demo.DAG_ID]
        for day in DAYS:
            state, lines = demo.run_day(dag, day, {}, driftline_home() / "logs" / f"{day}.log")
            print(f"== {day}: {state}\n" + "\n".join(lines), flush=True)
            if state != "success":
                raise SystemExit(f"the run for {day} failed")


class Listener:
    """A UDP StatsD listener on loopback keeping every line."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.lines.extend(line for line in data.decode().splitlines() if line)

    def take(self) -> list[str]:
        out, self.lines = self.lines, []
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def main() -> None:
    listener = Listener()
    scratch = Path(tempfile.mkdtemp(prefix="driftline-capture-"))
    env = {
        **os.environ,
        "DRIFTLINE_HOME": str(scratch / "home"),
        "DRIFTLINE_DATA": str(scratch / "data"),
        "DRIFTLINE_PROJECT_ROOT": str(REPO),
        "DRIFTLINE_MLFLOW_LOCAL_STORE": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        "AIRFLOW_HOME": str(scratch / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{scratch / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(listener.port),
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        "AIRFLOW__SCHEDULER__POOL_METRICS_INTERVAL": "1",
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    (scratch / "airflow").mkdir(parents=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    listener.take()
    subprocess.run([sys.executable, __file__, "--pipeline"], env=env, check=True)
    pipeline = listener.take()
    subprocess.run([airflow, "dag-processor", "--num-runs", "1"], env=env, check=True, capture_output=True)
    subprocess.run([airflow, "scheduler", "--num-runs", "8"], env=env, check=True, capture_output=True)
    scheduler = listener.take()
    listener.stop()
    import airflow as airflow_pkg

    OUT.mkdir(parents=True, exist_ok=True)
    header = f"# captured by {Path(__file__).relative_to(REPO)} with Airflow {airflow_pkg.__version__}\n"
    (OUT / "pipeline-run.statsd").write_text(header + "\n".join(sorted(set(pipeline))) + "\n")
    (OUT / "airflow-scheduler.statsd").write_text(header + "\n".join(sorted(set(scheduler))) + "\n")
    print(f"captured {len(pipeline)} pipeline and {len(scheduler)} scheduler lines into {OUT}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--pipeline"]:
        run_pipeline()
    else:
        main()
