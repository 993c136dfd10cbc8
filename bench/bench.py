#!/usr/bin/python3
"""bench.py - Python side of bench/run.sh (needs /usr/bin/python3 with xgboost, numpy).

    bench.py gen DIR          train the model, write DIR/base/1/model.json, the request
                              bodies DIR/body_*, DIR/rows.f32 (for xgb_raw) and
                              DIR/expected.json (reference predictions)
    bench.py freeport         print a free TCP port on 127.0.0.1
    bench.py busy SECS        print how busy the CPUs are (percent, all CPUs) over SECS,
                              to tell a quiet machine from one running something else
    bench.py cpustat          print busy and total CPU seconds since boot, all CPUs
    bench.py wait-ready PORT PID SECS
                              poll GET /v2/health/ready until 200, while PID lives
    bench.py check DIR PORT   one request per benchmarked endpoint; exits 1 unless every
                              status, shape and value is right
    bench.py report DIR OUT   turn DIR/results.txt into a Markdown report, print it, write
                              it to OUT (and OUT with .json for the raw figures)

Everything it sends or expects is described in docs/benchmarks.md.
"""
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

MODEL_NAME = "bench"
FEATURES = 20
TREES = 100
DEPTH = 6
TRAIN_ROWS = 5000
BENCH_ROWS = 1000


# ---------------------------------------------------------------- gen

def fmt_row(row):
    # Shortest text that reads back as the same float32, as a client serialising
    # float32 data would send it (e.g. 0.12345679).
    return [float(str(v)) for v in row]


def gen(d):
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(20240601)
    X = rng.random((TRAIN_ROWS, FEATURES), dtype=np.float32)
    logit = 3 * X[:, 0] - 2 * X[:, 1] + 4 * X[:, 2] * X[:, 3] - 2 * (X[:, 4] > 0.5) + np.sin(6 * X[:, 5])
    y = (logit + rng.normal(0, 0.7, TRAIN_ROWS) > 1.0).astype(np.float32)
    params = {"objective": "binary:logistic", "max_depth": DEPTH, "eta": 0.1, "nthread": 2,
              "tree_method": "hist", "seed": 1}
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=TREES)
    os.makedirs(os.path.join(d, "base", "1"), exist_ok=True)
    booster.save_model(os.path.join(d, "base", "1", "model.json"))

    Xb = rng.random((BENCH_ROWS, FEATURES), dtype=np.float32)
    # Round-trip through text so the server parses exactly these float32 values.
    rows = [fmt_row(r) for r in Xb]
    Xb = np.array(rows, dtype=np.float32)
    Xb.astype("<f4").tofile(os.path.join(d, "rows.f32"))
    booster.set_param({"nthread": 1})
    pred = booster.inplace_predict(Xb)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump({"predictions": [float(p) for p in pred]}, f)

    def dump(name, obj):
        with open(os.path.join(d, name), "w") as f:
            json.dump(obj, f, separators=(",", ":"))

    def v2(n):
        return {"inputs": [{"name": "input", "shape": [n, FEATURES], "datatype": "FP32",
                            "data": [v for r in rows[:n] for v in r]}]}

    dump("body_tf1.json", {"instances": rows[:1]})
    dump("body_tf100.json", {"instances": rows[:100]})
    dump("body_v2_1.json", v2(1))
    dump("body_v2_1000.json", v2(BENCH_ROWS))
    raw = Xb.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{"name": "input", "shape": [BENCH_ROWS, FEATURES], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)}}],
        "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
    with open(os.path.join(d, "body_v2bin_1000.bin"), "wb") as f:
        f.write(header + raw)
    with open(os.path.join(d, "body_v2bin_1000.hdrlen"), "w") as f:
        f.write(str(len(header)))
    info = {"xgboost": xgb.__version__, "objective": params["objective"], "features": FEATURES,
            "trees": TREES, "depth": DEPTH, "train_rows": TRAIN_ROWS}
    with open(os.path.join(d, "model_info.json"), "w") as f:
        json.dump(info, f)


# ---------------------------------------------------------------- freeport

def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    print(port)


# ---------------------------------------------------------------- busy

def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]), idle


def cpustat():
    tot, idle = cpu_times()
    hz = os.sysconf("SC_CLK_TCK")
    print(json.dumps({"busy_s": (tot - idle) / hz, "total_s": tot / hz}))


def busy(secs):
    t0, i0 = cpu_times()
    time.sleep(secs)
    t1, i1 = cpu_times()
    print(f"{100.0 * (1 - (i1 - i0) / max(1, t1 - t0)):.0f}")


# ---------------------------------------------------------------- wait-ready

def wait_ready(port, pid, secs):
    end = time.monotonic() + secs
    last = "no answer"
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except OSError:
            print(f"bench: server (pid {pid}) exited before it was ready", file=sys.stderr)
            return 1
        try:
            st, _, body = http(port, "GET", "/v2/health/ready", timeout=1)
            if st == 200:
                return 0
            last = f"HTTP {st} {body[:100]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    print(f"bench: server not ready after {secs} s ({last})", file=sys.stderr)
    return 1


# ---------------------------------------------------------------- check

class CheckError(Exception):
    pass


def http(port, method, path, body=None, headers=None, timeout=10):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def close(got, want, what):
    if len(got) != len(want):
        raise CheckError(f"{what}: {len(got)} predictions, want {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if not isinstance(g, (int, float)) or abs(g - w) > 1e-5 + 1e-5 * abs(w):
            raise CheckError(f"{what}: prediction {i} is {g!r}, XGBoost says {w!r}")


def check_json(port, path, body_file, what):
    with open(body_file, "rb") as f:
        body = f.read()
    st, hd, out = http(port, "POST", path, body, {"Content-Type": "application/json"})
    if st != 200:
        raise CheckError(f"{what}: HTTP {st}: {out[:300]!r}")
    try:
        return json.loads(out), hd
    except ValueError as e:
        raise CheckError(f"{what}: response is not JSON ({e}): {out[:300]!r}")


def check(d, port):
    want = json.load(open(os.path.join(d, "expected.json")))["predictions"]
    m = MODEL_NAME
    results = []

    def ok(what, note=""):
        results.append(what)
        print(f"  ok  {what}{(' - ' + note) if note else ''}")

    st, _, out = http(port, "GET", "/v2/health/live")
    if st != 200:
        raise CheckError(f"GET /v2/health/live: HTTP {st}: {out[:200]!r}")
    ok("GET /v2/health/live")

    for n, name in ((1, "tf1"), (100, "tf100")):
        what = f"POST /v1/models/{m}:predict batch {n}"
        r, _ = check_json(port, f"/v1/models/{m}:predict", os.path.join(d, f"body_{name}.json"), what)
        p = r.get("predictions") if isinstance(r, dict) else None
        if not isinstance(p, list):
            raise CheckError(f"{what}: no \"predictions\" list: {json.dumps(r)[:300]}")
        close(p, want[:n], what)
        ok(what)

    for n, name in ((1, "v2_1"), (BENCH_ROWS, "v2_1000")):
        what = f"POST /v2/models/{m}/infer JSON batch {n}"
        r, _ = check_json(port, f"/v2/models/{m}/infer", os.path.join(d, f"body_{name}.json"), what)
        outs = r.get("outputs") if isinstance(r, dict) else None
        if not isinstance(outs, list) or len(outs) != 1:
            raise CheckError(f"{what}: want one output: {json.dumps(r)[:300]}")
        o = outs[0]
        if o.get("name") != "predictions" or o.get("shape") != [n] or o.get("datatype") != "FP32":
            raise CheckError(f"{what}: output is {json.dumps({k: o.get(k) for k in ('name', 'shape', 'datatype')})}, "
                             f"want predictions [{n}] FP32")
        data = o.get("data")
        if isinstance(data, list) and data and isinstance(data[0], list):
            data = [v for row in data for v in row]
        close(data or [], want[:n], what)
        ok(what)

    what = f"POST /v2/models/{m}/infer binary batch {BENCH_ROWS}"
    with open(os.path.join(d, "body_v2bin_1000.bin"), "rb") as f:
        body = f.read()
    hlen = open(os.path.join(d, "body_v2bin_1000.hdrlen")).read().strip()
    st, hd, out = http(port, "POST", f"/v2/models/{m}/infer", body,
                       {"Content-Type": "application/octet-stream",
                        "Inference-Header-Content-Length": hlen})
    if st != 200:
        raise CheckError(f"{what}: HTTP {st}: {out[:300]!r}")
    hd = {k.lower(): v for k, v in hd.items()}
    if "inference-header-content-length" not in hd:
        raise CheckError(f"{what}: response lacks Inference-Header-Content-Length "
                         f"(Content-Type {hd.get('content-type')!r}, {len(out)} bytes)")
    jl = int(hd["inference-header-content-length"])
    if not 0 < jl <= len(out):
        raise CheckError(f"{what}: Inference-Header-Content-Length {jl} but body has {len(out)} bytes")
    r = json.loads(out[:jl])
    o = (r.get("outputs") or [{}])[0]
    size = (o.get("parameters") or {}).get("binary_data_size")
    if o.get("name") != "predictions" or o.get("shape") != [BENCH_ROWS] or o.get("datatype") != "FP32" \
            or size != 4 * BENCH_ROWS or len(out) - jl != size:
        raise CheckError(f"{what}: header {out[:jl][:300]!r}, {len(out) - jl} binary bytes; "
                         f"want predictions [{BENCH_ROWS}] FP32 with binary_data_size {4 * BENCH_ROWS}")
    vals = list(struct.unpack(f"<{BENCH_ROWS}f", out[jl:]))
    close(vals, want, what)
    ok(what, f"content-type {hd.get('content-type')!r}")
    return results


# ---------------------------------------------------------------- report

def load_results(d):
    res = {}
    with open(os.path.join(d, "results.txt")) as f:
        for line in f:
            key, _, js = line.strip().partition(" ")
            if key:
                try:
                    res[key] = json.loads(js)
                except ValueError:
                    res[key] = {"error": js}
    return res


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def f0(v):
    return "n/a" if v is None else f"{v:,.0f}"


def f1(v):
    return "n/a" if v is None else f"{v:,.1f}"


def other_cpu(res):
    """Percent of all CPUs used during the run by processes that are not ours."""
    a, b, ours = res.get("cpu_start"), res.get("cpu_end"), res.get("our_cpu")
    if not (a and b and ours) or b["total_s"] <= a["total_s"]:
        return None
    return max(0.0, 100.0 * (b["busy_s"] - a["busy_s"] - ours["seconds"]) / (b["total_s"] - a["total_s"]))


def anomalies(res):
    """Things in the figures that point at a server problem rather than a cost."""
    notes = []
    for key, r in sorted(res.items()):
        if not key.endswith(tuple(f"_c{c}" for c in range(1, 1000))):
            continue
        if "rps" not in r:
            notes.append(f"`{key}`: no result ({r.get('error', '?')}).")
            continue
        errs = {k[4:]: v for k, v in r.items() if k.startswith("err_") and v}
        if errs:
            notes.append(f"`{key}`: wrk counted errors {errs} out of {r['requests']} requests "
                         "(status = HTTP 4xx/5xx answers); its figures are suspect.")
        if 38000 <= r["p50_us"] <= 48000 and key.endswith("_c1"):
            notes.append(f"`{key}`: p50 {r['p50_us'] / 1000:.1f} ms at 1 connection - the 40 ms signature of "
                         "Nagle's algorithm meeting delayed ACKs (a response written in several pieces "
                         "without TCP_NODELAY, or without writev/corking).")
    raw = res.get("raw", {})
    for key, b in (("tf100_c1", 100), ("v2_1000_c1", 1000), ("v2bin_1000_c1", 1000)):
        r, ref = res.get(key, {}), raw.get(f"batch{b}")
        if ref and "p50_us" in r and r["p50_us"] < ref["p50_us"]:
            notes.append(f"`{key}`: the server answers faster ({r['p50_us']:.0f} µs) than one in-process "
                         f"call on one thread ({ref['p50_us']:.0f} µs), so it predicts with several threads: "
                         "XGBoost 1.7's in-place predict ignores the config's \"nthread\" and uses the "
                         "booster's (default: every CPU); on top of the worker threads that oversubscribes "
                         "the CPUs and adds an OpenMP fork/join to every request.")
            break
    meta = res.get("meta", {})
    if meta.get("busy_before", 0) >= 10:
        notes.append(f"before the run the CPUs were already {meta['busy_before']}% busy with other work "
                     "(load average " + str(meta.get("loadavg", "?")) + "): every figure here is suspect; "
                     "run again on a quiet machine.")
    other = other_cpu(res)
    if other is not None and other >= 10:
        notes.append(f"while it ran, processes other than the benchmark's used about {other:.0f}% of "
                     "the CPUs: the figures are skewed; run again on a quiet machine.")
    srv = res.get("server", {})
    if srv.get("log_lines", 0) > 1000:
        notes.append(f"the server wrote {srv['log_lines']} log lines during the run: per-request logging "
                     "at the default level costs throughput.")
    return notes


def report(d, out_path):
    res = load_results(d)
    info = json.load(open(os.path.join(d, "model_info.json")))
    meta = res.get("meta", {})
    raw = res.get("raw", {})
    ping = res.get("ping", {})
    cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    ncpu = sh("nproc")
    L = []
    L.append(f"# berth-serve benchmark - {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    L.append("")
    L.append(f"Machine: {ncpu} CPUs ({cpu}), {platform.system()} {platform.release()}; "
             f"everything on 127.0.0.1. Server: `{meta.get('server_cmd', '?')}` "
             f"(git {meta.get('git', '?')}). wrk: 1 thread, {meta.get('seconds', '?')} s per run after "
             f"a {meta.get('warmup', '?')} s warm-up. "
             + (f"Pinned: server and xgb_raw on CPU {meta.get('server_cpu')}, wrk on CPU {meta.get('client_cpu')}."
                if meta.get("pin") == "split" else "Not pinned to CPUs.")
             + f" Other work on the CPUs: {meta.get('busy_before', '?')}% just before the run, "
             + ("?" if other_cpu(res) is None else f"{other_cpu(res):.0f}%") + " during it.")
    L.append(f"Model: XGBoost {info['xgboost']} `{info['objective']}`, {info['features']} features, "
             f"{info['trees']} trees of depth {info['depth']}. Latencies in µs.")
    L.append("")

    L.append("## Reference: XGBoost C API in-process (`bench/xgb_raw`, 1 thread)")
    L.append("")
    L.append("| batch | calls/s | rows/s | p50 µs | p99 µs |")
    L.append("|---|---:|---:|---:|---:|")
    for b in ("1", "100", "1000"):
        r = raw.get(f"batch{b}")
        if r:
            L.append(f"| {b} | {f0(r['calls_per_s'])} | {f0(r['rows_per_s'])} | {f1(r['p50_us'])} | {f1(r['p99_us'])} |")
    if "error" in raw:
        L.append(f"| error | {raw['error']} | | | |")
    L.append("")

    L.append("## Loopback round trip")
    L.append("")
    L.append("| what | round trips/s | p50 µs | p99 µs |")
    L.append("|---|---:|---:|---:|")
    for mode, label in (("same_cpu", "both ends on one CPU"), ("cross_cpu", "ends on two CPUs"),
                        ("unpinned", "left to the scheduler")):
        pm = ping.get(mode)
        if pm:
            L.append(f"| TCP ping-pong, {ping['size']} B each way, {label} (`bench/tcp_pingpong`) | "
                     f"{f0(1e6 / pm['rtt_mean_us'])} | {f1(pm['rtt_p50_us'])} | {f1(pm['rtt_p99_us'])} |")
    h = res.get("health_c1")
    if h and "rps" in h:
        L.append(f"| wrk `GET /v2/health/live`, 1 connection | {f0(h['rps'])} | {f1(h['p50_us'])} | {f1(h['p99_us'])} |")
    L.append("")

    scen = [
        ("tf1", "TF `:predict` JSON", 1),
        ("tf100", "TF `:predict` JSON", 100),
        ("v2_1", "V2 `infer` JSON", 1),
        ("v2_1000", "V2 `infer` JSON", 1000),
        ("v2bin_1000", "V2 `infer` binary tensors", 1000),
    ]
    sizes = meta.get("body_bytes", {})
    L.append("## berth-serve over HTTP (wrk)")
    L.append("")
    L.append("| endpoint | batch | request bytes | connections | req/s | rows/s | p50 µs | p99 µs | errors |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    conns = meta.get("conns", [1])
    for key, label, n in scen:
        for c in conns:
            r = res.get(f"{key}_c{c}")
            if not r:
                continue
            if "rps" not in r:
                L.append(f"| {label} | {n} | {f0(sizes.get(key))} | {c} | failed: {r.get('error', '?')} | | | | |")
                continue
            errs = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
            L.append(f"| {label} | {n} | {f0(sizes.get(key))} | {c} | {f0(r['rps'])} | {f0(r['rps'] * n)} | "
                     f"{f1(r['p50_us'])} | {f1(r['p99_us'])} | {errs} |")
    L.append("")

    # ratios, from the 1-connection runs (no queueing) and p50 latencies
    split = meta.get("pin") == "split" and ping.get("cross_cpu")
    unit_mode = "cross_cpu" if split else "same_cpu"
    rtt = (ping.get(unit_mode) or {}).get("rtt_p50_us")
    hp50 = h.get("p50_us") if h else None
    L.append("## Ratios (p50 latency at 1 connection)")
    L.append("")
    L.append("| comparison | value |")
    L.append("|---|---|")

    def overhead(key, label, b):
        r = res.get(f"{key}_c1")
        ref = raw.get(f"batch{b}")
        if not r or "p50_us" not in r or not ref:
            return
        o = r["p50_us"] - ref["p50_us"]
        txt = f"{f1(o)} µs per request ({r['p50_us']:.1f} vs {ref['p50_us']:.1f} µs in-process, ×{r['p50_us'] / ref['p50_us']:.1f})"
        if rtt:
            txt += f"; = {o / rtt:.1f} loopback round trips"
        if hp50:
            txt += f" = {o / hp50:.1f} HTTP round trips"
        L.append(f"| HTTP overhead, {label} batch {b} | {txt} |")

    overhead("tf1", "TF `:predict`", 1)
    overhead("v2_1", "V2 `infer` JSON", 1)
    overhead("tf100", "TF `:predict`", 100)
    overhead("v2_1000", "V2 `infer` JSON", 1000)
    overhead("v2bin_1000", "V2 `infer` binary", 1000)
    if rtt:
        L.append(f"| unit: loopback round trip | {rtt:.1f} µs, p50 of the TCP ping-pong with its ends on "
                 + ("two CPUs, as wrk and the server are" if split else "one CPU") + " |")
    if hp50:
        L.append(f"| unit: HTTP round trip | {hp50:.1f} µs, p50 of wrk `GET /v2/health/live` at 1 connection"
                 + (f" = {hp50 / rtt:.1f} loopback round trips" if rtt else "") + " |")
    for c in conns:
        j, b = res.get(f"v2_1000_c{c}"), res.get(f"v2bin_1000_c{c}")
        if j and b and "rps" in j and "rps" in b:
            L.append(f"| 1000 rows, binary vs JSON, {c} conn | ×{b['rps'] / j['rps']:.2f} req/s "
                     f"({f0(b['rps'])} vs {f0(j['rps'])}); p50 {b['p50_us']:.0f} vs {j['p50_us']:.0f} µs "
                     f"(JSON ×{j['p50_us'] / b['p50_us']:.2f}) |")
    if sizes.get("v2_1000") and sizes.get("v2bin_1000"):
        L.append(f"| 1000 rows, request bytes JSON / binary | {sizes['v2_1000']:,} / {sizes['v2bin_1000']:,} "
                 f"= ×{sizes['v2_1000'] / sizes['v2bin_1000']:.2f} |")
    L.append("")
    notes = anomalies(res)
    if notes:
        L.append("## Warnings")
        L.append("")
        L.extend(f"- {n}" for n in notes)
        L.append("")
    srv = res.get("server", {})
    if srv:
        L.append(f"Server after the run: peak RSS {srv.get('vm_hwm_kb', '?')} kB, threads {srv.get('threads', '?')}, "
                 f"log {srv.get('log_lines', '?')} lines.")
        L.append("")
    text = "\n".join(L)
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump({"model": info, "results": res}, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    a = sys.argv[1:]
    if a[:1] == ["gen"] and len(a) == 2:
        gen(a[1])
    elif a[:1] == ["freeport"]:
        freeport()
    elif a[:1] == ["cpustat"]:
        cpustat()
    elif a[:1] == ["busy"] and len(a) == 2:
        busy(float(a[1]))
    elif a[:1] == ["wait-ready"] and len(a) == 4:
        sys.exit(wait_ready(int(a[1]), int(a[2]), float(a[3])))
    elif a[:1] == ["check"] and len(a) == 3:
        try:
            check(a[1], int(a[2]))
        except CheckError as e:
            print(f"  FAIL {e}", file=sys.stderr)
            sys.exit(1)
        except (OSError, ValueError) as e:
            print(f"  FAIL {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(1)
    elif a[:1] == ["report"] and len(a) == 3:
        report(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
