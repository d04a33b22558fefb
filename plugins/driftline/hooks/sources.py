"""Airflow's side of `driftline.data.access.SourceAccess`: connections, common-sql hooks, object store.

The data layer asks for a SQL hook or an S3 filesystem by connection id; this module owns the
lookups (an unknown connection, a connection type without a SQL hook: SourceConfigError naming the
config field) and is what the operators, the arrival sensor and its trigger pass in.
"""

from __future__ import annotations

import re
from typing import Any

from driftline.data.frames import SourceConfigError

_CONNECTIONS_HINT = (
    "add it as an Airflow connection (UI: Admin > Connections, `airflow connections add {conn_id} ...`, "
    "or an AIRFLOW_CONN_{env} environment variable)"
)


def get_connection(conn_id: str, field: str) -> Any:
    """The Airflow connection `conn_id`; SourceConfigError naming `field` when it does not exist."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        hint = _CONNECTIONS_HINT.format(conn_id=conn_id, env=re.sub(r"\W", "_", conn_id).upper())
        raise SourceConfigError(f"{field}: Airflow connection {conn_id!r} does not exist: {hint}") from exc


def sql_hook(conn_id: str, field: str = "data.source.conn_id") -> Any:
    """The common-sql hook (DbApiHook) of an Airflow connection."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    conn = bounded_connection(get_connection(conn_id, field))
    if conn.conn_type == "sqlite":
        return sqlite_hook(sqlite_file_connection(conn, conn_id, field))
    try:
        try:  # a DbApiHook takes the (bounded) connection object rather than fetching it again
            hook = conn.get_hook(hook_params={"connection": conn})
        except TypeError:  # not a DbApiHook: refused below by name
            hook = conn.get_hook()
    except Exception as exc:
        raise SourceConfigError(
            f"connection {conn_id!r} (type {conn.conn_type!r}) has no usable hook: {exc}; "
            "install the Airflow provider for this connection type"
        ) from exc
    if not isinstance(hook, DbApiHook):
        raise SourceConfigError(
            f"connection {conn_id!r} (type {conn.conn_type!r}) is not a SQL connection: "
            f"{type(hook).__name__} is not a common-sql DbApiHook"
        )
    return hook


_SQLITE_FORMS = (
    "give an absolute path, as a URI sqlite:////absolute/path/warehouse.db or in the JSON form "
    '{"conn_type": "sqlite", "host": "/absolute/path/warehouse.db"}'
)


def sqlite_file_connection(conn: Any, conn_id: str, field: str) -> Any:
    """A SQLite connection whose host is its database file, whichever form named it.

    Airflow parses the URI `sqlite:////abs/warehouse.db` into an empty host and the *schema*
    `/abs/warehouse.db`; the SQLite hook opens the host and failed with sqlite3's "invalid uri
    authority". An absolute schema is moved to the host; a relative path (it would depend on the
    directory the task runs in) or no path at all is a SourceConfigError naming both forms."""
    if conn.conn_type != "sqlite" or conn.host:
        return conn
    path = conn.schema or ""
    if not path.startswith("/"):
        what = f"names the relative path {path!r}" if path else "names no database file"
        raise SourceConfigError(f"{field}: SQLite connection {conn_id!r} {what}: {_SQLITE_FORMS}")
    conn.host, conn.schema = path, None
    return conn


def sqlite_hook(conn: Any) -> Any:
    """The SQLite hook of `conn` itself: SqliteHook.get_uri looks the connection up again by id, which
    would undo sqlite_file_connection's correction."""
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    class _FileSqliteHook(SqliteHook):
        def get_connection(self, conn_id: str) -> Any:
            return conn

    return _FileSqliteHook(sqlite_conn_id=conn.conn_id)  # type: ignore[no-untyped-call]  # the provider's own __init__


def bounded_connection(conn: Any) -> Any:
    """`conn` with a connect / statement timeout of external_timeout_s in its extra (its own keys win)."""
    import json

    from driftline.timeouts import sql_connect_extra

    bound = sql_connect_extra(conn.conn_type)
    if not bound:
        return conn
    extra = dict(conn.extra_dejson or {})
    merged = {**bound, **extra}
    if merged != extra:
        conn.extra = json.dumps(merged)
    return conn


class AirflowSourceAccess:
    """`SourceAccess` through Airflow connections (a `driftline.data.access.SourceAccess`)."""

    def sql(self, conn_id: str, field: str) -> Any:
        return sql_hook(conn_id, field)

    def s3_filesystem(self, bucket: str, conn_id: str, field: str) -> Any:
        from driftline.objectstore import s3_filesystem

        # aws_default may be absent on purpose: the AWS hook then uses the environment's credentials.
        if conn_id != "aws_default":
            get_connection(conn_id, field)
        return s3_filesystem(conn_id)
