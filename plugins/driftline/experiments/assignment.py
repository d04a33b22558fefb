"""Deterministic assignment of entities to the arms of an A/B experiment.

An entity's arm is a function of (salt, entity id, shares) only, so every run of the batch
inference, the predictions service and the evaluation DAG recompute the same split without a
stored assignment table, and an entity stays in its arm for the whole experiment.

Hash: pandas' `hash_array` of the id's text (`str(id)`; integral floats such as 42.0 read back from
a CSV with missing values count as 42) with a 16-character key derived from the salt: SipHash-2-4
keyed by the salt, then a splitmix64 finaliser, vectorised in C (1M ids in well under a second).
The top 53 bits of the hash give a uniform number u in [0, 1):
u < holdout_share -> `no_model`; u < holdout_share + challenger_share -> `challenger`; else `champion`.
A new salt gives an independent split (use one salt per experiment).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from driftline.experiments.errors import ExperimentInputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
NO_MODEL: Final = "no_model"
ARMS: Final = (CHAMPION, CHALLENGER, NO_MODEL)


def validate_shares(challenger_share: float, holdout_share: float) -> dict[str, float]:
    """The share of every arm, {arm: share}; ExperimentInputError when the shares are unusable."""
    problems = []
    for name, value in (("challenger_share", challenger_share), ("holdout_share", holdout_share)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            problems.append(f"{name} must be a number, got {value!r}")
        elif not 0.0 <= value <= 1.0:
            problems.append(f"{name} must be between 0 and 1, got {value!r}")
    if problems:
        raise ExperimentInputError("; ".join(problems))
    if challenger_share <= 0.0:
        raise ExperimentInputError(f"challenger_share must be above 0, got {challenger_share!r}")
    total = challenger_share + holdout_share
    if total > 1.0 + 1e-12:
        raise ExperimentInputError(
            f"challenger_share ({challenger_share}) + holdout_share ({holdout_share}) = {total:.6g}: "
            "the shares must sum to at most 1 (the champion gets the rest)"
        )
    return {
        CHAMPION: max(0.0, 1.0 - total),
        CHALLENGER: float(challenger_share),
        NO_MODEL: float(holdout_share),
    }


def hash_key(salt: str) -> str:
    """The 16-character SipHash key derived from an experiment's salt."""
    if not isinstance(salt, str) or not salt:
        raise ExperimentInputError(f"the experiment salt must be a non-empty string, got {salt!r}")
    return hashlib.blake2b(salt.encode("utf-8"), digest_size=8).hexdigest()


def _as_text(entity_ids: Iterable[Any] | Any) -> npt.NDArray[Any]:
    """The ids as an object array of str; integral floats lose their '.0'; a missing id is an error."""
    import numpy as np
    import pandas as pd

    if isinstance(entity_ids, pd.Series | pd.Index):
        values = entity_ids.to_numpy()
    else:
        values = np.asarray(entity_ids if not isinstance(entity_ids, str) else [entity_ids])
    if values.ndim != 1:
        values = values.reshape(-1)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise ExperimentInputError("entity ids contain missing (NaN) or infinite values")
        if (values == np.floor(values)).all():
            values = values.astype(np.int64)
    elif values.dtype.kind == "O" and len(values) and pd.isna(values).any():
        raise ExperimentInputError(
            f"entity ids contain {int(pd.isna(values).sum())} missing value(s): every entity needs an id"
        )
    text: npt.NDArray[Any] = values.astype(str).astype(object)
    return text


def unit_hash(entity_ids: Iterable[Any] | Any, salt: str) -> npt.NDArray[np.float64]:
    """Each id's salted hash as a uniform number in [0, 1)."""
    import numpy as np
    from pandas.util import hash_array

    text = _as_text(entity_ids)
    hashed = hash_array(text, hash_key=hash_key(salt), categorize=False)
    unit: npt.NDArray[np.float64] = (hashed >> np.uint64(11)).astype(np.float64) * (2.0**-53)
    return unit


def assign_arms(
    entity_ids: Iterable[Any] | Any, *, salt: str, challenger_share: float, holdout_share: float = 0.0
) -> npt.NDArray[np.str_]:
    """The arm of every entity (`champion`, `challenger` or `no_model`), vectorised and deterministic."""
    import numpy as np

    validate_shares(challenger_share, holdout_share)
    u = unit_hash(entity_ids, salt)
    arms = np.full(u.shape, CHAMPION, dtype="<U10")
    arms[u < holdout_share + challenger_share] = CHALLENGER
    arms[u < holdout_share] = NO_MODEL
    return arms


def arm_of(entity_id: Any, *, salt: str, challenger_share: float, holdout_share: float = 0.0) -> str:
    """The arm of one entity (the same answer as `assign_arms` gives for it)."""
    return str(
        assign_arms([entity_id], salt=salt, challenger_share=challenger_share, holdout_share=holdout_share)[0]
    )
