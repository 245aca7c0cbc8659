-- Runs an Argo CD health script the way Argo CD does: the object is the
-- global `obj`, the script's chunk returns {status = ..., message = ...}.
-- Usage: lua5.1 lua_harness.lua SCRIPT < object   (object: "return {...}")
local script_file = arg[1]
local obj = assert(loadstring(io.read("*a"), "object"))()
local check = assert(loadfile(script_file))

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
io.write(tostring(hs.status), "\n", tostring(hs.message))
