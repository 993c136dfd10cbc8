#!/usr/bin/python3
"""access_log.py - what the gateway's access log costs (bench/access_log.sh; docs/benchmarks.md,
"Access log").

Three berthd side by side, each with the same XGBoost model on one instance: PLAIN without an
access log (the reference), TEXT with --access-log (combined format) and JSON with --access-log
and --log-format json. wrk (1 thread) POSTs a batch-1 TF :predict to each in turn, BENCH_ROUNDS
rounds of BENCH_SECONDS at each of BENCH_CONNECTIONS kept-alive connections, the order rotating.
Prints the median requests/s and p50 of each and the ratio to PLAIN, checks that each logged
berthd wrote one line per request wrk counted, and writes BENCH_OUT (default
bench/results/access_log.md). Loopback only; the berthd are stopped with SIGTERM at the end.
"""
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import api  # noqa: E402  (tests/e2e: Berthd)
import harness  # noqa: E402
import tls  # noqa: E402  (deploy, wrk)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16 1").split()]
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "results", "access_log.md"))


def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def main():
    tmp = harness.tempdir("bench-access")  # searchable by the instance user
    booster = harness.train("binary:logistic", n_features=4)
    src = harness.model_dir(os.path.join(tmp, "model"), booster)
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        json.dump({"instances": harness.rows(1, 4, seed=1).tolist()}, f)
    logs = {"TEXT": os.path.join(tmp, "text.log"), "JSON": os.path.join(tmp, "json.log")}
    variants = (("PLAIN", []), ("TEXT", ["--access-log", logs["TEXT"]]),
                ("JSON", ["--access-log", logs["JSON"], "--log-format", "json"]))
    names = [n for n, _ in variants]
    targets, ds, results = {}, [], {}
    try:
        for name, extra in variants:
            d = api.Berthd(os.path.join(tmp, "data-" + name), tmp, extra=extra, name=name)
            ds.append(d)
            d.start()
            gid = tls.deploy(d, tmp, src, name.lower())
            targets[name] = "http://127.0.0.1:%d/%s/v1/models/m:predict" % (d.gateway_port, gid)
        before = {n: lines(p) for n, p in logs.items()}
        for r in range(ROUNDS):
            order = names[r % 3:] + names[:r % 3]
            for c in CONNS:
                for name in order:
                    results.setdefault((c, name), []).append(tls.wrk(targets[name], c, body, False))
    finally:
        for d in ds:
            try:
                d.stop()
            finally:
                d.cleanup()
    rows = ["| connections | PLAIN req/s | TEXT req/s | JSON req/s | TEXT ÷ PLAIN | JSON ÷ PLAIN "
            "| PLAIN p50 µs | TEXT p50 µs | JSON p50 µs |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in CONNS:
        rps = {n: statistics.median(x["rps"] for x in results[(c, n)]) for n in names}
        p50 = {n: statistics.median(x["p50_us"] for x in results[(c, n)]) for n in names}
        rows.append("| %d | %.0f | %.0f | %.0f | %.3f | %.3f | %.0f | %.0f | %.0f |" % (
            c, rps["PLAIN"], rps["TEXT"], rps["JSON"], rps["TEXT"] / rps["PLAIN"],
            rps["JSON"] / rps["PLAIN"], p50["PLAIN"], p50["TEXT"], p50["JSON"]))
    # Every request wrk completed is a line (wrk may count a few fewer than were answered).
    for n, p in logs.items():
        done = sum(x["requests"] for (c, name), xs in results.items() if name == n for x in xs)
        got = lines(p) - before[n]
        rows.append("")
        rows.append("%s: %d lines written for %d requests wrk counted." % (n, got, done))
        if got < done:
            raise SystemExit("access-log-bench: %s wrote %d lines for %d requests" % (n, got, done))
    text = ("TF :predict batch 1 through the gateway, wrk 1 thread, kept-alive connections, "
            "%s s runs, median of %d rounds (%s).\n\n" % (tls.SECS, ROUNDS, os.uname().nodename)
            + "\n".join(rows) + "\n")
    print(text)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    harness.rmtree(tmp)


if __name__ == "__main__":
    main()
