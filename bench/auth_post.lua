-- auth_post.lua - post.lua (one fixed body, BENCH_RESULT line) plus, when BENCH_AUTH is
-- set, the header "Authorization: <BENCH_AUTH>" on every request (e.g. "Bearer <token>"),
-- so that the token stays out of the command line. Used by bench/gateway_auth.sh.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "post.lua")

local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
   wrk.headers["Authorization"] = auth
end
