-- Argo CD health check for the five mlops.dev kinds: Dataset, TrainingJob, ModelVersion,
-- ModelDeployment, DriftMonitor (the same script for each; see docs/gitops.md).
--   Healthy      Ready=True, and the status is for the current generation
--   Progressing  not reconciled yet, a stale status, or Ready=False while waiting on something
--   Degraded     Ready=False for a failure (a failed Job, an invalid artifact, a rollback ...)
local hs = {}

-- Ready=False reasons that mean "waiting, will move on by itself" (reconcile/reasons.py).
local waiting = {
  Profiling = true, JobCreated = true, Training = true,
  DatasetNotFound = true, DatasetNotReady = true,
  ModelVersionNotFound = true, ModelVersionNotReady = true,
  RolloutStarted = true, WaitingForReplicas = true, Unavailable = true,
  CanaryStep = true, CanaryPaused = true, CanaryAnalysis = true, Promoting = true,
  DeploymentNotFound = true, NotServing = true, ReferenceNotReady = true,
}
-- Phases that are failures whatever the reason.
local failed_phases = { Failed = true, Invalid = true, RolledBack = true }

local function condition(status, type_)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason or ""
end

local generation = obj.metadata.generation
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = condition(status, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Ready is for generation " .. ready.observedGeneration .. ", not " .. generation
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  local drifted = condition(status, "Drifted")
  if drifted ~= nil and drifted.status == "True" then
    -- Drift is what a DriftMonitor is for: reported, not a failure of the monitor.
    hs.message = "Drift detected: " .. (drifted.message or "")
  end
  return hs
end

if ready.status == "False" then
  if failed_phases[status.phase] or not waiting[ready.reason] then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready)
return hs
