#!/usr/bin/env bash
# bench/gateway.sh - benchmark berthd: how long a model service takes to deploy, and what its
# gateway adds to a prediction, next to nginx proxying to the same instance.
#
# Run from anywhere as `bench/gateway.sh`, once build/berthd, build/berth-serve and build/berth
# exist (make). Everything stays on 127.0.0.1, every load is bounded in time, only processes this
# script started are stopped (by pid), and the whole run takes about 45 s with the defaults.
# See docs/benchmarks.md ("berthd: deploy time and gateway") for what each number means.
#
#   1. trains the same small model as bench/run.sh (binary:logistic, 20 features, 100 trees of
#      depth 6, bench/bench.py gen) and writes the request bodies;
#   2. starts berthd on two free ports with a fresh data dir, imports the model with build/berth;
#   3. deploy time: CreateModelService, then DescribeModelService every 20 ms until Status is
#      "Normal" (bench/gateway.py deploy, TC3-signed like the SDKs), 5 times, deleting the group
#      between repetitions; the last deployment stays for step 4;
#   4. starts nginx (one worker, keep-alive upstream) in front of the same instance, checks one
#      batch-1 and one batch-100 TF :predict per target against XGBoost, then drives the
#      instance directly, the gateway (/<ServiceGroupId>/v1/models/m:predict) and nginx with wrk
#      (TF :predict batch 1) at 1 and 4 connections, recording the CPU each proxy and the
#      instance used per request;
#   5. prints a Markdown report and writes it to bench/results/gateway.md (raw figures in
#      bench/results/gateway.json).
#
# Environment knobs:
#   BERTHD=path             berthd binary (default $BUILD/berthd, BUILD defaulting to build);
#                           berth-serve must sit beside it, build/berth ($BERTH_CLI) imports
#   BENCH_SECONDS=5         length of each timed wrk run
#   BENCH_WARMUP=1          warm-up per target, seconds (at 1 connection, not reported)
#   BENCH_CONNECTIONS="1 4" wrk connection counts (wrk always uses 1 thread)
#   BENCH_DEPLOY_REPS=5     deploy-time repetitions
#   BENCH_POLL_MS=20        DescribeModelService poll interval while deploying
#   BENCH_PIN=split         split: berthd (its gateway and the instances it starts inherit
#                           the mask) and nginx on the first CPU, wrk and the API poller on the
#                           last; none: no pinning
#   BENCH_OUT=bench/results/gateway.md
#   BENCH_KEEP=1            keep the temp dir (data dir, logs, nginx.conf, raw results)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for v in BERTHD BERTH_CLI; do
    if [ -n "${!v:-}" ] && [ "${!v#/}" = "${!v}" ]; then
        printf -v "$v" '%s' "$PWD/${!v}"   # relative to where we were started
    fi
done
cd "$ROOT"

PY=/usr/bin/python3
BERTHD=${BERTHD:-${BUILD:-build}/berthd}
BERTH_CLI=${BERTH_CLI:-${BUILD:-build}/berth}
SECS=${BENCH_SECONDS:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNECTIONS:-1 4}
REPS=${BENCH_DEPLOY_REPS:-5}
POLL_MS=${BENCH_POLL_MS:-20}
OUT=${BENCH_OUT:-bench/results/gateway.md}
PIN=${BENCH_PIN:-split}
INSTANCE_TYPE=TI.S.MEDIUM.POST   # what `berth service create` asks for; set in gateway.py too

log() { printf 'gateway-bench: %s\n' "$*" >&2; }
die() { printf 'gateway-bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (apt-get install nginx-light)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
SERVE=$(dirname "$BERTHD")/berth-serve
for b in "$BERTHD" "$SERVE" "$BERTH_CLI"; do
    [ -x "$b" ] || die "$b not found; build it first (make)"
done

# CPU placement, as in bench/run.sh: "split" keeps the servers on one CPU and the load generator
# on another, because on this VM a wake-up across CPUs costs ~40 µs and the scheduler otherwise
# flips between placements from run to run. berthd's instances inherit its CPU mask.
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-gwbench.XXXXXX")
chmod 711 "$tmp"   # the instance user must reach DIR-instances (berthd checks at start)
berthd_pid="" nginx_pid=""
stop_pid() {  # PID GRACE_TENTHS: TERM, wait, then KILL; only ever a pid we started
    local pid=$1 grace=$2
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq "$grace"); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
}
stop_nginx() { stop_pid "$nginx_pid" 50; nginx_pid=""; }
# berthd stops its instances on SIGTERM (5 s grace each); if it has to be killed, they get
# SIGKILL from PR_SET_PDEATHSIG.
stop_berthd() { stop_pid "$berthd_pid" 150; berthd_pid=""; }
cleanup() {
    stop_nginx
    stop_berthd
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RES=$tmp/results.txt
: >"$RES"

# ---- 0. is the machine quiet?
busy_before=$($PY bench/bench.py busy 1)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$busy_before" -ge 10 ]; then
    log "WARNING: the CPUs are ${busy_before}% busy before we start (load $loadavg); figures will be skewed"
fi
echo "cpu_start $($PY bench/bench.py cpustat)" >>"$RES"

# ---- 1. model and bodies
log "training the model and writing request bodies in $tmp"
timeout 120 $PY bench/bench.py gen "$tmp"
mkdir -p "$tmp/import"
cp "$tmp/base/1/model.json" "$tmp/import/model.json"

# ---- 2. berthd
# A private copy of the binaries: a rebuild in build/ during the run cannot swap them under us.
mkdir -p "$tmp/bin"
cp "$BERTHD" "$tmp/bin/berthd"
cp "$SERVE" "$tmp/bin/berth-serve"
cp "$BERTH_CLI" "$tmp/bin/berth"
api_port=$($PY bench/bench.py freeport)
gw_port=$($PY bench/bench.py freeport)
while [ "$gw_port" = "$api_port" ]; do gw_port=$($PY bench/bench.py freeport); done
echo "$gw_port" >"$tmp/gateway_port"
berthd_cmd="$tmp/bin/berthd --data-dir $tmp/data --api-listen 127.0.0.1:$api_port --gateway-listen 127.0.0.1:$gw_port --import-root $tmp"
log "starting: ${SRV_PIN[*]} $berthd_cmd"
# shellcheck disable=SC2086
"${SRV_PIN[@]}" $berthd_cmd >"$tmp/berthd.log" 2>&1 &
berthd_pid=$!
for p in "$api_port" "$gw_port"; do
    if ! timeout 30 $PY bench/gateway.py wait-port "$p" "$berthd_pid" 20; then
        tail -n 20 "$tmp/berthd.log" >&2 || true
        die "berthd did not open 127.0.0.1:$p"
    fi
done
[ -s "$tmp/data/credentials" ] || die "berthd wrote no $tmp/data/credentials"
berth=("$tmp/bin/berth" --endpoint "http://127.0.0.1:$api_port" --credentials "$tmp/data/credentials" --json)
log "berthd up (pid $berthd_pid): API 127.0.0.1:$api_port, gateway 127.0.0.1:$gw_port; importing the model"
imp=$(timeout 60 "${berth[@]}" model import --name gwbench --path "$tmp/import" --wait) \
    || die "model import failed: $imp"
mv=$(printf '%s' "$imp" | $PY -c 'import json, sys; print(json.load(sys.stdin)["TrainingModelVersionId"])') \
    || die "no TrainingModelVersionId in: $imp"
log "model version $mv"

# ---- 3. deploy time
log "deploy time: $REPS x CreateModelService -> Normal, polling every $POLL_MS ms"
if ! dep=$(timeout 180 "${CLI_PIN[@]}" $PY bench/gateway.py deploy "http://127.0.0.1:$api_port" \
           "$tmp/data/credentials" "$mv" "$REPS" "$POLL_MS" "$tmp"); then
    log "berthd log (last 20 lines):"
    tail -n 20 "$tmp/berthd.log" >&2 || true
    die "deploying failed"
fi
read -r group_id service_id inst_addr <<<"$dep"
inst_port=${inst_addr##*:}
# The instance runs under a keeper (berthd-keeper), berthd's child.
inst_pid=""
for keeper in $(pgrep -P "$berthd_pid" || true); do
    inst_pid=$(pgrep -P "$keeper" -x berth-serve | head -n 1 || true)
    [ -n "$inst_pid" ] && break
done
[ -n "$inst_pid" ] || die "no berth-serve grandchild of berthd (pid $berthd_pid)"
inst_affinity=$(taskset -pc "$inst_pid" 2>/dev/null | sed 's/.*: //' || echo "?")
inst_threads=$(tr '\0' '\n' <"/proc/$inst_pid/cmdline" | sed -n 's/^--rest_api_num_threads=//p')
log "kept $service_id (group $group_id): instance pid $inst_pid on $inst_addr, CPUs $inst_affinity"

# ---- 4. nginx in front of the same instance
ng_port=$($PY bench/bench.py freeport)
while [ "$ng_port" = "$api_port" ] || [ "$ng_port" = "$gw_port" ]; do ng_port=$($PY bench/bench.py freeport); done
$PY bench/gateway.py nginx-conf "$tmp" "$ng_port" "$inst_port"
log "starting: ${SRV_PIN[*]} $NGINX -p $tmp/nginx/ -c nginx.conf (127.0.0.1:$ng_port -> $inst_addr)"
"${SRV_PIN[@]}" "$NGINX" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
    >"$tmp/nginx/stdout.log" 2>&1 &
nginx_pid=$!
if ! timeout 30 $PY bench/gateway.py wait-port "$ng_port" "$nginx_pid" 10; then
    cat "$tmp/nginx/stdout.log" "$tmp/nginx/error.log" >&2 2>/dev/null || true
    die "nginx did not start"
fi

declare -A URL=(
    [direct]="http://127.0.0.1:$inst_port"
    [gateway]="http://127.0.0.1:$gw_port/$group_id"
    [nginx]="http://127.0.0.1:$ng_port"
)
declare -A PROXY_PID=([direct]="" [gateway]="$berthd_pid" [nginx]="$nginx_pid")
PREDICT=/v1/models/m:predict
log "checking answers through each target"
for t in direct gateway nginx; do
    if ! timeout 30 $PY bench/gateway.py check "$t" "${URL[$t]}" "$tmp"; then
        tail -n 10 "$tmp/berthd.log" >&2 || true
        die "correctness check failed for $t; no figures taken"
    fi
done

# run_wrk KEY TARGET CONNS SECONDS  (KEY empty: warm-up, not recorded)
run_wrk() {
    local key=$1 t=$2 c=$3 d=$4 out line cpu0 cpu1 pp=${PROXY_PID[$2]}
    read -r -a cpu0 < <($PY bench/gateway.py cpu "$inst_pid" ${pp:+"$pp"})
    out=$(env BENCH_BODY="$tmp/body_tf1.json" BENCH_CT=application/json BENCH_HDR_LEN= \
          timeout $((d + 30)) "${CLI_PIN[@]}" wrk -t1 -c"$c" -d"${d}s" --timeout 10s -s bench/post.lua \
          "${URL[$t]}$PREDICT" 2>&1) || true
    read -r -a cpu1 < <($PY bench/gateway.py cpu "$inst_pid" ${pp:+"$pp"})
    line=$(printf '%s\n' "$out" | sed -n 's/^BENCH_RESULT //p' | tail -n 1)
    if [ -z "$line" ]; then
        line="{\"error\": \"wrk gave no result\"}"
        log "  $t: wrk failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    else
        local req
        req=$(printf '%s' "$line" | sed 's/.*"requests":\([0-9]*\).*/\1/')
        line="${line%\}}$(awk -v r="$req" -v i0="${cpu0[0]}" -v i1="${cpu1[0]}" -v p0="${cpu0[1]:-}" -v p1="${cpu1[1]:-}" \
            'BEGIN { r = r > 0 ? r : 1; printf ",\"instance_cpu_us_per_req\":%.2f", (i1 - i0) / r / 1000;
                     if (p0 != "") printf ",\"proxy_cpu_us_per_req\":%.2f", (p1 - p0) / r / 1000; printf "}" }')"
    fi
    kill -0 "$berthd_pid" 2>/dev/null || die "berthd died during $t; log: $(tail -n 5 "$tmp/berthd.log")"
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx died during $t"
    kill -0 "$inst_pid" 2>/dev/null || die "the instance died during $t"
    [ -n "$key" ] || return 0
    echo "$key $line" >>"$RES"
    log "  $key: $line"
}

berthd_lines0=$(wc -l <"$tmp/berthd.log")
for t in direct gateway nginx; do
    log "wrk warm-up $t: POST ${URL[$t]}$PREDICT"
    run_wrk "" "$t" 1 "$WARMUP"
done
for c in $CONNS; do
    for t in direct gateway nginx; do
        run_wrk "${t}_c$c" "$t" "$c" "$SECS"
    done
done
berthd_lines=$(( $(wc -l <"$tmp/berthd.log") - berthd_lines0 ))

# ---- footprints, then stop everything we started
st() { sed -n "s/^$2:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$1/status" 2>/dev/null || true; }
echo "berthd {\"vm_hwm_kb\": $(st "$berthd_pid" VmHWM), \"threads\": $(st "$berthd_pid" Threads), \"log_lines_during_load\": $berthd_lines}" >>"$RES"
echo "instance {\"vm_hwm_kb\": $(st "$inst_pid" VmHWM), \"threads\": $(st "$inst_pid" Threads), \"affinity\": \"$inst_affinity\"}" >>"$RES"
stop_nginx
ng_err=$(grep -vc '^$' "$tmp/nginx/error.log" 2>/dev/null || true)
ng_tail=$(tail -n 2 "$tmp/nginx/error.log" 2>/dev/null | tr '\n' ' ' | tr -d '"\\' | cut -c1-300)
echo "nginx {\"error_log_lines\": ${ng_err:-0}, \"error_log_tail\": \"$ng_tail\"}" >>"$RES"
stop_berthd
echo "cpu_end $($PY bench/bench.py cpustat)" >>"$RES"
# CPU seconds used by this shell and everything it waited for (berthd with the instances it
# reaped, nginx, wrk, helpers), to tell the benchmark's own load from other work.
times >"$tmp/times"   # not in $(...): a subshell would report its own, empty, times
our_cpu=$(awk '{ for (i = 1; i <= NF; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } } END { printf "%.2f", s }' "$tmp/times")
echo "our_cpu {\"seconds\": $our_cpu}" >>"$RES"

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && git_rev="$git_rev, dirty tree"
# shellcheck disable=SC2086  # CONNS is a list of numbers
conns_json=$(printf '%s,' $CONNS); conns_json="[${conns_json%,}]"
built=$(stat -c %y "$BERTHD" | cut -c1-19)
printf 'meta {"busy_before": %s, "loadavg": "%s", "berthd_cmd": "%s", "git": "%s", "built": "%s", "pin": "%s", "server_cpu": "%s", "client_cpu": "%s", "seconds": %s, "warmup": %s, "conns": %s, "poll_ms": %s, "reps": %s, "instance_type": "%s", "instance_threads": "%s", "body_bytes": %s, "paths": {"direct": "%s", "gateway": "%s", "nginx": "%s"}, "nginx_version": "%s"}\n' \
    "$busy_before" "$loadavg" "${berthd_cmd//$tmp/\$TMP}" "$git_rev" "$built" "$PIN" "${SRV_PIN[2]:-any}" "${CLI_PIN[2]:-any}" \
    "$SECS" "$WARMUP" "$conns_json" "$POLL_MS" "$REPS" "$INSTANCE_TYPE" "$inst_threads" \
    "$(stat -c %s "$tmp/body_tf1.json")" "$PREDICT" "/<ServiceGroupId>$PREDICT" "$PREDICT" \
    "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')" >>"$RES"

# ---- 5. report
echo
$PY bench/gateway.py report "$tmp" "$OUT"
log "wrote $OUT and ${OUT%.md}.json"
