#!/usr/bin/env bash
# bench/autoscale.sh - how fast HPA reacts: a load step to the new replica serving, and the first
# request from zero against the instance's own cold start (the reference, in the same run).
# Run from anywhere once `make` has built build/berthd; about a minute with the defaults. Prints
# a Markdown table; raw figures in bench/results/autoscale.json. See bench/autoscale.py for the
# steps and docs/benchmarks.md ("Autoscaling") for the figures.
#
# Environment knobs:
#   BENCH_ROUNDS=5   repetitions of each measure (the load steps run ROUNDS/2+1 times)
set -euo pipefail
cd "$(dirname "$0")/.."
uptime
exec /usr/bin/python3 bench/autoscale.py
