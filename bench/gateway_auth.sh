#!/usr/bin/env bash
# bench/gateway_auth.sh - what the gateway's call authentication, ServiceLimit, token quotas and
# a two-version weight split cost, next to plain groups in the same berthd, and how exactly the
# rate limit and a PerMinute quota hold (issue 8; docs/auth.md describes the features).
#
# Run from anywhere as `bench/gateway_auth.sh` (or `make bench-auth`), once build/berthd,
# build/berth-serve and build/berth exist (make). Everything stays on 127.0.0.1, every load is
# bounded in time, only processes this script started are stopped (by pid); about 6 minutes
# with the defaults. See docs/benchmarks.md ("Gateway: authentication and limits").
#
#   1. trains bench/bench.py's model and writes the request bodies;
#   2. starts berthd with --group-qps-cap 0 (so that the group cap, 500 by default, limits
#      neither run), imports the model and sets up (bench/gateway_auth.py setup):
#        PLAIN  one version, no authentication, no limits;
#        PLAIN×2 the same with two replicas (as many instances as FULL);
#        SPLIT  two versions weighted 50/50 (one instance each), no authentication, no limits;
#        FULL   authentication on, ServiceLimit InstanceRpsLimit 1,000,000 and
#               InstanceReqLimit 100,000 (both on, never reached), its token with PerMinute and
#               PerDay quotas never reached, two versions weighted 50/50 (one instance each),
#               and a second token with a PerMinute quota of 600 for step 5;
#        RATED  one version, InstanceRpsLimit 200 on one instance;
#      then checks batch-1 and batch-100 TF :predict answers through each against XGBoost and
#      that FULL refuses a missing (401) and a wrong (403) token;
#   3. throughput: wrk (TF :predict batch 1; FULL with "Authorization: Bearer <token>",
#      bench/auth_post.lua) on PLAIN, PLAIN×2, SPLIT and FULL, the order rotating, BENCH_ROUNDS
#      short rounds at each connection count (short, so that a slow spell of the machine
#      falls on all four), with berthd's CPU per request (and the instances'); FULL ÷ SPLIT
#      is what authentication, limits and quotas cost, FULL ÷ PLAIN that and the split's
#      second instance;
#   4. rate-limit accuracy: wrk with BENCH_RATE_CONNS threads of one connection each on RATED
#      for BENCH_RATE_SECONDS, bench/ratelog.lua logging when each 200 was sent and answered:
#      accepted ÷ (limit × window) over 1, 10, 60 s windows;
#   5. token quota: an open-loop driver at BENCH_QUOTA_RATE requests/s for BENCH_QUOTA_SECONDS
#      with the PerMinute-600 token: the most accepted in any 60 s window;
#   6. prints a Markdown report and writes it to bench/results/gateway_auth.md (raw figures in
#      bench/results/gateway_auth.json).
#
# Environment knobs:
#   BERTHD=path               berthd binary (default $BUILD/berthd, BUILD defaulting to build);
#                             berth-serve must sit beside it, build/berth ($BERTH_CLI) imports
#   BENCH_SECONDS=3           length of each timed throughput run
#   BENCH_WARMUP=1            warm-up per group, seconds (not reported)
#   BENCH_ROUNDS=8            throughput rounds (each group once per round and count)
#   BENCH_CONNECTIONS="16 1"  wrk connection counts of the throughput runs (1 wrk thread)
#   BENCH_RATE_SECONDS=60     rate-limit accuracy run (0 skips it)
#   BENCH_RATE_CONNS=8        its wrk connections (one per wrk thread)
#   BENCH_QUOTA_RATE=40       quota run: requests per second offered (open loop)
#   BENCH_QUOTA_SECONDS=75    quota run length (0 skips it)
#   BENCH_PIN=split           split: berthd (and the instances it starts) on the first CPU, wrk
#                             and the drivers on the last; none: no pinning
#   BENCH_OUT=bench/results/gateway_auth.md
#   BENCH_KEEP=1              keep the temp dir (data dir, logs, raw results)
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
SECS=${BENCH_SECONDS:-3}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-8}
CONNS=${BENCH_CONNECTIONS:-16 1}
RATE_SECS=${BENCH_RATE_SECONDS:-60}
RATE_CONNS=${BENCH_RATE_CONNS:-8}
QUOTA_RATE=${BENCH_QUOTA_RATE:-40}
QUOTA_SECS=${BENCH_QUOTA_SECONDS:-75}
OUT=${BENCH_OUT:-bench/results/gateway_auth.md}
PIN=${BENCH_PIN:-split}

log() { printf 'gateway-auth-bench: %s\n' "$*" >&2; }
die() { printf 'gateway-auth-bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
SERVE=$(dirname "$BERTHD")/berth-serve
for b in "$BERTHD" "$SERVE" "$BERTH_CLI"; do
    [ -x "$b" ] || die "$b not found; build it first (make)"
done

# CPU placement as in bench/gateway.sh: the servers on one CPU, the load generator on another.
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-authbench.XXXXXX")
chmod 711 "$tmp"   # the instance user must reach DIR-instances (berthd checks at start)
berthd_pid=""
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
# berthd stops its instances on SIGTERM; if it has to be killed, they get PR_SET_PDEATHSIG.
stop_berthd() { stop_pid "$berthd_pid" 150; berthd_pid=""; }
cleanup() {
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

# ---- 2. berthd and the groups
mkdir -p "$tmp/bin"   # private copies: a rebuild in build/ cannot swap them under us
cp "$BERTHD" "$tmp/bin/berthd"
cp "$SERVE" "$tmp/bin/berth-serve"
cp "$BERTH_CLI" "$tmp/bin/berth"
api_port=$($PY bench/bench.py freeport)
gw_port=$($PY bench/bench.py freeport)
while [ "$gw_port" = "$api_port" ]; do gw_port=$($PY bench/bench.py freeport); done
berthd_cmd="$tmp/bin/berthd --data-dir $tmp/data --api-listen 127.0.0.1:$api_port --gateway-listen 127.0.0.1:$gw_port --import-root $tmp --group-qps-cap 0"
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
imp=$(timeout 60 "${berth[@]}" model import --name authbench --path "$tmp/import" --wait) \
    || die "model import failed: $imp"
mv=$(printf '%s' "$imp" | $PY -c 'import json, sys; print(json.load(sys.stdin)["TrainingModelVersionId"])') \
    || die "no TrainingModelVersionId in: $imp"
log "model version $mv; creating PLAIN, PLAIN×2, SPLIT and FULL (two versions each) and RATED"
if ! ids=$(timeout 180 $PY bench/gateway_auth.py setup "http://127.0.0.1:$api_port" \
           "$tmp/data/credentials" "$mv" "$tmp"); then
    tail -n 20 "$tmp/berthd.log" >&2 || true
    die "setting up the groups failed"
fi
read -r gid_plain gid_plain2 gid_split gid_full gid_rated <<<"$ids"
declare -A INST=()
while read -r name ps; do INST[$name]=$ps; done < <($PY bench/gateway_auth.py pids "$berthd_pid" "$tmp")
log "instances: PLAIN ${INST[plain]}, PLAIN×2 ${INST[plain2]}, SPLIT ${INST[split]}, FULL ${INST[full]}, RATED ${INST[rated]}"
log "checking answers through each group"
if ! timeout 60 $PY bench/gateway_auth.py check "$tmp" "$gw_port"; then
    tail -n 10 "$tmp/berthd.log" >&2 || true
    die "correctness check failed; no figures taken"
fi

declare -A URL=(
    [plain]="http://127.0.0.1:$gw_port/$gid_plain/v1/models/m:predict"
    [plain2]="http://127.0.0.1:$gw_port/$gid_plain2/v1/models/m:predict"
    [split]="http://127.0.0.1:$gw_port/$gid_split/v1/models/m:predict"
    [full]="http://127.0.0.1:$gw_port/$gid_full/v1/models/m:predict"
    [rated]="http://127.0.0.1:$gw_port/$gid_rated/v1/models/m:predict"
)
declare -A AUTH=([plain]="" [plain2]="" [split]="" [full]="Bearer $(cat "$tmp/token_full")" [rated]="")

# run_wrk KEY GROUP CONNS SECONDS [LUA [THREADS]]  (KEY empty: warm-up, not recorded)
run_wrk() {
    local key=$1 g=$2 c=$3 d=$4 lua=${5:-bench/auth_post.lua} t=${6:-1} out line cpu0 cpu1
    # shellcheck disable=SC2086  # INST holds a list of pids
    read -r -a cpu0 < <($PY bench/gateway.py cpu "$berthd_pid" ${INST[$g]})
    out=$(env BENCH_BODY="$tmp/body_tf1.json" BENCH_CT=application/json BENCH_HDR_LEN= \
          BENCH_AUTH="${AUTH[$g]}" BENCH_LOG="$tmp/ratelog" \
          timeout $((d + 30)) "${CLI_PIN[@]}" wrk -t"$t" -c"$c" -d"${d}s" --timeout 10s -s "$lua" \
          "${URL[$g]}" 2>&1) || true
    # shellcheck disable=SC2086
    read -r -a cpu1 < <($PY bench/gateway.py cpu "$berthd_pid" ${INST[$g]})
    line=$(printf '%s\n' "$out" | sed -n 's/^BENCH_RESULT //p' | tail -n 1)
    if [ -z "$line" ]; then
        line="{\"error\": \"wrk gave no result\"}"
        log "  $g: wrk failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    else
        local req
        req=$(printf '%s' "$line" | sed 's/.*"requests":\([0-9]*\).*/\1/')
        line="${line%\}}$(awk -v r="$req" -v a="${cpu0[*]}" -v b="${cpu1[*]}" 'BEGIN {
            r = r > 0 ? r : 1; n = split(a, x, " "); split(b, y, " ")
            printf ",\"berthd_cpu_us_per_req\":%.2f,\"instance_cpu_us_per_req\":[", (y[1] - x[1]) / r / 1000
            for (i = 2; i <= n; i++) printf "%s%.2f", (i > 2 ? "," : ""), (y[i] - x[i]) / r / 1000
            printf "]}" }')"
    fi
    kill -0 "$berthd_pid" 2>/dev/null || die "berthd died during $g; log: $(tail -n 5 "$tmp/berthd.log")"
    [ -n "$key" ] || return 0
    echo "$key $line" >>"$RES"
    log "  $key: $line"
}

# ---- 3. throughput, the order of the groups rotating from round to round
berthd_lines0=$(wc -l <"$tmp/berthd.log")
TP="plain plain2 split full"
for g in $TP; do
    log "wrk warm-up $g: POST ${URL[$g]}"
    run_wrk "" "$g" 1 "$WARMUP"
done
# Round r runs the groups rotated by r, reversed every other round: each group
# takes each place equally often, next to each other group on both sides.
for r in $(seq "$ROUNDS"); do
    read -r -a tp <<<"$TP"
    order=()
    for k in 0 1 2 3; do order+=("${tp[$(((r + k) % 4))]}"); done
    if [ $((r % 2)) = 0 ]; then order=("${order[3]}" "${order[2]}" "${order[1]}" "${order[0]}"); fi
    for c in $CONNS; do
        for g in "${order[@]}"; do
            run_wrk "tp_${g}_c${c}_r$r" "$g" "$c" "$SECS"
        done
    done
done

if [ "$RATE_SECS" -gt 0 ]; then
    log "rate limit: wrk -t$RATE_CONNS -c$RATE_CONNS on RATED (InstanceRpsLimit 200) for $RATE_SECS s"
    run_wrk rated rated "$RATE_CONNS" "$RATE_SECS" bench/ratelog.lua "$RATE_CONNS"
fi

# ---- 5. token quota
if [ "$QUOTA_SECS" -gt 0 ]; then
    log "token quota: $QUOTA_RATE requests/s for $QUOTA_SECS s with FULL's PerMinute-600 token"
    timeout $((QUOTA_SECS + 60)) "${CLI_PIN[@]}" $PY bench/gateway_auth.py quota "$gw_port" "$tmp" \
        "$QUOTA_RATE" "$QUOTA_SECS" || die "the quota driver failed"
fi
berthd_lines=$(( $(wc -l <"$tmp/berthd.log") - berthd_lines0 ))

# ---- footprints, then stop everything we started
st() { sed -n "s/^$2:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$1/status" 2>/dev/null || true; }
echo "berthd {\"vm_hwm_kb\": $(st "$berthd_pid" VmHWM), \"threads\": $(st "$berthd_pid" Threads), \"log_lines_during_load\": $berthd_lines}" >>"$RES"
stop_berthd
echo "cpu_end $($PY bench/bench.py cpustat)" >>"$RES"
times >"$tmp/times"   # CPU of this shell and all it waited for (see bench/gateway.sh)
our_cpu=$(awk '{ for (i = 1; i <= NF; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } } END { printf "%.2f", s }' "$tmp/times")
echo "our_cpu {\"seconds\": $our_cpu}" >>"$RES"

git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && git_rev="$git_rev, dirty tree"
# shellcheck disable=SC2086  # CONNS is a list of numbers
conns_json=$(printf '%s,' $CONNS); conns_json="[${conns_json%,}]"
printf 'meta {"busy_before": %s, "loadavg": "%s", "berthd_cmd": "%s", "git": "%s", "built": "%s", "pin": "%s", "server_cpu": "%s", "client_cpu": "%s", "seconds": %s, "warmup": %s, "rounds": %s, "conns": %s, "rate_conns": %s}\n' \
    "$busy_before" "$loadavg" "${berthd_cmd//$tmp/\$TMP}" "$git_rev" "$(stat -c %y "$BERTHD" | cut -c1-19)" \
    "$PIN" "${SRV_PIN[2]:-any}" "${CLI_PIN[2]:-any}" "$SECS" "$WARMUP" "$ROUNDS" "$conns_json" "$RATE_CONNS" >>"$RES"

# ---- 6. report
echo
$PY bench/gateway_auth.py report "$tmp" "$OUT"
log "wrote $OUT and ${OUT%.md}.json"
