#!/usr/bin/env bash
# bench/gateway_metrics.sh - what the gateway's metrics cost: the same batch-1 TF :predict load
# through two berthds side by side, a reference build (BERTHD_REF, e.g. the commit before the
# metrics) and this one (BERTHD), in alternating rounds, so that both see the same machine.
#
# Run from anywhere as `BERTHD_REF=/path/to/old/berthd bench/gateway_metrics.sh` once
# build/berthd, build/berth-serve and build/berth exist (make). Everything stays on 127.0.0.1,
# every load is bounded in time, only processes this script started are stopped (by pid);
# about 1 minute plus 2 x BENCH_ROUNDS x BENCH_SECONDS with the defaults.
# See docs/benchmarks.md ("Gateway metrics").
#
#   1. trains bench/bench.py's model and writes the request bodies;
#   2. starts both berthds (each with the berth-serve beside it) pinned to the first CPU with
#      their instances, imports the model into each and deploys one service (bench/gateway.py
#      deploy), and checks both gateways' answers against XGBoost;
#   3. BENCH_ROUNDS rounds of wrk -t1 -cBENCH_CONNECTIONS for BENCH_SECONDS on the last CPU, the
#      reference and this build in turn (the order alternating), recording req/s and berthd's
#      CPU per request (its threads, from /proc/PID/task/*/schedstat);
#   4. instructions per request, free of the noise of a shared machine: each berthd again under
#      valgrind's callgrind (--gateway-threads 1), BENCH_CALLGRIND_REQUESTS batch-1 predictions
#      over one keep-alive connection between a zeroing and a dump of the counts, and the
#      instructions of the gateway's worker thread (the one that ran gw_handle) per request;
#   5. prints a Markdown table (per round, and the median ratios this ÷ reference) and writes it
#      to BENCH_OUT; scrapes this build's /metrics at the end to show what it counted.
#
# Environment knobs:
#   BERTHD_REF=path           the reference berthd (required); berth-serve must sit beside it
#   BERTHD=path               this build's berthd (default build/berthd)
#   BENCH_SECONDS=5  BENCH_ROUNDS=6  BENCH_CONNECTIONS=4  BENCH_WARMUP=1
#   BENCH_CALLGRIND_REQUESTS=2000   0 skips step 4 (which needs valgrind)
#   BENCH_OUT=bench/results/gateway_metrics.md   BENCH_KEEP=1 keeps the temp dir
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for v in BERTHD BERTHD_REF BERTH_CLI; do
    if [ -n "${!v:-}" ] && [ "${!v#/}" = "${!v}" ]; then
        printf -v "$v" '%s' "$PWD/${!v}"
    fi
done
cd "$ROOT"

PY=/usr/bin/python3
BERTHD=${BERTHD:-build/berthd}
BERTH_CLI=${BERTH_CLI:-build/berth}
REF=${BERTHD_REF:?set BERTHD_REF to the reference berthd}
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-6}
CONNS=${BENCH_CONNECTIONS:-4}
WARMUP=${BENCH_WARMUP:-1}
OUT=${BENCH_OUT:-bench/results/gateway_metrics.md}
CG_REQS=${BENCH_CALLGRIND_REQUESTS:-2000}
command -v valgrind >/dev/null || CG_REQS=0

log() { printf 'gateway-metrics-bench: %s\n' "$*" >&2; }
die() { printf 'gateway-metrics-bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
for b in "$BERTHD" "$REF" "$(dirname "$BERTHD")/berth-serve" "$(dirname "$REF")/berth-serve" "$BERTH_CLI"; do
    [ -x "$b" ] || die "$b not found; build it first"
done

read -r cpu_first cpu_last < <($PY -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[-1])')
SRV_PIN=(taskset -c "$cpu_first") CLI_PIN=(taskset -c "$cpu_last")
[ "$cpu_first" != "$cpu_last" ] || { SRV_PIN=(); CLI_PIN=(); }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-gwmetrics.XXXXXX")
chmod 711 "$tmp"
declare -A PID=() API=() GW=() GROUP=()
WRAP=() EXTRA=() # step 4: valgrind, and berthd's flags for it
cleanup() {
    for k in "${!PID[@]}"; do
        local pid=${PID[$k]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "training the model and writing request bodies in $tmp"
timeout 120 $PY bench/bench.py gen "$tmp"
mkdir -p "$tmp/import"
cp "$tmp/base/1/model.json" "$tmp/import/model.json"
loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)

# start_one KEY BERTHD: a private copy of the binaries, berthd on two free ports, the model
# imported and one service deployed; fills PID, API, GW and GROUP.
start_one() {
    local k=$1 bin=$2 d=$tmp/$1
    mkdir -p "$d/bin"
    cp "$bin" "$d/bin/berthd"
    cp "$(dirname "$bin")/berth-serve" "$d/bin/berth-serve"
    cp "$tmp"/body_tf*.json "$d/"
    : >"$d/results.txt"
    API[$k]=$($PY bench/bench.py freeport)
    GW[$k]=$($PY bench/bench.py freeport)
    echo "${GW[$k]}" >"$d/gateway_port"
    "${SRV_PIN[@]}" "${WRAP[@]}" "$d/bin/berthd" --data-dir "$d/data" --api-listen "127.0.0.1:${API[$k]}" \
        --gateway-listen "127.0.0.1:${GW[$k]}" --import-root "$tmp" "${EXTRA[@]}" >"$d/berthd.log" 2>&1 &
    PID[$k]=$!
    for p in "${API[$k]}" "${GW[$k]}"; do
        timeout 90 $PY bench/gateway.py wait-port "$p" "${PID[$k]}" 80 || die "$k: berthd did not open $p"
    done
    local berth=("$BERTH_CLI" --endpoint "http://127.0.0.1:${API[$k]}" --credentials "$d/data/credentials" --json)
    local imp mv dep
    imp=$(timeout 60 "${berth[@]}" model import --name gwm --path "$tmp/import" --wait) || die "$k: import: $imp"
    mv=$(printf '%s' "$imp" | $PY -c 'import json, sys; print(json.load(sys.stdin)["TrainingModelVersionId"])')
    dep=$(timeout 120 $PY bench/gateway.py deploy "http://127.0.0.1:${API[$k]}" "$d/data/credentials" \
          "$mv" 1 20 "$d") || die "$k: deploy failed: $(tail -n 5 "$d/berthd.log")"
    GROUP[$k]=${dep%% *}
    timeout 30 $PY bench/gateway.py check "$k" "http://127.0.0.1:${GW[$k]}/${GROUP[$k]}" "$tmp" \
        || die "$k: wrong answers through the gateway"
    log "$k: berthd pid ${PID[$k]}, gateway 127.0.0.1:${GW[$k]}/${GROUP[$k]}"
}
start_one ref "$REF"
start_one new "$BERTHD"

RES=$tmp/rounds.txt
: >"$RES"
# run_wrk KEY SECONDS RECORD: one load run through KEY's gateway.
run_wrk() {
    local k=$1 d=$2 rec=$3 c0 c1 out line
    c0=$($PY bench/gateway.py cpu "${PID[$k]}")
    out=$(env BENCH_BODY="$tmp/body_tf1.json" BENCH_CT=application/json BENCH_HDR_LEN= \
          timeout $((d + 30)) "${CLI_PIN[@]}" wrk -t1 -c"$CONNS" -d"${d}s" --timeout 10s -s bench/post.lua \
          "http://127.0.0.1:${GW[$k]}/${GROUP[$k]}/v1/models/m:predict" 2>&1) || true
    c1=$($PY bench/gateway.py cpu "${PID[$k]}")
    line=$(printf '%s\n' "$out" | sed -n 's/^BENCH_RESULT //p' | tail -n 1)
    [ -n "$line" ] || die "$k: wrk gave no result: $out"
    [ "$rec" = 1 ] && echo "$k $((c1 - c0)) $line" >>"$RES"
    kill -0 "${PID[$k]}" 2>/dev/null || die "$k: berthd died"
}
for k in ref new; do run_wrk "$k" "$WARMUP" 0; done
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="ref new"; else order="new ref"; fi
    for k in $order; do run_wrk "$k" "$SECS" 1; done
    log "round $r/$ROUNDS done"
done
busy_during=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- 4. instructions per request under callgrind
IR=$tmp/ir.txt
: >"$IR"
if [ "$CG_REQS" -gt 0 ]; then
    EXTRA=(--gateway-threads 1)
    # valgrind cannot follow the switch to the instance user in berthd's forked children
    [ "$(id -u)" = 0 ] && EXTRA+=(--instance-user root)
    for k in ref new; do
        bin=$BERTHD
        [ "$k" = ref ] && bin=$REF
        WRAP=(valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/cg_$k/cg.%p")
        mkdir -p "$tmp/cg_$k"
        start_one "cg_$k" "$bin"
        pid=${PID[cg_$k]}
        callgrind_control -z "$pid" >/dev/null
        $PY -c '
import http.client, sys
port, path, body_file, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(body_file, "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(n):
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
' "${GW[cg_$k]}" "/${GROUP[cg_$k]}/v1/models/m:predict" "$tmp/body_tf1.json" "$CG_REQS"
        callgrind_control -d "$pid" >/dev/null
        f=$(grep -l 'gw_handle' "$tmp/cg_$k"/cg."$pid".1-* | head -n 1)
        ir=$(sed -n 's/^summary: //p' "$f")
        # the metrics' own calls on the request path, callees included
        own=$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$f" 2>/dev/null |
              awk '/metrics\.c:gw_(mreq_begin|mreq_end|mreq_failed|metrics_answer|metrics_refused) /{
                   gsub(",", "", $1); s += $1 } END { print s + 0 }')
        echo "$k $ir $CG_REQS $own" >>"$IR"
        log "$k: $ir instructions in the gateway thread for $CG_REQS requests"
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
        unset "PID[cg_$k]"
    done
fi

metrics=$($PY -c "
import http.client, sys
c = http.client.HTTPConnection('127.0.0.1', ${API[new]}, timeout=10)
c.request('GET', '/metrics'); t = c.getresponse().read().decode()
print('\n'.join(l for l in t.splitlines() if l.startswith(('berth_gateway_requests_total', 'berth_gateway_overhead_seconds_sum', 'berth_gateway_overhead_seconds_count', 'berth_gateway_upstream_seconds_sum'))))
")

mkdir -p "$(dirname "$OUT")"
$PY - "$RES" "$OUT" "$loadavg_before" "$busy_during" "$SECS" "$ROUNDS" "$CONNS" "$metrics" "$IR" <<'EOF'
import json, statistics, sys
res, out, before, during, secs, rounds, conns, metrics, ir_file = sys.argv[1:10]
ir = {}
for line in open(ir_file):
    k, n_ir, n_req, own = line.split()
    ir[k] = int(n_ir) / int(n_req)
    ir[k + "_metrics"] = int(own) / int(n_req)
ir_text = ("Instructions per request in the gateway's worker thread (callgrind, one keep-alive "
           "connection): reference %.0f, this %.0f (×%.4f; the totals move with how often the "
           "loop turns); **of this build's, the metrics' own calls: %.0f (%.2f%%)**." % (
               ir["ref"], ir["new"], ir["new"] / ir["ref"], ir["new_metrics"],
               100 * ir["new_metrics"] / ir["new"])
           if "ref" in ir and "new" in ir else "Instructions per request: not measured (no valgrind).")
runs = {"ref": [], "new": []}
for line in open(res):
    k, cpu_ns, js = line.split(" ", 2)
    d = json.loads(js)
    d["cpu_us_per_req"] = int(cpu_ns) / 1000.0 / max(d["requests"], 1)
    runs[k].append(d)
rows = ["| round | reference req/s | this req/s | ratio | reference berthd CPU µs/req | this | ratio | p50 µs ref / this |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|"]
rr, cr = [], []
for i, (a, b) in enumerate(zip(runs["ref"], runs["new"]), 1):
    rr.append(b["rps"] / a["rps"])
    cr.append(b["cpu_us_per_req"] / a["cpu_us_per_req"])
    rows.append("| %d | %s | %s | %.3f | %.2f | %.2f | %.3f | %.0f / %.0f |" % (
        i, f'{a["rps"]:,.0f}', f'{b["rps"]:,.0f}', rr[-1], a["cpu_us_per_req"], b["cpu_us_per_req"], cr[-1],
        a["p50_us"], b["p50_us"]))
text = "\n".join([
    "# Gateway metrics: this build against the reference, side by side",
    "",
    "wrk -t1 -c%s, TF :predict batch 1, %s s per run, %s rounds (order alternating); berthd and "
    "its instance on the first CPU, wrk on the last. Load average before: %s; after: %s." % (
        conns, secs, rounds, before, during),
    "",
    *rows,
    "",
    "**Median ratio this ÷ reference: req/s %.3f (min %.3f, max %.3f); berthd CPU per request %.3f.**" % (
        statistics.median(rr), min(rr), max(rr), statistics.median(cr)),
    "",
    ir_text,
    "",
    "What this build counted (its /metrics after the runs):",
    "",
    "```",
    metrics,
    "```",
    ""])
open(out, "w").write(text)
json.dump({"runs": runs, "instructions_per_request": ir}, open(out[:-3] + ".json", "w"), indent=1)
print(text)
EOF
log "wrote $OUT"
