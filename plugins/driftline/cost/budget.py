"""Monthly budgets: a `budget` alert the first time a month's cost reaches each configured fraction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from driftline.alerting import AlertEvent, emit_alert
from driftline.config.models import CostSection
from driftline.cost.ledger import Ledger


def check_budget(
    ledger: Ledger,
    model: str,
    cost: CostSection,
    *,
    month: str | None = None,
    run: dict[str, Any] | None = None,
) -> list[float]:
    """Send the alerts of fractions crossed this month not alerted before; returns those fractions.

    Each (model, month, fraction) is claimed in the ledger before the alert goes out, so concurrent
    runs and retries send it once.
    """
    if cost.monthly_budget is None:
        return []
    month = month or dt.datetime.now(dt.UTC).strftime("%Y-%m")
    spent = ledger.month_totals(model, month)["total"]
    sent: list[float] = []
    for fraction in cost.alert_fractions:
        if spent < fraction * cost.monthly_budget:
            continue
        if not ledger.claim_budget_alert(model, month, fraction, spent):
            continue
        emit_alert(
            AlertEvent(
                model=model,
                kind="budget",
                severity="critical" if fraction >= 1.0 else "warning",
                message=f"{model} spent {spent:,.2f} {cost.currency} in {month}: {spent / cost.monthly_budget:.0%} "
                f"of its monthly budget {cost.monthly_budget:,.2f} (alert at {fraction:.0%})",
                details={
                    "month": month,
                    "fraction": fraction,
                    "spent": round(spent, 6),
                    "budget": cost.monthly_budget,
                    "currency": cost.currency,
                },
                run=dict(run or {}),
            )
        )
        sent.append(fraction)
    return sent
