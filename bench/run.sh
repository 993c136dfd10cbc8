#!/usr/bin/env bash
# bench/run.sh - benchmark build/berth-serve against XGBoost's own C API.
#
# Run from anywhere as `bench/run.sh` (or `make bench`). Everything stays on
# 127.0.0.1, every load is bounded in time, and the whole run takes about
# 75 s with the defaults. See docs/benchmarks.md for what each number means.
#
#   1. trains a small model (binary:logistic, 20 features, 100 trees of depth 6)
#      into a temp dir laid out as base/1/model.json, plus the request bodies;
#   2. times XGBoosterPredictFromDense in-process (bench/xgb_raw.c) and one
#      loopback TCP round trip (bench/tcp_pingpong.c);
#   3. starts berth-serve on a free port, checks one request per endpoint
#      (status, shape, values against XGBoost) and stops if any is wrong;
#   4. drives it with wrk (bench/post.lua, bench/get.lua): TF :predict batch 1
#      and 100, V2 infer JSON batch 1, and a 1000-row batch as V2 JSON and as
#      Triton binary tensors, each at 1 and 4 connections;
#   5. prints a Markdown report and writes it to bench/results/latest.md
#      (raw figures in bench/results/latest.json).
#
# Environment knobs:
#   BERTH_SERVE=path        server binary (default $BUILD/berth-serve, BUILD defaulting to build)
#   BENCH_SECONDS=5         length of each timed wrk run
#   BENCH_WARMUP=1          warm-up per endpoint, seconds (at 1 connection, not reported)
#   BENCH_CONNECTIONS="1 4" wrk connection counts (wrk always uses 1 thread)
#   BENCH_SERVER_THREADS=2  --rest_api_num_threads
#   BENCH_RAW_SECONDS=2     per batch size in xgb_raw
#   BENCH_PIN=split         split: the server (and xgb_raw) on the first CPU, wrk on the
#                           last, so every figure has the same placement; none: no pinning
#   BENCH_OUT=bench/results/latest.md
#   BENCH_KEEP=1            keep the temp dir (model, bodies, server log)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${BERTH_SERVE:-}" ] && [ "${BERTH_SERVE#/}" = "$BERTH_SERVE" ]; then
    BERTH_SERVE=$PWD/$BERTH_SERVE   # relative to where we were started
fi
cd "$ROOT"

PY=/usr/bin/python3
SERVER=${BERTH_SERVE:-${BUILD:-build}/berth-serve}
SECS=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-1 4}
SRV_THREADS=${BENCH_SERVER_THREADS:-2}
RAW_SECS=${BENCH_RAW_SECONDS:-2}
OUT=${BENCH_OUT:-bench/results/latest.md}
PIN=${BENCH_PIN:-split}
MODEL=bench

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
[ -x "$SERVER" ] || die "$SERVER not found; build it first (make)"

# CPU placement: with two or more CPUs, "split" keeps the server on one and wrk on another,
# because on a VM a wake-up across CPUs costs far more than one on the same CPU and the
# scheduler otherwise flips between the two from run to run.
SRV_PIN=() CLI_PIN=()
if [ "$PIN" = split ]; then
    read -r cpu_first cpu_last < <($PY -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[-1])')
    if [ "$cpu_first" != "$cpu_last" ] && command -v taskset >/dev/null; then
        SRV_PIN=(taskset -c "$cpu_first") CLI_PIN=(taskset -c "$cpu_last")
    else
        PIN=none
    fi
elif [ "$PIN" != none ]; then
    die "BENCH_PIN must be split or none"
fi

TOOLS=build/bench
make -s -f bench/bench.mk BENCH_TOOLS_DIR="$TOOLS"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
cleanup() {
    stop_server
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$tmp/results.txt
: >"$RES"

# ---- 0. is the machine quiet? (other work on the CPUs skews every figure)
busy_before=$($PY bench/bench.py busy 1)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$busy_before" -ge 10 ]; then
    log "WARNING: the CPUs are ${busy_before}% busy before we start (load $loadavg); figures will be skewed"
fi

echo "cpu_start $($PY bench/bench.py cpustat)" >>"$RES"

# ---- 1. model and bodies
log "training the model and writing request bodies in $tmp"
timeout 120 $PY bench/bench.py gen "$tmp"

# ---- 2. in-process reference and loopback round trip
log "xgb_raw: XGBoosterPredictFromDense, 1 thread, batch 1/100/1000, ${RAW_SECS}s each"
raw=$(timeout 60 "${SRV_PIN[@]}" "$TOOLS/xgb_raw" "$tmp/base/1/model.json" --data "$tmp/rows.f32" \
      --batches 1,100,1000 --seconds "$RAW_SECS") || die "xgb_raw failed"
echo "raw $raw" >>"$RES"
log "  $raw"
log "tcp_pingpong: loopback round trip on one CPU, two CPUs, unpinned"
ping=$(timeout 30 "$TOOLS/tcp_pingpong" --seconds 1) || die "tcp_pingpong failed"
echo "ping $ping" >>"$RES"
log "  $ping"

# ---- 3. server up, correctness
port=$($PY bench/bench.py freeport)
server_cmd="$SERVER --rest_api_port $port --model_name $MODEL --model_base_path $tmp/base --rest_api_num_threads $SRV_THREADS"
log "starting: ${SRV_PIN[*]} $server_cmd"
# shellcheck disable=SC2086
"${SRV_PIN[@]}" $server_cmd >"$tmp/server.log" 2>&1 &
server_pid=$!

if ! timeout 30 $PY bench/bench.py wait-ready "$port" "$server_pid" 20; then
    log "server log (last 20 lines):"
    tail -n 20 "$tmp/server.log" >&2 || true
    die "server did not become ready on port $port"
fi
log "server ready on 127.0.0.1:$port (pid $server_pid); checking responses"
if ! timeout 60 $PY bench/bench.py check "$tmp" "$port"; then
    log "server log (last 20 lines):"
    tail -n 20 "$tmp/server.log" >&2 || true
    die "correctness check failed; no figures taken"
fi

# ---- 4. load
# run_wrk KEY CONNS SECONDS PATH SCRIPT [BODY CONTENT_TYPE HDR_LEN]
run_wrk() {
    local key=$1 c=$2 d=$3 path=$4 script=$5 body=${6:-} ct=${7:-application/json} hl=${8:-}
    local out line
    out=$(env BENCH_BODY="$body" BENCH_CT="$ct" BENCH_HDR_LEN="$hl" \
          timeout $((d + 30)) "${CLI_PIN[@]}" wrk -t1 -c"$c" -d"${d}s" --timeout 10s -s "$script" \
          "http://127.0.0.1:$port$path" 2>&1) || true
    line=$(printf '%s\n' "$out" | sed -n 's/^BENCH_RESULT //p' | tail -n 1)
    if [ -z "$line" ]; then
        line="{\"error\": \"wrk gave no result\"}"
        log "  $key: wrk failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    fi
    kill -0 "$server_pid" 2>/dev/null || die "server died during $key; log: $(tail -n 5 "$tmp/server.log")"
    [ -n "$key" ] || return 0
    echo "$key $line" >>"$RES"
    log "  $key: $line"
}

log "wrk GET /v2/health/live, 1 connection"
run_wrk "" 1 "$WARMUP" /v2/health/live bench/get.lua
run_wrk health_c1 1 "$SECS" /v2/health/live bench/get.lua

bench_post() {  # KEY PATH BODY [CT HDRLEN]
    local key=$1 path=$2 body=$3 ct=${4:-application/json} hl=${5:-}
    log "wrk $key: POST $path ($(stat -c %s "$body") bytes)"
    run_wrk "" 1 "$WARMUP" "$path" bench/post.lua "$body" "$ct" "$hl"
    for c in $CONNS; do
        run_wrk "${key}_c$c" "$c" "$SECS" "$path" bench/post.lua "$body" "$ct" "$hl"
    done
}
bench_post tf1 "/v1/models/$MODEL:predict" "$tmp/body_tf1.json"
bench_post tf100 "/v1/models/$MODEL:predict" "$tmp/body_tf100.json"
bench_post v2_1 "/v2/models/$MODEL/infer" "$tmp/body_v2_1.json"
bench_post v2_1000 "/v2/models/$MODEL/infer" "$tmp/body_v2_1000.json"
bench_post v2bin_1000 "/v2/models/$MODEL/infer" "$tmp/body_v2bin_1000.bin" \
    application/octet-stream "$(cat "$tmp/body_v2bin_1000.hdrlen")"

# ---- server footprint, then stop it
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status" 2>/dev/null || true)
thr=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$server_pid/status" 2>/dev/null || true)
stop_server
lines=$(wc -l <"$tmp/server.log")
echo "cpu_end $($PY bench/bench.py cpustat)" >>"$RES"
# CPU seconds used by this shell and everything it waited for (server, wrk, helpers), to
# tell the benchmark's own load from other work on the machine.
times >"$tmp/times"   # not in $(...): a subshell would report its own, empty, times
our_cpu=$(awk '{ for (i = 1; i <= NF; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } } END { printf "%.2f", s }' "$tmp/times")
echo "our_cpu {\"seconds\": $our_cpu}" >>"$RES"
echo "server {\"vm_hwm_kb\": ${hwm:-null}, \"threads\": ${thr:-null}, \"log_lines\": $lines}" >>"$RES"

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && git_rev="$git_rev, dirty tree"
# shellcheck disable=SC2086  # CONNS is a list of numbers
conns_json=$(printf '%s,' $CONNS); conns_json="[${conns_json%,}]"
size() { stat -c %s "$tmp/$1"; }
printf 'meta {"busy_before": %s, "loadavg": "%s", "server_cmd": "%s", "git": "%s", "pin": "%s", "server_cpu": "%s", "client_cpu": "%s", "seconds": %s, "warmup": %s, "conns": %s, "body_bytes": {"tf1": %s, "tf100": %s, "v2_1": %s, "v2_1000": %s, "v2bin_1000": %s}}\n' \
    "$busy_before" "$loadavg" "${server_cmd//$tmp/\$TMP}" "$git_rev" "$PIN" "${SRV_PIN[2]:-any}" "${CLI_PIN[2]:-any}" "$SECS" "$WARMUP" "$conns_json" \
    "$(size body_tf1.json)" "$(size body_tf100.json)" "$(size body_v2_1.json)" \
    "$(size body_v2_1000.json)" "$(size body_v2bin_1000.bin)" >>"$RES"

# ---- 5. report
echo
$PY bench/bench.py report "$tmp" "$OUT"
log "wrote $OUT and ${OUT%.md}.json"
