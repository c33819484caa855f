"""The condition vocabulary, named once: condition types and their statuses.

Every kind's `status.conditions` uses these; so do the printer columns. The names are the
ones Kubernetes uses for its own objects (a Pod's Ready, a Deployment's Progressing), which
the operator reads with the same constants.
"""

from __future__ import annotations

from typing import Final, Literal

ConditionStatus = Literal["True", "False", "Unknown"]
TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

# Condition types
READY: Final = "Ready"  # every kind
PROGRESSING: Final = "Progressing"  # ModelDeployment (and an apps/v1 Deployment)
ROLLED_BACK: Final = "RolledBack"  # ModelDeployment
DRIFTED: Final = "Drifted"  # DriftMonitor
PERFORMANCE_DEGRADED: Final = "PerformanceDegraded"  # DriftMonitor with spec.performance
# DriftMonitor of a deployment: False when its window reaches past the samples' retention.
WINDOW_RETAINED: Final = "WindowRetained"
