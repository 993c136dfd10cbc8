#!/usr/bin/python3
"""tls.py - what HTTPS costs through the gateway (bench/tls.sh runs it; docs/benchmarks.md, "TLS").

Two berthd side by side, each with the same XGBoost model deployed on one instance: PLAIN with a
plain gateway, TLS with --gateway-tls-cert/--gateway-tls-key (an ECDSA P-256 certificate from a
test CA made with the openssl command, as tests/e2e/t2600_tls.py makes it). wrk (1 thread) POSTs
a batch-1 TF :predict to each in turn, BENCH_ROUNDS rounds of BENCH_SECONDS per target and mode,
the order alternating: kept-alive connections at each of BENCH_CONNECTIONS, and "new" runs in
which every request comes on a new connection (Connection: close), so that the TLS figure is a
full handshake per request. Prints a Markdown table of the median requests/s and p50 latency,
and TLS ÷ PLAIN; writes it to BENCH_OUT (default bench/results/tls.md). Loopback only; both
berthd are stopped with SIGTERM at the end.
"""
import json
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import api  # noqa: E402  (tests/e2e: Berthd)
import harness  # noqa: E402
import t2600_tls  # noqa: E402  (make_pki)

SECS = int(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "16 1").split()]
NEW_CONNS = int(os.environ.get("BENCH_NEW_CONNECTIONS", "4"))
IDLE = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "400"))
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "results", "tls.md"))


def deploy(d, tmp, src, name):
    berth = os.path.join(os.path.dirname(api.berthd_path()), "berth")
    cred = os.path.join(d.data_dir, "credentials")

    def run(*args):
        p = subprocess.run([berth, "--endpoint", "http://127.0.0.1:%d" % d.port, "--credentials",
                            cred, "--json"] + list(args), capture_output=True, text=True,
                           timeout=120, cwd=tmp)
        if p.returncode:
            raise SystemExit("berth %s: %s" % (" ".join(args), p.stderr))
        return json.loads(p.stdout)

    mv = run("model", "import", "--name", name, "--path", src, "--wait")["TrainingModelVersionId"]
    return run("service", "create", "--name", name, "--model-version", mv, "--replicas", "1",
               "--wait")["Service"]["ServiceGroupId"]


def wrk(url, conns, body, new):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % SECS, "-s",
            os.path.join(ROOT, "bench", "post.lua"), url]
    if new:
        argv[1:1] = ["-H", "Connection: close"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=SECS + 30,
                       env=dict(os.environ, BENCH_BODY=body))
    m = re.search(r"^BENCH_RESULT (\{.*\})$", p.stdout, re.M)
    if not m:
        raise SystemExit("wrk gave no result:\n" + p.stdout + p.stderr)
    r = json.loads(m.group(1))
    errors = sum(v for k, v in r.items() if k.startswith("err_") and k != "err_read")
    if errors or (not new and r["err_read"]):
        raise SystemExit("wrk %s saw errors: %r" % (url, r))
    return r


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def idle_kib(d, ctx):
    """berthd's RSS growth per idle gateway connection that has made one request (a 404)."""
    socks = []

    def one():
        s = socket.create_connection(("127.0.0.1", d.gateway_port), timeout=10)
        if ctx:
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(b"GET /none/x HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(65536)
        socks.append(s)

    try:
        for _ in range(20):  # the first ones grow pools that are not per connection
            one()
        time.sleep(0.5)
        base = rss_kib(d.proc.pid)
        for _ in range(IDLE):
            one()
        time.sleep(1)
        return (rss_kib(d.proc.pid) - base) / IDLE
    finally:
        for s in socks:
            s.close()


def main():
    tmp = harness.tempdir("bench-tls")  # searchable by the instance user
    pki = os.path.join(tmp, "pki")
    t2600_tls.make_pki(pki)
    booster = harness.train("binary:logistic", n_features=4)
    src = harness.model_dir(os.path.join(tmp, "model"), booster)
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        json.dump({"instances": harness.rows(1, 4, seed=1).tolist()}, f)
    tls_args = ["--gateway-tls-cert", os.path.join(pki, "a.pem"),
                "--gateway-tls-key", os.path.join(pki, "a.key")]
    targets = {}
    ds = []
    try:
        for name, extra in (("PLAIN", []), ("TLS", tls_args)):
            d = api.Berthd(os.path.join(tmp, "data-" + name), tmp, extra=extra, name=name)
            ds.append(d)
            d.start()
            gid = deploy(d, tmp, src, name.lower())
            scheme = "https" if extra else "http"
            targets[name] = "%s://127.0.0.1:%d/%s/v1/models/m:predict" % (scheme, d.gateway_port, gid)
        modes = [("kept-alive", c, False) for c in CONNS] + [("new connection", NEW_CONNS, True)]
        results = {}
        for r in range(ROUNDS):
            order = ["PLAIN", "TLS"] if r % 2 == 0 else ["TLS", "PLAIN"]
            for mode in modes:
                for name in order:
                    results.setdefault((mode, name), []).append(wrk(targets[name], mode[1], body, mode[2]))
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        idle = {"PLAIN": idle_kib(ds[0], None), "TLS": idle_kib(ds[1], ctx)}
    finally:
        for d in ds:
            try:
                d.stop()
            finally:
                d.cleanup()
    rows = ["| connections | PLAIN req/s | TLS req/s | TLS ÷ PLAIN | PLAIN p50 µs | TLS p50 µs |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for mode in modes:
        med = {n: (statistics.median(x["rps"] for x in results[(mode, n)]),
                   statistics.median(x["p50_us"] for x in results[(mode, n)])) for n in ("PLAIN", "TLS")}
        rows.append("| %d %s | %.0f | %.0f | %.2f | %.0f | %.0f |" % (
            mode[1], mode[0], med["PLAIN"][0], med["TLS"][0], med["TLS"][0] / med["PLAIN"][0],
            med["PLAIN"][1], med["TLS"][1]))
    rows.append("")
    rows.append("Idle gateway connections after one request each (%d): %.1f KiB of berthd's RSS "
                "per plain connection, %.1f KiB per TLS connection." % (IDLE, idle["PLAIN"], idle["TLS"]))
    text = ("TF :predict batch 1 through the gateway, wrk 1 thread, %d s runs, median of %d rounds; "
            "TLS: TLS 1.3, ECDSA P-256 (%s).\n\n" % (SECS, ROUNDS, os.uname().nodename)) + "\n".join(rows) + "\n"
    print(text)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    harness.rmtree(tmp)


if __name__ == "__main__":
    main()
