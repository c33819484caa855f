"""DriftMonitor decisions by concern; `reconcile.driftmonitor` is the public entry.

- `observed`: what a monitor reads (`Observed`), why it cannot check (`Problem`), what it
  decides (`MonitorDecision`).
- `resolve`: the target and the reference, as a `CheckPlan`.
- `schedule`: when a check is due and when to look again.
- `verdict`: conditions, status and Events from a check outcome or a problem.
- `retrain`: cooldown, cap, the retrain TrainingJob, failed retrains.
"""
