#!/usr/bin/env bash
# bench/torch.sh - berth-serve's TorchScript backend against the in-process libtorch call.
#
# Run from anywhere as `bench/torch.sh` (or `make bench-torch`) once build/berth-serve and its
# torch module are built. Everything stays on 127.0.0.1, every load is bounded in time, only processes
# this run started are stopped (by pid); about a minute with the defaults. What it measures and
# how: bench/torch.py's header; figures in docs/benchmarks.md ("PyTorch").
#
# Environment knobs:
#   BERTH_SERVE=path        server binary (default $BUILD/berth-serve, BUILD defaulting to build)
#   BENCH_SECONDS=4         length of each run (wrk, and the in-process call)
#   BENCH_ROUNDS=3          rounds (each: every request kind and the in-process call)
#   BENCH_CONNECTIONS=16    wrk connections (wrk always uses 1 thread)
#   BENCH_OUT=bench/results/torch.md
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SERVER=${BERTH_SERVE:-$ROOT/${BUILD:-build}/berth-serve}
make -s -f bench/bench.mk build/bench/torch_call
exec /usr/bin/python3 bench/torch.py "$SERVER" "$ROOT/build/bench/torch_call" "${BENCH_OUT:-bench/results/torch.md}"
