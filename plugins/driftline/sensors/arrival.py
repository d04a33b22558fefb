"""DataArrivalSensor: the run waits for its current window's data (or its late labels).

Placed before `load_current` (and `load_labels`) by the DAG factory. Timeout, poke interval
and mode come from the model's `data.wait` block:

- `deferrable` (default): one check in the worker; if data is missing, the task defers to
  DataArrivalTrigger, which polls in the triggerer, so the wait holds no worker (or pool) slot;
- `reschedule`: a short task per check, rescheduled in between;
- `poke`: one task sleeps between checks (holds a worker slot).

On timeout the data sensor fails the run without retrying (AirflowSensorTimeout) with the
partitions still missing; the labels sensor logs them and lets the run go on (labels are
late by nature; concept drift then reports them as not evaluated). A source whose root does
not exist fails at once (SourceConfigError, a PermanentError), whatever the mode.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from driftline.config.models import LocalSource, ModelConfig, S3Source, SqlSource
from driftline.exceptions import ConfigError, PermanentError
from driftline.operators.base import driftline_failure_callbacks, driftline_retry_policy, run_interval

What = Literal["data", "labels"]


class DataArrivalSensor(BaseSensorOperator):
    """Wait until the run's current window of `data.source` (or `data.labels`) has arrived.

    :param model_config: the model's validated config (`data.wait` sets timeout, interval, mode).
    :param what: "data" (`data.source`, fails on timeout) or "labels" (`data.labels`, goes on).

    Returns the arrival as a dict: source, window_start, window_end, found, missing, arrived.
    """

    template_fields = ()
    ui_color = "#fdf3d8"

    def __init__(self, *, model_config: ModelConfig, what: What = "data", **kwargs: Any) -> None:
        wait = model_config.data.wait
        minutes = wait.timeout_minutes if what == "data" else wait.labels_timeout_minutes
        kwargs.setdefault("task_id", "wait_for_data" if what == "data" else "wait_for_labels")
        kwargs.setdefault("timeout", dt.timedelta(minutes=minutes))
        kwargs.setdefault("poke_interval", dt.timedelta(seconds=wait.poke_interval_seconds))
        kwargs.setdefault("mode", "reschedule" if wait.mode == "reschedule" else "poke")
        # a failed check (S3 down) takes the retries; a timeout or a PermanentError fails at once
        kwargs.setdefault("retry_policy", driftline_retry_policy())
        kwargs.setdefault("on_failure_callback", driftline_failure_callbacks())
        super().__init__(**kwargs)
        self.model_config = model_config
        self.what: What = what
        self.deferrable = wait.mode == "deferrable"

    # --- what to check ------------------------------------------------------------------

    @property
    def field(self) -> str:
        return "data.source" if self.what == "data" else "data.labels"

    def _source(self) -> LocalSource | S3Source | SqlSource:
        data = self.model_config.data
        source = data.source if self.what == "data" else data.labels
        if source is None:
            raise ConfigError(f"task {self.task_id}", ["data.labels: no labels source is configured"])
        return source

    def _freshness_query(self) -> str | None:
        return self.model_config.data.wait.freshness_query if self.what == "data" else None

    def _window(self, context: Any) -> tuple[dt.datetime, dt.datetime]:
        from driftline.data.windows import resolve_window

        start, end = run_interval(context)
        window = resolve_window(self.model_config.data.window, start, end, purpose="current")
        assert window.start is not None  # noqa: S101 - narrows the type: a current window always has a start (resolve_window)
        return window.start, window.end

    def check(self, context: Any) -> dict[str, Any]:
        """One check, in this process: the Arrival as a dict (raises on a config error)."""
        from driftline.data.arrival import check_arrival
        from driftline.data.windows import Window
        from driftline.hooks.sources import AirflowSourceAccess

        start, end = self._window(context)
        arrival = check_arrival(
            self._source(),
            Window(start, end, "current", max(1, (end - start).days)),
            timestamp_col=self.model_config.data.timestamp,
            field=self.field,
            freshness_query=self._freshness_query(),
            access=AirflowSourceAccess(),
        )
        return arrival.to_dict()

    # --- modes --------------------------------------------------------------------------

    def poke(self, context: Any) -> bool | PokeReturnValue:
        arrival = self.check(context)
        if arrival["arrived"]:
            self._log_arrived(arrival)
            return PokeReturnValue(is_done=True, xcom_value=arrival)
        self.log.info(
            "%s: waiting for %d partition(s): %s",
            arrival["source"],
            len(arrival["missing"]),
            arrival["missing"][:5],
        )
        return False

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                return self._timed_out(self.check(context), None, str(exc))
        arrival = self.check(context)  # often the data is there: no deferral at all
        if arrival["arrived"]:
            self._log_arrived(arrival)
            return arrival
        from driftline.triggers.arrival import DataArrivalTrigger

        start, end = self._window(context)
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.timeout)
        self.log.info(
            "%s: %d partition(s) missing %s; deferring: checks every %ss until %s",
            arrival["source"],
            len(arrival["missing"]),
            arrival["missing"][:5],
            self.poke_interval,
            deadline.isoformat(timespec="seconds"),
        )
        self.defer(
            trigger=DataArrivalTrigger(
                source=self._source().model_dump(mode="json"),
                field=self.field,
                window_start=start.isoformat(),
                window_end=end.isoformat(),
                timestamp_col=self.model_config.data.timestamp,
                deadline=deadline.isoformat(),
                poke_interval=float(self.poke_interval),
                freshness_query=self._freshness_query(),
            ),
            method_name="execute_complete",
            # a backstop only: the trigger reports its own timeout, with the missing partitions
            timeout=dt.timedelta(seconds=self.timeout + 2 * float(self.poke_interval) + 60),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any] | None:
        """Resume after the trigger: arrived, timed out, or a configuration error."""
        status = event.get("status")
        if status == "arrived":
            arrival: dict[str, Any] = event["arrival"]
            self._log_arrived(arrival)
            return arrival
        if status == "error":
            raise PermanentError(f"{self.field}: {event.get('message')}")
        if status == "timeout":
            return self._timed_out(event.get("arrival"), event.get("error"), None)
        raise PermanentError(f"unexpected event from DataArrivalTrigger: {event!r}")

    # --- outcomes -----------------------------------------------------------------------

    def _log_arrived(self, arrival: dict[str, Any]) -> None:
        self.log.info(
            "%s: the data of [%s, %s) has arrived (%d partition(s))",
            arrival["source"],
            arrival["window_start"],
            arrival["window_end"],
            len(arrival["found"]),
        )

    def _timed_out(
        self, arrival: dict[str, Any] | None, error: str | None, detail: str | None
    ) -> dict[str, Any] | None:
        minutes = self.timeout / 60
        if arrival is not None:
            what = (
                f"{arrival['source']}: {len(arrival['missing'])} partition(s) of "
                f"[{arrival['window_start']}, {arrival['window_end']}) still missing after "
                f"{minutes:g} min: " + "; ".join(arrival["missing"])
            )
        else:
            what = f"{self.field}: could not check the data for {minutes:g} min: {error}"
        if self.what == "labels":
            self.log.warning("%s; going on without them (data.wait.labels_timeout_minutes)", what)
            return arrival
        raise AirflowSensorTimeout(
            f"{what} (data.wait.timeout_minutes = {self.model_config.data.wait.timeout_minutes})"
            + (f" [{detail}]" if detail else "")
        )
