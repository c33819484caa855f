"""`status.phase` of every kind, named once; each kind's status model admits its own subset.

A `StrEnum`: the values are plain strings on the wire and in comparisons. Kubernetes' own
phases use the same names (a Pod's Failed), which the operator reads with these.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Phase(StrEnum):
    PENDING = "Pending"
    PROFILING = "Profiling"
    RUNNING = "Running"
    READY = "Ready"
    SUCCEEDED = "Succeeded"
    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"
    ROLLED_BACK = "RolledBack"
    INVALID = "Invalid"
    FAILED = "Failed"


DatasetPhase = Literal[Phase.PENDING, Phase.PROFILING, Phase.READY, Phase.INVALID, Phase.FAILED]
TrainingJobPhase = Literal[Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED]
ModelVersionPhase = Literal[Phase.PENDING, Phase.READY, Phase.INVALID]
BatchPredictionPhase = Literal[Phase.PENDING, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED]
ModelDeploymentPhase = Literal[
    Phase.PENDING, Phase.PROGRESSING, Phase.HEALTHY, Phase.ROLLED_BACK, Phase.FAILED
]
# A TrainingJob in one of these has an outcome: nothing more will happen to it.
FINISHED: tuple[Phase, ...] = (Phase.SUCCEEDED, Phase.FAILED)


class Outcome(StrEnum):
    """How a rollout ended, as a ModelDeployment's `status.history` records it: promoted, or
    the phase it failed into."""

    PROMOTED = "Promoted"
    ROLLED_BACK = Phase.ROLLED_BACK.value
    FAILED = Phase.FAILED.value


RevisionOutcome = Literal[Outcome.PROMOTED, Outcome.ROLLED_BACK, Outcome.FAILED]
