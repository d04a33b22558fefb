"""The Airflow Assets a model's pipeline produces, so lineage shows and other DAGs can schedule on them."""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias


def _asset(model: str, what: str) -> Asset:
    # An `x-` scheme is opaque to Airflow: no provider URI handler is loaded (that would import boto3).
    return Asset(name=f"driftline.{model}.{what}", uri=f"x-driftline://{model}/{what}", group="driftline")


def raw_window(model: str, window: str) -> Asset:
    """A loaded window (`current` or `training`), before validation."""
    return _asset(model, f"{window}_window_raw")


def validated_window(model: str, window: str) -> Asset:
    """A window that passed the validation gate."""
    return _asset(model, f"{window}_window_validated")


def retrain_needed(model: str) -> Asset:
    """Emitted when the retrain policy decides model `model` needs retraining."""
    return _asset(model, "retrain_needed")


def retrain_needed_alias(model: str) -> AssetAlias:
    """The alias a branch declares as outlet, so `retrain_needed` is emitted only when retraining."""
    return AssetAlias(name=f"driftline.{model}.retrain_needed.alias", group="driftline")


def champion(model: str) -> Asset:
    """Emitted when the model's champion alias moves (promotion or rollback)."""
    return _asset(model, "champion")


def champion_alias(model: str) -> AssetAlias:
    """The alias through which a step emits `champion(model)` only when the champion moved."""
    return AssetAlias(name=f"driftline.{model}.champion_changes", group="driftline")


def predictions(model: str) -> Asset:
    """The model's predictions table in DynamoDB, written by `score_and_write`."""
    return _asset(model, "predictions")
