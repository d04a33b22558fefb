from __future__ import annotations

import json
import logging

from driftline.alerts import (
    AlertEvent,
    alerts_file,
    emit_alert,
    register_alert_handler,
    unregister_alert_handler,
)


def test_emit_alert_logs_persists_and_dispatches(driftline_home, caplog):
    seen = []

    def broken(event):
        raise RuntimeError("notifier down")

    register_alert_handler(broken)
    register_alert_handler(seen.append)
    try:
        with caplog.at_level(logging.ERROR, logger="driftline.alerts"):
            emit_alert(
                AlertEvent(
                    model="churn",
                    kind="validation_failed",
                    severity="error",
                    message="3 checks failed",
                    details={"quarantine": "/q"},
                    run={"run_id": "r1"},
                )
            )
    finally:
        unregister_alert_handler(broken)
        unregister_alert_handler(seen.append)
    assert [e.kind for e in seen] == ["validation_failed"]  # the failing handler did not stop the next one
    assert alerts_file() == driftline_home / "alerts" / "alerts.jsonl"
    (line,) = alerts_file().read_text().splitlines()
    record = json.loads(line)
    assert (
        record["model"] == "churn"
        and record["details"] == {"quarantine": "/q"}
        and record["run"]["run_id"] == "r1"
    )
    assert "ALERT [error] churn validation_failed: 3 checks failed" in caplog.text
    assert "notifier down" in caplog.text
