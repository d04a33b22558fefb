"""The model registry in MLflow: versions, champion/challenger aliases, the gate, promotion, rollback, audit.

Modules: champion (tag/alias contract, get_champion), registration, gate, promotion (+ lock), audit,
errors, retry. Nothing heavy is imported here; mlflow/sklearn load inside functions.
"""

from __future__ import annotations
