"""The cost ledger: one row per (dag_id, run_id, task_id, map_index, try_number, kind), in SQL.

SQLite locally (`DRIFTLINE_HOME/cost/ledger.db`), Postgres in production: the URL is the
`cost_ledger_url` setting (`DRIFTLINE_COST_LEDGER_URL` or `[driftline] cost_ledger_url`).

Idempotent: `record` upserts on the key above, so a callback delivered twice, or a retried
reporting step, replaces its own rows and never adds a second copy. Each try of a retried task is
its own key (`try_number`): the compute a failed try used was spent and is counted, once.
Runs are keyed by (dag_id, run_id), so two runs never collide, and every write is one transaction.

Schema versioning: a `driftline_cost_schema` table holds the applied version, and `MIGRATIONS`
lists the DDL of each version in order; `Ledger(url)` applies the missing ones in one transaction.
A versioned table rather than Alembic: the ledger is three tables owned by one module, it must
migrate itself on first use from any task process (no `alembic upgrade` step to deploy), and the
same statements run on SQLite and Postgres.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.cost.pricing import Entry
from driftline.exceptions import DriftlineError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SCHEMA_VERSION = 1


# pg_advisory_xact_lock key serialising ledger migrations (any fixed 64-bit number)
_MIGRATION_LOCK = 0x64726966746C6E


class LedgerError(DriftlineError):
    """The cost ledger could not be opened or written."""


def default_url() -> str:
    """The ledger URL: the `cost_ledger_url` setting, else SQLite under DRIFTLINE_HOME."""
    from driftline.settings import driftline_home, setting

    url = setting("cost_ledger_url")
    if url:
        return url
    path = driftline_home() / "cost" / "ledger.db"
    return f"sqlite:///{path}"


def _tables() -> tuple[Any, Any, Any, Any]:
    import sqlalchemy as sa

    meta = sa.MetaData()
    # the version is the key: of two first uses that both read version 0 (SQLite's deferred
    # transactions), the second insert fails and its retry finds the migration done
    schema = sa.Table(
        "driftline_cost_schema", meta, sa.Column("version", sa.Integer, primary_key=True, autoincrement=False)
    )
    entries = sa.Table(
        "driftline_cost_entries",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.UniqueConstraint(
            "dag_id", "run_id", "task_id", "map_index", "try_number", "kind", name="uq_cost_entry"
        ),
        sa.Index("ix_cost_model_day", "model", "day"),
        sa.Index("ix_cost_run", "model", "run_id"),
    )
    alerts = sa.Table(
        "driftline_budget_alerts",
        meta,
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("fraction", sa.Float, nullable=False),
        sa.Column("spent", sa.Float, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", "month", "fraction"),
    )
    return meta, schema, entries, alerts


def _v1(conn: Connection) -> None:
    _meta, _schema, entries, alerts = _tables()
    for table in (entries, alerts):
        table.create(conn, checkfirst=True)


# version -> DDL: append a function for each new schema version, never edit an applied one.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1}

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    import sqlalchemy as sa

    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(url, connect_args={"timeout": 60})

                @sa.event.listens_for(engine, "connect")
                def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                    cursor = dbapi_conn.cursor()
                    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the task writers
                    cursor.close()

            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
        return engine


@dataclass(frozen=True)
class TaskKey:
    """Which task try the entries belong to."""

    model: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    map_index: int = -1
    data_day: str | None = None  # the data day the run scores (its interval's start), kept in details


class Ledger:
    """The cost ledger at `url` (SQLAlchemy URL); created and migrated on first use."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        try:
            self.engine = _engine(self.url)
            self._meta, self._schema, self._entries, self._alerts = _tables()
            self._migrate()
        except DriftlineError:
            raise
        except Exception as exc:
            raise LedgerError(f"cannot open the cost ledger at {_safe(self.url)}: {exc}") from exc

    def _migrate(self, attempts: int = 3) -> None:
        """Create or upgrade the tables; safe when several task processes open the ledger at once.

        On Postgres the migration holds a transaction-level advisory lock, so concurrent first
        uses queue behind one another (without it two `CREATE TABLE`s collide on the catalog's
        unique index). Elsewhere (SQLite) a migration that lost such a race is tried again: it
        then finds the tables the winner created.
        """
        from tenacity import Retrying, retry_if_not_exception_type, stop_after_attempt, wait_incrementing

        for attempt in Retrying(
            retry=retry_if_not_exception_type(LedgerError),  # a newer schema is no race: fail at once
            stop=stop_after_attempt(attempts),
            wait=wait_incrementing(start=0.2, increment=0.2),
            reraise=True,
        ):
            with attempt:
                self._migrate_once()

    def _migrate_once(self) -> None:
        import sqlalchemy as sa

        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            self._schema.create(conn, checkfirst=True)
            current = conn.execute(sa.select(sa.func.max(self._schema.c.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                raise LedgerError(
                    f"the cost ledger at {_safe(self.url)} has schema version {current}, newer than "
                    f"this Driftline's {SCHEMA_VERSION}: upgrade Driftline"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                conn.execute(self._schema.insert().values(version=version))

    @property
    def schema_version(self) -> int:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(self._schema.c.version))).scalar() or 0)

    def record(
        self,
        key: TaskKey,
        entries: Sequence[Entry],
        *,
        started: dt.datetime,
        ended: dt.datetime,
        currency: str = "USD",
        replace_kinds: Iterable[str] = (),
    ) -> int:
        """Write one task try's entries, replacing what that try recorded before; returns rows written.

        `replace_kinds`: kinds of this try to delete when `entries` no longer has them (OpenCost's
        figure replacing an estimate split differently).
        """

        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "model": key.model,
                "dag_id": key.dag_id,
                "run_id": key.run_id,
                "task_id": key.task_id,
                "map_index": key.map_index,
                "try_number": key.try_number,
                "kind": e.kind,
                "quantity": float(e.quantity),
                "unit": e.unit,
                "amount": float(e.amount),
                "currency": currency,
                "source": e.source,
                "started_at": started,
                "ended_at": ended,
                "day": ended.astimezone(dt.UTC).date().isoformat(),
                "recorded_at": now,
                "details": json.dumps(
                    {**e.details, **({"data_day": key.data_day} if key.data_day else {})},
                    default=str,
                    sort_keys=True,
                ),
            }
            for e in entries
        ]
        t = self._entries
        kinds = {e.kind for e in entries}
        stale = [k for k in replace_kinds if k not in kinds]
        with self.engine.begin() as conn:
            if stale:
                conn.execute(
                    t.delete().where(
                        t.c.dag_id == key.dag_id,
                        t.c.run_id == key.run_id,
                        t.c.task_id == key.task_id,
                        t.c.map_index == key.map_index,
                        t.c.try_number == key.try_number,
                        t.c.kind.in_(stale),
                    )
                )
            if rows:
                stmt = _upsert(self.engine.dialect.name, t, rows)
                conn.execute(stmt)
        return len(rows)

    def entries(
        self, model: str | None = None, run_id: str | None = None, since: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """The ledger's rows (oldest first), filtered by model, run and first day."""
        import sqlalchemy as sa

        t = self._entries
        query = sa.select(t).order_by(t.c.ended_at, t.c.id)
        if model is not None:
            query = query.where(t.c.model == model)
        if run_id is not None:
            query = query.where(t.c.run_id == run_id)
        if since is not None:
            query = query.where(t.c.day >= since.isoformat())
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _totals(self, *where: Any) -> dict[str, float]:
        import sqlalchemy as sa

        t = self._entries
        query = sa.select(t.c.kind, sa.func.sum(t.c.amount)).where(*where).group_by(t.c.kind)
        with self.engine.connect() as conn:
            totals = {str(kind): float(amount or 0.0) for kind, amount in conn.execute(query)}
        totals["total"] = sum(totals.values())
        return totals

    def run_totals(self, model: str, run_id: str) -> dict[str, float]:
        """Cost by kind of one Airflow run of `model`, and its `total`."""
        t = self._entries
        return self._totals(t.c.model == model, t.c.run_id == run_id)

    def day_totals(self, model: str, day: dt.date | str) -> dict[str, float]:
        """Cost by kind of `model` on a UTC day (by the day each task try ended), and its `total`."""
        t = self._entries
        return self._totals(t.c.model == model, t.c.day == str(day))

    def month_totals(self, model: str, month: str) -> dict[str, float]:
        """Cost by kind of `model` in a UTC month "YYYY-MM", and its `total`."""
        t = self._entries
        return self._totals(t.c.model == model, t.c.day.like(f"{_month(month)}-%"))

    def daily(self, model: str, since: dt.date | None = None) -> list[dict[str, Any]]:
        """Per day and kind: [{"day", "kind", "amount"}], oldest first."""
        import sqlalchemy as sa

        t = self._entries
        query = (
            sa.select(t.c.day, t.c.kind, sa.func.sum(t.c.amount))
            .where(t.c.model == model)
            .group_by(t.c.day, t.c.kind)
            .order_by(t.c.day, t.c.kind)
        )
        if since is not None:
            query = query.where(t.c.day >= since.isoformat())
        with self.engine.connect() as conn:
            return [{"day": d, "kind": k, "amount": float(a)} for d, k, a in conn.execute(query)]

    def models(self) -> list[str]:
        import sqlalchemy as sa

        t = self._entries
        with self.engine.connect() as conn:
            return sorted(str(m) for (m,) in conn.execute(sa.select(t.c.model).distinct()))

    def claim_budget_alert(self, model: str, month: str, fraction: float, spent: float) -> bool:
        """True exactly once per (model, month, fraction): the caller then sends the alert."""

        row = {
            "model": model,
            "month": _month(month),
            "fraction": float(fraction),
            "spent": float(spent),
            "sent_at": dt.datetime.now(dt.UTC),
        }
        stmt = _insert_ignore(self.engine.dialect.name, self._alerts, row)
        with self.engine.begin() as conn:
            result = conn.execute(stmt)
        return bool(result.rowcount)

    def budget_alerts(self, model: str, month: str) -> list[float]:
        import sqlalchemy as sa

        a = self._alerts
        query = sa.select(a.c.fraction).where(a.c.model == model, a.c.month == _month(month))
        with self.engine.connect() as conn:
            return sorted(float(f) for (f,) in conn.execute(query))


def _month(month: str) -> str:
    try:
        dt.datetime.strptime(month, "%Y-%m")
    except ValueError:
        raise LedgerError(f"month must be YYYY-MM, got {month!r}") from None
    return month


def _upsert(dialect: str, table: Any, rows: list[dict[str, Any]]) -> Any:
    keys = ("dag_id", "run_id", "task_id", "map_index", "try_number", "kind")
    insert = _dialect_insert(dialect)(table).values(rows)
    updated = {c: insert.excluded[c] for c in rows[0] if c not in keys}
    return insert.on_conflict_do_update(index_elements=list(keys), set_=updated)


def _insert_ignore(dialect: str, table: Any, row: dict[str, Any]) -> Any:
    return _dialect_insert(dialect)(table).values(row).on_conflict_do_nothing()


def _dialect_insert(dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    raise LedgerError(f"the cost ledger supports SQLite and PostgreSQL, not {dialect}")


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
