-- ratelog.lua - auth_post.lua plus a log of when each request went out and its answer came
-- back, for the rate-limit accuracy runs of bench/gateway_auth.sh. Run wrk with one connection
-- per thread (-tN -cN): requests on one connection are sequential, so each answer pairs with the
-- last request sent, and the gateway admitted it somewhere between the two times.
-- Environment (besides post.lua's and auth_post.lua's):
--   BENCH_LOG   file name prefix: thread k writes BENCH_LOG.k, first "start <ns>" (before it
--               connects), then one line per answer that is not a 429,
--               "<sent ns> <received ns>" for a 200 and "<sent ns> <received ns> <status>" for
--               anything else (429s are only counted, by wrk's own status-error count, so that
--               the refused flood costs no writes). Times are CLOCK_MONOTONIC, on the client.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "auth_post.lua")

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } ratelog_timespec;
   int clock_gettime(int clk, ratelog_timespec *ts);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("ratelog_timespec")

local function now_ns()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) * 1000000000 + tonumber(ts.tv_nsec)
end

-- setup() runs in the main Lua state, once per thread; init(), request() and response() in the
-- thread's own state.
local nthreads = 0
function setup(thread)
   nthreads = nthreads + 1
   thread:set("ratelog_id", nthreads)
end

local out, sent = nil, 0
function init(args)
   local path = os.getenv("BENCH_LOG")
   if not path then error("ratelog.lua: BENCH_LOG is not set") end
   out = assert(io.open(path .. "." .. ratelog_id, "w"))
   out:setvbuf("full")
   out:write(string.format("start %d\n", now_ns()))
end

function request()
   sent = now_ns()
   return wrk.format()
end

function response(status, headers, body)
   if status == 429 then return end
   if status == 200 then
      out:write(string.format("%d %d\n", sent, now_ns()))
   else
      out:write(string.format("%d %d %d\n", sent, now_ns(), status))
   end
end
