"""Batch-inference write speed and scoring memory: Driftline's writer vs the provider hook.

The same items (the example churn model's predictions) are written to a loopback moto server
(its own process) by Driftline's BatchWriter (8 threads, BatchWriteItem, backoff, under the model's
scoring lock and fenced by it, as run_batch_inference writes) and by the
Amazon provider's `DynamoDBHook.write_batch_data` (boto3 `batch_writer`), each into its own
fresh table, first with `rtt_ms` (20 ms) added to every BatchWriteItem call of both writers by
a botocore `after-call` event handler (a regional endpoint's round trip), then with nothing
added (loopback: the server is the ceiling). With the round trip, a third writer measures the
alternative to the lock: one conditional PutItem per item (`conditional_items_per_s`, on fewer
items). Lost and duplicate items are counted by scanning
both tables. Peak RSS comes from scoring 0.5M and 2M rows (Driftline's chunked scorer, items
built and counted, not written) each in its own child process: the whole process's peak
(`rss_mb_*`, imports and model included; VmHWM, since ru_maxrss is inherited from the parent) and the peak while scoring alone (`scoring_peak_rss_mb_*`:
VmHWM reset just before scoring; `scoring_growth_mb_*` is what scoring added to the RSS it began with).

    .venv/bin/python benchmarks/inference.py            # 100k items per writer, 0.5M / 2M rows
    .venv/bin/python benchmarks/inference.py --quick    # 2k items, 20k / 80k rows

The last stdout line is one JSON object (keys in shared/CONVENTIONS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dynamo

BASELINE = "apache-airflow-providers-amazon DynamoDBHook.write_batch_data"


def add_rtt(client: Any, rtt_ms: float) -> None:
    if rtt_ms <= 0:
        return

    def sleep(**_: Any) -> None:
        time.sleep(rtt_ms / 1000)

    for operation in ("BatchWriteItem", "PutItem", "UpdateItem"):
        client.meta.events.register(f"after-call.dynamodb.{operation}", sleep)


def make_items(n: int, tmp: Path) -> list[dict[str, Any]]:
    from driftline.inference.items import RunStamp
    from driftline.inference.scoring import score_items, verify_snapshot

    config = _dynamo.example_config()
    model = _dynamo.fitted_model(config)
    snapshot = _dynamo.validated_snapshot(_dynamo.churn_frame(n), tmp, "items")
    stamp = RunStamp(
        "churn", 1, "champion", "bench", "2026-01-16T00:00:00+00:00", "2026-01-16T00:00:00+00:00"
    )
    return list(score_items(model, verify_snapshot(snapshot), config, stamp))


def create_table(client: Any, name: str) -> None:
    from driftline.inference.table import ensure_table

    ensure_table(client, _dynamo.example_config(name).inference)


def count(client: Any, table: str, expected: set[str]) -> tuple[int, int]:
    """(lost, duplicates) of `expected` partition keys in `table`."""
    seen: list[str] = []
    kwargs: dict[str, Any] = {"TableName": table, "ProjectionExpression": "entity_id"}
    while True:
        page = client.scan(**kwargs)
        seen.extend(i["entity_id"]["S"] for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return len(expected - set(seen)), len(seen) - len(set(seen))


def write_driftline(endpoint: str, table: str, items: list[dict[str, Any]], rtt_ms: float) -> float:
    """Driftline's upsert path: the model's scoring lock taken, BatchWriteItem fenced by it."""
    from driftline.inference.lock import ScoringLock
    from driftline.inference.writer import BatchWriter

    client = _dynamo.client(endpoint)
    add_rtt(client, rtt_ms)
    start = time.perf_counter()
    with ScoringLock(client, _dynamo.example_config(table).inference, "bench") as lock:
        BatchWriter(client, table, writers=8).write(items, fence=lock.fence)
    return time.perf_counter() - start


def write_conditional(endpoint: str, table: str, items: list[dict[str, Any]], rtt_ms: float) -> float:
    """The alternative to the lock: a conditional PutItem per item (`data_time` newer wins), 8 threads."""
    from driftline.inference.writer import BatchWriter, Guard

    client = _dynamo.client(endpoint)
    add_rtt(client, rtt_ms)
    start = time.perf_counter()
    BatchWriter(client, table, writers=8).write(items, Guard("entity_id", "data_time", items[0]["data_time"]))
    return time.perf_counter() - start


def write_baseline(endpoint: str, table: str, items: list[dict[str, Any]], rtt_ms: float) -> float:
    from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook

    os.environ["AIRFLOW_CONN_BENCH_AWS"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    hook = DynamoDBHook(aws_conn_id="bench_aws", table_name=table, table_keys=["entity_id"])
    add_rtt(hook.get_conn().meta.client, rtt_ms)
    start = time.perf_counter()
    hook.write_batch_data(items)
    return time.perf_counter() - start


def compare(
    endpoint: str, items: list[dict[str, Any]], rtt_ms: float, tag: str, conditional: int = 0
) -> dict[str, Any]:
    """Each writer into its own fresh table; `conditional` > 0 adds the per-item conditional writer
    on the first `conditional` items (it is an order of magnitude slower: fewer items keep it short)."""
    client = _dynamo.client(endpoint)
    expected = {i["entity_id"] for i in items}
    out: dict[str, Any] = {}
    sides = [("driftline", write_driftline), ("baseline", write_baseline)]
    if conditional:
        sides.append(("conditional", write_conditional))
    for side, write in sides:
        table = f"bench-{tag}-{side}"
        create_table(client, table)
        some = items[:conditional] if side == "conditional" else items
        seconds = write(endpoint, table, some, rtt_ms)
        lost, dupes = count(
            client, table, expected if side != "conditional" else {i["entity_id"] for i in some}
        )
        out[side] = {"s": seconds, "items_per_s": len(some) / seconds, "lost": lost, "duplicates": dupes}
        print(f"rtt {rtt_ms} ms {side}: {len(some)} items in {seconds:.1f}s", file=sys.stderr)
    return out


def score_rss(rows: int) -> dict[str, float]:
    """Memory (MB) of a child process scoring `rows` rows; the snapshot is written by another child."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make-snapshot", str(rows), tmp], check=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--score-child", tmp], capture_output=True, text=True, check=True
        )
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def proc_status_mb(field: str) -> float:
    """A /proc/self/status memory field (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def make_snapshot_child(rows: int, folder: str) -> None:
    config = _dynamo.example_config()
    import pickle

    Path(folder, "model.pkl").write_bytes(pickle.dumps(_dynamo.fitted_model(config)))
    snapshot = _dynamo.validated_snapshot(_dynamo.churn_frame(rows), Path(folder), "scoring")
    Path(folder, "snapshot.json").write_text(json.dumps(snapshot))


def score_child(folder: str) -> None:
    import pickle

    from driftline.inference.items import RunStamp
    from driftline.inference.scoring import score_items, verify_snapshot

    config = _dynamo.example_config()
    model = pickle.loads(Path(folder, "model.pkl").read_bytes())
    snapshot = json.loads(Path(folder, "snapshot.json").read_text())
    stamp = RunStamp(
        "churn", 1, "champion", "bench", "2026-01-16T00:00:00+00:00", "2026-01-16T00:00:00+00:00"
    )
    source = verify_snapshot(snapshot)
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork and execve, so a child
    # reports at least its parent's RSS at the fork (the last stops' identical 455-467 MB were the
    # benchmark process holding its items). The imports and the model set a floor that hides what
    # scoring adds: the peak is reset (Linux >= 4.0) so the scoring peak is measured on its own.
    setup_peak = proc_status_mb("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")
    before = proc_status_mb("VmRSS")
    n = sum(1 for _ in score_items(model, source, config, stamp))
    scoring_peak = proc_status_mb("VmHWM")
    rss = max(setup_peak, scoring_peak)
    print(
        json.dumps(
            {
                "items": n,
                "peak_rss_mb": round(rss, 1),
                "rss_before_scoring_mb": round(before, 1),
                "scoring_peak_rss_mb": round(scoring_peak, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--items", type=int, default=None, help="items per writer (default 100000, quick 2000)"
    )
    parser.add_argument("--rtt-ms", type=float, default=20.0)
    parser.add_argument(
        "--small", type=int, default=None, help="rows of the small RSS run (500000, quick 20000)"
    )
    parser.add_argument(
        "--large", type=int, default=None, help="rows of the large RSS run (2000000, quick 80000)"
    )
    parser.add_argument("--make-snapshot", nargs=2, metavar=("ROWS", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--score-child", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_snapshot:
        make_snapshot_child(int(args.make_snapshot[0]), args.make_snapshot[1])
        return
    if args.score_child:
        score_child(args.score_child)
        return
    n_items = args.items or (2000 if args.quick else 100_000)
    small = args.small or (20_000 if args.quick else 500_000)
    large = args.large or (80_000 if args.quick else 2_000_000)

    with tempfile.TemporaryDirectory() as tmp:
        items = make_items(n_items, Path(tmp))
    with _dynamo.MotoServer() as endpoint:
        rtt = compare(
            endpoint, items, args.rtt_ms, "rtt", conditional=min(n_items, 500 if args.quick else 5000)
        )
        loop = compare(endpoint, items, 0.0, "loopback")
    rss_small, rss_large = score_rss(small), score_rss(large)
    growth_small = rss_small["scoring_peak_rss_mb"] - rss_small["rss_before_scoring_mb"]
    growth_large = rss_large["scoring_peak_rss_mb"] - rss_large["rss_before_scoring_mb"]
    figures = {
        "benchmark": "inference",
        "rows": n_items,
        "rtt_ms": args.rtt_ms,
        "driftline_items_per_s": round(rtt["driftline"]["items_per_s"], 1),
        "baseline_items_per_s": round(rtt["baseline"]["items_per_s"], 1),
        "baseline": BASELINE,
        "ratio": round(rtt["driftline"]["items_per_s"] / rtt["baseline"]["items_per_s"], 2),
        "loopback_driftline_items_per_s": round(loop["driftline"]["items_per_s"], 1),
        "loopback_baseline_items_per_s": round(loop["baseline"]["items_per_s"], 1),
        "ratio_loopback": round(loop["driftline"]["items_per_s"] / loop["baseline"]["items_per_s"], 2),
        # the road not taken (docs/concepts/concurrency.md): a conditional PutItem per item, same rtt
        "conditional_items": min(n_items, 500 if args.quick else 5000),
        "conditional_items_per_s": round(rtt["conditional"]["items_per_s"], 1),
        "conditional_vs_locked_batch": round(
            rtt["conditional"]["items_per_s"] / rtt["driftline"]["items_per_s"], 3
        ),
        "rss_rows_small": small,
        "rss_rows_large": large,
        "rss_mb_small": rss_small["peak_rss_mb"],
        "rss_mb_large": rss_large["peak_rss_mb"],
        "rss_ratio": round(rss_large["peak_rss_mb"] / rss_small["peak_rss_mb"], 3),
        "scoring_peak_rss_mb_small": rss_small["scoring_peak_rss_mb"],
        "scoring_peak_rss_mb_large": rss_large["scoring_peak_rss_mb"],
        "scoring_rss_ratio": round(rss_large["scoring_peak_rss_mb"] / rss_small["scoring_peak_rss_mb"], 3),
        "scoring_growth_mb_small": round(growth_small, 1),
        "scoring_growth_mb_large": round(growth_large, 1),
        "lost": rtt["driftline"]["lost"] + loop["driftline"]["lost"],
        "duplicates": rtt["driftline"]["duplicates"] + loop["driftline"]["duplicates"],
        "baseline_lost": rtt["baseline"]["lost"] + loop["baseline"]["lost"],
        "baseline_duplicates": rtt["baseline"]["duplicates"] + loop["baseline"]["duplicates"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
