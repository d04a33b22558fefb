"""DynamoDB for Driftline: the Amazon provider's DynamoDBHook (credentials, region, endpoint_url).

Locally, `aws_default` with `{"endpoint_url": "http://127.0.0.1:4566", "region_name": ...}` in
its extra (or `extra.service_config.dynamodb.endpoint_url`) points it at a moto/DynamoDB Local
endpoint. `hook.client` (the provider's lazy, cached low-level client of its resource) is
thread-safe and shared by the writer's threads; its pool is sized for them.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.dynamodb import DynamoDBHook


class DriftlineDynamoDBHook(DynamoDBHook):
    """A DynamoDBHook whose low-level client has a connection pool for `writers` threads."""

    def __init__(self, aws_conn_id: str = "aws_default", writers: int = 8, **kwargs: Any) -> None:
        from botocore.config import Config

        kwargs.setdefault(
            "config",
            Config(max_pool_connections=max(10, 2 * writers), retries={"max_attempts": 3, "mode": "standard"}),
        )
        super().__init__(aws_conn_id=aws_conn_id, **kwargs)
