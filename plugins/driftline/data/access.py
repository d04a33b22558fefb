"""How the data layer reaches S3 and SQL sources: a small protocol, implemented outside the domain.

`driftline.data` takes an object with these two methods and imports no Airflow. Inside Airflow the
operators, sensors and triggers pass `driftline.hooks.sources.AirflowSourceAccess` (Airflow
connections, the common-sql hooks, the object-store layer); anything else that has a DB-API hook
and an fsspec filesystem (a test, a notebook) can pass its own. Local files need neither.
"""

from __future__ import annotations

from typing import Any, Protocol

from driftline.data.frames import SourceConfigError


class SourceAccess(Protocol):
    """Clients for the sources that live behind a connection."""

    def sql(self, conn_id: str, field: str) -> Any:
        """A common-sql style hook for `conn_id`: `get_df`, `placeholder`, `escape_word_format`,
        `get_sqlalchemy_engine`. Raises SourceConfigError naming `field` when there is none."""
        ...

    def s3_filesystem(self, bucket: str, conn_id: str, field: str) -> Any:
        """An fsspec filesystem that reads `bucket` with `conn_id`'s credentials and endpoint."""
        ...


def require(access: SourceAccess | None, field: str, kind: str) -> SourceAccess:
    """`access`, or a SourceConfigError saying that an S3/SQL source needs one."""
    if access is None:
        raise SourceConfigError(
            f"{field}: reading a {kind} source needs connection access: pass "
            "access=driftline.hooks.sources.AirflowSourceAccess() (Airflow connections) or another "
            "driftline.data.access.SourceAccess"
        )
    return access
