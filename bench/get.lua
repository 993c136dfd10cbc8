-- get.lua - wrk script for plain GETs (e.g. /v2/health/live), with the same
-- BENCH_RESULT report line as post.lua.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")
wrk.method = "GET"
