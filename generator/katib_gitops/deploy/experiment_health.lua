-- Argo CD health check for Katib Experiment (kubeflow.org/v1beta1).
--
-- Katib keeps one condition per type (Created, Running, Restarting,
-- Succeeded, Failed) and moves a condition to the end of the list whenever it
-- changes, so the last condition whose status is "True" is the current state.
-- Succeeded and Failed are terminal: when either is True it decides, wherever
-- it sits in the list (a restart removes both before it appends Restarting).
local hs = {status = "Progressing", message = "Waiting for Experiment status"}

local function describe(condition, fallback)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local failed = nil
local succeeded = nil
local latest = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.status == "True" then
    if condition.type == "Failed" then
      failed = condition
    elseif condition.type == "Succeeded" then
      succeeded = condition
    elseif condition.type == "Created" or condition.type == "Running" or condition.type == "Restarting" then
      latest = condition
    end
  end
end

if failed ~= nil then
  hs.status = "Degraded"
  hs.message = describe(failed, "Experiment failed")
elseif succeeded ~= nil then
  hs.status = "Healthy"
  hs.message = describe(succeeded, "Experiment succeeded")
elseif latest ~= nil then
  hs.message = describe(latest, "Experiment is " .. latest.type)
end
return hs
