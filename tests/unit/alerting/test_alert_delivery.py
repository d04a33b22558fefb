"""Alerts go through Airflow notifiers to real receivers on loopback, once per run, rule and channel."""

from __future__ import annotations

import json

import pytest
from driftline.alerting import AlertEvent, alerts_file, emit_alert
from driftline.config.models import AlertsSection

ALERTS = {
    "channels": {
        "oncall": {"type": "smtp", "conn_id": "smtp_test", "to": ["oncall@test.local"]},
        "team": {"type": "slack", "conn_id": "slack_test"},
        "pager": {"type": "webhook", "conn_id": "hook_test", "endpoint": "/driftline"},
    },
    "rules": [
        {"on": "drift", "threshold": 0.3, "notify": ["team", "pager"]},
        {"on": "validation_failed", "notify": ["oncall", "pager"]},
        {"on": "not_evaluated", "notify": ["team"]},
        {"on": "budget", "threshold": 0.8, "notify": ["pager"]},
    ],
}


def _event(kind: str, run_id: str = "scheduled__2026-01-21T00:00:00+00:00", **details: object) -> AlertEvent:
    return AlertEvent(
        model="churn",
        kind=kind,
        severity="warning",
        message=f"{kind} happened",
        details=dict(details),
        run={"dag_id": "driftline__churn", "run_id": run_id},
    )


def test_each_rule_reaches_its_channels_once_per_run(driftline_home, smtp_server, http_receiver):
    alerts = AlertsSection.model_validate(ALERTS)
    emit_alert(_event("validation_failed", rows=2000), alerts)
    emit_alert(_event("validation_failed", rows=2000), alerts)  # the same run and rule: deduplicated
    emit_alert(_event("drift", share=0.5, drifted_columns=["plan"]), alerts)
    emit_alert(_event("drift", share=0.2), alerts)  # below the rule's threshold
    emit_alert(_event("drift_not_evaluated", streak=4), alerts)  # the drift step's name for the kind
    emit_alert(_event("budget", fraction=0.5), alerts)  # below 0.8
    emit_alert(_event("task_failed"), alerts)  # no rule

    (mail,) = smtp_server.messages
    assert mail["to"] == ["oncall@test.local"] and mail["from"] == "driftline@test.local"
    assert mail["message"]["Subject"] == "[Driftline] WARNING churn: validation_failed"
    body = mail["message"].get_body(("html",)).get_content()
    link = (
        "https://airflow.example.test/dags/driftline__churn/runs/scheduled__2026-01-21T00%3A00%3A00%2B00%3A00"
    )
    assert link in body and "validation_failed happened" in body

    webhook = [r for r in http_receiver.requests if r["path"] == "/driftline"]
    assert [r["body"]["kind"] for r in webhook] == ["validation_failed", "drift"]
    assert webhook[1]["body"]["details"] == {"share": 0.5, "drifted_columns": ["plan"]}
    assert webhook[1]["body"]["rule"] == "drift" and webhook[1]["body"]["link"] == link
    slack = [r["body"]["text"] for r in http_receiver.requests if r["path"] != "/driftline"]
    assert len(slack) == 2
    assert slack[0].startswith("[Driftline] WARNING churn: drift") and link in slack[0]
    assert "drift_not_evaluated happened" in slack[1]

    # a new run of the same rule is a new notification
    emit_alert(_event("validation_failed", run_id="manual__2"), alerts)
    assert len(smtp_server.messages) == 2
    # every alert is in the record, sent or not
    kinds = [json.loads(line)["kind"] for line in alerts_file().read_text().splitlines()]
    assert kinds.count("validation_failed") == 3 and kinds.count("drift") == 2


def test_a_failing_channel_is_recorded_and_a_retry_sends_again(driftline_home, http_receiver, monkeypatch):
    alerts = AlertsSection.model_validate(
        {
            "channels": {
                "down": {"type": "webhook", "conn_id": "hook_down"},
                "pager": {"type": "webhook", "conn_id": "hook_test"},
            },
            "rules": [{"on": "task_failed", "notify": ["down", "pager"]}],
        }
    )
    with socket_closed() as port:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HOOK_DOWN", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port})
        )
        emit_alert(_event("task_failed"), alerts)
        emit_alert(_event("task_failed"), alerts)  # the retry: only the failed channel is tried again
    assert len(http_receiver.requests) == 1  # the working channel got it once
    failures = [
        json.loads(line) for line in alerts_file().read_text().splitlines() if "delivery_failed" in line
    ]
    assert [(f["channel"], f["rule"]) for f in failures] == [("down", "task_failed")] * 2
    assert "Connection" in failures[0]["error"] or "refused" in failures[0]["error"]


class socket_closed:
    """A loopback port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        pass


def test_the_failure_notifier_routes_by_the_tasks_config(driftline_home, http_receiver, example_config):
    from types import SimpleNamespace

    from driftline.alerting.callbacks import AlertRecordNotifier
    from driftline.exceptions import SnapshotError

    config = example_config.model_copy(
        update={
            "alerts": AlertsSection.model_validate(
                {
                    "channels": {"pager": {"type": "webhook", "conn_id": "hook_test"}},
                    "rules": [{"on": "task_failed", "notify": ["pager"]}],
                }
            )
        }
    )
    ti = SimpleNamespace(dag_id="driftline__churn", run_id="manual__1", task_id="load_current", try_number=3)
    context = {"ti": ti, "task": SimpleNamespace(model_config=config), "exception": SnapshotError("gone")}
    AlertRecordNotifier()(context)
    (request,) = http_receiver.requests
    assert request["body"]["kind"] == "task_failed" and request["body"]["run"]["task_id"] == "load_current"
    assert request["body"]["link"] == "https://airflow.example.test/dags/driftline__churn/runs/manual__1"


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        ({"rules": [{"on": "drift", "notify": ["nobody"]}]}, "notify names channels not in alerts.channels"),
        (
            {
                "channels": {"p": {"type": "webhook", "conn_id": "x"}},
                "rules": [{"on": "task_failed", "threshold": 1, "notify": ["p"]}],
            },
            "alerts of kind 'task_failed' take no threshold",
        ),
        ({"channels": {"p": {"type": "pagerduty", "conn_id": "x"}}}, "pagerduty"),
        ({"channels": {"p": {"type": "smtp", "to": ["a@b"], "password": "x"}}}, "password"),
    ],
)
def test_bad_alert_sections_name_the_problem(tmp_path, example_config_path, alerts, problem):
    import yaml
    from driftline.config import load_config
    from driftline.exceptions import ConfigError

    raw = yaml.safe_load(example_config_path.read_text())
    raw["alerts"] = alerts
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert problem in str(err.value)


def test_inside_a_running_task_the_tasks_config_routes_the_alert(
    driftline_home, http_receiver, example_config
):
    """Steps call emit_alert(event) alone (the validation gate, the drift step): the running task's config routes it."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time.context import set_current_context

    config = example_config.model_copy(
        update={
            "alerts": AlertsSection.model_validate(
                {
                    "channels": {"pager": {"type": "webhook", "conn_id": "hook_test"}},
                    "rules": [{"on": "validation_failed", "notify": ["pager"]}],
                }
            )
        }
    )
    with set_current_context({"task": SimpleNamespace(model_config=config)}):  # type: ignore[arg-type]
        emit_alert(_event("validation_failed"))
        emit_alert(AlertEvent(model="other", kind="validation_failed", severity="error", message="x"))
    (request,) = http_receiver.requests  # the other model's alert is not routed by churn's rules
    assert request["body"]["kind"] == "validation_failed" and request["body"]["model"] == "churn"


def test_outside_a_task_the_models_config_file_routes_it(
    driftline_home, http_receiver, example_config_path, tmp_path, monkeypatch
):
    """Task callbacks (the cost step's budget check) run outside the task's context: the config file routes."""
    import yaml

    raw = yaml.safe_load(example_config_path.read_text())
    raw["alerts"] = {
        "channels": {"pager": {"type": "webhook", "conn_id": "hook_test"}},
        "rules": [{"on": "budget", "threshold": 0.8, "notify": ["pager"]}],
    }
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(configs))
    for fraction in (0.5, 0.8, 1.0, 1.0):  # each fraction crossed in the run is its own notification
        emit_alert(_event("budget", fraction=fraction))
    assert [r["body"]["details"]["fraction"] for r in http_receiver.requests] == [0.8, 1.0]
