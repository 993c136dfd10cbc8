-- post.lua - wrk script that POSTs one fixed body, read from a file.
-- Environment:
--   BENCH_BODY      file holding the request body (JSON, or Triton binary framing)
--   BENCH_CT        Content-Type (default application/json)
--   BENCH_HDR_LEN   if set, sent as Inference-Header-Content-Length (the length of
--                   the JSON header that precedes the binary tensors)
-- The URL given to wrk picks the endpoint (…:predict or …/infer).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local path = os.getenv("BENCH_BODY")
if not path then error("post.lua: BENCH_BODY is not set") end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = os.getenv("BENCH_CT") or "application/json"
local hlen = os.getenv("BENCH_HDR_LEN")
if hlen and hlen ~= "" then
   wrk.headers["Inference-Header-Content-Length"] = hlen
end
