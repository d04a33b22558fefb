from __future__ import annotations

import datetime as dt
import json
import os
import threading

import pytest
from driftline.config.models import CostSection, PriceTable, Resources, WorkerShare
from driftline.cost.budget import check_budget
from driftline.cost.ledger import SCHEMA_VERSION, Ledger, LedgerError, TaskKey
from driftline.cost.pricing import Usage, cpu_cores, memory_gb, pod_footprint, task_entries, worker_footprint

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
PRICES = PriceTable(vcpu_hour=0.04, memory_gb_hour=0.005, gpu_hour={"default": 1.0, "NVIDIA-A10G": 1.2})
COST = CostSection(prices=PRICES, worker=WorkerShare(vcpu=4, memory_gb=16, slots=8), monthly_budget=10.0)


@pytest.fixture
def ledger(tmp_path):
    return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")


def key(run="r1", task="t", try_number=1, model="churn"):
    return TaskKey(model, f"driftline__{model}", run, task, try_number)


def test_quantities():
    assert cpu_cores("500m") == 0.5 and cpu_cores("4") == 4.0
    assert memory_gb("16Gi") == pytest.approx(17.179869184)
    assert memory_gb("512M") == pytest.approx(0.512)


def test_sums_equal_durations_times_prices(ledger):
    """Constructed run: 3 local tasks (worker share) and a GPU pod; the ledger's sums are the hand sums."""
    worker = worker_footprint(COST)  # 0.5 vCPU, 2 GB
    pod = pod_footprint(Resources(cpu="4", memory="16G", gpu=2, gpu_type="NVIDIA-A10G"))
    tasks = [("load", 600, worker, None), ("validate", 1800, worker, None), ("train", 3600, pod, None)]
    tasks.append(("score", 900, worker, Usage(dynamodb_write_units=2_000_000, details={"items": 2_000_000})))
    expected = 0.0
    start = T0
    for task_id, seconds, fp, usage in tasks:
        end = start + dt.timedelta(seconds=seconds)
        ledger.record(key(task=task_id), task_entries(COST, start, end, fp, usage), started=start, ended=end)
        hours = seconds / 3600
        expected += hours * (fp.vcpu * 0.04 + fp.memory_gb * 0.005) + hours * fp.gpus * (
            1.2 if fp.gpus else 0
        )
        start = end
    expected += 2.0 * PRICES.dynamodb_write_million
    totals = ledger.run_totals("churn", "r1")
    assert totals["total"] == pytest.approx(expected)
    assert totals["gpu"] == pytest.approx(1.0 * 2 * 1.2)
    assert totals["compute"] == pytest.approx(
        (600 + 1800 + 900) / 3600 * (0.5 * 0.04 + 2 * 0.005) + 1.0 * (4 * 0.04 + 16 * 0.005)
    )
    assert totals["dynamodb_write"] == pytest.approx(1.25)
    assert ledger.day_totals("churn", "2026-03-10")["total"] == pytest.approx(expected)
    assert ledger.month_totals("churn", "2026-03")["total"] == pytest.approx(expected)
    assert ledger.month_totals("churn", "2026-04")["total"] == 0.0
    assert ledger.schema_version == SCHEMA_VERSION


def test_retried_task_counts_once(ledger):
    """A callback delivered twice replaces its rows; each try of a retried task is counted once."""
    fp = worker_footprint(COST)
    end1 = T0 + dt.timedelta(hours=1)
    first = task_entries(COST, T0, end1, fp)
    ledger.record(key(try_number=1), first, started=T0, ended=end1)
    ledger.record(key(try_number=1), first, started=T0, ended=end1)  # the same try again
    assert ledger.run_totals("churn", "r1")["total"] == pytest.approx(first[0].amount)
    end2 = end1 + dt.timedelta(hours=2)
    second = task_entries(COST, end1, end2, fp)
    for _ in range(3):
        ledger.record(key(try_number=2), second, started=end1, ended=end2)
    assert len(ledger.entries("churn", "r1")) == 2
    assert ledger.run_totals("churn", "r1")["total"] == pytest.approx(first[0].amount + second[0].amount)


def test_concurrent_runs_do_not_collide(tmp_path):
    """Two runs' tasks write at once from separate threads (separate engines): every row lands in its run."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger(url)
    fp = worker_footprint(COST)
    errors: list[BaseException] = []

    def run(run_id: str, hours: float) -> None:
        try:
            led = Ledger(url)
            for i in range(20):
                end = T0 + dt.timedelta(hours=hours)
                led.record(
                    key(run=run_id, task=f"t{i}"), task_entries(COST, T0, end, fp), started=T0, ended=end
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("a", 1.0)), threading.Thread(target=run, args=("b", 2.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    led = Ledger(url)
    one = task_entries(COST, T0, T0 + dt.timedelta(hours=1), fp)[0].amount
    assert led.run_totals("churn", "a")["total"] == pytest.approx(20 * one)
    assert led.run_totals("churn", "b")["total"] == pytest.approx(40 * one)
    assert len(led.entries("churn")) == 40


def test_budget_alerts_once_per_fraction_per_month(ledger, driftline_home):
    from driftline.alerting import alerts_file

    fp = pod_footprint(Resources(cpu="1", memory="1G", gpu=1))  # 1.0 per GPU-hour + 0.045 per hour
    end = T0 + dt.timedelta(hours=8)
    ledger.record(key(task="a"), task_entries(COST, T0, end, fp), started=T0, ended=end)
    assert check_budget(ledger, "churn", COST, month="2026-03") == [0.8]
    assert check_budget(ledger, "churn", COST, month="2026-03") == []
    end2 = end + dt.timedelta(hours=3)
    ledger.record(key(task="b"), task_entries(COST, end, end2, fp), started=end, ended=end2)
    assert check_budget(ledger, "churn", COST, month="2026-03") == [1.0]
    assert check_budget(ledger, "churn", COST, month="2026-03") == []
    alerts = [json.loads(line) for line in alerts_file().read_text().splitlines()]
    assert [(a["kind"], a["details"]["fraction"], a["severity"]) for a in alerts] == [
        ("budget", 0.8, "warning"),
        ("budget", 1.0, "critical"),
    ]
    assert ledger.budget_alerts("churn", "2026-03") == [0.8, 1.0]


def test_bad_month_and_newer_schema(ledger, tmp_path):
    with pytest.raises(LedgerError, match="YYYY-MM"):
        ledger.month_totals("churn", "March")
    import sqlalchemy as sa

    with ledger.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO driftline_cost_schema (version) VALUES (99)"))
    from driftline.cost import ledger as module

    module._engines.clear()
    with pytest.raises(LedgerError, match="newer than"):
        Ledger(ledger.url)


def test_default_url_from_setting(monkeypatch, tmp_path):
    from driftline.cost.ledger import default_url

    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path))
    monkeypatch.delenv("DRIFTLINE_COST_LEDGER_URL", raising=False)
    assert default_url() == f"sqlite:///{tmp_path.resolve()}/cost/ledger.db"
    monkeypatch.setenv("DRIFTLINE_COST_LEDGER_URL", "postgresql://x@db/driftline")
    assert default_url() == "postgresql://x@db/driftline"


def test_postgres_statements_compile():
    """The ledger's writes are upserts / insert-or-ignore on PostgreSQL too (not run on a server here)."""
    from driftline.cost.ledger import _insert_ignore, _tables, _upsert
    from sqlalchemy.dialects import postgresql

    _meta, _schema, entries, alerts = _tables()
    row = {c.name: None for c in entries.columns if c.name != "id"}
    upsert = str(_upsert("postgresql", entries, [row]).compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (dag_id, run_id, task_id, map_index, try_number, kind) DO UPDATE" in upsert
    claim = str(
        _insert_ignore(
            "postgresql",
            alerts,
            {"model": "m", "month": "2026-03", "fraction": 0.8, "spent": 1.0, "sent_at": None},
        ).compile(dialect=postgresql.dialect())
    )
    assert "ON CONFLICT DO NOTHING" in claim
    with pytest.raises(LedgerError, match="SQLite and PostgreSQL"):
        _upsert("mysql", entries, [row])


def test_first_uses_at_once_create_the_ledger_once(tmp_path):
    """Several task processes opening a new ledger together: each ends with the tables and one schema row."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def first_use() -> None:
        try:
            barrier.wait()
            Ledger(url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    import sqlalchemy as sa

    led = Ledger(url)
    with led.engine.connect() as conn:
        versions = [v for (v,) in conn.execute(sa.text("SELECT version FROM driftline_cost_schema"))]
    assert sorted(versions) == list(range(1, led.schema_version + 1))


@pytest.mark.skipif(
    not os.environ.get("DRIFTLINE_PG_URL"), reason="needs DRIFTLINE_PG_URL (.ci/run starts one)"
)
def test_first_uses_at_once_on_postgres():
    """The race the Postgres concurrency test met: two CREATE TABLEs colliding on the catalog."""
    import uuid

    import sqlalchemy as sa

    base = sa.engine.make_url(os.environ["DRIFTLINE_PG_URL"]).set(drivername="postgresql+psycopg2")
    name = f"ledger_race_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def first_use() -> None:
        try:
            barrier.wait()
            Ledger(url).engine.dispose()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=first_use) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        led = Ledger(url)
        with led.engine.connect() as conn:
            versions = [v for (v,) in conn.execute(sa.text("SELECT version FROM driftline_cost_schema"))]
        led.engine.dispose()
        assert sorted(versions) == list(range(1, led.schema_version + 1))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
