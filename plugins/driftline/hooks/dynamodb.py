"""DynamoDB for Driftline: the Amazon provider's AwsBaseHook (credentials, region, endpoint_url).

Locally, `aws_default` with `{"endpoint_url": "http://127.0.0.1:4566", "region_name": ...}` in
its extra (or `extra.service_config.dynamodb.endpoint_url`) points it at a moto/DynamoDB Local
endpoint. The provider's DynamoDBHook hands out its *resource*'s client, which re-serializes
every attribute value (typed `{"S": ...}` values would become maps), so this hook asks the
same connection machinery for a plain low-level client: created lazily, cached, thread-safe,
its connection pool sized for the writer's threads.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook


class DriftlineDynamoDBHook(AwsBaseHook):
    """A low-level DynamoDB client from an Airflow AWS connection."""

    def __init__(self, aws_conn_id: str = "aws_default", writers: int = 8, **kwargs: Any) -> None:
        from botocore.config import Config

        kwargs.setdefault(
            "config",
            Config(
                max_pool_connections=max(10, 2 * writers), retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
        kwargs["client_type"] = "dynamodb"
        super().__init__(aws_conn_id=aws_conn_id, **kwargs)

    @cached_property
    def client(self) -> Any:
        """The low-level DynamoDB client (shared by the writer's threads)."""
        return self.get_conn()
