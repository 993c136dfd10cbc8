#!/usr/bin/python3
"""serve_start.py - how long berth-serve takes to start serving an XGBoost model, against the same
berth-serve linked with libtorch as it was before the torch module (docs/benchmarks.md, "Start
time"); run by bench/serve_start.sh.

 1. trains a small XGBoost model (binary:logistic, 8 features, 20 rounds of depth 4, the test
    harness's train()) into a model directory;
 2. for BENCH_ROUNDS rounds, each binary in turn: `--version` (exec to exit), then a server on
    a free 127.0.0.1 port, from exec to the first 200 of GET /v2/models/m/ready (the model loaded
    and served), then SIGTERM and wait;
 3. prints medians and 90th percentiles, the ratio of the medians, and `uptime` before and
    after, as Markdown, also written to BENCH_OUT.

Every instance berthd starts (the process driver, the runtime image, a pod) pays this start
time, and so does a restart after a crash or a rollout."""
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402  (free_port, train, write_version)


def version_time(binary):
    t0 = time.monotonic()
    subprocess.run([binary, "--version"], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def serve_time(binary, base):
    port = harness.free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "--rest_api_port=%d" % port, "--rest_api_host=127.0.0.1",
                          "--model_name=m", "--model_base_path=" + base],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = t0 + 20
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/v2/models/m/ready")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.002)
        raise SystemExit("%s did not serve within 20 s" % binary)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


def main():
    module_build, linked = sys.argv[1], sys.argv[2]
    out = sys.argv[3] if len(sys.argv) > 3 else None
    rounds = int(os.environ.get("BENCH_ROUNDS", "30"))
    up0 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="berth-bench-start-") as d:
        base = os.path.join(d, "m")
        harness.write_version(base, 1, harness.train("binary:logistic", n_features=8, rounds=20, n=500,
                                                     max_depth=4))
        res = {b: {"version": [], "serve": []} for b in (module_build, linked)}
        for _ in range(rounds):
            for b in (module_build, linked):
                res[b]["version"].append(version_time(b))
                res[b]["serve"].append(serve_time(b, base))
    up1 = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = ["| binary | `--version`, median | p90 | exec to the model served, median | p90 |",
             "|---|---:|---:|---:|---:|"]
    for b, name in ((module_build, "berth-serve (torch module, opened on demand)"),
                    (linked, "berth-serve linked with libtorch (the reference)")):
        v, s = res[b]["version"], res[b]["serve"]
        lines.append("| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms |" % (
            name, 1e3 * statistics.median(v), 1e3 * p90(v), 1e3 * statistics.median(s), 1e3 * p90(s)))
    mv = [statistics.median(res[b]["version"]) for b in (module_build, linked)]
    ms = [statistics.median(res[b]["serve"]) for b in (module_build, linked)]
    lines += ["", "Linked over module, medians: `--version` %.1fx, serving %.1fx (%d rounds)."
              % (mv[1] / mv[0], ms[1] / ms[0], rounds), "", "uptime before: `%s`" % up0,
              "uptime after: `%s`" % up1]
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
