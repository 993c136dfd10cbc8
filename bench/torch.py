#!/usr/bin/python3
"""torch.py - berth-serve's TorchScript backend against the in-process libtorch call; run by
bench/torch.sh (docs/benchmarks.md, "PyTorch").

 1. makes an MLP (64 -> 256 -> 256 -> 16, ReLU) with python3-torch, saved with torch.jit.save,
    and request bodies of 1 and 64 rows: TF Serving :predict JSON and V2 binary tensors;
 2. starts berth-serve (--rest_api_num_threads 1) pinned to the first CPU and checks every
    body's answer against the model in Python (1e-6);
 3. rounds of wrk -t1 -c16 (on the last CPU) per body: requests/s;
 4. rounds of bench/torch_call (the same model, frozen as berth-serve freezes it, one thread,
    pinned to the first CPU) at batch 1 and 64: calls/s; the ratio is berth-serve's requests/s
    over calls/s, each round's pair taken together (medians reported);
 5. once, the in-process call with the module frozen, only in eval mode, and through
    optimize_for_inference, at both batch sizes (why berth-serve freezes);
 6. prints a Markdown report with `uptime` before and after, and writes it to BENCH_OUT.
"""
import json
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from harness import free_port  # noqa: E402
NF, NOUT = 64, 16


def log(msg):
    print("torch: " + msg, file=sys.stderr, flush=True)


def make(d):
    script = r'''
import json, os, sys, torch
d = sys.argv[1]
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                        torch.nn.ReLU(), torch.nn.Linear(256, 16))
os.makedirs(os.path.join(d, "m", "1"))
torch.jit.save(torch.jit.script(m), os.path.join(d, "m", "1", "model.pt"))
json.dump({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 64]}]},
          open(os.path.join(d, "m", "1", "berth.json"), "w"))
g = torch.Generator().manual_seed(1)
out = {}
for n in (1, 64):
    x = torch.randn(n, 64, generator=g)
    with torch.no_grad():
        out[n] = {"x": x.tolist(), "y": m(x).tolist()}
json.dump(out, open(os.path.join(d, "cases.json"), "w"))
'''
    subprocess.run(["/usr/bin/python3", "-c", script, d], check=True)
    cases = json.load(open(os.path.join(d, "cases.json")))
    bodies = {}
    for n in (1, 64):
        x = cases[str(n)]["x"]
        p = os.path.join(d, "tf_%d.json" % n)
        with open(p, "w") as f:
            json.dump({"instances": x}, f)
        bodies["tf%d" % n] = (p, "/v1/models/m:predict", "application/json", "")
        flat = [v for row in x for v in row]
        raw = struct.pack("<%df" % len(flat), *flat)
        head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [n, NF],
                                       "parameters": {"binary_data_size": len(raw)}}],
                           "parameters": {"binary_data_output": True}}).encode()
        p = os.path.join(d, "v2bin_%d.bin" % n)
        with open(p, "wb") as f:
            f.write(head + raw)
        bodies["v2bin%d" % n] = (p, "/v2/models/m/infer", "application/octet-stream", str(len(head)))
    return cases, bodies


def post(port, path, body, ctype, hlen):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Content-Type": ctype}
    if hlen:
        h["Inference-Header-Content-Length"] = hlen
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    data, hdrs = r.read(), {k.lower(): v for k, v in r.getheaders()}
    c.close()
    if r.status != 200:
        raise SystemExit("torch: %s answered %d: %r" % (path, r.status, data[:300]))
    return data, hdrs


def check(port, cases, bodies):
    for key, (p, path, ctype, hlen) in bodies.items():
        n = int(re.search(r"(\d+)$", key).group(1))
        want = [v for row in cases[str(n)]["y"] for v in row]
        data, hdrs = post(port, path, open(p, "rb").read(), ctype, hlen)
        if key.startswith("tf"):
            got = [v for row in json.loads(data)["predictions"] for v in row]
        else:
            k = int(hdrs["inference-header-content-length"])
            got = list(struct.unpack("<%df" % (len(data[k:]) // 4), data[k:]))
        bad = [i for i, (a, b) in enumerate(zip(got, want)) if abs(a - b) > 1e-6 + 1e-6 * abs(b)]
        if len(got) != len(want) or bad:
            raise SystemExit("torch: %s: answer differs from the model in Python" % key)
    log("every answer matches the model in Python within 1e-6")


def thread_ns(pid):
    """CPU time of every thread of PID so far (schedstat's first field)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            total += int(open("/proc/%d/task/%s/schedstat" % (pid, t)).read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def wrk(pin, port, body, secs, conns, pid):
    """(requests/s, the server's CPU µs per request) of one wrk run."""
    p, path, ctype, hlen = body
    n0 = thread_ns(pid)
    env = dict(os.environ, BENCH_BODY=p, BENCH_CT=ctype, BENCH_HDR_LEN=hlen)
    out = subprocess.run(pin + ["wrk", "-t1", "-c%d" % conns, "-d%ds" % secs, "--timeout", "10s",
                                "-s", os.path.join(HERE, "post.lua"), "http://127.0.0.1:%d%s" % (port, path)],
                         env=env, capture_output=True, text=True, timeout=secs + 60).stdout
    m = re.findall(r"^BENCH_RESULT (\{.*\})$", out, re.M)
    if not m:
        raise SystemExit("torch: wrk gave no result: %s" % out[-300:])
    r = json.loads(m[-1])
    if r.get("errors_status", 0) or r.get("errors_connect", 0) or r.get("errors_timeout", 0):
        raise SystemExit("torch: wrk saw errors: %r" % r)
    return r["rps"], (thread_ns(pid) - n0) / 1e3 / max(1, r["requests"])


def call(pin, tool, model, n, secs, mode):
    out = subprocess.run(pin + [tool, model, str(n), str(NF), str(secs), mode], capture_output=True,
                         text=True, timeout=secs + 120).stdout
    m = re.findall(r"^BENCH_CALL (\{.*\})$", out, re.M)
    if not m:
        raise SystemExit("torch: torch_call gave no result: %s" % out[-300:])
    r = json.loads(m[-1])
    return r["calls_per_s"], r["cpu_us_per_call"]


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    server, tool, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    secs = int(os.environ.get("BENCH_SECONDS", "4"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    conns = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    cpus = sorted(os.sched_getaffinity(0))
    spin = ["taskset", "-c", str(cpus[0])] if len(cpus) > 1 and shutil.which("taskset") else []
    cpin = ["taskset", "-c", str(cpus[-1])] if spin else []
    d = tempfile.mkdtemp(prefix="berth-bench-torch-")
    up0 = uptime()
    cases, bodies = make(d)
    port = free_port()
    logf = open(os.path.join(d, "serve.log"), "wb")
    proc = subprocess.Popen(spin + [server, "--rest_api_port=%d" % port, "--rest_api_num_threads=1",
                                    "--model_name=m", "--model_base_path=" + os.path.join(d, "m"),
                                    "--file_system_poll_wait_seconds=0"], stdout=logf, stderr=subprocess.STDOUT)
    model = os.path.join(d, "m", "1", "model.pt")
    try:
        for _ in range(100):
            try:
                post(port, "/v1/models/m:predict", open(bodies["tf1"][0], "rb").read(), "application/json", "")
                break
            except (OSError, SystemExit):
                time.sleep(0.1)
        check(port, cases, bodies)
        for key in bodies:  # warm-up
            wrk(cpin, port, bodies[key], 1, conns, proc.pid)
        res = {k: [] for k in bodies}
        ref = {1: [], 64: []}
        for r in range(rounds):
            log("round %d of %d" % (r + 1, rounds))
            for n in (1, 64):
                ref[n].append(call(spin, tool, model, n, secs, "frozen"))
                for key in ("tf%d" % n, "v2bin%d" % n):
                    res[key].append(wrk(cpin, port, bodies[key], secs, conns, proc.pid))
        modes = {(n, mode): call(spin, tool, model, n, secs, mode)
                 for n in (1, 64) for mode in ("frozen", "plain", "optimized")}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        logf.close()
    up1 = uptime()
    med = statistics.median
    lines = ["| request | berth-serve req/s | in-process calls/s | ratio | berth-serve CPU µs/req | "
             "in-process CPU µs/call | ratio by CPU time |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for key in ("tf1", "v2bin1", "tf64", "v2bin64"):
        n = int(re.search(r"(\d+)$", key).group(1))
        ratios = [a[0] / b[0] for a, b in zip(res[key], ref[n])]
        cpu_ratios = [b[1] / a[1] for a, b in zip(res[key], ref[n])]
        what = {"tf": "TF :predict JSON", "v2bin": "V2 binary"}[re.sub(r"\d+$", "", key)]
        lines.append("| %s, batch %d | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f |" % (
            what, n, med([r[0] for r in res[key]]), med([r[0] for r in ref[n]]), med(ratios),
            med([r[1] for r in res[key]]), med([r[1] for r in ref[n]]), med(cpu_ratios)))
    lines += ["", "| in-process, one thread | batch 1 calls/s (CPU µs/call) | batch 64 calls/s (CPU µs/call) |",
              "| --- | --- | --- |"]
    for mode, what in (("frozen", "torch::jit::freeze (berth-serve)"), ("plain", "eval() only"),
                       ("optimized", "optimize_for_inference")):
        a, b = modes[(1, mode)], modes[(64, mode)]
        lines.append("| %s | %.0f (%.1f) | %.0f (%.1f) |" % (what, a[0], a[1], b[0], b[1]))
    text = "\n".join(["MLP 64-256-256-16 (ReLU), FP32; berth-serve --rest_api_num_threads 1 and torch_call on "
                      "CPU %s, wrk -t1 -c%d on CPU %s; %d rounds of %d s." % (cpus[0], conns, cpus[-1], rounds, secs),
                      "", "uptime before: `%s`" % up0, "uptime after: `%s`" % up1, ""] + lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    json.dump({"res": res, "ref": ref, "modes": {"%d %s" % k: v for k, v in modes.items()}},
              open(re.sub(r"\.md$", "", out_path) + ".json", "w"))
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
