"""A cluster's own figure for a training run: OpenCost's allocation API, aggregated by a pod label.

Training pods carry `driftline/model`, `driftline/dag` and `driftline/run` (each made a valid
label value; see operators/train_pod.py `cost_labels`). A run id alone names nothing: scheduled
run ids (`scheduled__<data time>`) are the same for every model on the same schedule, so the
allocation is always asked for the combination. OpenCost exposes Kubernetes labels with `/` and
`.` as `_`, and aggregating by several properties names each allocation by their values joined
with `/` (label values cannot contain `/`, so the name is unambiguous):
`GET <base>/allocation?window=<start>,<end>&aggregate=label:driftline_model,label:driftline_dag,label:driftline_run&accumulate=true`
returns one allocation per (model, dag, run); a pod missing one of the labels is reported under
`__unallocated__` for it and never matches. `cpuCost + ramCost + pvCost + networkCost` becomes
the `compute` entry and `gpuCost` the `gpu` entry, with source `opencost`.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftline.exceptions import DriftlineError

RUN_LABEL = "driftline/run"
MODEL_LABEL = "driftline/model"
DAG_LABEL = "driftline/dag"


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
    labels: Mapping[str, str],
    start: dt.datetime,
    end: dt.datetime,
    *,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> Allocation | None:
    """OpenCost's allocation of the pods carrying every one of `labels` ({key: value}) in [start, end].

    The window is widened to whole minutes (OpenCost's resolution). None: OpenCost has no
    allocation for that combination in the window (not yet scraped, or the pod never ran).
    """
    if not labels:
        raise ValueError("allocation_for needs at least one label to attribute pods by")
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    label_value = "/".join(labels.values())
    query = urllib.parse.urlencode(
        {
            "window": f"{_rfc3339(start)},{_rfc3339(end)}",
            "aggregate": ",".join(f"label:{prometheus_label(key)}" for key in labels),
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
