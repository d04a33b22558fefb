"""Can a registered version serve the config as it is now? Its input columns against data.features.

Every version Driftline registers is logged with an MLflow model signature (training/entrypoint.py
`log_model`: `infer_signature` on the training frame), so the columns a version needs are known
without loading it. A config that drops a feature the champion was trained on (or adds one it never
saw) cannot be scored by that champion: scikit-learn fails deep inside with a bare "columns are
missing". These checks say so before a run breaks, naming the config file, the field and the columns.
Airflow-free (the domain): `access` is any `MlflowAccess`.
"""

from __future__ import annotations

import logging
from typing import Any

from driftline.config.models import ModelConfig
from driftline.mlflow_store import MlflowAccess

log = logging.getLogger(__name__)


def version_columns(access: MlflowAccess, name: str, version: int) -> list[str] | None:
    """The input column names of version `version` of `name` (its MLflow signature), None if unsigned.

    Only the version's MLmodel file is read, through `access`'s own client and URI (MLflow's
    `get_model_info` would resolve `models:/` against the process-wide default store instead).
    """
    import tempfile
    from pathlib import Path

    from mlflow.models import Model

    from driftline.registry.models import download_model_version

    with tempfile.TemporaryDirectory(prefix="driftline-signature-") as tmp:
        path = download_model_version(access, name, version, Path(tmp), artifact_path="MLmodel")
        signature = Model.load(str(path)).signature
    if signature is None or signature.inputs is None:
        return None
    names = signature.inputs.input_names()
    return [str(n) for n in names] if names else None


def model_columns(model: Any) -> list[str] | None:
    """The columns a fitted scikit-learn model was trained on (`feature_names_in_`), if it knows them."""
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def column_problems(config: ModelConfig, needed: list[str], version: int) -> list[str]:
    """`data.features: ...` lines when a version trained on `needed` cannot score the config's features."""
    features = config.feature_names
    missing = [c for c in needed if c not in features]
    unseen = [c for c in features if c not in needed]
    name = config.registered_model_name
    fix = (
        "run the pipeline with force_retrain (e.g. `driftline run "
        f"{config.model.name} --date D --conf '{{\"force_retrain\": true}}'`) to train a champion on the "
        "new features, or restore the old list"
    )
    problems = []
    if missing:
        problems.append(
            f"data.features: champion v{version} of {name!r} was trained on {missing}, which the config no "
            f"longer lists (the pipeline does not load them, so the champion cannot score): {fix}"
        )
    if unseen:
        problems.append(
            f"data.features: lists {unseen}, which champion v{version} of {name!r} was not trained on "
            f"(it cannot score them): {fix}"
        )
    return problems


def serving_problems(access: MlflowAccess, config: ModelConfig, version: int | None = None) -> list[str]:
    """Why version `version` (default: the champion) cannot serve `config`; empty when it can or is absent."""
    from driftline.registry.champion import get_champion

    if version is None:
        champion = get_champion(access, config.registered_model_name)
        if champion is None:
            return []
        version = champion.version
    needed = version_columns(access, config.registered_model_name, version)
    if needed is None:
        log.warning(
            "version %s of %r has no model signature: its columns cannot be checked before scoring",
            version,
            config.registered_model_name,
        )
        return []
    return column_problems(config, needed, version)
