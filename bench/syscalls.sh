#!/usr/bin/env bash
# bench/syscalls.sh - system calls per request, and the gateway's CPU per proxied request, each
# next to nginx doing the same job in the same run.
#
# Run from anywhere as `bench/syscalls.sh`, once build/berthd, build/berth-serve and build/berth
# exist (make). Everything stays on 127.0.0.1, every load is bounded in time, only processes this
# script started are stopped (by pid); the whole run takes about 2½ minutes with the defaults.
#
#   1. trains the model of bench/run.sh (bench/bench.py gen) and writes the request bodies;
#   2. starts four servers, all on the first CPU (wrk runs on the last):
#        serve          berth-serve --rest_api_num_threads 1 on the model, alone;
#        nginx_return   nginx (one worker) answering `return 200` with the very bytes berth-serve
#                       answers the batch-1 TF :predict with (same Content-Type and length);
#        gateway        berthd, with the model deployed as a service of one instance, proxying
#                       /<ServiceGroupId>/v1/models/m:predict to it;
#        nginx_proxy    nginx (one worker, keep-alive upstream) proxy_pass in front of the same
#                       instance;
#      and checks one batch-1 and one batch-100 prediction through each against XGBoost;
#   3. per target: a warm-up, then wrk -t1 -c$BENCH_CONNECTIONS for $BENCH_SECONDS while
#      `perf stat -e 'syscalls:sys_enter_*'` counts the system calls of every thread of the
#      server process (a counter in the kernel, not a tracer: it barely slows the server), and
#      divides by the requests wrk completed. For the proxies only the proxy's own calls count
#      (the instance behind them is the same process for both);
#   4. per target: wrk runs of the same length without perf ($BENCH_CPU_REPS rounds over the
#      targets in turn), with the CPU the server process used (utime + stime from
#      /proc/PID/stat, all threads) divided by the requests; the median of the rounds is
#      reported, and for the gateway the median of its per-round ratios to nginx proxy_pass;
#   5. prints a Markdown report (bench/syscalls.py) and writes it to bench/results/syscalls.md,
#      with the raw figures in bench/results/syscalls.json.
#
# Environment knobs:
#   BUILD=build             where berthd, berth-serve and berth are (BERTHD, BERTH_SERVE and
#                           BERTH_CLI override each)
#   BENCH_SECONDS=5         length of each timed wrk run
#   BENCH_WARMUP=1          warm-up per target, seconds
#   BENCH_CONNECTIONS=16    wrk connections (wrk always uses 1 thread)
#   BENCH_CPU_REPS=3        CPU runs per target (step 4), taken in turn; medians are reported
#   BENCH_PIN=split         split: servers on the first CPU, wrk on the last; none: no pinning
#   BENCH_OUT=bench/results/syscalls.md
#   BENCH_KEEP=1            keep the temp dir (logs, configs, raw perf output)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for v in BUILD BERTHD BERTH_SERVE BERTH_CLI BENCH_OUT; do
    if [ -n "${!v:-}" ] && [ "${!v#/}" = "${!v}" ]; then
        printf -v "$v" '%s' "$PWD/${!v}"   # relative to where we were started
    fi
done
cd "$ROOT"

PY=/usr/bin/python3
BUILD=${BUILD:-build}
BERTHD=${BERTHD:-$BUILD/berthd}
BERTH_SERVE=${BERTH_SERVE:-$BUILD/berth-serve}
BERTH_CLI=${BERTH_CLI:-$BUILD/berth}
SECS=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-16}
REPS=${BENCH_CPU_REPS:-3}
PIN=${BENCH_PIN:-split}
OUT=${BENCH_OUT:-bench/results/syscalls.md}

log() { printf 'syscalls-bench: %s\n' "$*" >&2; }
die() { printf 'syscalls-bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (apt-get install nginx-light)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
for b in "$BERTHD" "$BERTH_SERVE" "$BERTH_CLI"; do
    [ -x "$b" ] || die "$b not found; build it first (make)"
done
perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null \
    || die "perf cannot count syscall tracepoints here (run as root, or lower kernel.perf_event_paranoid)"

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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-sysbench.XXXXXX")
chmod 711 "$tmp"   # the instance user must reach DIR-instances (berthd checks at start)
PIDS=()
stop_pid() {  # PID: TERM, wait up to 15 s, then KILL; only ever a pid we started
    local pid=$1
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$tmp/results.txt
: >"$RES"
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
busy_before=$($PY bench/bench.py busy 1)
[ "$busy_before" -lt 10 ] || log "WARNING: the CPUs are ${busy_before}% busy before we start (load $loadavg)"

freeport() {
    local p
    while :; do
        p=$($PY bench/bench.py freeport)
        [[ " ${USED_PORTS:-} " == *" $p "* ]] || break
    done
    USED_PORTS="${USED_PORTS:-} $p"
    echo "$p"
}

# ---- 1. model and bodies
log "training the model and writing request bodies in $tmp"
timeout 120 $PY bench/bench.py gen "$tmp"
mkdir -p "$tmp/import" "$tmp/bin"
cp "$tmp/base/1/model.json" "$tmp/import/model.json"
# Private copies: a rebuild during the run cannot swap the binaries under us.
cp "$BERTHD" "$BERTH_SERVE" "$BERTH_CLI" "$tmp/bin/"
PREDICT=/v1/models/m:predict

# ---- 2. the servers
serve_port=$(freeport)
log "starting berth-serve on 127.0.0.1:$serve_port"
"${SRV_PIN[@]}" "$tmp/bin/berth-serve" --rest_api_port "$serve_port" --model_name m \
    --model_base_path "$tmp/base" --rest_api_num_threads 1 >"$tmp/serve.log" 2>&1 &
serve_pid=$!
PIDS+=("$serve_pid")
timeout 30 $PY bench/bench.py wait-ready "$serve_port" "$serve_pid" 20 \
    || { tail -n 20 "$tmp/serve.log" >&2; die "berth-serve did not become ready"; }

# nginx's `return 200` with berth-serve's own answer: same bytes, same Content-Type.
curl -sS -o "$tmp/answer.json" -H 'Content-Type: application/json' \
    --data-binary @"$tmp/body_tf1.json" "http://127.0.0.1:$serve_port$PREDICT" \
    || die "no answer from berth-serve"
ret_port=$(freeport)
$PY bench/syscalls.py nginx-return "$tmp" "$ret_port" "$tmp/answer.json"
# start_nginx DIR PORT WHAT: nginx with DIR/nginx.conf, on the servers' CPU; sets nginx_pid
start_nginx() {
    log "starting nginx ($3) on 127.0.0.1:$2"
    "${SRV_PIN[@]}" "$NGINX" -p "$1/" -c nginx.conf -e "$1/error.log" >"$1/stdout.log" 2>&1 &
    nginx_pid=$!
    PIDS+=("$nginx_pid")
    timeout 30 $PY bench/gateway.py wait-port "$2" "$nginx_pid" 10 \
        || { cat "$1/error.log" >&2 2>/dev/null; die "nginx ($3) did not start"; }
}
start_nginx "$tmp/nginx_return" "$ret_port" "return 200"
ret_pid=$nginx_pid

api_port=$(freeport)
gw_port=$(freeport)
echo "$gw_port" >"$tmp/gateway_port"
log "starting berthd: API 127.0.0.1:$api_port, gateway 127.0.0.1:$gw_port"
"${SRV_PIN[@]}" "$tmp/bin/berthd" --data-dir "$tmp/data" --api-listen "127.0.0.1:$api_port" \
    --gateway-listen "127.0.0.1:$gw_port" --import-root "$tmp" >"$tmp/berthd.log" 2>&1 &
berthd_pid=$!
PIDS+=("$berthd_pid")
for p in "$api_port" "$gw_port"; do
    timeout 30 $PY bench/gateway.py wait-port "$p" "$berthd_pid" 20 \
        || { tail -n 20 "$tmp/berthd.log" >&2; die "berthd did not open 127.0.0.1:$p"; }
done
berth=("$tmp/bin/berth" --endpoint "http://127.0.0.1:$api_port" --credentials "$tmp/data/credentials" --json)
imp=$(timeout 60 "${berth[@]}" model import --name sysbench --path "$tmp/import" --wait) \
    || die "model import failed: $imp"
mv=$(printf '%s' "$imp" | $PY -c 'import json, sys; print(json.load(sys.stdin)["TrainingModelVersionId"])') \
    || die "no TrainingModelVersionId in: $imp"
dep=$(timeout 120 "${CLI_PIN[@]}" $PY bench/gateway.py deploy "http://127.0.0.1:$api_port" \
      "$tmp/data/credentials" "$mv" 1 20 "$tmp") \
    || { tail -n 20 "$tmp/berthd.log" >&2; die "deploying failed"; }
read -r group_id _ inst_addr <<<"$dep"
inst_port=${inst_addr##*:}
prx_port=$(freeport)
$PY bench/gateway.py nginx-conf "$tmp" "$prx_port" "$inst_port"
start_nginx "$tmp/nginx" "$prx_port" "proxy_pass to $inst_addr"
prx_pid=$nginx_pid

TARGETS=(serve nginx_return gateway nginx_proxy)
declare -A URL=(
    [serve]="http://127.0.0.1:$serve_port"
    [nginx_return]="http://127.0.0.1:$ret_port"
    [gateway]="http://127.0.0.1:$gw_port/$group_id"
    [nginx_proxy]="http://127.0.0.1:$prx_port"
)
declare -A PID=([serve]="$serve_pid" [nginx_return]="$ret_pid" [gateway]="$berthd_pid" [nginx_proxy]="$prx_pid")
log "checking answers through each target"
for t in serve gateway nginx_proxy; do
    timeout 30 $PY bench/gateway.py check "$t" "${URL[$t]}" "$tmp" || die "wrong answer from $t; no figures taken"
done
cmp -s "$tmp/answer.json" <(curl -sS --data-binary @"$tmp/body_tf1.json" "${URL[nginx_return]}$PREDICT") \
    || die "nginx (return) does not answer berth-serve's bytes"

# ---- 3 and 4. the runs
# wrk_run TARGET SECONDS -> prints wrk's BENCH_RESULT line
wrk_run() {
    env BENCH_BODY="$tmp/body_tf1.json" BENCH_CT=application/json BENCH_HDR_LEN= \
        timeout $(($2 + 30)) "${CLI_PIN[@]}" wrk -t1 -c"$CONNS" -d"$2s" --timeout 10s \
        -s bench/post.lua "${URL[$1]}$PREDICT" 2>&1 | sed -n 's/^BENCH_RESULT //p' | tail -n 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for t in "${TARGETS[@]}"; do
    pid=${PID[$t]}
    wrk_run "$t" "$WARMUP" >/dev/null
    perf stat -e 'syscalls:sys_enter_*' -x, -o "$tmp/perf_$t.csv" -p "$pid" &
    perf_pid=$!
    sleep 0.2
    line=$(wrk_run "$t" "$SECS")
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    [ -n "$line" ] || die "wrk gave no result for $t"
    echo "count_$t $line" >>"$RES"
    log "  $t (counted): $line"
done
# CPU: the targets in turn, $REPS times, so that a busy moment of the machine hits all alike.
for rep in $(seq "$REPS"); do
    for t in "${TARGETS[@]}"; do
        pid=${PID[$t]}
        c0=$(cpu_ticks "$pid")
        line=$(wrk_run "$t" "$SECS")
        c1=$(cpu_ticks "$pid")
        [ -n "$line" ] || die "wrk gave no result for $t"
        kill -0 "$pid" 2>/dev/null || die "$t died during its run"
        echo "cpu_${t}_$rep {\"ticks\": $((c1 - c0)), \"hz\": $(getconf CLK_TCK), \"wrk\": $line}" >>"$RES"
        log "  $t (CPU, $rep of $REPS): $((c1 - c0)) ticks; $line"
    done
done

git_rev=$(git -C "$(dirname "$BERTHD")" rev-parse --short HEAD 2>/dev/null || echo "?")
printf 'meta {"loadavg": "%s", "busy_before": %s, "pin": "%s", "seconds": %s, "conns": %s, "git": "%s", "build": "%s", "nginx_version": "%s", "body_bytes": %s, "answer_bytes": %s}\n' \
    "$loadavg" "$busy_before" "$PIN" "$SECS" "$CONNS" "$git_rev" "$BERTHD" \
    "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')" "$(stat -c %s "$tmp/body_tf1.json")" \
    "$(stat -c %s "$tmp/answer.json")" >>"$RES"

# ---- 5. report
echo
$PY bench/syscalls.py report "$tmp" "$OUT"
log "wrote $OUT and ${OUT%.md}.json"
