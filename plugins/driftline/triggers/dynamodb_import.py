"""DynamoDBImportTrigger: wait in the triggerer for an ImportTable to finish (snapshot mode).

The Amazon provider ships the `import_table` waiter (DescribeImport until COMPLETED, failing on
FAILED/CANCELLING/CANCELLED) but no trigger for it; this is the provider's AwsBaseWaiterTrigger
on that waiter, polling with aiobotocore through the provider's async hook (the connection's
region and endpoint_url apply). Events: `{"status": "success", "import_arn": ...}` or
`{"status": "error", "message": ..., "import_arn": ...}` (a failed import or the attempts ran out).
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from driftline.hooks.dynamodb import DriftlineDynamoDBHook


class DynamoDBImportTrigger(AwsBaseWaiterTrigger):
    """Poll DescribeImport for `import_arn` every `waiter_delay` s, at most `waiter_max_attempts` times."""

    aws_hook_class = DriftlineDynamoDBHook

    def __init__(
        self,
        *,
        import_arn: str,
        waiter_delay: int = 30,
        waiter_max_attempts: int = 720,
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            serialized_fields={"import_arn": import_arn},
            waiter_name="import_table",
            waiter_args={"ImportArn": import_arn},
            failure_message=f"DynamoDB import {import_arn} failed",
            status_message=f"DynamoDB import {import_arn}",
            status_queries=[
                "ImportTableDescription.ImportStatus",
                "ImportTableDescription.FailureCode",
                "ImportTableDescription.FailureMessage",
            ],
            return_key="import_arn",
            return_value=import_arn,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            **kwargs,
        )
