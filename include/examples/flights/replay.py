"""Replay Driftline's drift decisions over the real 2013 NYC departures, day by day, in time order.

    python include/examples/flights/replay.py --replay                  # the year, one line per day
    python include/examples/flights/replay.py --replay --start 2013-01-29 --end 2013-03-31
    python include/examples/flights/replay.py --replay --onboard-lga 2013-03-01 --end 2013-03-20
    python include/examples/flights/replay.py --write .driftline/data   # daily files for the pipeline

The real move (`onboard_airport`): the data are quiet from day to day (schedule features barely move
within 2013; a one-day storm or a Saturday timetable is the only drift), so the story's move is a
real change of what is scored: until a day the model serves departures from EWR and JFK only; from
that day LaGuardia's real departures join (an airport onboarded). Every row is a real 2013 flight.

What runs each day is what check_drift and decide_retrain run (not the Airflow DAG around them):
data drift (`compute_data_drift` with the config's settings), label and prediction drift, concept
drift on the day's labels (in this replay the labels of a day arrive with it), the label-free estimate
of the champion's metric (`drift.performance_estimation`) beside the metric those labels realise, then
`decide_retrain`
with the config's persistence rule (k of the last n days), cooldown and model age. On a retrain a
challenger is trained on the `data.window.days` days up to the run (the config's estimator, the
latest `training.validation_days` held out, as training does) and the gate promotes it when its
`registry.metric` on those held-out rows beats the champion's by `registry.min_improvement` and
reaches `registry.min_score`. A promoted challenger's training window becomes the reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "flights.parquet"
CONFIG = HERE / "flights.yaml"


def load_flights(path: Path = DATA) -> Any:
    """The departures with a `day` column (the scheduled departure's date)."""
    import pandas as pd

    df = pd.read_parquet(path)
    df["sched_dep"] = pd.to_datetime(df["sched_dep"], utc=True)
    df["day"] = df["sched_dep"].dt.date
    return df


def load_flights_config(path: Path = CONFIG) -> Any:
    from driftline.config.loader import read_yaml
    from driftline.config.models import ModelConfig

    return ModelConfig.model_validate(read_yaml(path))


def onboard_airport(df: Any, airport: str, from_day: dt.date) -> Any:
    """The departures without `airport`'s before `from_day` (its real rows join from that day on)."""
    return df[(df["origin"] != airport) | (df["day"] >= from_day)].reset_index(drop=True)


def write_daily_windows(out: Path, path: Path = DATA) -> int:
    """`<out>/flights/dt=YYYY-MM-DD/part.parquet`, one file per day (the config's source)."""
    df = load_flights(path)
    for day, rows in df.groupby("day"):
        folder = out / "flights" / f"dt={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        rows.drop(columns=["day"]).to_parquet(folder / "part.parquet", index=False)
    return int(df["day"].nunique())


@dataclass
class Champion:
    version: int
    model: Any
    reference: Any  # its training window (the snapshot drift compares with)
    metric_value: float
    metric_se: float | None
    trained_until: dt.datetime
    promoted_at: dt.datetime


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def train(window: Any, config: Any, version: int, until: dt.date) -> tuple[Champion, Any]:
    """Fit the config's estimator on `window` minus its held-out days; (model, held-out rows)."""
    from driftline.training.bootstrap import metric_se, point_metric
    from driftline.training.estimators import fit_model, prepare_features
    from driftline.training.metrics import predictions
    from driftline.training.split import time_split

    features, label = config.data.features, config.data.label
    train_rows, valid = time_split(
        window, config.data.timestamp, config.training.validation_days, config.training.min_validation_rows
    )
    model = fit_model(
        config.training.estimator, features, prepare_features(train_rows, features), train_rows[label]
    )
    preds = predictions(model, prepare_features(valid, features), valid[label], config.training.task, 1)
    value = point_metric(config.registry.metric, preds)
    se = metric_se(config.registry.metric, preds, resamples=200)
    end = _midnight(until)
    return Champion(version, model, window, value, se, end, end), valid


def score(model: Any, rows: Any, config: Any) -> float:
    from driftline.training.bootstrap import point_metric
    from driftline.training.estimators import prepare_features
    from driftline.training.metrics import predictions

    preds = predictions(
        model,
        prepare_features(rows, config.data.features),
        rows[config.data.label],
        config.training.task,
        1,
    )
    return float(point_metric(config.registry.metric, preds))


def replay(df: Any, config: Any, start: dt.date, end: dt.date, *, log: Any = None) -> list[dict[str, Any]]:
    """One decision per day from `start` to `end` (inclusive); the first champion learns the
    `data.window.days` days before `start`. Runs with one OpenMP thread (the machine may be shared)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _replay(df, config, start, end, log)


def _replay(df: Any, config: Any, start: dt.date, end: dt.date, log: Any) -> list[dict[str, Any]]:
    from driftline.drift.concept import evaluate_concept_drift
    from driftline.drift.data_drift import compute_data_drift, settings_from_config
    from driftline.drift.performance import compare_with_realised, estimate_performance, realised_performance
    from driftline.drift.policy import decide_retrain, last_retrain_time
    from driftline.drift.target import label_drift, prediction_drift

    days = config.data.window.days
    by_day = {day: rows for day, rows in df.groupby("day")}

    def window(until: dt.date) -> Any:
        import pandas as pd

        wanted = [until - dt.timedelta(days=i) for i in range(days, 0, -1)]
        return pd.concat([by_day[d] for d in wanted if d in by_day], ignore_index=True)

    champion, _ = train(window(start), config, 1, start)
    settings = settings_from_config(config)
    drift = config.drift
    history: list[tuple[dt.datetime, bool | None, str]] = []
    last_decided_retrain: dt.datetime | None = None
    out = []
    day = start
    while day <= end:
        current = by_day.get(day)
        if current is None or len(current) < config.validation.min_rows:
            day += dt.timedelta(days=1)
            continue
        now = _midnight(day + dt.timedelta(days=1))
        data = compute_data_drift(champion.reference, current, settings)
        label = label_drift(champion.reference, current, config)
        prediction = prediction_drift(champion.model, champion.reference, current, config)
        concept = evaluate_concept_drift(
            champion.model, current, config, champion.metric_value, champion.metric_se
        )
        estimate = estimate_performance(champion.model, champion.reference, current, config)
        run_id = f"replay__{day.isoformat()}"
        decision = decide_retrain(
            data_drift=data,
            concept_drift=concept,
            champion=champion,
            now=now,
            last_retrain_at=last_retrain_time(champion.trained_until, last_decided_retrain),
            force=False,
            max_model_age=dt.timedelta(days=drift.max_model_age_days) if drift.max_model_age_days else None,
            cooldown=dt.timedelta(hours=drift.cooldown_hours),
            label_drift=label,
            prediction_drift=prediction,
            persistence=(drift.persistence.k, drift.persistence.n),
            drift_history=list(history),
            own_run_id=run_id,
            performance_estimate=estimate,
        )
        history.append((now, decision.drift_signal, run_id))
        row: dict[str, Any] = {
            "day": day.isoformat(),
            "rows": len(current),
            "champion": champion.version,
            "data_drift": data.dataset_drift,
            "drifted_columns": data.drifted_columns,
            "label_drift": label.drifted,
            "prediction_drift": prediction.drifted,
            "concept_drift": concept.drifted,
            "drift_signal": decision.drift_signal,
            "retrain": decision.retrain,
            "reasons": decision.reasons,
            "promoted": False,
        }
        if estimate.evaluated:
            realised = realised_performance(champion.model, current, config, estimate.metric)
            row["estimate"] = {
                k: round(v, 4) if isinstance(v, float) else v
                for k, v in compare_with_realised(
                    estimate.to_dict(), realised, len(current), len(current)
                ).items()
                if k in ("metric", "estimated", "lower", "upper", "realised", "covered")
            }
        if decision.retrain:
            last_decided_retrain = now
            challenger, held_out = train(
                window(day + dt.timedelta(days=1)), config, champion.version + 1, day
            )
            incumbent = score(champion.model, held_out, config)
            gate = (
                challenger.metric_value >= incumbent + config.registry.min_improvement
                and challenger.metric_value >= (config.registry.min_score or float("-inf"))
            )
            row.update(
                challenger_metric=round(challenger.metric_value, 4), champion_metric=round(incumbent, 4)
            )
            if gate:
                champion = challenger
                row["promoted"] = True
        out.append(row)
        if log is not None:
            log(row)
        day += dt.timedelta(days=1)
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "days": len(rows),
        "retrains": sum(r["retrain"] for r in rows),
        "promotions": sum(r["promoted"] for r in rows),
        "data_drift_days": sum(bool(r["data_drift"]) for r in rows),
        "label_drift_days": sum(bool(r["label_drift"]) for r in rows),
        "prediction_drift_days": sum(bool(r["prediction_drift"]) for r in rows),
        "concept_drift_days": sum(bool(r["concept_drift"]) for r in rows),
        "retrain_days": [r["day"] for r in rows if r["retrain"]],
        "promotion_days": [r["day"] for r in rows if r["promoted"]],
        **estimate_summary(rows),
    }


def estimate_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How the label-free estimates fared against the labels of the same days."""
    pairs = [r["estimate"] for r in rows if r.get("estimate", {}).get("covered") is not None]
    if not pairs:
        return {"estimated_days": 0}
    errors = [abs(p["estimated"] - p["realised"]) for p in pairs]
    return {
        "estimated_days": len(pairs),
        "estimate_band_covered": sum(p["covered"] for p in pairs),
        "estimate_mean_abs_error": round(sum(errors) / len(errors), 4),
    }


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", type=Path, help="write the daily parquet files under this folder")
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--start", default="2013-01-29")
    parser.add_argument("--end", default="2013-12-31")
    parser.add_argument("--onboard-lga", help="LGA departures join from this day (the real move)")
    args = parser.parse_args()
    if args.write:
        print(f"wrote {write_daily_windows(args.write)} daily files under {args.write / 'flights'}")
    if args.replay:
        flights = load_flights()
        if args.onboard_lga:
            flights = onboard_airport(flights, "LGA", dt.date.fromisoformat(args.onboard_lga))
        rows = replay(
            flights,
            load_flights_config(),
            dt.date.fromisoformat(args.start),
            dt.date.fromisoformat(args.end),
            log=lambda r: print(json.dumps(r), flush=True),
        )
        print(json.dumps(summary(rows)))
    if not args.write and not args.replay:
        parser.print_help()
        sys.exit(2)


if __name__ == "__main__":
    main()
