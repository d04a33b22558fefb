"""DynamoDB for Driftline: the Amazon provider's AwsBaseHook (credentials, region, endpoint_url).

Locally, `aws_default` with `{"endpoint_url": "http://127.0.0.1:4566", "region_name": ...}` in
its extra (or `extra.service_config.dynamodb.endpoint_url`) points it at a moto/DynamoDB Local
endpoint. The provider's DynamoDBHook hands out its *resource*'s client, which re-serializes
every attribute value (typed `{"S": ...}` values would become maps), so this hook asks the
same connection machinery for a plain low-level client: created lazily, cached, thread-safe,
its connection pool sized for the writer's threads.

A connection that resolves no AWS region (not defined at all, or no `region_name` in its extra
and none in the environment) is a ConfigError naming the config field that chose the connection
(`inference.conn_id`), rather than botocore's bare NoRegionError.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from driftline.exceptions import ConfigError


class DriftlineDynamoDBHook(AwsBaseHook):
    """A low-level DynamoDB client from an Airflow AWS connection.

    :param field: the config field naming the connection, quoted in connection errors.
    """

    def __init__(
        self,
        aws_conn_id: str = "aws_default",
        writers: int = 8,
        field: str = "inference.conn_id",
        **kwargs: Any,
    ) -> None:
        from driftline.timeouts import botocore_config

        if kwargs.get("config") is None:  # each call bounded by external_timeout_s (driftline.timeouts)
            kwargs["config"] = botocore_config(max_pool_connections=max(10, 2 * writers))
        kwargs["client_type"] = "dynamodb"
        super().__init__(aws_conn_id=aws_conn_id, **kwargs)
        self.field = field

    @cached_property
    def client(self) -> Any:
        """The low-level DynamoDB client (shared by the writer's threads)."""
        from botocore.exceptions import NoRegionError

        try:
            return self.get_conn()
        except NoRegionError as exc:
            raise self.no_region_error() from exc

    def connection_defined(self) -> bool:
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        try:
            self.get_connection(str(self.aws_conn_id))
        except AirflowNotFoundException:
            return False
        return True

    def no_region_error(self) -> ConfigError:
        conn = self.aws_conn_id
        fix = (
            "set extra.region_name (and extra.endpoint_url for a local DynamoDB such as `make up`'s "
            "http://127.0.0.1:4566) or AWS_DEFAULT_REGION"
        )
        if self.connection_defined():
            problem = f"the Airflow AWS connection {conn!r} names no AWS region: {fix}"
        else:
            problem = (
                f"the Airflow AWS connection {conn!r} is not defined (AIRFLOW_CONN_{str(conn).upper()} or the "
                f"metadata database) and the environment names no AWS region: define it, or {fix}"
            )
        return ConfigError(f"{self.field} {conn!r}", [problem])

    def endpoint(self) -> str:
        """The DynamoDB endpoint this connection talks to (for error messages)."""
        url = self.conn_config.get_service_endpoint_url(service_name="dynamodb")
        return str(url) if url else f"AWS DynamoDB in {self.conn_config.region_name or 'the default region'}"
