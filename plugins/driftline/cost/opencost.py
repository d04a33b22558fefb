"""A cluster's own figure for a training run: OpenCost's allocation API, aggregated by a pod label.

Training pods carry `driftline/run: <the Airflow run id, made a valid label value>` (see
operators/train_pod.py); OpenCost exposes Kubernetes labels with `/` and `.` as `_`, so
`GET <base>/allocation?window=<start>,<end>&aggregate=label:driftline_run&accumulate=true`
returns one allocation per run label value. Its `cpuCost + ramCost + pvCost + networkCost` becomes
the `compute` entry and `gpuCost` the `gpu` entry, with source `opencost`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from driftline.exceptions import DriftlineError

RUN_LABEL = "driftline/run"
MODEL_LABEL = "driftline/model"


class OpenCostError(DriftlineError):
    """OpenCost could not be asked, or answered something that is not an allocation set."""


def prometheus_label(label: str) -> str:
    """How OpenCost (Prometheus) names a Kubernetes label key: every non-alphanumeric becomes `_`."""
    return "".join(c if c.isalnum() else "_" for c in label)


@dataclass(frozen=True)
class Allocation:
    """OpenCost's cost of one label value over a window."""

    compute: float
    gpu: float
    total: float
    minutes: float
    raw: dict[str, Any]


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def allocation_for(
    base_url: str,
    label_value: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    label: str = RUN_LABEL,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> Allocation | None:
    """OpenCost's allocation of the pods whose `label` is `label_value` in [start, end], or None.

    The window is widened to whole minutes (OpenCost's resolution). None: OpenCost has no
    allocation for that label value in the window (not yet scraped, or the pod never ran).
    """
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    query = urllib.parse.urlencode(
        {
            "window": f"{_rfc3339(start)},{_rfc3339(end)}",
            "aggregate": f"label:{prometheus_label(label)}",
            "accumulate": "true",
        }
    )
    url = f"{base_url.rstrip('/')}/allocation?{query}"
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})  # noqa: S310 - the base URL of the deployer's OpenCost connection, not user input
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the base URL of the deployer's OpenCost connection, not user input
            body = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
        raise OpenCostError(f"OpenCost at {base_url} did not answer the allocation query: {exc}") from exc
    if not isinstance(body, dict) or body.get("code", 200) != 200 or not isinstance(body.get("data"), list):
        raise OpenCostError(f"OpenCost at {base_url} answered without allocation sets: {str(body)[:200]}")
    found: list[dict[str, Any]] = []
    for allocation_set in body["data"]:
        if isinstance(allocation_set, dict) and isinstance(allocation_set.get(label_value), dict):
            found.append(allocation_set[label_value])
    if not found:
        return None

    def total(key: str) -> float:
        return float(sum(float(a.get(key) or 0.0) for a in found))

    compute = total("cpuCost") + total("ramCost") + total("pvCost") + total("networkCost")
    return Allocation(
        compute=compute,
        gpu=total("gpuCost"),
        total=total("totalCost"),
        minutes=total("minutes"),
        raw={"sets": len(found), "name": label_value},
    )
