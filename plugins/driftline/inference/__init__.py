"""Batch inference into DynamoDB: score the validated window chunk by chunk and upsert the items.

Airflow-free: functions here take a plain boto3 DynamoDB client and raise Driftline errors.
"""

from __future__ import annotations
