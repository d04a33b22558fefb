"""Cost and ROI per model: the `driftline cost` table and the cost-report DAG's HTML with plots."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from driftline.config.models import CostSection
from driftline.cost.ledger import Ledger
from driftline.cost.pricing import KINDS
from driftline.cost.roi import RoiResult, roi
from driftline.exceptions import DriftlineError


@dataclass
class ModelCost:
    """One model's cost since a day, its budget use this month and its ROI."""

    model: str
    currency: str
    since: dt.date | None
    runs: int
    gpu_hours: float
    by_kind: dict[str, float]
    total: float
    predictions: int
    month: str
    month_total: float
    budget: float | None
    roi: RoiResult
    daily: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cost_per_1k_predictions(self) -> float | None:
        return self.total / self.predictions * 1000 if self.predictions else None

    @property
    def budget_used(self) -> float | None:
        return self.month_total / self.budget if self.budget else None


def experiment_arms(
    get_client: Callable[[], Any], model: str
) -> tuple[dict[str, Any] | None, str | None, dt.datetime | None]:
    """The current experiment's per-arm KPI summaries: (arms, why not, started_at).

    Read through the experiment store (`driftline.experiments.store.list_experiments(client, model)`:
    the newest experiment with an evaluation, running or finished; the client from `get_client()`,
    asked only when the store exists); where MLflow cannot be read, the reason says so.
    """
    from driftline.experiments import store

    try:
        experiments = list(store.list_experiments(get_client(), model))
    except DriftlineError as exc:
        return None, f"cannot read the experiment store: {exc}", None
    if not experiments:
        return None, "no A/B experiment with a no_model holdout has run for this model", None

    def arms_of(e: Any) -> Any:
        evaluation = getattr(e, "last_evaluation", None) or {}
        return evaluation.get("arms") if isinstance(evaluation, Mapping) else None

    evaluated = [e for e in experiments if arms_of(e)]  # oldest first: the newest evaluated one
    if not evaluated:
        return None, "the experiment has not been evaluated yet (no per-arm KPI summaries)", None
    experiment = evaluated[-1]
    arms = arms_of(experiment)
    started = getattr(experiment, "started_at", None)
    if isinstance(started, str):
        started = dt.datetime.fromisoformat(started)
    return dict(arms), None, started if isinstance(started, dt.datetime) else None


def model_cost(
    ledger: Ledger,
    model: str,
    cost: CostSection | None,
    *,
    since: dt.date | None = None,
    arms: Mapping[str, Any] | None = None,
    no_roi_reason: str | None = None,
    roi_since: dt.date | None = None,
    today: dt.date | None = None,
) -> ModelCost:
    """The figures of one model: ledger sums since `since`, this month's budget use, ROI from `arms`.

    ROI's cost is the model's cost since `roi_since` (the experiment's start), else since `since`.
    """
    cost = cost or CostSection()
    rows = ledger.entries(model, since=since)
    by_kind: dict[str, float] = {}
    for r in rows:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0.0) + float(r["amount"])
    gpu_hours = sum(float(r["quantity"]) for r in rows if r["kind"] == "gpu")
    predictions = 0
    import json

    for r in rows:
        if r["kind"] in ("dynamodb_write", "dynamodb_import"):
            predictions += int(json.loads(r["details"] or "{}").get("items", 0))
    today = today or dt.datetime.now(dt.UTC).date()
    month = today.strftime("%Y-%m")
    total = sum(by_kind.values())
    if arms is None:
        result = RoiResult(False, no_roi_reason or "no per-arm KPI summaries", confidence=cost.roi_confidence)
    else:
        period = ledger.entries(model, since=roi_since or since)
        result = roi(
            arms,
            cost=sum(float(r["amount"]) for r in period),
            value_per_event=cost.value_per_event,
            confidence=cost.roi_confidence,
        )
    return ModelCost(
        model=model,
        currency=cost.currency,
        since=since,
        runs=len({(r["dag_id"], r["run_id"]) for r in rows}),
        gpu_hours=gpu_hours,
        by_kind=by_kind,
        total=total,
        predictions=predictions,
        month=month,
        month_total=ledger.month_totals(model, month)["total"],
        budget=cost.monthly_budget,
        roi=result,
        daily=ledger.daily(model, since),
    )


def _money(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.4f}" if abs(x) >= 0.01 or x == 0 else f"{x:.6f}"  # a demo run costs fractions of a cent


def format_table(rows: Sequence[ModelCost]) -> str:
    """The plain-text table `driftline cost` prints."""
    kinds = [k for k in KINDS if any(k in r.by_kind for r in rows)]
    header = ["model", "runs", "gpu_h", *kinds, "total", "per_1k_pred", "budget_used"]
    lines = [header]
    for r in rows:
        used = r.budget_used
        lines.append(
            [
                r.model,
                str(r.runs),
                f"{r.gpu_hours:.2f}",
                *(_money(r.by_kind.get(k)) for k in kinds),
                f"{_money(r.total)} {r.currency}",
                _money(r.cost_per_1k_predictions),
                "-" if used is None else f"{used:.0%} of {r.budget:,.2f} ({r.month})",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.append("")
    for r in rows:
        out.append(f"{r.model}: {r.roi.describe(r.currency)}")
    return "\n".join(out)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(row: ModelCost) -> dict[str, str]:
    """Base64 PNGs: cost per day by kind (stacked), and the ROI interval when measurable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    days = sorted({d["day"] for d in row.daily})
    if days:
        fig, ax = plt.subplots(figsize=(7, 3))
        bottom = [0.0] * len(days)
        for kind in [k for k in KINDS if any(d["kind"] == k for d in row.daily)]:
            values = [
                sum(d["amount"] for d in row.daily if d["day"] == day and d["kind"] == kind) for day in days
            ]
            ax.bar(days, values, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel(row.currency)
        ax.set_title(f"{row.model}: cost per day by kind")
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        out["cost_over_time"] = _png(fig)
        plt.close(fig)
    r = row.roi
    if r.measurable and r.roi is not None and r.roi_low is not None and r.roi_high is not None:
        fig, ax = plt.subplots(figsize=(7, 1.8))
        ax.errorbar([r.roi], [0], xerr=[[r.roi - r.roi_low], [r.roi_high - r.roi]], fmt="o", capsize=6)
        ax.axvline(0, color="grey", linestyle="--")
        ax.set_yticks([])
        ax.set_xlabel(f"ROI = (value - cost) / cost, {r.confidence:.0%} interval")
        ax.set_title(f"{row.model}: ROI against no model")
        out["roi"] = _png(fig)
        plt.close(fig)
    return out


def html_report(rows: Sequence[ModelCost], generated: dt.datetime | None = None) -> str:
    """A self-contained HTML page: the table, then per model its plots and ROI line."""
    generated = generated or dt.datetime.now(dt.UTC)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Driftline cost report</title>",
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}</style></head><body>",
        f"<h1>Driftline cost report</h1><p>Generated {html.escape(generated.isoformat(timespec='seconds'))}</p>",
        f"<pre>{html.escape(format_table(rows))}</pre>",
    ]
    for row in rows:
        parts.append(f"<h2>{html.escape(row.model)}</h2>")
        parts.append(f"<p>{html.escape(row.roi.describe(row.currency))}</p>")
        for name, png in plots(row).items():
            parts.append(f"<img alt='{name}' src='data:image/png;base64,{png}'/>")
    parts.append("</body></html>")
    return "\n".join(parts)


def parse_since(value: str | None, today: dt.date | None = None) -> dt.date | None:
    """`--since`: a date YYYY-MM-DD, or a number of days back such as `30d`; None: everything."""
    if value is None or value == "":
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    if value.endswith("d") and value[:-1].isdigit():
        return today - dt.timedelta(days=int(value[:-1]))
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since must be YYYY-MM-DD or a number of days such as 30d, got {value!r}"
        ) from None


def collect(
    ledger: Ledger,
    costs: Mapping[str, CostSection | None],
    *,
    since: dt.date | None = None,
    only: str | None = None,
    client_for: Any = None,
) -> list[ModelCost]:
    """Every model's figures: the configured models (`costs`: model -> its cost section) and any
    other model found in the ledger. `client_for(model)` gives the MLflow client the experiment
    store reads (None: ROI is reported as not measured, saying why)."""
    names = sorted(set(costs) | set(ledger.models()))
    if only is not None:
        names = [n for n in names if n == only]
    rows = []
    for name in names:
        arms: dict[str, Any] | None = None
        reason: str | None = "no MLflow client to read the experiment store"
        started: dt.datetime | None = None
        if client_for is not None:
            arms, reason, started = experiment_arms(partial(client_for, name), name)
        rows.append(
            model_cost(
                ledger,
                name,
                costs.get(name),
                since=since,
                arms=arms,
                no_roi_reason=reason,
                roi_since=started.date() if started is not None else None,
            )
        )
    return rows
