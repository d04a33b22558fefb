"""Every query in the Grafana dashboards names a metric that Airflow or Driftline really emits.

The emitted names come from captured StatsD streams of real runs (docker/grafana/capture/, made by
capture_run.py: the example pipeline under dag.test() with Airflow's Stats on, and Airflow's
scheduler and DAG processor), turned into Prometheus names by the statsd-exporter mapping the
stack uses (docker/statsd/mapping.yml), as statsd_exporter does: glob rules in order, `drop`,
`${n}` captures, default names with every other character an underscore, timers as histograms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "docker" / "grafana"
MAPPING = REPO / "docker" / "statsd" / "mapping.yml"
METRIC = re.compile(r"\b(?:airflow|driftline)_[A-Za-z0-9_]+")


def _rules() -> list[tuple[re.Pattern[str], dict[str, Any]]]:
    config = yaml.safe_load(MAPPING.read_text())
    assert config["defaults"]["match_type"] == "glob"
    rules = []
    for rule in config["mappings"]:
        pattern = "^" + "".join("([^.]*)" if c == "*" else re.escape(c) for c in rule["match"]) + "$"
        rules.append((re.compile(pattern), rule))
    return rules


def prometheus_names(
    statsd_name: str, kind: str, rules: list[tuple[re.Pattern[str], dict[str, Any]]]
) -> set[str]:
    """The series names statsd_exporter exposes for one StatsD metric (empty when dropped)."""
    for pattern, rule in rules:
        match = pattern.match(statsd_name)
        if match:
            if rule.get("action") == "drop":
                return set()
            name = rule["name"]
            for i, group in enumerate(match.groups(), start=1):
                name = name.replace(f"${{{i}}}", group)
            break
    else:
        name = re.sub(r"[^A-Za-z0-9_]", "_", statsd_name)
    if kind in ("ms", "h", "d"):  # observer_type histogram
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


def captured() -> tuple[set[str], set[str]]:
    """(Prometheus names exposed, StatsD names seen) from every captured stream."""
    rules = _rules()
    exposed: set[str] = set()
    seen: set[str] = set()
    for path in sorted((GRAFANA / "capture").glob("*.statsd")):
        for line in path.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            head, tail = line.rsplit(":", 1)
            name = head.split(",", 1)[0]
            seen.add(name)
            exposed |= prometheus_names(name, tail.split("|", 1)[1], rules)
    return exposed, seen


def _queries(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        if isinstance(node.get("query"), str):
            out.append(node["query"])
        return out + [q for v in node.values() for q in _queries(v)]
    if isinstance(node, list):
        return [q for v in node for q in _queries(v)]
    return []


def dashboards() -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def test_every_dashboard_query_names_an_emitted_metric():
    exposed, _ = captured()
    checked = 0
    problems = []
    for name, board in dashboards().items():
        for query in _queries(board):
            metrics = METRIC.findall(query)
            assert metrics, f"{name}: query names no Airflow or Driftline metric: {query}"
            checked += len(metrics)
            problems += [f"{name}: {m} (in {query})" for m in metrics if m not in exposed]
    assert not problems, "not in the captured metrics:\n" + "\n".join(problems)
    assert checked >= 30


def test_the_captures_hold_airflow_health_and_driftline_run_metrics():
    _, seen = captured()
    airflow = {
        "airflow.scheduler_heartbeat",
        "airflow.dag_processing.total_parse_time",
        "airflow.dag_processing.import_errors",
        "airflow.executor.queued_tasks",
        "airflow.executor.running_tasks",
        "airflow.pool.open_slots",
        "airflow.task.duration",
    }
    assert airflow <= seen, sorted(airflow - seen)
    from driftline.monitoring import stat_name

    keys = [
        "rows_loaded",
        "validation_pass_rate",
        "drift_share",
        "drifted_columns",
        "live_metric",
        "live_metric_drop",
    ]
    keys += ["retrain", "gate_promoted", "predictions_written", "duration_s.train", "run_duration_s"]
    driftline = {"airflow." + stat_name(key)[0] for key in keys} | {"airflow.driftline.alerts"}
    assert driftline <= seen, sorted(driftline - seen)


def test_the_dashboards_cover_airflow_health_and_are_provisioned():
    boards = dashboards()
    assert set(boards) == {"airflow-health.json", "driftline-models.json"}
    titles = " | ".join(p["title"].lower() for p in boards["airflow-health.json"]["panels"])
    for topic in ("heartbeat", "parse time", "import errors", "queued", "running", "pool slots", "duration"):
        assert topic in titles, topic
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "driftline.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in source["datasources"]}
    for board in boards.values():
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in uids and all(
                t["datasource"]["uid"] in uids for t in panel["targets"]
            )
