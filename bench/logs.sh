#!/usr/bin/env bash
# bench/logs.sh - the log store (issue 9): DescribeLogs keyword search over 1 M stored lines
# (p50, p99), ingest lines/s idle and while the gateway is under load, and the gateway's
# requests/s with and without a chatty instance in the same run (the ratio should be >= 0.95).
# bench/logs.py does the work; figures go in docs/benchmarks.md ("Logs").
#
# Run from anywhere as `bench/logs.sh` once build/berthd, build/berth-serve and build/berth
# exist (make). Everything stays on 127.0.0.1, every load is bounded in time, only processes
# this script started are stopped (by pid).
#
# Environment knobs:
#   BENCH_LINES=1000000      lines the fill service prints
#   BENCH_QUERIES=200        DescribeLogs calls per query kind
#   BENCH_SECONDS=5          each wrk run; BENCH_ROUNDS=3 rounds of (without, with)
#   BENCH_CONNECTIONS=16     wrk connections (1 wrk thread)
#   BENCH_PIN=split          split: berthd (and its instances) on the first CPU, wrk on the last;
#                            none: no pinning
#   BENCH_OUT=bench/results/logs.md
#   BENCH_KEEP=1             keep the temp dir
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3
BERTHD=${BERTHD:-${BUILD:-build}/berthd}
BERTH_CLI=${BERTH_CLI:-${BUILD:-build}/berth}
OUT=${BENCH_OUT:-bench/results/logs.md}
PIN=${BENCH_PIN:-split}

log() { printf 'logs-bench: %s\n' "$*" >&2; }
die() { printf 'logs-bench: error: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || die "wrk is not installed (scripts/deps.sh installs it)"
$PY -c 'import xgboost, numpy' 2>/dev/null || die "$PY lacks xgboost or numpy (scripts/deps.sh)"
SERVE=$(dirname "$BERTHD")/berth-serve
for b in "$BERTHD" "$SERVE" "$BERTH_CLI"; do
    [ -x "$b" ] || die "$b not found; build it first (make)"
done

SRV_PIN=() CLI_PIN=()
if [ "$PIN" = split ]; then
    read -r cpu_first cpu_last < <($PY -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[-1])')
    if [ "$cpu_first" != "$cpu_last" ] && command -v taskset >/dev/null; then
        SRV_PIN=(taskset -c "$cpu_first") CLI_PIN=(taskset -c "$cpu_last")
    else
        PIN=none
    fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-logsbench.XXXXXX")
chmod 711 "$tmp"
berthd_pid=""
stop_berthd() {
    local pid=$berthd_pid
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    berthd_pid=""
}
cleanup() {
    stop_berthd
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

busy_before=$($PY bench/bench.py busy 1)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$busy_before" -lt 10 ] || log "WARNING: the CPUs are ${busy_before}% busy before we start (load $loadavg)"

log "training the model and writing request bodies in $tmp"
timeout 120 $PY bench/bench.py gen "$tmp"
mkdir -p "$tmp/import" "$tmp/bin"
cp "$tmp/base/1/model.json" "$tmp/import/model.json"
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
    timeout 30 $PY bench/gateway.py wait-port "$p" "$berthd_pid" 20 || die "berthd did not open $p"
done
berth=("$tmp/bin/berth" --endpoint "http://127.0.0.1:$api_port" --credentials "$tmp/data/credentials" --json)
imp=$(timeout 60 "${berth[@]}" model import --name logsbench --path "$tmp/import" --wait) \
    || die "model import failed: $imp"
mv=$(printf '%s' "$imp" | $PY -c 'import json, sys; print(json.load(sys.stdin)["TrainingModelVersionId"])')
log "model version $mv; filling the store"
BENCH_CLI_PIN="${CLI_PIN[*]}" timeout 1800 $PY bench/logs.py run "$tmp" "$api_port" "$gw_port" \
    "$tmp/data/credentials" "$mv" || { tail -n 20 "$tmp/berthd.log" >&2; die "the run failed"; }
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$berthd_pid/status")
stop_berthd
git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && git_rev="$git_rev, dirty tree"
$PY bench/logs.py meta "$tmp" "{\"busy_before\": $busy_before, \"loadavg\": \"$loadavg\", \"pin\": \"$PIN\", \"cpus\": $(nproc), \"git\": \"$git_rev\", \"berthd_vm_hwm_kb\": ${hwm:-0}}"
$PY bench/logs.py report "$tmp" "$OUT"
log "wrote $OUT"
