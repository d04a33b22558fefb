"""Alert delivery: the config's `alerts` rules route `emit_alert` records to Airflow notifiers.

`rules` (Airflow-free) matches an alert to the rules of a model's `alerts` section; `dedupe`
keeps one notification per (model, run, rule); `notifiers` builds the Airflow notifier of a
channel (SMTP, Slack webhook, generic webhook); `dispatch` ties them together and is what
`driftline.alerts.emit_alert` calls; `deadline` turns `alerts.freshness` into a Deadline Alert.
"""
