-- Runs an Argo CD health script the way Argo CD does (gopher-lua, Lua 5.1):
-- the object is the global `obj`, the script's chunk returns
-- {status = ..., message = ...}. Loaded by deploy_support.run_lua_health into
-- lupa's Lua 5.1 runtime; this chunk returns a function of (script, object),
-- the object given as the text of a Lua table constructor.
return function(script_text, object_text)
  local obj = assert(loadstring("return " .. object_text, "object"))()
  local check = assert(loadstring(script_text, "health.lua"))

  -- Only the standard libraries Argo CD opens for health scripts, plus obj:
  -- a script that reaches for io, os or require fails here as it would there.
  setfenv(check, {
    obj = obj,
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
    pcall = pcall, select = select, tonumber = tonumber, tostring = tostring,
    type = type, unpack = unpack,
    math = math, string = string, table = table,
  })
  local hs = check()
  assert(type(hs) == "table", "the health script must return a table")
  return tostring(hs.status), tostring(hs.message)
end
