-- ratelog.lua - auth_post.lua plus a log of when each answer arrived, for the rate-limit
-- accuracy run of bench/gateway_auth.sh. Run wrk with one thread (-t1).
-- Environment (besides post.lua's and auth_post.lua's):
--   BENCH_LOG   file to write: "start <ns>", then one line per 200 answer, "<CLOCK_MONOTONIC ns>", and one per
--               answer that is neither 200 nor 429, "<ns> <status>" (429s are only counted,
--               by wrk's own status-error count, so that the refused flood costs no writes)
-- The time is taken when wrk has read the whole answer, on the client's clock.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "auth_post.lua")

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } ratelog_timespec;
   int clock_gettime(int clk, ratelog_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("ratelog_timespec")
local out = nil

local function now_ns()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000000 + tonumber(ts.tv_nsec)
end

-- init() and response() run in the thread's Lua state only (never in the main one), so the
-- file is opened by the one thread that answers arrive on; its first line is "start <ns>",
-- written before the thread connects.
function init(args)
   local path = os.getenv("BENCH_LOG")
   if not path then error("ratelog.lua: BENCH_LOG is not set") end
   out = assert(io.open(path, "w"))
   out:setvbuf("full")
   out:write(string.format("start %d\n", now_ns()))
end

function response(status, headers, body)
   if status == 429 then return end
   if status == 200 then
      out:write(string.format("%d\n", now_ns()))
   else
      out:write(string.format("%d %d\n", now_ns(), status))
   end
end
