"""The ModelDeployment rollout, split by concern the way Argo Rollouts splits its context.

  context    what one pass reads (`Seen`) and builds (`Rollout`, `Plan`)
  target     which ModelVersion to serve, and which way the rollout goes (`route`)
  machine    the state machine: first rollout, steady state, rolling update, dispatch
  canary     canary steps, pauses and analysis; `analysis_due` for the handler
  promotion  starting a rollout and promoting its version to every replica
  failure    failure detection, deadlines, rollback and held-back versions
  status     phase, conditions, history
  children   the Service, autoscaler and Deployments to apply or delete

`reconcile.modeldeployment` is the public entry; these modules are its parts.
"""
