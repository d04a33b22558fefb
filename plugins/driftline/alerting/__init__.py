"""Alerting, in one package: what an alert is, its record, its rules, routing and notifiers.

`event` (AlertEvent, Severity: plain data); `record` (`emit_alert`: the log line and
`DRIFTLINE_HOME/alerts/alerts.jsonl`, then delivery); `rules` (Airflow-free) matches an alert to
the rules of a model's `alerts` section; `dedupe` keeps one notification per (model, run, rule);
`notifiers` builds the Airflow notifier of a channel (SMTP, Slack webhook, generic webhook);
`dispatch` ties them together and is what `emit_alert` calls (lazily: where Airflow is not
installed, the training pod, the alert is recorded only); `callbacks` holds
`AlertRecordNotifier`, every Driftline task's `on_failure_callback`; `deadline` turns
`alerts.freshness` into a Deadline Alert. Imports run one way: event <- record <- dispatch is
never imported back by what it imports. This package's top level imports no Airflow.
"""

from __future__ import annotations

from driftline.alerting.event import AlertEvent, Severity
from driftline.alerting.record import alerts_file, emit_alert

__all__ = ["AlertEvent", "Severity", "alerts_file", "emit_alert"]
