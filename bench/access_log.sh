#!/usr/bin/env bash
# bench/access_log.sh - requests/s through the gateway without an access log, with a text one
# and with a JSON one (bench/access_log.py says what runs; docs/benchmarks.md, "Access log").
# Needs build/ (make) and wrk.
#   BENCH_SECONDS=3 BENCH_ROUNDS=3 BENCH_CONNECTIONS="16 1"
#   BENCH_OUT=bench/results/access_log.md   BERTH_BIN_DIR=build (the binaries' folder)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v wrk >/dev/null || { echo "access-log-bench: wrk is not installed (scripts/deps.sh)" >&2; exit 1; }
exec /usr/bin/python3 bench/access_log.py
