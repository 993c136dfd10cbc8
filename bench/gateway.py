#!/usr/bin/python3
"""gateway.py - Python side of bench/gateway.sh (needs /usr/bin/python3; the model and request
bodies come from bench/bench.py gen, which needs xgboost and numpy).

    gateway.py wait-port PORT PID SECS
                        wait until 127.0.0.1:PORT accepts connections, while PID lives
    gateway.py deploy ENDPOINT CREDENTIALS MODEL_VERSION REPS POLL_MS DIR
                        time CreateModelService -> Status "Normal" REPS times, deleting the group
                        between repetitions and keeping the last one; appends one
                        "deploy_N {...}" line per repetition to DIR/results.txt and writes the
                        kept service to DIR/service.json
    gateway.py check NAME BASE_URL DIR
                        POST the batch-1 and batch-100 TF :predict bodies to
                        BASE_URL/v1/models/m:predict and compare with XGBoost (1e-5); exit 1 if wrong
    gateway.py nginx-conf DIR PORT UPSTREAM_PORT
                        write DIR/nginx/nginx.conf: one worker, a keep-alive upstream
    gateway.py cpu PID...
                        print, for each PID, the CPU time of all its threads so far in ns
                        (/proc/PID/task/*/schedstat), space-separated
    gateway.py report DIR OUT
                        turn DIR/results.txt into a Markdown report, print it, write it to OUT
                        (and the raw figures to OUT with .json)

The management API is signed with TC3-HMAC-SHA256 the way the Tencent Cloud SDKs and build/berth
sign (service "tione", signed headers content-type;host), so that the create and the polls come
from one process with a timer rather than from a fresh CLI process each. See docs/benchmarks.md.
"""
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import re
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py: http(), close(), cpu helpers, formatting)

API_VERSION = "2021-11-11"
REGION = "ap-guangzhou"


# ---------------------------------------------------------------- signed API client

class ApiError(Exception):
    pass


class Api:
    def __init__(self, endpoint, credentials):
        m = re.match(r"^http://([^/:]+):(\d+)/?$", endpoint)
        if not m:
            raise ApiError(f"endpoint must be http://HOST:PORT, got {endpoint!r}")
        self.host, self.port = m.group(1), int(m.group(2))
        with open(credentials) as f:
            c = json.load(f)
        self.sid, self.skey = c["secretId"], c["secretKey"]

    def call(self, action, params, timeout=10):
        body = json.dumps(params, separators=(",", ":")).encode()
        ts = int(time.time())
        date = time.strftime("%Y-%m-%d", time.gmtime(ts))
        hostport = f"{self.host}:{self.port}"
        canon = ("POST\n/\n\ncontent-type:application/json\nhost:" + hostport + "\n\n"
                 "content-type;host\n" + hashlib.sha256(body).hexdigest())
        sts = (f"TC3-HMAC-SHA256\n{ts}\n{date}/tione/tc3_request\n"
               + hashlib.sha256(canon.encode()).hexdigest())

        def h(k, m):
            return hmac.new(k, m.encode(), hashlib.sha256).digest()
        k = h(h(h(("TC3" + self.skey).encode(), date), "tione"), "tc3_request")
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json", "Host": hostport, "X-TC-Action": action,
            "X-TC-Version": API_VERSION, "X-TC-Region": REGION, "X-TC-Timestamp": str(ts),
            "Authorization": f"TC3-HMAC-SHA256 Credential={self.sid}/{date}/tione/tc3_request, "
                             f"SignedHeaders=content-type;host, Signature={sig}"}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("POST", "/", body, headers)
            r = conn.getresponse()
            out = r.read()
        finally:
            conn.close()
        try:
            resp = json.loads(out)["Response"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(f"{action}: HTTP {r.status}, not a TC3 response: {out[:300]!r}")
        if "Error" in resp:
            raise ApiError(f"{action}: {resp['Error'].get('Code')}: {resp['Error'].get('Message')}")
        return resp


# ---------------------------------------------------------------- small probes

def port_open(port, timeout=0.2):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_port(port, pid, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except OSError:
            print(f"gateway: process {pid} exited before 127.0.0.1:{port} opened", file=sys.stderr)
            return 1
        if port_open(port):
            return 0
        time.sleep(0.05)
    print(f"gateway: 127.0.0.1:{port} not open after {secs} s", file=sys.stderr)
    return 1


def get_status(port, path, body=None, timeout=1.0):
    """(status, body) of one request on a fresh connection, or (None, error text)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("POST" if body is not None else "GET", path, body,
                  {"Content-Type": "application/json"} if body is not None else {})
        r = c.getresponse()
        out = r.read()
        c.close()
        return r.status, out
    except OSError as e:
        return None, str(e)


# ---------------------------------------------------------------- deploy

def pod_ip(svc):
    pods = ((svc.get("ServiceInfo") or {}).get("PodInfos")) or []
    for p in pods:
        if p.get("IP"):
            return p["IP"]
    return None


def one_deploy(api, mv, name, poll_s, gw_port, body):
    """Create a group and poll until Normal; return the timeline (ms from sending the create)."""
    params = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
              "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 1, "Env": [],
              "ModelInfo": {"ModelVersionId": mv}}
    wall0 = time.time()
    t0 = time.monotonic()

    def ms():
        return round((time.monotonic() - t0) * 1000, 1)
    resp = api.call("CreateModelService", params)
    tl = {"wall0": wall0, "create_ms": ms()}
    svc = resp["Service"]
    sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
    tl.update(service_id=sid, group_id=gid, statuses=[[tl["create_ms"], svc.get("Status")]])
    addr = None
    polls = 0
    k = 0
    while True:
        k += 1
        # the next poll slot, so polls stay poll_s apart whatever each one cost
        delay = t0 + k * poll_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if time.monotonic() - t0 > 30:
            raise ApiError(f"{sid} not Normal after 30 s; statuses {tl['statuses']}")
        r = api.call("DescribeModelService", {"ServiceId": sid})
        polls += 1
        now = ms()
        s = r["Service"]
        st = s.get("Status")
        if st != tl["statuses"][-1][1]:
            tl["statuses"].append([now, st])
        if st == "CREATE_FAILED":
            raise ApiError(f"{sid} CREATE_FAILED: {s.get('CreateFailedReason')}")
        if addr is None and pod_ip(s):
            addr = pod_ip(s)
            tl["pod_ip_ms"] = now
            tl["instance"] = addr
        if addr and "instance_ready_ms" not in tl:
            code, out = get_status(int(addr.rsplit(":", 1)[1]), "/v1/models/m")
            if code == 200 and b"AVAILABLE" in out:
                tl["instance_ready_ms"] = ms()
        if "gateway_200_ms" not in tl:
            code, out = get_status(gw_port, f"/{gid}/v1/models/m:predict", body)
            if code == 200:
                tl["gateway_200_ms"] = ms()
            else:
                tl["gateway_before"] = [code, out[:200].decode("utf-8", "replace")
                                        if isinstance(out, bytes) else out]
        if st == "Normal":
            tl["normal_ms"] = now
            tl["polls"] = polls
            if "gateway_200_ms" not in tl:
                # the gateway must route as soon as the API says Normal
                code, out = get_status(gw_port, f"/{gid}/v1/models/m:predict", body)
                tl["gateway_at_normal"] = [code, out[:200].decode("utf-8", "replace")
                                           if isinstance(out, bytes) else out]
            return tl, s


def delete_group(api, gid, addr):
    """Delete a group; return ms until the API no longer lists it and its instance's port closed."""
    t0 = time.monotonic()
    api.call("DeleteModelServiceGroup", {"ServiceGroupId": gid})
    port = int(addr.rsplit(":", 1)[1]) if addr else None
    listed = True
    while time.monotonic() - t0 < 15:
        if listed:
            r = api.call("DescribeModelServiceGroups", {"Limit": 100})
            listed = any(g.get("ServiceGroupId") == gid for g in r.get("ServiceGroups") or [])
        if not listed and not (port and port_open(port, 0.1)):
            return round((time.monotonic() - t0) * 1000, 1)
        time.sleep(0.02)
    raise ApiError(f"group {gid} still {'listed' if listed else 'answering on ' + addr} 15 s after delete")


def log_times(d, tl):
    """Milestones from berthd's and the instance's logs (wall clock, ms after the create)."""
    out = {}

    def ts(line):
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ", line)
        if not m:
            return None
        import calendar
        t = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
        return calendar.timegm(t) + int(m.group(1)[20:23]) / 1000.0
    sid = tl["service_id"]
    try:
        with open(os.path.join(d, "berthd.log"), errors="replace") as f:
            for line in f:
                if f"started instance {sid}-0 " in line and "spawned_ms" not in out:
                    out["spawned_ms"] = line
                elif f"instance {sid}-0 is ready" in line and "probe_ready_ms" not in out:
                    out["probe_ready_ms"] = line
    except OSError:
        pass
    try:
        with open(os.path.join(d, "data", "instances", sid, "0", "output.log"), errors="replace") as f:
            for line in f:
                if " serve listening on " in line:
                    out["listening_ms"] = line
                    break
    except OSError:
        pass
    res = {}
    for k, line in out.items():
        t = ts(line)
        if t is not None:
            res[k] = round((t - tl["wall0"]) * 1000, 1)
    return res


def deploy(endpoint, creds, mv, reps, poll_ms, d):
    api = Api(endpoint, creds)
    gw_port = int(open(os.path.join(d, "gateway_port")).read())
    body = open(os.path.join(d, "body_tf1.json"), "rb").read()
    res = open(os.path.join(d, "results.txt"), "a")
    kept = None
    for i in range(1, reps + 1):
        tl, svc = one_deploy(api, mv, f"gwbench{i}", poll_ms / 1000.0, gw_port, body)
        time.sleep(0.3)  # let the logs be written before reading them
        tl["logs"] = log_times(d, tl)
        if i < reps:
            tl["delete_ms"] = delete_group(api, tl["group_id"], tl.get("instance"))
            # berthd's reconciler runs on a 250 ms tick; a fixed loop period would lock every
            # create to the same phase of it (and every repetition to the same figure), so
            # start the next one at a random point of the tick.
            time.sleep(random.uniform(0, 0.25))
        else:
            kept = {"ServiceId": tl["service_id"], "ServiceGroupId": tl["group_id"],
                    "IP": tl.get("instance"), "Service": svc}
        res.write(f"deploy_{i} {json.dumps(tl)}\n")
        res.flush()
        print(f"  deploy {i}: Normal after {tl['normal_ms']:.0f} ms ({tl['polls']} polls; "
              f"instance ready {tl.get('instance_ready_ms', '?')} ms, gateway 200 "
              f"{tl.get('gateway_200_ms', '?')} ms; logs {tl['logs']})"
              + (f"; deleted in {tl['delete_ms']:.0f} ms" if "delete_ms" in tl else ""),
              file=sys.stderr)
    with open(os.path.join(d, "service.json"), "w") as f:
        json.dump(kept, f)
    print(f"{kept['ServiceGroupId']} {kept['ServiceId']} {kept['IP']}")


# ---------------------------------------------------------------- check

def check(name, base, d):
    want = json.load(open(os.path.join(d, "expected.json")))["predictions"]
    m = re.match(r"^http://127\.0\.0\.1:(\d+)(/.*)?$", base)
    port, prefix = int(m.group(1)), (m.group(2) or "").rstrip("/")
    for n, f in ((1, "body_tf1.json"), (100, "body_tf100.json")):
        what = f"{name}: POST {prefix}/v1/models/m:predict batch {n}"
        body = open(os.path.join(d, f), "rb").read()
        st, hd, out = bench.http(port, "POST", f"{prefix}/v1/models/m:predict", body,
                                 {"Content-Type": "application/json"})
        if st != 200:
            raise bench.CheckError(f"{what}: HTTP {st}: {out[:300]!r}")
        r = json.loads(out)
        p = r.get("predictions") if isinstance(r, dict) else None
        if not isinstance(p, list):
            raise bench.CheckError(f"{what}: no \"predictions\" list: {out[:300]!r}")
        bench.close(p, want[:n], what)
        ct = {k.lower(): v for k, v in hd.items()}.get("content-type")
        print(f"  ok  {what} (content-type {ct!r}, {len(out)} bytes)")


# ---------------------------------------------------------------- nginx

NGINX_CONF = """# written by bench/gateway.py for bench/gateway.sh
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_body_buffer_size 1m;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream instance {{
        server 127.0.0.1:{up};
        keepalive 32;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://instance;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def nginx_conf(d, port, up):
    nd = os.path.join(d, "nginx")
    os.makedirs(nd, exist_ok=True)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=nd, port=port, up=up))


# ---------------------------------------------------------------- cpu

def thread_ns(pid):
    """CPU time of every thread of PID so far, in ns (0 if it is gone)."""
    tot = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                tot += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended between the listing and the read
    return tot


# ---------------------------------------------------------------- report

TARGETS = (("direct", "instance directly"), ("gateway", "berthd gateway"), ("nginx", "nginx"))


def stats(v):
    return (min(v), statistics.median(v), max(v)) if v else (None, None, None)


def report(d, out_path):
    res = bench.load_results(d)
    info = json.load(open(os.path.join(d, "model_info.json")))
    meta = res.get("meta", {})
    deps = [res[k] for k in sorted((k for k in res if k.startswith("deploy_")),
                                   key=lambda k: int(k.split("_")[1]))]
    f0, f1 = bench.f0, bench.f1
    cpu = bench.sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    L = []
    L.append(f"# berthd deploy time and gateway benchmark - {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    L.append("")
    other = bench.other_cpu(res)
    L.append(f"Machine: {bench.sh('nproc')} CPUs ({cpu}), {platform.system()} {platform.release()}; "
             f"everything on 127.0.0.1 (git {meta.get('git', '?')}; `{os.path.basename(meta.get('berthd_cmd', '?').split()[0])}` "
             f"built {meta.get('built', '?')}). "
             + (f"Pinned: berthd (so its gateway threads and the instance it starts) and nginx on CPU "
                f"{meta.get('server_cpu')}, wrk and the API poller on CPU {meta.get('client_cpu')}."
                if meta.get("pin") == "split" else "Not pinned to CPUs.")
             + f" Other work on the CPUs: {meta.get('busy_before', '?')}% just before the run, "
             + ("?" if other is None else f"{other:.0f}%") + " during it.")
    L.append(f"Model: XGBoost {info['xgboost']} `{info['objective']}`, {info['features']} features, "
             f"{info['trees']} trees of depth {info['depth']}; service instance type "
             f"{meta.get('instance_type', '?')} (berth-serve with {meta.get('instance_threads', '?')} "
             f"threads). Latencies in µs unless marked ms.")
    L.append("")

    L.append(f"## Deploy time (CreateModelService → Status \"Normal\", {len(deps)} repetitions, "
             f"polling every {meta.get('poll_ms', '?')} ms)")
    L.append("")
    L.append("| rep | create answered | process started¹ | listening¹ | instance ready (our probe) "
             "| berthd probe ready¹ | gateway 200 | **Normal** | deleted in |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def ms(v):
        return "n/a" if v is None else f"{v:,.0f}"
    for i, t in enumerate(deps, 1):
        lg = t.get("logs", {})
        L.append(f"| {i} | {ms(t.get('create_ms'))} | {ms(lg.get('spawned_ms'))} | {ms(lg.get('listening_ms'))} | "
                 f"{ms(t.get('instance_ready_ms'))} | {ms(lg.get('probe_ready_ms'))} | {ms(t.get('gateway_200_ms'))} | "
                 f"**{ms(t.get('normal_ms'))}** | {ms(t.get('delete_ms'))} |")
    norm = [t["normal_ms"] for t in deps if "normal_ms" in t]
    lo, med, hi = stats(norm)
    L.append("")
    L.append("¹ from the timestamps of berthd's log and the instance's `output.log` (millisecond "
             "resolution, wall clock). All figures are ms after sending CreateModelService.")
    L.append("")
    goal = 1000
    if norm:
        L.append(f"**Deploy time: min {ms(lo)} ms, median {ms(med)} ms, max {ms(hi)} ms** "
                 f"(goal: under {goal} ms: {'met' if hi < goal else 'NOT met'} in every repetition"
                 + ("" if hi < goal else f"; {sum(1 for v in norm if v >= goal)} of {len(norm)} over") + ").")
        gaps = [t["normal_ms"] - t["instance_ready_ms"] for t in deps
                if "normal_ms" in t and "instance_ready_ms" in t]
        if gaps:
            g = stats(gaps)
            L.append(f"From the instance answering its model status AVAILABLE (our own probe) to "
                     f"\"Normal\": min {ms(g[0])}, median {ms(g[1])}, max {ms(g[2])} ms.")
        gaps = [t["normal_ms"] - t["logs"]["probe_ready_ms"] for t in deps
                if "normal_ms" in t and "probe_ready_ms" in t.get("logs", {})]
        if gaps:
            g = stats(gaps)
            L.append(f"From berthd logging the instance ready to \"Normal\": min {ms(g[0])}, median "
                     f"{ms(g[1])}, max {ms(g[2])} ms (the figures are at most one {meta.get('poll_ms', '?')} ms "
                     "poll late).")
    L.append("")

    conns = meta.get("conns", [1])
    L.append(f"## Gateway: TF `:predict` batch 1 ({meta.get('body_bytes', '?')} bytes) through each target (wrk, "
             f"1 thread, {meta.get('seconds', '?')} s after a {meta.get('warmup', '?')} s warm-up)")
    L.append("")
    L.append("| target | URL path | connections | req/s | p50 | p90 | p99 | max | errors "
             "| proxy CPU µs/req | instance CPU µs/req |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    paths = meta.get("paths", {})
    for c in conns:
        for key, label in TARGETS:
            r = res.get(f"{key}_c{c}")
            if not r:
                continue
            if "rps" not in r:
                L.append(f"| {label} | `{paths.get(key, '?')}` | {c} | failed: {r.get('error', '?')} | | | | | | | |")
                continue
            errs = sum(r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
            cpu_p = r.get("proxy_cpu_us_per_req")
            cpu_i = r.get("instance_cpu_us_per_req")
            L.append(f"| {label} | `{paths.get(key, '?')}` | {c} | {f0(r['rps'])} | {f1(r['p50_us'])} | "
                     f"{f1(r['p90_us'])} | {f1(r['p99_us'])} | {f0(r['max_us'])} | {errs} | "
                     f"{'–' if cpu_p is None else f1(cpu_p)} | {f1(cpu_i)} |")
    L.append("")
    L.append("## Gateway against nginx")
    L.append("")
    L.append("| connections | gateway p50 added over direct | nginx p50 added over direct "
             "| gateway req/s ÷ nginx req/s | gateway req/s ÷ direct | nginx req/s ÷ direct "
             "| proxy CPU per request, gateway ÷ nginx |")
    L.append("|---:|---:|---:|---:|---:|---:|---:|")
    for c in conns:
        dr, gw, ng = (res.get(f"{k}_c{c}", {}) for k in ("direct", "gateway", "nginx"))
        if not all("rps" in x for x in (dr, gw, ng)):
            continue
        cg, cn = gw.get("proxy_cpu_us_per_req"), ng.get("proxy_cpu_us_per_req")
        L.append(f"| {c} | {gw['p50_us'] - dr['p50_us']:+,.0f} µs ({gw['p50_us']:.0f} vs {dr['p50_us']:.0f}) | "
                 f"{ng['p50_us'] - dr['p50_us']:+,.0f} µs ({ng['p50_us']:.0f} vs {dr['p50_us']:.0f}) | "
                 f"**×{gw['rps'] / ng['rps']:.2f}** ({f0(gw['rps'])} vs {f0(ng['rps'])}) | "
                 f"×{gw['rps'] / dr['rps']:.2f} | ×{ng['rps'] / dr['rps']:.2f} | "
                 + (f"×{cg / cn:.2f} ({cg:.1f} vs {cn:.1f} µs)" if cg and cn else "n/a") + " |")
    L.append("")

    notes = []
    for key in sorted(res):
        r = res[key]
        if not re.match(r"^(direct|gateway|nginx)_c\d+$", key):
            continue
        if "rps" not in r:
            notes.append(f"`{key}`: no result ({r.get('error', '?')}).")
            continue
        errs = {k[4:]: v for k, v in r.items() if k.startswith("err_") and v}
        if errs:
            notes.append(f"`{key}`: wrk counted errors {errs} out of {r['requests']} requests "
                         "(status = HTTP 4xx/5xx answers); its figures are suspect.")
        if 38000 <= r["p50_us"] <= 48000 and key.endswith("_c1"):
            notes.append(f"`{key}`: p50 {r['p50_us'] / 1000:.1f} ms at 1 connection - the 40 ms "
                         "signature of Nagle's algorithm meeting delayed ACKs.")
    if norm and hi >= goal:
        notes.append(f"deploy time over {goal} ms in {sum(1 for v in norm if v >= goal)} of {len(norm)} repetitions.")
    for i, t in enumerate(deps, 1):
        if "gateway_at_normal" in t:
            notes.append(f"deploy {i}: the API said Normal but the gateway answered "
                         f"{t['gateway_at_normal'][0]}: {t['gateway_at_normal'][1]!r}.")
    if meta.get("busy_before", 0) >= 10:
        notes.append(f"before the run the CPUs were already {meta['busy_before']}% busy with other work "
                     f"(load average {meta.get('loadavg', '?')}): every figure here is suspect.")
    if other is not None and other >= 10:
        notes.append(f"while it ran, processes other than the benchmark's used about {other:.0f}% of "
                     "the CPUs: the figures are skewed; run again on a quiet machine.")
    bd = res.get("berthd", {})
    if bd.get("log_lines_during_load", 0) > 100:
        notes.append(f"berthd wrote {bd['log_lines_during_load']} log lines during the load runs "
                     "(per-request logging?).")
    ng = res.get("nginx", {})
    if ng.get("error_log_lines", 0):
        notes.append(f"nginx's error log has {ng['error_log_lines']} lines: {ng.get('error_log_tail', '')!r}")
    if notes:
        L.append("## Warnings")
        L.append("")
        L.extend(f"- {n}" for n in notes)
        L.append("")
    if bd:
        L.append(f"berthd after the run: peak RSS {bd.get('vm_hwm_kb', '?')} kB, threads "
                 f"{bd.get('threads', '?')}, {bd.get('log_lines_during_load', '?')} log lines during the "
                 f"load runs; the instance: peak RSS {res.get('instance', {}).get('vm_hwm_kb', '?')} kB, "
                 f"threads {res.get('instance', {}).get('threads', '?')}, CPU affinity "
                 f"{res.get('instance', {}).get('affinity', '?')}.")
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
    try:
        if a[:1] == ["wait-port"] and len(a) == 4:
            sys.exit(wait_port(int(a[1]), int(a[2]), float(a[3])))
        elif a[:1] == ["deploy"] and len(a) == 7:
            deploy(a[1], a[2], a[3], int(a[4]), float(a[5]), a[6])
        elif a[:1] == ["check"] and len(a) == 4:
            check(a[1], a[2], a[3])
        elif a[:1] == ["nginx-conf"] and len(a) == 4:
            nginx_conf(a[1], int(a[2]), int(a[3]))
        elif a[:1] == ["cpu"] and len(a) >= 2:
            print(" ".join(str(thread_ns(int(p))) for p in a[1:]))
        elif a[:1] == ["report"] and len(a) == 3:
            report(a[1], a[2])
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    except (ApiError, bench.CheckError) as e:
        print(f"  FAIL {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError) as e:
        print(f"  FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
