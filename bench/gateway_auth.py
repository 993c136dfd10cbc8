#!/usr/bin/python3
"""gateway_auth.py - Python side of bench/gateway_auth.sh: what call authentication, ServiceLimit,
token quotas and a weight split cost in the gateway, and how exactly the limits hold
(docs/benchmarks.md, "Gateway: authentication and limits"; docs/auth.md for the features).
Needs /usr/bin/python3; reuses bench/gateway.py's signed API client and bench/bench.py's helpers.

    gateway_auth.py setup ENDPOINT CREDENTIALS MODEL_VERSION DIR
                        create the groups PLAIN, FULL and RATED from MODEL_VERSION, wait until
                        every instance is ready, set FULL's tokens and weights; writes
                        DIR/setup.json and the tokens to DIR/token_full, DIR/token_quota (0600)
    gateway_auth.py check DIR GATEWAY_PORT
                        through the gateway: batch-1 and batch-100 TF :predict on PLAIN, FULL (with
                        its token) and RATED against XGBoost (1e-5); FULL without a token 401, with
                        a wrong one 403; EnableLimit as set up. Exit 1 if anything is wrong
    gateway_auth.py pids BERTHD_PID DIR
                        print "GROUP PID..." per group: the berth-serve processes (berthd's
                        grandchildren, under their keepers) serving its instances
    gateway_auth.py quota PORT DIR RATE SECS
                        open-loop driver: RATE requests per second for SECS through FULL with
                        DIR/token_quota (PerMinute quota); appends "quota {...}" to DIR/results.txt
                        with the time and status of each answer
    gateway_auth.py report DIR OUT
                        turn DIR/results.txt (and DIR/ratelog.txt from bench/ratelog.lua) into a
                        Markdown report, print it, write it to OUT and the raw figures to OUT
                        with .json
"""
import bisect
import http.client
import json
import os
import platform
import re
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench/bench.py)
import gateway  # noqa: E402  (bench/gateway.py: Api, ApiError, thread_ns)

INSTANCE_TYPE = "TI.S.MEDIUM.POST"
PREDICT = "/v1/models/m:predict"
# FULL: both ServiceLimit switches on, high enough never to refuse in the throughput run
FULL_LIMIT = {"EnableInstanceRpsLimit": True, "InstanceRpsLimit": 1000000,
              "EnableInstanceReqLimit": True, "InstanceReqLimit": 100000}
FULL_QUOTAS = [{"Strategy": "PerMinute", "Max": 100000000}, {"Strategy": "PerDay", "Max": 1000000000}]
RATED_RPS = 200
GROUPS = ("plain", "plain2", "split", "full", "rated")
TP_GROUPS = ("plain", "plain2", "split", "full")  # the throughput runs
SPLIT_GROUPS = ("split", "full")  # two versions weighted 50/50
QUOTA_PER_MINUTE = 600


def burst_of(rate):
    """The GCRA burst src/gateway/limits.c allows: max(4, floor(rate / 10))."""
    return max(4, int(rate // 10))


# ---------------------------------------------------------------- setup

def wait_ready(api, sid, n, secs=60):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s = api.call("DescribeModelService", {"ServiceId": sid})["Service"]
        if s.get("Status") == "CREATE_FAILED":
            raise gateway.ApiError(f"{sid} CREATE_FAILED: {s.get('CreateFailedReason')}")
        info = s.get("ServiceInfo") or {}
        if s.get("Status") == "Normal" and (info.get("Status") or {}).get("ReadyReplicas") == n:
            return s
        time.sleep(0.1)
    raise gateway.ApiError(f"{sid}: not {n} ready instances after {secs} s")


def create(api, mv, **kw):
    p = {"ChargeType": "POSTPAID_BY_HOUR", "InstanceType": INSTANCE_TYPE, "Replicas": 1, "Env": [],
         "ModelInfo": {"ModelVersionId": mv}}
    p.update(kw)
    return api.call("CreateModelService", p)["Service"]


def tokens(api, gid):
    return api.call("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"].get("AuthTokens") or []


def write_secret(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)


def setup(endpoint, creds, mv, d):
    api = gateway.Api(endpoint, creds)
    plain = create(api, mv, ServiceGroupName="plain")
    plain2 = create(api, mv, ServiceGroupName="plain2", Replicas=2)
    full = create(api, mv, ServiceGroupName="full", AuthorizationEnable=True, ServiceLimit=FULL_LIMIT)
    rated = create(api, mv, ServiceGroupName="rated",
                   ServiceLimit={"EnableInstanceRpsLimit": True, "InstanceRpsLimit": RATED_RPS})
    split = create(api, mv, ServiceGroupName="split")
    split2 = create(api, mv, ServiceGroupId=split["ServiceGroupId"], NewVersion=True)
    fgid = full["ServiceGroupId"]
    full2 = create(api, mv, ServiceGroupId=fgid, NewVersion=True, ServiceLimit=FULL_LIMIT)
    services = {"plain": [plain], "plain2": [plain2], "split": [split, split2], "full": [full, full2],
                "rated": [rated]}
    out = {"groups": {}, "full_limit": FULL_LIMIT, "full_quotas": FULL_QUOTAS,
           "rated_rps": RATED_RPS, "quota_per_minute": QUOTA_PER_MINUTE}
    for name, svcs in services.items():
        g = {"ServiceGroupId": svcs[0]["ServiceGroupId"], "services": []}
        for s in svcs:
            n = 2 if name == "plain2" else 1
            s = wait_ready(api, s["ServiceId"], n)
            ips = [p["IP"] for p in (s.get("ServiceInfo") or {}).get("PodInfos") or [] if p.get("IP")]
            if len(ips) != n:
                raise gateway.ApiError(f"{s['ServiceId']}: {len(ips)} PodInfos with an IP, want {n}")
            g["services"].append({"ServiceId": s["ServiceId"], "IPs": ips})
        out["groups"][name] = g
    for a, b in ((split, split2), (full, full2)):
        api.call("ModifyServiceGroupWeights", {"ServiceGroupId": a["ServiceGroupId"], "Weights": [
            {"ServiceId": a["ServiceId"], "Weight": 50}, {"ServiceId": b["ServiceId"], "Weight": 50}]})
    # FULL's default token gets quotas that never refuse; a second token has the PerMinute
    # quota of the accuracy run (so FULL's gateway looks among two tokens).
    t = tokens(api, fgid)
    if len(t) != 1:
        raise gateway.ApiError(f"FULL has {len(t)} tokens after AuthorizationEnable, want 1 (default)")
    t[0]["Limits"] = FULL_QUOTAS
    api.call("ModifyModelServiceAuthToken", {"ServiceGroupId": fgid, "AuthToken": t[0]})
    api.call("CreateModelServiceAuthToken", {"ServiceGroupId": fgid, "Name": "quota",
                                             "Description": "bench/gateway_auth.sh PerMinute run"})
    t = tokens(api, fgid)
    q = [x for x in t if x["Base"]["Name"] == "quota"]
    if len(q) != 1:
        raise gateway.ApiError(f"no token named quota in {[x['Base']['Name'] for x in t]}")
    q[0]["Limits"] = [{"Strategy": "PerMinute", "Max": QUOTA_PER_MINUTE}]
    api.call("ModifyModelServiceAuthToken", {"ServiceGroupId": fgid, "AuthToken": q[0]})
    t = tokens(api, fgid)
    main_tok = [x for x in t if x["Base"]["Name"] != "quota"][0]
    qtok = [x for x in t if x["Base"]["Name"] == "quota"][0]
    if main_tok.get("Limits") != FULL_QUOTAS or qtok.get("Limits") != q[0]["Limits"]:
        raise gateway.ApiError(f"token limits read back as {main_tok.get('Limits')}, {qtok.get('Limits')}")
    write_secret(os.path.join(d, "token_full"), main_tok["Base"]["Value"])
    write_secret(os.path.join(d, "token_quota"), qtok["Base"]["Value"])
    for name in SPLIT_GROUPS:
        g = api.call("DescribeModelServiceGroup",
                     {"ServiceGroupId": out["groups"][name]["ServiceGroupId"]})["ServiceGroup"]
        out[name + "_weights"] = {s["ServiceId"]: s.get("Weight") for s in g.get("Services") or []}
    for name in out["groups"]:
        info = api.call("DescribeModelServiceCallInfo",
                        {"ServiceGroupId": out["groups"][name]["ServiceGroupId"]})
        v2 = info.get("ServiceCallInfoV2") or {}
        out["groups"][name]["AuthorizationEnable"] = v2.get("AuthorizationEnable")
        out["groups"][name]["EnableLimit"] = v2.get("EnableLimit")
    with open(os.path.join(d, "setup.json"), "w") as f:
        json.dump(out, f, indent=1)
    for name, g in out["groups"].items():
        print(f"  {name}: {g['ServiceGroupId']} ({', '.join(s['ServiceId'] + ' on ' + ' '.join(s['IPs']) for s in g['services'])}; "
              f"auth {g['AuthorizationEnable']}, EnableLimit {g['EnableLimit']})", file=sys.stderr)
    print(" ".join(out["groups"][n]["ServiceGroupId"] for n in GROUPS))


# ---------------------------------------------------------------- check

def check(d, port):
    st = json.load(open(os.path.join(d, "setup.json")))
    want = json.load(open(os.path.join(d, "expected.json")))["predictions"]
    tok = open(os.path.join(d, "token_full")).read()
    ct = {"Content-Type": "application/json"}
    bodies = [(n, open(os.path.join(d, f), "rb").read()) for n, f in ((1, "body_tf1.json"), (100, "body_tf100.json"))]
    for name in GROUPS:
        hdr = {"Authorization": "Bearer " + tok} if name == "full" else {}
        gid = st["groups"][name]["ServiceGroupId"]
        for n, body in bodies:
            what = f"{name}: POST /{gid}{PREDICT} batch {n}"
            code, _, out = bench.http(port, "POST", f"/{gid}{PREDICT}", body, dict(ct, **hdr))
            if code != 200:
                raise bench.CheckError(f"{what}: HTTP {code}: {out[:300]!r}")
            p = json.loads(out).get("predictions")
            if not isinstance(p, list):
                raise bench.CheckError(f"{what}: no \"predictions\" list: {out[:300]!r}")
            bench.close(p, want[:n], what)
            print(f"  ok  {what}" + (" (Authorization: Bearer <token>)" if hdr else ""), file=sys.stderr)
    fgid = st["groups"]["full"]["ServiceGroupId"]
    for hdr, code_want, label in (({}, 401, "no Authorization"),
                                  ({"Authorization": "Bearer " + "x" * len(tok)}, 403, "a wrong token"),
                                  ({"Authorization": tok}, 200, "the bare token")):
        code, _, out = bench.http(port, "POST", f"/{fgid}{PREDICT}", bodies[0][1], dict(ct, **hdr))
        if code != code_want:
            raise bench.CheckError(f"full with {label}: HTTP {code}, want {code_want}: {out[:200]!r}")
        print(f"  ok  full with {label}: {code}", file=sys.stderr)
    for name, lim in (("plain", False), ("plain2", False), ("split", False), ("full", True), ("rated", True)):
        g = st["groups"][name]
        if g["EnableLimit"] is not lim or g["AuthorizationEnable"] is not (name == "full"):
            raise bench.CheckError(f"{name}: DescribeModelServiceCallInfo says AuthorizationEnable "
                                   f"{g['AuthorizationEnable']}, EnableLimit {g['EnableLimit']}")
    for name in SPLIT_GROUPS:
        w = st[name + "_weights"]
        if sorted(w.values()) != [50, 50]:
            raise bench.CheckError(f"{name}: weights read back as {w}, want 50/50")
    print("  ok  call info (auth, EnableLimit) and SPLIT's and FULL's weights 50/50", file=sys.stderr)


# ---------------------------------------------------------------- pids

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pids(berthd_pid, d):
    """berth-serve pids per group, matched to the instances' ports by their listening sockets."""
    st = json.load(open(os.path.join(d, "setup.json")))
    serve = []
    for k in children(berthd_pid):
        for c in children(k):
            try:
                if open(f"/proc/{c}/comm").read().strip() == "berth-serve":
                    serve.append(c)
            except OSError:
                pass
    # port -> socket inode (listening sockets on 127.0.0.1), then inode -> pid
    inode_port = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[3] == "0A":  # LISTEN
                inode_port[p[9]] = int(p[1].split(":")[1], 16)
    port_pid = {}
    for c in serve:
        try:
            for fd in os.listdir(f"/proc/{c}/fd"):
                m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{c}/fd/{fd}"))
                if m and m.group(1) in inode_port:
                    port_pid[inode_port[m.group(1)]] = c
        except OSError:
            pass
    for name in GROUPS:
        ps = []
        for s in st["groups"][name]["services"]:
            for ip in s["IPs"]:
                port = int(ip.rsplit(":", 1)[1])
                if port not in port_pid:
                    raise bench.CheckError(f"{name}: no berth-serve under berthd {berthd_pid} listens on {port}")
                ps.append(str(port_pid[port]))
        print(name, " ".join(ps))


# ---------------------------------------------------------------- quota driver

def quota(port, d, rate, secs):
    """RATE requests/s for SECS, open loop (each sent at its slot, late ones at once), from 4
    keep-alive connections; every answer's send time, receive time and status."""
    st = json.load(open(os.path.join(d, "setup.json")))
    gid = st["groups"]["full"]["ServiceGroupId"]
    tok = open(os.path.join(d, "token_quota")).read()
    body = open(os.path.join(d, "body_tf1.json"), "rb").read()
    hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + tok}
    n, threads = int(rate * secs), 4
    rows, lock = [], threading.Lock()
    start = time.monotonic() + 0.1

    def run(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for i in range(k, n, threads):
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t0 = time.monotonic()
            try:
                c.request("POST", f"/{gid}{PREDICT}", body, hdr)
                r = c.getresponse()
                r.read()
                code, retry = r.status, r.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as e:
                code, retry = f"error: {type(e).__name__}", None
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append((round(t0 - start, 6), round(time.monotonic() - start, 6), code, retry))
        c.close()
        with lock:
            rows.extend(mine)
    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rows.sort(key=lambda r: r[0])
    late = sum(1 for i, r in enumerate(rows) if r[0] - i / rate > 0.05)
    res = {"rate": rate, "seconds": secs, "max": st["quota_per_minute"], "rows": rows,
           "late_50ms": late}
    with open(os.path.join(d, "results.txt"), "a") as f:
        f.write("quota " + json.dumps(res) + "\n")
    ok = sum(1 for r in rows if r[2] == 200)
    print(f"  quota: {len(rows)} sent in {rows[-1][1]:.1f} s, {ok} answered 200, "
          f"{sum(1 for r in rows if r[2] == 429)} 429, {late} sent over 50 ms late", file=sys.stderr)


# ---------------------------------------------------------------- window arithmetic
#
# Each accepted request is known by the time it was sent (s) and answered (r), on the client's
# clock; the gateway admitted it at some time in [s, r]. So the gateway's count in a window
# [t, t + w) lies between the requests certainly inside it ([s, r] within the window) and those
# possibly inside it ([s, r] meeting it). The largest "possibly" over all windows bounds the
# gateway's worst window from above, the smallest "certainly" bounds its leanest from below.

def window_stats(pairs, w, t0, t1):
    """pairs: [(s, r)] of the accepted requests, sorted by s; the run lasted from t0 to t1.
    Returns the exact max of "possibly inside" and of "certainly inside" over windows [t, t + w)
    of any t, the exact min of
    "certainly inside" over those within the run (t0 <= t <= t1 - w), the median and min by send
    time (t every 10 ms within the run) and the max by send time (any t); None if the run is
    shorter than w."""
    S = [p[0] for p in pairs]
    R = sorted(p[1] for p in pairs)
    if t1 - t0 < w or not pairs:
        return None
    # latencies over w: the one case where "sent before t" does not imply "answered before t + w"
    slow = [p for p in pairs if p[1] - p[0] >= w]

    def certain(t):
        # #{s >= t and r < t + w} = #{r < t + w} - #{s < t} + #{s < t and r >= t + w}
        return (bisect.bisect_left(R, t + w) - bisect.bisect_left(S, t)
                + sum(1 for s, r in slow if s < t and r >= t + w))
    # "possibly" = #{s < t + w} - #{r < t}: largest just as an answer arrives (t = some r); the
    # maxima take windows of any start (one reaching past the end holds only what came before)
    hi = max(bisect.bisect_left(S, t + w) - bisect.bisect_left(R, t) for t in R)
    # "certainly" is least just after a request is sent (t = s + 1 ns), or at the start
    lo = min(certain(t) for t in [t0] + [s + 1e-9 for s in S if t0 <= s + 1e-9 <= t1 - w])
    # the most certainly inside one (a lower bound for the fullest): a window opening at a send
    sure_hi = max(certain(s) for s in S)
    grid = []
    t = t0
    while t + w <= t1 + 1e-9:
        grid.append(bisect.bisect_left(S, t + w) - bisect.bisect_left(S, t))
        t += 0.01
    send_max = max(bisect.bisect_left(S, s + w) - i for i, s in enumerate(S))
    return {"windows": len(grid), "possibly_max": hi, "certainly_min": lo, "certainly_max": sure_hi,
            "send_median": statistics.median(grid),
            "send_min": min(grid), "send_max": send_max}


def read_ratelog(d):
    """bench/ratelog.lua's files DIR/ratelog.K: (start, [(s, r)] of the 200s sorted, {status: n})."""
    starts, pairs, other = [], [], {}
    for name in sorted(os.listdir(d)):
        if not re.match(r"^ratelog\.\d+$", name):
            continue
        with open(os.path.join(d, name)) as f:
            for line in f:
                a = line.split()
                if a[0] == "start":
                    starts.append(int(a[1]) / 1e9)
                elif len(a) == 2:
                    pairs.append((int(a[0]) / 1e9, int(a[1]) / 1e9))
                elif len(a) == 3:
                    other[a[2]] = other.get(a[2], 0) + 1
    if not starts:
        return None
    pairs.sort()
    return min(starts), pairs, other


def spread(v):
    return f"{min(v):.3f}–{max(v):.3f}" if v else "n/a"


def report(d, out_path):
    res = bench.load_results(d)
    info = json.load(open(os.path.join(d, "model_info.json")))
    st = json.load(open(os.path.join(d, "setup.json")))
    meta = res.get("meta", {})
    f0, f1 = bench.f0, bench.f1
    cpu = bench.sh("lscpu | sed -n 's/^Model name: *//p' | head -1")
    other = bench.other_cpu(res)
    raw = {"model": info, "setup": st, "results": {k: v for k, v in res.items() if k != "quota"}}
    L = [f"# Gateway: authentication and limits - {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", ""]
    L.append(f"Machine: {bench.sh('nproc')} CPUs ({cpu}), {platform.system()} {platform.release()}; everything on "
             f"127.0.0.1 (git {meta.get('git', '?')}; berthd built {meta.get('built', '?')}). "
             + (f"Pinned: berthd (its gateway threads and the instances it starts) on CPU {meta.get('server_cpu')}, "
                f"wrk and the drivers on CPU {meta.get('client_cpu')}." if meta.get("pin") == "split" else "Not pinned.")
             + f" Other work on the CPUs: {meta.get('busy_before', '?')}% busy just before the run (load average "
             f"{meta.get('loadavg', '?')}), " + ("?" if other is None else f"{other:.0f}%") + " during it.")
    L.append(f"Model: XGBoost {info['xgboost']} `{info['objective']}`, {info['features']} features, {info['trees']} "
             f"trees of depth {info['depth']}; each version one {INSTANCE_TYPE} instance. berthd runs with "
             f"`--group-qps-cap 0`, so the group cap (500 by default) limits neither run. Latencies in µs.")
    L.append("")
    gs = st["groups"]
    L.append("| group | id | set up as |")
    L.append("|---|---|---|")
    L.append(f"| PLAIN | `{gs['plain']['ServiceGroupId']}` | one version, no authentication, no limits |")
    L.append(f"| PLAIN×2 | `{gs['plain2']['ServiceGroupId']}` | as PLAIN with two replicas (FULL's instance count) |")
    L.append(f"| SPLIT | `{gs['split']['ServiceGroupId']}` | two versions weighted 50/50, no authentication, no limits |")
    L.append(f"| FULL | `{gs['full']['ServiceGroupId']}` | authentication on (`Authorization: Bearer <token>`; two tokens), "
             f"ServiceLimit InstanceRpsLimit {FULL_LIMIT['InstanceRpsLimit']:,} and InstanceReqLimit "
             f"{FULL_LIMIT['InstanceReqLimit']:,} (both on), the token's PerMinute {FULL_QUOTAS[0]['Max']:,} and PerDay "
             f"{FULL_QUOTAS[1]['Max']:,}; two versions weighted 50/50 |")
    L.append(f"| RATED | `{gs['rated']['ServiceGroupId']}` | one version, InstanceRpsLimit {st['rated_rps']} on one "
             f"instance (burst {burst_of(st['rated_rps'])}) |")
    L.append(f"| FULL, second token | | PerMinute {st['quota_per_minute']} |")
    L.append("")
    L.append("Before timing, batch-1 and batch-100 TF `:predict` answers through each group matched XGBoost "
             "(1e-5), FULL answered 401 without a token and 403 with a wrong one.")
    L.append("")

    # ---- throughput
    conns = meta.get("conns", [16, 1])
    rounds = meta.get("rounds", 3)
    L.append(f"## Throughput: FULL ÷ SPLIT and ÷ PLAIN (TF `:predict` batch 1, wrk 1 thread, {meta.get('seconds', '?')} s per run, "
             f"{rounds} rounds, the order of the groups rotating from round to round)")
    L.append("")
    L.append("| conns | round | group | req/s | p50 | p99 | berthd CPU µs/req | instances' CPU µs/req (each) | errors |")
    L.append("|---:|---:|---|---:|---:|---:|---:|---|---:|")
    notes = []
    for c in conns:
        for r in range(1, rounds + 1):
            for g in TP_GROUPS:
                x = res.get(f"tp_{g}_c{c}_r{r}")
                if not x:
                    continue
                if "rps" not in x:
                    L.append(f"| {c} | {r} | {g.upper()} | failed: {x.get('error', '?')} | | | | | |")
                    continue
                errs = sum(x[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
                if errs:
                    notes.append(f"{g.upper()} c{c} round {r}: wrk counted {errs} errors of {x['requests']} requests.")
                L.append(f"| {c} | {r} | {g.upper()} | {f0(x['rps'])} | {f1(x['p50_us'])} | {f1(x['p99_us'])} | "
                         f"{f1(x.get('berthd_cpu_us_per_req'))} | "
                         f"{', '.join(f1(v) for v in x.get('instance_cpu_us_per_req', []))} | {errs} |")
    L.append("")
    # FULL against each reference: SPLIT is the same two versions and instances without
    # authentication and limits (what the features cost), PLAIN the one-version group
    # (what they and the split's second instance cost together), PLAIN×2 one version on two.
    refs = (("split", "SPLIT"), ("plain", "PLAIN"), ("plain2", "PLAIN×2"))
    L.append("| conns | round | " + " | ".join(f"FULL ÷ {n} req/s" for _, n in refs) + " | "
             + " | ".join(f"berthd CPU/req FULL ÷ {n}" for _, n in refs[:2])
             + " | p50 FULL − SPLIT | p99 FULL − SPLIT |")
    L.append("|---:|---:|" + "---:|" * (len(refs) + 4))
    summary = {}
    for c in conns:
        s = {k: [] for k in [g for g, _ in refs] + ["cpu_" + g for g, _ in refs[:2]] + ["p50", "p99"]}
        for r in range(1, rounds + 1):
            x = {g: res.get(f"tp_{g}_c{c}_r{r}") or {} for g in TP_GROUPS}
            b = x["full"]
            if "rps" not in b:
                continue
            cells = []
            for g, _ in refs:
                if "rps" in x[g]:
                    s[g].append(b["rps"] / x[g]["rps"])
                    cells.append(f"×{s[g][-1]:.3f}")
                else:
                    cells.append("n/a")
            for g, _ in refs[:2]:
                if x[g].get("berthd_cpu_us_per_req") and b.get("berthd_cpu_us_per_req"):
                    s["cpu_" + g].append(b["berthd_cpu_us_per_req"] / x[g]["berthd_cpu_us_per_req"])
                    cells.append(f"×{s['cpu_' + g][-1]:.3f}")
                else:
                    cells.append("n/a")
            if "rps" in x["split"]:
                s["p50"].append(b["p50_us"] - x["split"]["p50_us"])
                s["p99"].append(b["p99_us"] - x["split"]["p99_us"])
                cells += [f"{s['p50'][-1]:+,.1f} µs", f"{s['p99'][-1]:+,.1f} µs"]
            else:
                cells += ["n/a", "n/a"]
            L.append(f"| {c} | {r} | " + " | ".join(cells) + " |")
        summary[c] = s
    L.append("")

    def med(v, fmt="×{:.3f}"):
        return (fmt.format(statistics.median(v)) + f" (spread {spread(v)})") if v else "n/a"

    def verdict(m):
        return "goal met" if m >= 0.98 else "bar met, goal not" if m >= 0.95 else "BAR NOT MET"
    for c, s in summary.items():
        if not s["split"]:
            continue
        m = statistics.median(s["split"])
        L.append(f"- **{c} connection{'s' if c != 1 else ''}: FULL ÷ SPLIT req/s median ×{m:.3f}** over "
                 f"{len(s['split'])} rounds (spread {spread(s['split'])}; bar ≥ 0.95, goal ≥ 0.98: {verdict(m)}); "
                 f"berthd CPU per request FULL ÷ SPLIT {med(s['cpu_split'])}; FULL − SPLIT p50 "
                 + (f"{statistics.median(s['p50']):+,.1f} µs, p99 {statistics.median(s['p99']):+,.1f} µs (medians)"
                    if s["p50"] else "n/a")
                 + f". FULL ÷ PLAIN {med(s['plain'])}"
                 + (f" ({verdict(statistics.median(s['plain']))})" if s["plain"] else "")
                 + f", berthd CPU per request {med(s['cpu_plain'])}; FULL ÷ PLAIN×2 {med(s['plain2'])}.")
    raw["throughput_summary"] = summary
    L.append("")
    L.append("SPLIT is FULL without authentication, limits and quotas: the same two versions weighted 50/50, "
             "one instance each, so **FULL ÷ SPLIT is what the gateway's authentication, limits and quotas "
             "cost**. FULL ÷ PLAIN adds what the split's second instance costs on this machine: every instance "
             "shares CPU 0 with the gateway, and two instances each batch half the requests and make the CPU "
             "switch more (PLAIN×2, one version on two replicas, shows that part alone). berthd's CPU is all "
             "its threads' (/proc/PID/task/*/schedstat) over the run ÷ requests: the gateway's work (the API and "
             "the reconciler are idle meanwhile). The instances' columns show the split: each of two instances "
             "does about half the requests.")
    L.append("")

    # ---- rate accuracy
    rl = read_ratelog(d)
    rr = res.get("rated", {})
    limit, burst = st["rated_rps"], burst_of(st["rated_rps"])
    if rl and rl[1] and "rps" in rr:
        start, pairs, others = rl
        t1 = start + rr["duration_s"]
        ok = len(pairs)
        acc = {str(w): window_stats(pairs, w, start, t1) for w in (1, 10, 60)}
        acc = {w: a for w, a in acc.items() if a}
        total_ratio = ok / (limit * rr["duration_s"] + burst)
        refused = rr["err_status"] - sum(others.values())
        lat = sorted(r - s for s, r in pairs)
        raw["rate_accuracy"] = {"accepted": ok, "refused_429": refused, "other": others,
                                "duration_s": rr["duration_s"], "windows": acc, "total_ratio": total_ratio,
                                "accepted_latency_p50_us": lat[len(lat) // 2] * 1e6, "accepted_latency_max_us": lat[-1] * 1e6}
        n = meta.get("rate_conns", "?")
        L.append(f"## Rate-limit accuracy: RATED, InstanceRpsLimit {limit} on one instance (burst {burst}), wrk -t{n} -c{n} "
                 f"for {rr['duration_s']:.1f} s")
        L.append("")
        L.append(f"Offered {rr['rps']:,.0f} requests/s ({rr['requests']:,} in all, ×{rr['rps'] / limit:.0f} the limit): "
                 f"{ok:,} answered 200, {refused:,} answered 429" + (f", others {others}" if others else "")
                 + f". bench/ratelog.lua logged when each 200 was sent and answered (p50 {lat[len(lat) // 2] * 1e6:,.0f} µs "
                 f"apart, at most {lat[-1] * 1e3:,.1f} ms); the gateway admitted it in between. Per window length: the "
                 "fewest requests *certainly* inside a window (a lower bound for the gateway's leanest window), the "
                 "median by send time (windows every 10 ms), the most *possibly* inside one (an upper bound for "
                 "its fullest) and the most certainly inside one (a lower bound for it), each ÷ limit × window; "
                 "windows of every start.")
        L.append("")
        L.append("| window | windows | min (certainly inside) | median (by send time) | max (possibly inside) "
                 "| max (certainly inside) | by send time: min, max | allowed max: limit × window + burst |")
        L.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for w, a in acc.items():
            lw = limit * int(w)
            allowed = lw + burst
            a["allowed"] = allowed
            L.append(f"| {w} s | {a['windows']:,} | {a['certainly_min'] / lw:.4f} ({a['certainly_min']}) | "
                     f"{a['send_median'] / lw:.4f} | {a['possibly_max'] / lw:.4f} ({a['possibly_max']}) | "
                     f"{a['certainly_max'] / lw:.4f} ({a['certainly_max']}) | "
                     f"{a['send_min'] / lw:.4f}, {a['send_max'] / lw:.4f} | {allowed / lw:.4f} ({allowed}) |")
        L.append("")
        L.append(f"**Total accepted ÷ (limit × seconds + burst) = {ok:,} ÷ ({limit} × {rr['duration_s']:.2f} + {burst}) = "
                 f"{total_ratio:.4f}.**")
        over = [w for w, a in acc.items() if a["possibly_max"] > a["allowed"]]
        sure = [w for w, a in acc.items() if a["certainly_max"] > a["allowed"]]
        if sure:
            notes.append(f"RATED: more than limit × window + burst were certainly admitted in some {', '.join(sure)} s "
                         "window(s): the rate limit let too many through.")
        elif over:
            notes.append(f"RATED: the upper bound passes limit × window + burst in some {', '.join(over)} s window(s): "
                         "either the limiter let too many through, or answers were held up long enough to blur the "
                         "bound (see the latencies).")
        L.append("")
    elif "rated" in res:
        L.append(f"## Rate-limit accuracy: no result ({rr.get('error', 'no ratelog')})")
        L.append("")

    # ---- quota
    qt = res.get("quota")
    if qt and qt.get("rows"):
        rows = qt["rows"]
        mx = qt["max"]
        pairs = sorted((r[0], r[1]) for r in rows if r[2] == 200)
        last = rows[-1][1]
        wq = window_stats(pairs, 60, 0, last) if pairs else None
        first60 = sum(1 for s, _ in pairs if s < 60)
        n429 = sum(1 for r in rows if r[2] == 429)
        bad = sorted({str(r[2]) for r in rows if r[2] not in (200, 429)})
        retry = sorted({int(r[3]) for r in rows if r[2] == 429 and r[3]})
        raw["quota"] = {"sent": len(rows), "accepted": len(pairs), "refused": n429, "window_60s": wq,
                        "first_60s": first60, "retry_after": retry, "late_50ms": qt["late_50ms"], "seconds": last}
        L.append(f"## Token quota: PerMinute {mx}, {qt['rate']:g} requests/s offered for {qt['seconds']:g} s (open loop, "
                 "4 connections)")
        L.append("")
        L.append(f"Sent {len(rows):,} in {last:.1f} s ({qt['late_50ms']} over 50 ms behind schedule): {len(pairs):,} "
                 f"answered 200, {n429:,} 429" + (f", others {bad}" if bad else "") + ". "
                 + (f"**Most accepted in any 60 s window: at most {wq['possibly_max']} (possibly inside), {wq['send_max']} "
                    f"by send time (limit {mx})**. " if wq else "")
                 + f"In the first 60 s: {first60}. Retry-After on the 429s: "
                 + (f"{retry[0]}–{retry[-1]} s." if retry else "none."))
        if wq and wq["possibly_max"] > mx:
            notes.append(f"the PerMinute quota's upper bound is {wq['possibly_max']} in some 60 s window (limit {mx}).")
        if first60 < mx and qt["seconds"] >= 60 and qt["rate"] * 60 > mx:
            notes.append(f"only {first60} of the PerMinute quota's {mx} were accepted in the first minute.")
        L.append("")

    if meta.get("busy_before", 0) >= 10:
        notes.append(f"before the run the CPUs were already {meta['busy_before']}% busy with other work (load "
                     f"average {meta.get('loadavg', '?')}): throughput figures are skewed; the ratios, taken in "
                     "alternating rounds, less so.")
    if other is not None and other >= 10:
        notes.append(f"while it ran, processes other than the benchmark's used about {other:.0f}% of the CPUs.")
    bd = res.get("berthd", {})
    if bd.get("log_lines_during_load", 0) > 100:
        notes.append(f"berthd wrote {bd['log_lines_during_load']} log lines during the load runs.")
    if notes:
        L.append("## Warnings")
        L.append("")
        L.extend(f"- {n}" for n in notes)
        L.append("")
    if bd:
        L.append(f"berthd after the run: peak RSS {bd.get('vm_hwm_kb', '?')} kB, threads {bd.get('threads', '?')}, "
                 f"{bd.get('log_lines_during_load', '?')} log lines during the load runs.")
        L.append("")
    text = "\n".join(L)
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    a = sys.argv[1:]
    try:
        if a[:1] == ["setup"] and len(a) == 5:
            setup(a[1], a[2], a[3], a[4])
        elif a[:1] == ["check"] and len(a) == 3:
            check(a[1], int(a[2]))
        elif a[:1] == ["pids"] and len(a) == 3:
            pids(int(a[1]), a[2])
        elif a[:1] == ["quota"] and len(a) == 5:
            quota(int(a[1]), a[2], float(a[3]), float(a[4]))
        elif a[:1] == ["report"] and len(a) == 3:
            report(a[1], a[2])
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    except (gateway.ApiError, bench.CheckError) as e:
        print(f"  FAIL {e}", file=sys.stderr)
        sys.exit(1)
    except (OSError, ValueError, KeyError) as e:
        print(f"  FAIL {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
