"""The arms of a running A/B experiment as a batch inference scores them.

An `ArmPlan` is decided once per Airflow run and recorded in the run record with the champion
version (driftline.inference.runs), so a retry assigns and scores exactly as the first try did.
Each chunk's entities get their arm from driftline.experiments.assignment.assign_arms (a salted
hash of the entity id: the same entity is in the same arm on every run of the experiment):
`champion` rows are scored by the champion version, `challenger` rows by the challenger
version, `no_model` rows get the configured business default instead of a prediction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from driftline.experiments.store import Experiment

CHAMPION = "champion"
CHALLENGER = "challenger"
NO_MODEL = "no_model"


@dataclass(frozen=True)
class ArmPlan:
    """What a run needs to split and score its entities for one experiment."""

    experiment_id: int
    challenger_version: int
    salt: str
    challenger_share: float
    holdout_share: float
    no_model_default: Any = None

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> ArmPlan:
        return cls(
            experiment_id=experiment.id,
            challenger_version=experiment.challenger_version,
            salt=experiment.salt,
            challenger_share=float(experiment.shares.get(CHALLENGER, 0.0)),
            holdout_share=float(experiment.shares.get(NO_MODEL, 0.0)),
            no_model_default=experiment.no_model_default,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArmPlan:
        return cls(**json.loads(text))

    def assign(self, entity_ids: list[str]) -> npt.NDArray[np.str_]:
        """The arm of each entity id."""
        from driftline.experiments.assignment import assign_arms

        return assign_arms(
            entity_ids,
            salt=self.salt,
            challenger_share=self.challenger_share,
            holdout_share=self.holdout_share,
        )
