"""Cost entries of one task try: measured duration and resources times the config's price table."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from driftline.config.models import CostSection, Resources

# Ledger kinds: compute = vCPU + memory, then GPU, DynamoDB and S3 request/storage charges.
KINDS = ("compute", "gpu", "dynamodb_write", "dynamodb_import", "dynamodb_read", "s3_storage", "s3_requests")

_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEM = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_MEM_FACTOR = {
    None: 1.0,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("2", "500m") in cores."""
    m = _CPU.match(quantity)
    if m is None:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    return float(m.group(1)) / (1000.0 if m.group(2) else 1.0)


def memory_gb(quantity: str) -> float:
    """A Kubernetes memory quantity ("16Gi", "512M") in GB (10^9 bytes, as cloud prices count)."""
    m = _MEM.match(quantity)
    if m is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(m.group(1)) * _MEM_FACTOR[m.group(2)] / 1e9


@dataclass(frozen=True)
class Footprint:
    """What one task try held while it ran: cores, GB of memory, GPUs of a type."""

    vcpu: float
    memory_gb: float
    gpus: int = 0
    gpu_type: str | None = None
    where: str = "worker"  # "worker" (the worker's share) or "pod"


def worker_footprint(cost: CostSection) -> Footprint:
    """A local task's share of its worker: vcpu / slots and memory / slots."""
    w = cost.worker
    return Footprint(vcpu=w.vcpu / w.slots, memory_gb=w.memory_gb / w.slots, where="worker")


def pod_footprint(resources: Resources) -> Footprint:
    """A training pod's requested resources (what a scheduler reserves and a cloud bills)."""
    return Footprint(
        vcpu=cpu_cores(resources.cpu),
        memory_gb=memory_gb(resources.memory),
        gpus=resources.gpu,
        gpu_type=resources.gpu_type,
        where="pod",
    )


@dataclass
class Usage:
    """Request units and storage one task try used, as the writer / service / snapshots recorded."""

    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    dynamodb_import_gb: float = 0.0
    s3_gb_month: float = 0.0
    s3_put_requests: int = 0
    s3_get_requests: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    """One ledger line: `amount` of `kind` for `quantity` `unit`s."""

    kind: str
    quantity: float
    unit: str
    amount: float
    source: str = "estimate"
    details: dict[str, Any] = field(default_factory=dict)


def gpu_price(cost: CostSection, gpu_type: str | None) -> float:
    prices = cost.prices.gpu_hour
    return prices.get(gpu_type or "default", prices["default"])


def task_entries(
    cost: CostSection,
    started: dt.datetime,
    ended: dt.datetime,
    footprint: Footprint,
    usage: Usage | None = None,
) -> list[Entry]:
    """The cost entries of one task try (only kinds with a non-zero quantity, compute always)."""
    if ended < started:
        raise ValueError(f"a task cannot end ({ended}) before it starts ({started})")
    hours = (ended - started).total_seconds() / 3600.0
    p = cost.prices
    fp = {"vcpu": footprint.vcpu, "memory_gb": footprint.memory_gb, "where": footprint.where, "hours": hours}
    entries = [
        Entry(
            "compute",
            footprint.vcpu * hours,
            "vcpu_hour",
            hours * (footprint.vcpu * p.vcpu_hour + footprint.memory_gb * p.memory_gb_hour),
            details=fp,
        )
    ]
    if footprint.gpus:
        gpu_hours = footprint.gpus * hours
        entries.append(
            Entry(
                "gpu",
                gpu_hours,
                "gpu_hour",
                gpu_hours * gpu_price(cost, footprint.gpu_type),
                details={"gpu_type": footprint.gpu_type, "gpus": footprint.gpus},
            )
        )
    u = usage or Usage()
    if u.dynamodb_write_units:
        entries.append(
            Entry(
                "dynamodb_write",
                u.dynamodb_write_units,
                "write_unit",
                u.dynamodb_write_units / 1e6 * p.dynamodb_write_million,
                details=u.details,
            )
        )
    if u.dynamodb_import_gb:
        entries.append(
            Entry(
                "dynamodb_import",
                u.dynamodb_import_gb,
                "gb",
                u.dynamodb_import_gb * p.dynamodb_import_gb,
                details=u.details,
            )
        )
    if u.dynamodb_read_units:
        entries.append(
            Entry(
                "dynamodb_read",
                u.dynamodb_read_units,
                "read_unit",
                u.dynamodb_read_units / 1e6 * p.dynamodb_read_million,
            )
        )
    if u.s3_gb_month:
        entries.append(Entry("s3_storage", u.s3_gb_month, "gb_month", u.s3_gb_month * p.s3_gb_month))
    if u.s3_put_requests or u.s3_get_requests:
        entries.append(
            Entry(
                "s3_requests",
                float(u.s3_put_requests + u.s3_get_requests),
                "request",
                u.s3_put_requests / 1000 * p.s3_put_thousand + u.s3_get_requests / 1000 * p.s3_get_thousand,
            )
        )
    return entries
