-- Argo CD health check of FineTuneCampaign (ftagent.dev/v1alpha1).
-- Install it in argocd-cm as resource.customizations.health.ftagent.dev_FineTuneCampaign
-- (examples/argocd/argocd-cm.yaml carries a copy; a test keeps the two identical).
-- Argo CD runs it with the live object in `obj` (Lua 5.1, gopher-lua) and reads hs.status:
--   Healthy      phase Succeeded
--   Progressing  no status yet, the operator has not observed the latest generation,
--                or phase Pending, Preparing, Baseline, Running or Finalizing
--   Degraded     phase Failed, or condition Stalled=True (e.g. an invalid spec)
--   Suspended    phase Suspended, or spec.suspend is true
-- The status is written by the operator only (ftoperator.lifecycle.finish_conditions).
local hs = {}

local function condition(status, kind)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function progress(status)
  local parts = {}
  if status.currentIteration ~= nil then
    table.insert(parts, "iteration " .. tostring(status.currentIteration))
  end
  if status.best ~= nil and status.best.validation ~= nil then
    table.insert(parts, "best validation " .. tostring(status.best.validation))
  end
  if #parts == 0 then
    return ""
  end
  return " (" .. table.concat(parts, ", ") .. ")"
end

local spec = obj.spec or {}
local status = obj.status
local suspend = spec.suspend == true

if status == nil or (status.phase == nil and status.observedGeneration == nil) then
  if suspend then
    hs.status = "Suspended"
    hs.message = "spec.suspend is true"
  else
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to pick up the campaign"
  end
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  if suspend then
    hs.status = "Suspended"
    hs.message = "spec.suspend is true; waiting for the operator to observe generation "
      .. tostring(generation)
  else
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
      .. " (observed " .. tostring(observed) .. ")"
  end
  return hs
end

local phase = status.phase
local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = status.message or "Campaign failed"
  return hs
end

if phase == "Suspended" or suspend then
  hs.status = "Suspended"
  if phase == "Suspended" then
    hs.message = status.message or "Suspended by spec.suspend"
  else
    hs.message = "spec.suspend is true; suspending after the running step (phase "
      .. tostring(phase) .. ")"
  end
  return hs
end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = status.message or "Campaign succeeded"
  return hs
end

if phase == nil or phase == "Pending" or phase == "Preparing" or phase == "Baseline"
    or phase == "Running" or phase == "Finalizing" then
  hs.status = "Progressing"
  hs.message = tostring(phase or "Pending") .. progress(status)
  if status.message ~= nil then
    hs.message = hs.message .. ": " .. status.message
  end
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
