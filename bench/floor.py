#!/usr/bin/python3
"""floor.py - berth-serve against nginx `return 200` (the HTTP floor); run by bench/floor.sh.

    floor.py run        the whole benchmark, configured by the environment floor.sh passes on
                        (FLOOR_* variables, see floor.sh); leaves DIR/results.json
    floor.py gen DIR    only train the model and write the request bodies into DIR
    floor.py report DIR OUT
                        turn DIR/results.json into the Markdown report, print it, write it to
                        OUT (and the raw figures to OUT with .json)

What it does, in order (docs/benchmarks.md, "berth-serve against nginx (the HTTP floor)"):

 1. trains the issue's model with this Python's XGBoost: binary:logistic, 8 features, 50 trees
    of depth 6, and writes TF :predict bodies of 1, 100 and 1000 rows and a V2 binary-tensor
    body of 1000 rows, with XGBoost's own predictions for them;
 2. starts berth-serve (`--rest_api_num_threads 1`) pinned to the server CPU and checks every
    body's answer against XGBoost (1e-6); takes the batch-1 answer's body and writes an nginx
    config (one worker, keep-alive, `return 200` with that exact body, default_type
    application/json), starts nginx on the same CPU and checks it returns those bytes;
 3. where berth-serve knows `--xgboost_predictor`, starts one server with `=native` and one
    with `=library` and checks them the same way;
 4. the floor: rounds of wrk (batch-1 TF :predict, 1 thread, 16 connections, on the client
    CPU) against berth-serve and nginx in turn (the order alternates each round), with the
    CPU time of every server thread (/proc/PID/task/*/schedstat), wrk's (rusage) and the
    whole machine's (/proc/stat) over each run;
 5. syscalls per request: one more bounded run per server under
    `perf stat -e raw_syscalls:sys_enter -p PID` (or `strace -f -c -p PID` without perf);
 6. rows/s at batch 1, 100 and 1000 (TF JSON) and 1000 (V2 binary), native against library
    (or, without the flag, the default server alone), alternating, in rounds;
 7. a flat `perf record` profile of berth-serve under the batch-1 load (top symbols, their
    share of its CPU and that share in µs per request).
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: the model, http(), formatting)
from gateway import NGINX_CONF as GATEWAY_NGINX_CONF, thread_ns  # noqa: E402  (bench/gateway.py)

MODEL_NAME = "floor"
FEATURES = 8
TREES = 50
DEPTH = 6
TRAIN_ROWS = 5000
ROWS = 1000
TOL = 1e-6
HERE = os.path.dirname(os.path.abspath(__file__))
PREDICT = f"/v1/models/{MODEL_NAME}:predict"
INFER = f"/v2/models/{MODEL_NAME}/infer"
# scenario key -> (label, path, body file, content type, batch)
SCEN = {
    "tf1": ("TF `:predict` JSON", PREDICT, "body_tf1.json", "application/json", 1),
    "tf100": ("TF `:predict` JSON", PREDICT, "body_tf100.json", "application/json", 100),
    "tf1000": ("TF `:predict` JSON", PREDICT, "body_tf1000.json", "application/json", 1000),
    "v2bin1000": ("V2 `infer` binary tensors", INFER, "body_v2bin_1000.bin", "application/octet-stream", 1000),
}
ROW_SCEN = ("tf1", "tf100", "tf1000", "v2bin1000")


def log(msg):
    print(f"floor: {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# ---------------------------------------------------------------- model and bodies

def gen(d):
    """bench/bench.py's model and bodies with the issue's sizes, plus a 1000-row TF body."""
    import numpy as np
    import xgboost as xgb

    bench.FEATURES, bench.TREES, bench.DEPTH, bench.TRAIN_ROWS, bench.BENCH_ROWS = (
        FEATURES, TREES, DEPTH, TRAIN_ROWS, ROWS)
    bench.gen(d)
    rows = np.fromfile(os.path.join(d, "rows.f32"), dtype="<f4").reshape(ROWS, FEATURES)
    with open(os.path.join(d, "body_tf1000.json"), "w") as f:
        json.dump({"instances": [bench.fmt_row(r) for r in rows]}, f, separators=(",", ":"))
    booster = xgb.Booster(model_file=os.path.join(d, "base", "1", "model.json"))
    trees = booster.get_dump(dump_format="json")
    info = json.load(open(os.path.join(d, "model_info.json")))
    info.update({"trees": len(trees), "nodes": sum(t.count('"nodeid"') for t in trees),
                 "leaves": sum(t.count('"leaf"') for t in trees)})
    with open(os.path.join(d, "model_info.json"), "w") as f:
        json.dump(info, f)
    return info


# ---------------------------------------------------------------- correctness

def close(got, want, what):
    if len(got) != len(want):
        raise Fail(f"{what}: {len(got)} predictions, want {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if not isinstance(g, (int, float)) or abs(g - w) > TOL:
            raise Fail(f"{what}: prediction {i} is {g!r}, XGBoost says {w!r} (tolerance {TOL})")


def post(port, key, d):
    _, path, body, ct, _ = SCEN[key]
    with open(os.path.join(d, body), "rb") as f:
        data = f.read()
    hd = {"Content-Type": ct}
    if key.startswith("v2bin"):
        hd["Inference-Header-Content-Length"] = open(os.path.join(d, "body_v2bin_1000.hdrlen")).read().strip()
    return bench.http(port, "POST", path, data, hd)


def check(d, port, name):
    """Every scenario's answer against XGBoost; returns the batch-1 answer's body bytes."""
    want = json.load(open(os.path.join(d, "expected.json")))["predictions"]
    tf1 = None
    for key in ROW_SCEN:
        n = SCEN[key][4]
        what = f"{name}: {SCEN[key][0]} batch {n}"
        st, hd, out = post(port, key, d)
        if st != 200:
            raise Fail(f"{what}: HTTP {st}: {out[:300]!r}")
        if key.startswith("v2bin"):
            hd = {k.lower(): v for k, v in hd.items()}
            jl = int(hd.get("inference-header-content-length", "-1"))
            if not 0 < jl <= len(out) or len(out) - jl != 4 * n:
                raise Fail(f"{what}: Inference-Header-Content-Length {jl}, {len(out)} bytes; "
                           f"want a JSON header and {4 * n} bytes of FP32")
            vals = list(struct.unpack(f"<{n}f", out[jl:]))
        else:
            r = json.loads(out)
            vals = r.get("predictions") if isinstance(r, dict) else None
            if not isinstance(vals, list):
                raise Fail(f"{what}: no \"predictions\" list: {out[:300]!r}")
        close(vals, want[:n], what)
        if key == "tf1":
            tf1 = out
        log(f"  ok  {what} ({len(out)} bytes)")
    return tf1


# ---------------------------------------------------------------- nginx

# bench/gateway.py's nginx.conf (one worker, no access log, temp paths in the run's dir, long
# keep-alive) up to its upstream, then a server that answers every request with one fixed body.
_HEAD, _, _ = GATEWAY_NGINX_CONF.partition("    upstream instance")
assert _HEAD.endswith("keepalive_timeout 60s;\n"), "bench/gateway.py's NGINX_CONF changed shape"
NGINX_CONF = ("# written by bench/floor.py for bench/floor.sh: the floor berth-serve is measured against\n"
              + _HEAD.split("\n", 1)[1] + """    default_type application/json;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            return 200 '{body}';
        }}
    }}
}}
""")


def nginx_conf(nd, port, body):
    text = body.decode()
    if "$" in text or "\r" in text:
        raise Fail(f"the answer {body[:100]!r} cannot go into an nginx string as it is")
    os.makedirs(nd, exist_ok=True)
    path = os.path.join(nd, "nginx.conf")
    with open(path, "w") as f:
        f.write(NGINX_CONF.format(d=nd, port=port, body=text.replace("\\", "\\\\").replace("'", "\\'")))
    return path


# ---------------------------------------------------------------- processes and CPU time

HZ = os.sysconf("SC_CLK_TCK")


def proc_stat():
    """{"cpu": [...], "cpu0": [...], ...} of /proc/stat, in ticks."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu"):
                p = line.split()
                out[p[0]] = [int(x) for x in p[1:]]
    return out


def busy_s(v):
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / HZ


def total_s(v):
    return sum(v[:8]) / HZ


NICE = [0]  # the autogroup nice value of what we start (FLOOR_NICE where autogroups are on)


def autogroups():
    try:
        return open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1"
    except OSError:
        return False


def die_with_parent():
    """In the child before exec: SIGTERM when this script dies, even by SIGKILL (the servers may
    be in sessions of their own, out of reach of the terminal's signals)."""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def popen(argv, **kw):
    """Popen; with NICE set, in a session of its own (so an autogroup of its own) at that nice:
    with autogroups the CPU is shared between sessions first, so a plain `nice` would only rank
    the process within ours."""
    p = subprocess.Popen(argv, start_new_session=bool(NICE[0]), preexec_fn=die_with_parent, **kw)
    if NICE[0]:
        try:
            with open(f"/proc/{p.pid}/autogroup", "w") as f:
                f.write(str(NICE[0]))
        except OSError:
            pass
    return p


class Procs:
    """The processes this run started; stopped by pid, in reverse order."""

    def __init__(self):
        self.items = []

    def start(self, name, argv, logpath):
        lf = open(logpath, "wb")
        p = popen(argv, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        lf.close()
        self.items.append((name, p))
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for _, p in reversed(self.items):
            self.stop(p)


def wait_port(port, proc, secs, path=None):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            if path:
                st, _, _ = bench.http(port, "GET", path, timeout=1)
                if st == 200:
                    return True
            else:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def freeport(taken):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in taken:
            taken.add(port)
            return port


# ---------------------------------------------------------------- wrk

def other_on_cpu(s0, s1, cpu, used):
    """% of CPU number CPU busy between the /proc/stat readings S0 and S1, less USED seconds."""
    k = f"cpu{cpu}"
    if cpu is None or k not in s0 or k not in s1:
        return None
    tt = total_s(s1[k]) - total_s(s0[k])
    return max(0.0, 100.0 * (busy_s(s1[k]) - busy_s(s0[k]) - used) / tt) if tt > 0 else None


class Bench:
    def __init__(self, cfg, d):
        self.cfg, self.d = cfg, d

    def wrk_argv(self, port, key, conns, secs):
        return (self.cfg["cli_pin"] + ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout", "10s",
                                       "-s", os.path.join(HERE, "post.lua"),
                                       f"http://127.0.0.1:{port}{SCEN[key][1]}"])

    def wrk_env(self, key):
        env = dict(os.environ)
        env["BENCH_BODY"] = os.path.join(self.d, SCEN[key][2])
        env["BENCH_CT"] = SCEN[key][3]
        env["BENCH_HDR_LEN"] = (open(os.path.join(self.d, "body_v2bin_1000.hdrlen")).read().strip()
                                if key.startswith("v2bin") else "")
        return env

    def run(self, server, key, conns, secs, wrap=None):
        """One wrk run against SERVER ({"name", "port", "proc"}); returns its figures with the
        CPU time of the server, of wrk and of the machine over the run. WRAP: a prefix for the
        wrk command (perf stat / perf record attached to the server)."""
        argv = self.wrk_argv(server["port"], key, conns, secs)
        if wrap:
            argv = wrap + argv
        pid = server["proc"].pid
        s0, n0, t0 = proc_stat(), thread_ns(pid), time.monotonic()
        p = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.wrk_env(key))
        try:
            out, _ = p.communicate(timeout=secs + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        # wrk's own CPU time, from the rusage of the child we waited for (with its wrapper)
        ru = self.child_cpu()
        t1, n1, s1 = time.monotonic(), thread_ns(pid), proc_stat()
        if server["proc"].poll() is not None:
            raise Fail(f"{server['name']} exited during a {key} run (see its log in the kept dir)")
        text = out.decode(errors="replace")
        m = re.findall(r"^BENCH_RESULT (\{.*\})$", text, re.M)
        if not m:
            return {"error": "wrk gave no result: " + " ".join(text.strip().splitlines()[-3:])[:300]}
        r = json.loads(m[-1])
        wall = t1 - t0
        req = max(1, r["requests"])
        srv = (n1 - n0) / 1e9
        c = self.cfg
        r.update({
            "server_cpu_s": srv, "server_cpu_us_per_req": srv * 1e6 / req,
            "server_cpu_util": srv / wall, "client_cpu_s": ru, "client_cpu_util": ru / wall,
            "wall_s": wall, "bytes_per_resp": r["bytes_in"] / req,
            "errors": sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")),
        })
        allb = busy_s(s1["cpu"]) - busy_s(s0["cpu"])
        allt = total_s(s1["cpu"]) - total_s(s0["cpu"])
        if allt > 0:
            # everything busy on the machine that was neither this server nor wrk, in % of all CPUs
            r["other_pct"] = max(0.0, 100.0 * (allb - srv - ru) / allt)
        # what else ran on the server's CPU (its busy time less this server's threads), and on
        # wrk's (a busy client CPU caps the fast server's req/s)
        for key, cpu, used in (("server_cpu_other_pct", c["server_cpu"], srv),
                               ("client_cpu_other_pct", c["client_cpu"], ru)):
            v = other_on_cpu(s0, s1, cpu, used)
            if v is not None:
                r[key] = v
        return r

    _ru_last = None

    def child_cpu(self):
        import resource
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        now = ru.ru_utime + ru.ru_stime
        last = Bench._ru_last if Bench._ru_last is not None else 0.0
        Bench._ru_last = now
        return now - last


# ---------------------------------------------------------------- syscalls and profile

def perf_works(tmp):
    if not shutil.which("perf"):
        return "perf is not installed"
    out = os.path.join(tmp, "perf-probe.txt")
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if p.returncode != 0 or not os.path.exists(out) or "raw_syscalls" not in open(out).read():
        return (p.stderr.decode(errors="replace").strip().splitlines() or ["perf stat failed"])[-1][:200]
    return None


def syscalls_run(b, server, key, conns, secs, tool, tmp):
    """A bounded run with the server's syscalls counted; returns the wrk figures with
    syscalls, syscalls_per_req and tool."""
    out = os.path.join(tmp, f"syscalls-{server['name']}.txt")
    pid = server["proc"].pid
    if tool == "perf":
        wrap = ["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter", "-p", str(pid), "--"]
        r = b.run(server, key, conns, secs, wrap=wrap)
        n = None
        for line in open(out):
            f = line.split(",")
            if len(f) > 2 and f[2].startswith("raw_syscalls:sys_enter") and f[0].strip().isdigit():
                n = int(f[0])
        top = None
    else:
        # strace stops the server at every syscall: the req/s of this run mean nothing, the
        # count does. -f: every thread; -c: a summary when we detach it with SIGINT.
        st = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        r = b.run(server, key, conns, secs)
        st.send_signal(signal.SIGINT)
        try:
            st.wait(20)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait()
        b.child_cpu()
        n, top = None, []
        for line in open(out):
            f = line.split()
            if len(f) >= 5 and f[-1] == "total":
                n = int(f[3])  # % time, seconds, usecs/call, calls, [errors], "total"
            elif len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("syscall", "total"):
                top.append({"syscall": f[-1], "calls": int(f[3])})
    if "requests" in r:
        r["syscalls"] = n
        r["syscalls_per_req"] = None if n is None else n / max(1, r["requests"])
        r["tool"] = tool
        if top:
            r["by_syscall"] = top[:8]
    return r


def profile_run(b, server, key, conns, secs, tmp):
    """perf record on the server under load; top symbols by self time."""
    data = os.path.join(tmp, "perf.data")
    pid = server["proc"].pid
    wrap = ["perf", "record", "-q", "-F", "1999", "-o", data, "-p", str(pid), "--"]
    r = b.run(server, key, conns, secs, wrap=wrap)
    if "requests" not in r:
        return r
    res = {"wrk": r}
    for sort, name, limit in (("dso,symbol", "symbols", 30), ("dso", "dsos", 12)):
        p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", sort,
                            "--percent-limit", "0.3", "-q"], capture_output=True, timeout=120)
        rows = []
        for line in p.stdout.decode(errors="replace").splitlines():
            m = re.match(r"^\s*([\d.]+)%\s+(\S+)\s*(?:\[[.kx]\]\s+(.*))?$", line)
            if m:
                sym = re.sub(r"(\s+-)*\s*$", "", m.group(3) or "")  # perf pads with srcline columns
                rows.append({"pct": float(m.group(1)), "dso": m.group(2), "symbol": sym.strip()})
        res[name] = rows[:limit]
    return res


# ---------------------------------------------------------------- the run

def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def quiet_gate(cfg, results, label):
    """Before a round: the machine's busy share over 0.5 s; waits up to FLOOR_QUIET_WAIT s for
    it to drop under FLOOR_QUIET_PCT."""
    end = time.monotonic() + cfg["quiet_wait"]
    while True:
        s0 = proc_stat()["cpu"]
        time.sleep(0.5)
        s1 = proc_stat()["cpu"]
        pct = 100.0 * (busy_s(s1) - busy_s(s0)) / max(1e-9, total_s(s1) - total_s(s0))
        if pct < cfg["quiet_pct"] or time.monotonic() >= end:
            results["gates"].append({"at": label, "busy_pct": round(pct, 1),
                                     "loadavg": open("/proc/loadavg").read().split()[:3]})
            return
        time.sleep(1)


def measured(b, cfg, results, server, key, conns, secs, label):
    """One run, gated on a quiet machine; with FLOOR_QUIET_WAIT > 0 a run during which other
    work took more than FLOOR_QUIET_PCT of the server's CPU is repeated (twice at most)."""
    for attempt in range(3):
        quiet_gate(cfg, results, label)
        r = b.run(server, key, conns, secs)
        noisy = r.get("server_cpu_other_pct", 0) >= cfg["quiet_pct"]
        if not noisy or cfg["quiet_wait"] <= 0 or attempt == 2:
            return r
        r.update({"label": label, "server": server["name"]})
        results.setdefault("discarded", []).append(r)
        log(f"  {label}: other work took {r['server_cpu_other_pct']:.0f}% of the server CPU; again")
    return r


def run():
    cfg = {
        "server": os.environ["FLOOR_SERVER"],
        "nginx": os.environ.get("FLOOR_NGINX", "nginx"),
        "secs": env_int("FLOOR_SECONDS", 4),
        "warmup": env_int("FLOOR_WARMUP", 1),
        "rounds": env_int("FLOOR_ROUNDS", 3),
        "conns": env_int("FLOOR_CONNECTIONS", 16),
        "threads": env_int("FLOOR_SERVER_THREADS", 1),
        "rows_secs": env_int("FLOOR_ROWS_SECONDS", 3),
        "rows_rounds": env_int("FLOOR_ROWS_ROUNDS", 3),
        "rows_conns": env_int("FLOOR_ROWS_CONNECTIONS", 16),
        "syscall_secs": env_int("FLOOR_SYSCALL_SECONDS", 2),
        "profile_secs": env_int("FLOOR_PROFILE_SECONDS", 3),
        "quiet_wait": env_int("FLOOR_QUIET_WAIT", 0),
        "quiet_pct": env_int("FLOOR_QUIET_PCT", 10),
        "pin": os.environ.get("FLOOR_PIN", "split"),
        "nice": env_int("FLOOR_NICE", 0),
        "keep": os.environ.get("FLOOR_KEEP", "0") == "1",
        "git": os.environ.get("FLOOR_GIT", "?"),
    }
    cfg["server_cpu"] = cfg["client_cpu"] = None
    cfg["srv_pin"], cfg["cli_pin"] = [], []
    cpus = sorted(os.sched_getaffinity(0))
    if cfg["pin"] == "split" and len(cpus) > 1 and shutil.which("taskset"):
        cfg["server_cpu"], cfg["client_cpu"] = cpus[0], cpus[-1]
        cfg["srv_pin"] = ["taskset", "-c", str(cpus[0])]
        cfg["cli_pin"] = ["taskset", "-c", str(cpus[-1])]
    else:
        cfg["pin"] = "none"
    if cfg["nice"] and not autogroups():
        # servers and wrk at this nice value: on a shared machine other work takes less from them
        cfg["srv_pin"] = cfg["srv_pin"] + ["nice", "-n", str(cfg["nice"])]
        cfg["cli_pin"] = cfg["cli_pin"] + ["nice", "-n", str(cfg["nice"])]
    NICE[0] = cfg["nice"] if autogroups() else 0
    out_dir = os.environ.get("FLOOR_DIR")
    tmp = out_dir or tempfile.mkdtemp(prefix="berth-floor.")
    procs = Procs()
    results = {"cfg": {k: v for k, v in cfg.items() if k not in ("srv_pin", "cli_pin")}, "gates": [],
               "floor": [], "rows": [], "notes": []}

    def on_term(signum, frame):
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, on_term)
    t_start = time.monotonic()
    st_start = proc_stat()
    try:
        results["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
        s0 = proc_stat()["cpu"]
        time.sleep(1)
        s1 = proc_stat()["cpu"]
        results["busy_before"] = round(100.0 * (busy_s(s1) - busy_s(s0)) / max(1e-9, total_s(s1) - total_s(s0)), 1)
        log(f"machine {results['busy_before']}% busy before the run (load {' '.join(results['loadavg_start'])})")
        if results["busy_before"] >= 10:
            log("WARNING: the CPUs are busy with other work; figures will be skewed")

        log(f"training the model ({TREES} trees, depth {DEPTH}, {FEATURES} features) in {tmp}")
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "gen", tmp], timeout=180)
        if p.returncode:
            raise Fail("training the model failed")
        info = json.load(open(os.path.join(tmp, "model_info.json")))
        results["model"] = info

        helptext = subprocess.run([cfg["server"], "--help"], capture_output=True, timeout=10).stdout.decode()
        has_flag = "--xgboost_predictor" in helptext
        results["has_predictor_flag"] = has_flag
        taken = set()

        def start_server(name, extra):
            port = freeport(taken)
            argv = (cfg["srv_pin"] + [cfg["server"], "--rest_api_port", str(port), "--model_name", MODEL_NAME,
                                      "--model_base_path", os.path.join(tmp, "base"),
                                      "--rest_api_num_threads", str(cfg["threads"])] + extra)
            logpath = os.path.join(tmp, f"{name}.log")
            proc = procs.start(name, argv, logpath)
            if not wait_port(port, proc, 30, "/v2/health/ready"):
                tail = open(logpath, errors="replace").read().strip().splitlines()[-5:]
                procs.stop(proc)
                return None, " / ".join(tail)[:400]
            cmd = " ".join(argv[len(cfg["srv_pin"]):]).replace(tmp, "$TMP")
            log(f"{name}: {' '.join(argv)} (pid {proc.pid})")
            return {"name": name, "port": port, "proc": proc, "cmd": cmd, "log": logpath}, None

        berth, err = start_server("berth-serve", [])
        if not berth:
            raise Fail(f"berth-serve did not start: {err}")
        log("checking berth-serve's answers against XGBoost")
        tf1 = check(tmp, berth["port"], "berth-serve")
        results["answer"] = tf1.decode(errors="replace")
        nd = os.path.join(tmp, "nginx")
        ng_port = freeport(taken)
        conf = nginx_conf(nd, ng_port, tf1)
        argv = cfg["srv_pin"] + [cfg["nginx"], "-p", nd + "/", "-c", conf, "-e", os.path.join(nd, "error.log")]
        ngp = procs.start("nginx", argv, os.path.join(nd, "stdout.log"))
        if not wait_port(ng_port, ngp, 20):
            msg = ""
            for f in ("stdout.log", "error.log"):
                if os.path.exists(os.path.join(nd, f)):
                    msg += open(os.path.join(nd, f), errors="replace").read()[-300:]
            raise Fail(f"nginx did not start: {msg.strip()}")
        nginx = {"name": "nginx", "port": ng_port, "proc": ngp,
                 "cmd": f"nginx -c nginx.conf (return 200 with the {len(tf1)}-byte answer)"}
        st, hd, out = post(ng_port, "tf1", tmp)
        ct = {k.lower(): v for k, v in hd.items()}.get("content-type")
        if st != 200 or out != tf1 or ct != "application/json":
            raise Fail(f"nginx answered HTTP {st} {ct!r} {out[:100]!r}, want 200 application/json {tf1!r}")
        log(f"  ok  nginx answers the same {len(out)} bytes (pid {ngp.pid})")
        results["servers"] = {"berth-serve": berth["cmd"], "nginx": nginx["cmd"]}
        ver = subprocess.run([cfg["nginx"], "-v"], capture_output=True).stderr.decode()
        results["nginx_version"] = ver.strip().replace("nginx version: ", "")

        paths = {}
        if has_flag:
            for mode in ("native", "library"):
                s, err = start_server(mode, [f"--xgboost_predictor={mode}"])
                if not s:
                    results["notes"].append(f"berth-serve --xgboost_predictor={mode} did not start: {err}")
                    continue
                log(f"checking the {mode} path's answers against XGBoost")
                check(tmp, s["port"], f"--xgboost_predictor={mode}")
                paths[mode] = s
                results["servers"][mode] = s["cmd"]
        else:
            paths["default"] = berth

        b = Bench(cfg, tmp)
        b.child_cpu()
        # ---- warm-up (not recorded)
        for s in [berth, nginx] + [s for s in paths.values() if s is not berth]:
            b.run(s, "tf1", cfg["conns"], cfg["warmup"])

        # ---- the floor, alternating
        log(f"floor: {cfg['rounds']} rounds of wrk -t1 -c{cfg['conns']} -d{cfg['secs']}s, batch-1 TF :predict")
        for rnd in range(cfg["rounds"]):
            order = [berth, nginx] if rnd % 2 == 0 else [nginx, berth]
            for s in order:
                r = measured(b, cfg, results, s, "tf1", cfg["conns"], cfg["secs"], f"floor round {rnd + 1} {s['name']}")
                r.update({"round": rnd + 1, "server": s["name"]})
                results["floor"].append(r)
                log(f"  round {rnd + 1} {s['name']}: " + brief(r))

        # ---- syscalls per request
        # The count comes from perf where it works (cheap: the run keeps its pace), else from
        # strace; the breakdown by syscall from strace ("auto": both where both work).
        want = os.environ.get("FLOOR_SYSCALL_TOOL", "auto")
        why = perf_works(tmp)
        has_strace = shutil.which("strace") is not None
        if why is not None:
            results["notes"].append(f"perf stat does not work here ({why})")
        tools = [t for t in ("perf", "strace") if want in (t, "auto") and (why is None if t == "perf" else has_strace)]
        if want == "auto" and why is None and not has_strace:
            tools = ["perf"]
        results["syscall_tool"] = tools[0] if tools else None
        results["syscalls"], results["syscalls_strace"] = {}, {}
        for tool in tools:
            log(f"syscalls per request ({tool}), {cfg['syscall_secs']} s per server")
            for s in (berth, nginx):
                quiet_gate(cfg, results, f"syscalls ({tool}) {s['name']}")
                r = syscalls_run(b, s, "tf1", cfg["conns"], cfg["syscall_secs"], tool, tmp)
                results["syscalls" if tool == tools[0] else "syscalls_strace"][s["name"]] = r
                log(f"  {s['name']}: {r.get('syscalls_per_req', 'n/a')} syscalls/request")
        if not tools:
            results["notes"].append(f"no syscall counts: BENCH_SYSCALL_TOOL={want} does not work here")

        # ---- rows/s, native against library
        log(f"rows/s: {', '.join(paths)}; {cfg['rows_rounds']} rounds of {cfg['rows_secs']} s per scenario")
        names = list(paths)
        for rnd in range(cfg["rows_rounds"]):
            for key in ROW_SCEN:
                order = names if rnd % 2 == 0 else names[::-1]
                for nm in order:
                    s = paths[nm]
                    r = measured(b, cfg, results, s, key, cfg["rows_conns"], cfg["rows_secs"],
                                 f"rows round {rnd + 1} {nm} {key}")
                    r.update({"round": rnd + 1, "path": nm, "scenario": key, "batch": SCEN[key][4]})
                    if "rps" in r:
                        r["rows_per_s"] = r["rps"] * SCEN[key][4]
                    results["rows"].append(r)
                    log(f"  round {rnd + 1} {nm} {key}: " + brief(r))

        # ---- profile
        if cfg["profile_secs"] > 0 and why is None:
            log(f"perf record of berth-serve under the batch-1 load, {cfg['profile_secs']} s")
            quiet_gate(cfg, results, "profile")
            results["profile"] = profile_run(b, berth, "tf1", cfg["conns"], cfg["profile_secs"], tmp)
        elif cfg["profile_secs"] > 0:
            results["notes"].append("no profile: perf does not work here")

        # ---- footprints
        for s in [berth] + list(paths.values()):
            try:
                status = open(f"/proc/{s['proc'].pid}/status").read()
                results.setdefault("footprint", {})[s["name"]] = {
                    k: int(re.search(rf"^{k}:\s*(\d+)", status, re.M).group(1)) for k in ("VmHWM", "Threads")}
            except (OSError, AttributeError):
                pass
        for s in [berth] + list(paths.values()):
            txt = open(s["log"], errors="replace").read().splitlines()
            results.setdefault("server_log", {})[s["name"]] = {
                "lines": len(txt),
                "predictor": [x[:200] for x in txt if re.search(r"predictor|native|evaluator", x, re.I)][:4]}
    except Fail as e:
        log(f"error: {e}")
        results["error"] = str(e)
    except (KeyboardInterrupt, SystemExit):
        results["error"] = "interrupted"
        raise
    finally:
        procs.stop_all()
        st_end = proc_stat()
        import resource
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours = ru.ru_utime + ru.ru_stime + sum(os.times()[:2])
        allb = busy_s(st_end["cpu"]) - busy_s(st_start["cpu"])
        allt = total_s(st_end["cpu"]) - total_s(st_start["cpu"])
        results["other_pct"] = max(0.0, 100.0 * (allb - ours) / allt) if allt > 0 else None
        results["seconds"] = time.monotonic() - t_start
        results["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        with open(os.path.join(tmp, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        print(tmp)
    return 1 if "error" in results else 0


def brief(r):
    if "rps" not in r:
        return r.get("error", "?")
    return (f"{r['rps']:,.0f} req/s, p50 {r['p50_us']:.0f} µs, server {r['server_cpu_us_per_req']:.1f} CPU µs/req "
            f"({100 * r['server_cpu_util']:.0f}% of a CPU), wrk {100 * r['client_cpu_util']:.0f}%, "
            f"others {r.get('other_pct', 0):.0f}%" + (f", {r['errors']} errors" if r["errors"] else ""))


# ---------------------------------------------------------------- report

def med(v):
    return statistics.median(v) if v else None


def spread(v):
    """(min, max, (max - min) / median in %)"""
    if not v:
        return None
    m = statistics.median(v)
    return min(v), max(v), (100.0 * (max(v) - min(v)) / m if m else 0.0)


def fmt(v, d=0):
    return "n/a" if v is None else f"{v:,.{d}f}"


def report(d, out_path):
    res = json.load(open(os.path.join(d, "results.json")))
    cfg, info = res["cfg"], res.get("model", {})
    L = []
    cpu = bench.sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    L.append(f"# berth-serve against nginx (the HTTP floor) - {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    L.append("")
    pin = (f"servers on CPU {cfg['server_cpu']}, wrk on CPU {cfg['client_cpu']}" if cfg["pin"] == "split"
           else "not pinned to CPUs") + (f", servers and wrk at nice {cfg['nice']}" if cfg.get("nice") else "")
    L.append(f"Machine: {bench.sh('nproc')} CPUs ({cpu}), {platform.system()} {platform.release()}; everything on "
             f"127.0.0.1; {pin}. git {cfg.get('git', '?')}. Load average {' '.join(res.get('loadavg_start', []))} "
             f"at the start, {' '.join(res.get('loadavg_end', []))} at the end; other work on the CPUs: "
             f"{res.get('busy_before', '?')}% just before, "
             + ("?" if res.get("other_pct") is None else f"{res['other_pct']:.0f}%") + " during the run.")
    if info:
        L.append(f"Model: XGBoost {info['xgboost']} `{info['objective']}`, {info['features']} features, "
                 f"{info['trees']} trees of depth {info['depth']} ({info['nodes']:,} nodes, {info['leaves']:,} leaves). "
                 f"Every answer checked against XGBoost ({TOL:g}) before timing.")
    sv = res.get("servers", {})
    if sv:
        L.append(f"berth-serve: `{sv.get('berth-serve')}`; nginx: {res.get('nginx_version', '?')}, one worker, "
                 f"keep-alive, `return 200` with default_type application/json and the body "
                 f"`{res.get('answer', '?')}` ({len(res.get('answer', '').encode())} bytes), berth-serve's answer "
                 "to the same request.")
    L.append("")
    if "error" in res:
        L.append(f"**The run failed: {res['error']}**")
        L.append("")

    fl = res.get("floor", [])
    by = {n: [r for r in fl if r.get("server") == n and "rps" in r] for n in ("berth-serve", "nginx")}
    L.append(f"## Batch-1 TF `:predict`: wrk -t1 -c{cfg['conns']}, {cfg['secs']} s runs, {cfg['rounds']} rounds "
             f"(order alternating), server `--rest_api_num_threads {cfg['threads']}`")
    L.append("")
    L.append("| round | server | req/s | p50 µs | p99 µs | server CPU µs/req | server busy | wrk busy "
             "| others on server CPU | others on wrk CPU | bytes/answer | errors |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in fl:
        if "rps" not in r:
            L.append(f"| {r.get('round')} | {r.get('server')} | failed: {r.get('error')} | | | | | | | | | |")
            continue
        L.append(f"| {r['round']} | {r['server']} | {fmt(r['rps'])} | {fmt(r['p50_us'])} | {fmt(r['p99_us'])} | "
                 f"{fmt(r['server_cpu_us_per_req'], 1)} | {100 * r['server_cpu_util']:.0f}% | "
                 f"{100 * r['client_cpu_util']:.0f}% | {fmt(r.get('server_cpu_other_pct'))}% | "
                 f"{fmt(r.get('client_cpu_other_pct'))}% | {r['bytes_per_resp']:.0f} | {r['errors']} |")
    L.append("")
    rounds = sorted({r["round"] for r in fl})
    ratios, cpu_ratios = [], []
    for rn in rounds:
        a = [r for r in by["berth-serve"] if r["round"] == rn]
        n = [r for r in by["nginx"] if r["round"] == rn]
        if a and n:
            ratios.append(a[0]["rps"] / n[0]["rps"])
            cpu_ratios.append(a[0]["server_cpu_us_per_req"] / n[0]["server_cpu_us_per_req"])
    sc = res.get("syscalls", {})
    L.append("## The floor")
    L.append("")
    L.append("| figure | berth-serve | nginx | berth-serve ÷ nginx |")
    L.append("|---|---:|---:|---:|")

    def row(label, key, d=0, ratio=None):
        va = [r[key] for r in by["berth-serve"]]
        vn = [r[key] for r in by["nginx"]]
        sa, sn = spread(va), spread(vn)

        def cell(m, s):
            return "n/a" if m is None else f"{fmt(m, d)} ({fmt(s[0], d)}–{fmt(s[1], d)})"
        rr = "" if ratio is None else ratio
        L.append(f"| {label} | {cell(med(va), sa)} | {cell(med(vn), sn)} | {rr} |")
    rs = spread(ratios)
    rtxt = ("n/a" if not ratios else
            f"**×{med(ratios):.2f}** (rounds ×{rs[0]:.2f}–×{rs[1]:.2f})")
    row("req/s, median (min–max)", "rps", 0, rtxt)
    cs = spread(cpu_ratios)
    row("server CPU µs per request", "server_cpu_us_per_req", 1,
        "n/a" if not cpu_ratios else f"×{med(cpu_ratios):.2f} (×{cs[0]:.2f}–×{cs[1]:.2f})")
    row("p50 latency µs", "p50_us", 0, "")
    sa, sn = sc.get("berth-serve", {}), sc.get("nginx", {})
    if sa.get("syscalls_per_req") is not None and sn.get("syscalls_per_req") is not None:
        L.append(f"| syscalls per request ({res.get('syscall_tool')}, separate {cfg['syscall_secs']} s run) | "
                 f"{sa['syscalls_per_req']:.2f} | {sn['syscalls_per_req']:.2f} | "
                 f"×{sa['syscalls_per_req'] / sn['syscalls_per_req']:.2f} |")
    else:
        L.append("| syscalls per request | n/a | n/a | n/a |")
    L.append("")
    if ratios:
        m = med(ratios)
        verdict = ("the goal (≥ 0.9) is met" if m >= 0.9 else "the bar (≥ 0.8) is met, the goal (0.9) is not"
                   if m >= 0.8 else "below the bar (0.8)")
        L.append(f"berth-serve answers **×{m:.2f}** nginx's requests/s (median of {len(ratios)} rounds, each "
                 f"berth-serve's run against the nginx run next to it): {verdict}. Spread of the req/s "
                 f"over the rounds: berth-serve {spread([r['rps'] for r in by['berth-serve']])[2]:.0f}%, nginx "
                 f"{spread([r['rps'] for r in by['nginx']])[2]:.0f}% of the median. The bodies are the same "
                 f"bytes; with the headers the answers are {med([r['bytes_per_resp'] for r in by['berth-serve']]):.0f} "
                 f"(berth-serve) and {med([r['bytes_per_resp'] for r in by['nginx']]):.0f} bytes (nginx adds "
                 "`Server` and `Date`).")
        L.append("")
        dis = res.get("discarded", [])
        if dis:
            L.append(f"{len(dis)} run(s) were discarded and repeated because other work took more than "
                     f"{cfg['quiet_pct']}% of the server's CPU during them (raw figures in the JSON).")
            L.append("")
    st = res.get("syscalls_strace") or sc
    for name in ("berth-serve", "nginx"):
        s = st.get(name, {})
        if s.get("by_syscall"):
            L.append(f"- {name}, by syscall (`strace -f -c`, a run of its own, {s['syscalls_per_req']:.2f} in all): "
                     + ", ".join(f"{x['syscall']} {x['calls'] / max(1, s['requests']):.2f}" for x in s["by_syscall"])
                     + " per request.")
    if any(st.get(n, {}).get("by_syscall") for n in st):
        L.append("")

    # ---- rows/s
    rows = res.get("rows", [])
    paths = []
    for r in rows:
        if r.get("path") not in paths:
            paths.append(r["path"])
    L.append(f"## rows/s over HTTP: native ÷ library (wrk -t1 -c{cfg['rows_conns']}, {cfg['rows_secs']} s runs, "
             f"{cfg['rows_rounds']} rounds, medians)")
    L.append("")
    has = res.get("has_predictor_flag")
    if not has:
        L.append("This berth-serve has no `--xgboost_predictor`: the native and library columns are n/a; the "
                 "default server's figures (the library) are the baseline for later runs.")
        L.append("")
    L.append("| endpoint | batch | " + ("native rows/s | library rows/s | native ÷ library |" if has
                                       else "default rows/s | p50 µs | native ÷ library |"))
    L.append("|---|---:|---:|---:|---:|")
    for key in ROW_SCEN:
        label, _, _, _, n = SCEN[key]

        def m_of(p, k="rows_per_s"):
            return med([r[k] for r in rows if r.get("path") == p and r.get("scenario") == key and k in r])
        if has:
            nv, lv = m_of("native"), m_of("library")
            rr = "n/a" if not (nv and lv) else f"**×{nv / lv:.2f}**"
            L.append(f"| {label} | {n} | {fmt(nv)} | {fmt(lv)} | {rr} |")
        else:
            L.append(f"| {label} | {n} | {fmt(m_of('default'))} | {fmt(m_of('default', 'p50_us'))} | "
                     "n/a (no --xgboost_predictor) |")
    L.append("")
    if has:
        goal = []
        for key in ("tf1000", "v2bin1000"):
            v = [med([r["rows_per_s"] for r in rows if r.get("path") == p and r.get("scenario") == key
                      and "rows_per_s" in r]) for p in ("native", "library")]
            if all(v):
                goal.append(f"{SCEN[key][0]} ×{v[0] / v[1]:.2f}")
        if goal:
            L.append("At 1000 rows native ÷ library is " + ", ".join(goal) + " (issue 7's goal: ≥ 3 at 1000 rows).")
            L.append("")
    sl = res.get("server_log", {})
    for nm in ("native", "library"):
        if sl.get(nm, {}).get("predictor"):
            L.append(f"`{nm}` server's log on the predictor: " + " / ".join(f"`{x}`" for x in sl[nm]["predictor"]))
    if any(sl.get(nm, {}).get("predictor") for nm in ("native", "library")):
        L.append("")

    # ---- profile
    prof = res.get("profile")
    if prof and prof.get("symbols"):
        w = prof["wrk"]
        us = w["server_cpu_us_per_req"]
        L.append(f"## Where berth-serve's CPU goes (perf record -F 1999, {cfg['profile_secs']} s of the batch-1 load, "
                 f"{w['rps']:,.0f} req/s, {us:.1f} CPU µs/req under perf)")
        L.append("")
        L.append("| share | µs/req | object | symbol (self time) |")
        L.append("|---:|---:|---|---|")
        for x in prof["symbols"][:25]:
            L.append(f"| {x['pct']:.1f}% | {us * x['pct'] / 100:.2f} | {x['dso']} | `{x['symbol'][:90]}` |")
        L.append("")
        L.append("By object: " + ", ".join(f"{x['dso']} {x['pct']:.1f}% ({us * x['pct'] / 100:.1f} µs)"
                                           for x in prof.get("dsos", [])) + ".")
        L.append("")

    # ---- warnings
    notes = list(res.get("notes", []))
    if res.get("busy_before", 0) >= 10:
        notes.append(f"before the run the CPUs were {res['busy_before']}% busy with other work (load "
                     f"{' '.join(res.get('loadavg_start', []))}): the figures are suspect.")
    if (res.get("other_pct") or 0) >= 10:
        notes.append(f"while it ran, processes other than the benchmark's used about {res['other_pct']:.0f}% of "
                     "the CPUs: the figures are skewed; run again on a quiet machine.")
    busy = [g for g in res.get("gates", []) if g["busy_pct"] >= cfg["quiet_pct"]]
    if busy:
        notes.append(f"{len(busy)} of {len(res['gates'])} runs started with the machine at least {cfg['quiet_pct']}% "
                     f"busy with other work (up to {max(g['busy_pct'] for g in busy):.0f}%; first: {busy[0]['at']}, "
                     f"load {' '.join(busy[0]['loadavg'])}).")
    for r in fl + rows:
        tag = f"{r.get('server') or r.get('path')} {r.get('scenario', 'tf1')} round {r.get('round')}"
        if "rps" not in r:
            notes.append(f"{tag}: no result ({r.get('error')}).")
            continue
        if r["errors"]:
            notes.append(f"{tag}: wrk counted {r['errors']} errors out of {r['requests']} requests.")
        if r.get("server_cpu_other_pct", 0) >= 10:
            notes.append(f"{tag}: other work took {r['server_cpu_other_pct']:.0f}% of the server's CPU during the run.")
        if r.get("client_cpu_other_pct", 0) >= 10 and r.get("server") == "nginx":
            notes.append(f"{tag}: other work took {r['client_cpu_other_pct']:.0f}% of wrk's CPU, which caps nginx's "
                         "req/s (wrk is the limit near nginx's rate) and flatters the ratio.")
        if r["client_cpu_util"] >= 0.9:
            notes.append(f"{tag}: wrk was {100 * r['client_cpu_util']:.0f}% busy: the client may be what "
                         "bounds this figure (the server was "
                         f"{100 * r['server_cpu_util']:.0f}% busy).")
    ng = by["nginx"]
    if ng and med([r["server_cpu_util"] for r in ng]) < 0.8:
        notes.append(f"nginx used only {100 * med([r['server_cpu_util'] for r in ng]):.0f}% of its CPU: it was not "
                     "the bottleneck of its runs (wrk or the loopback path was), so its req/s understate nginx "
                     "and the ratio overstates berth-serve.")
    if ratios and spread(ratios)[2] > 10:
        notes.append(f"the per-round ratios spread {spread(ratios)[2]:.0f}% of their median: the machine was noisy; "
                     "repeat (BENCH_ROUNDS=5, BENCH_QUIET_WAIT=20) before trusting the ratio.")
    if notes:
        L.append("## Warnings")
        L.append("")
        L.extend(f"- {n}" for n in notes)
        L.append("")
    fp = res.get("footprint", {})
    if fp:
        L.append("After the run: " + "; ".join(f"{k} peak RSS {v['VmHWM']:,} kB, {v['Threads']} threads"
                                              for k, v in fp.items())
                 + f". The whole run took {res.get('seconds', 0):.0f} s.")
        L.append("")
    text = "\n".join(L)
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    a = sys.argv[1:]
    if a == ["run"]:
        sys.exit(run())
    elif a[:1] == ["gen"] and len(a) == 2:
        gen(a[1])
    elif a[:1] == ["report"] and len(a) == 3:
        report(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
