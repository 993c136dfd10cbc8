#!/usr/bin/python3
"""logs.py - Python side of bench/logs.sh: the log store under a chatty service (issue 9;
docs/observability.md "Logs" describes the store, docs/benchmarks.md "Logs" holds figures).

    logs.py run DIR API_PORT GW_PORT CREDENTIALS MODEL_VERSION
        1. fill: a command service prints BENCH_LINES (1,000,000) lines of a chatty web
           service's access log as fast as it can (ten of them carry a rare word); ingest lines/s
           from the store's own timestamps of the first and the last line;
        2. search: DescribeLogs over the last 7 days, BENCH_QUERIES times each: a rare word, a
           word in 2 % of the lines, a word in every line, two words ANDed, no keyword; p50/p99;
        3. gateway: wrk on a model service, rounds alternating without and with a chatty
           instance (`yes`, printing as fast as it can: backpressure holds it to the store's
           pace); requests/s both ways and their ratio, the lines/s the store took meanwhile;
        writes DIR/results.json.
    logs.py report DIR OUT   Markdown from DIR/results.json, printed and written to OUT.
"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gateway  # noqa: E402  (bench/gateway.py: Api)

INSTANCE_TYPE = "TI.S.MEDIUM.POST"
FILL = r"""
import sys, time
n = int(sys.argv[1])
out = sys.stdout.buffer
w = out.write
for i in range(n):
    extra = b" needle%d" % (i // 100000) if i % 100000 == 7 else b""
    w(b"2026-12-02T06:00:00.%03dZ INFO gateway request_id=r%d path=/v1/models/m:predict "
      b"status=200 latency_us=%d user=u%d%s\n" % (i % 1000, i, i % 997, i % 50, extra))
w(b"filldone\n")
out.flush()
time.sleep(3600)
"""


def create(api, **kw):
    p = {"ChargeType": "POSTPAID_BY_HOUR", "InstanceType": INSTANCE_TYPE, "Replicas": 1}
    p.update(kw)
    return api.call("CreateModelService", p)["Service"]


def wait_ready(api, sid, secs=60):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s = api.call("DescribeModelService", {"ServiceId": sid})["Service"]
        if s.get("Status") == "Normal":
            return s
        time.sleep(0.1)
    raise gateway.ApiError(f"{sid} not Normal after {secs} s")


def logs(api, **kw):
    p = {"Service": "INFER"}
    p.update(kw)
    return api.call("DescribeLogs", p, timeout=60)


def find(api, words, **kw):
    return logs(api, Filters=[{"Name": "Key", "Values": words}], **kw)["Content"]


def parse_ts(ts):
    # 2026-12-02T06:00:00.123456000Z
    t = time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")
    import calendar
    return calendar.timegm(t) + int(ts[20:26]) / 1e6


def rfc3339_ago(secs):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - secs))


def last_id(api):
    c = logs(api, Limit=1, StartTime=rfc3339_ago(7 * 86400))["Content"]
    return int(c[0]["Id"]) if c else 0


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def run(d, api_port, gw_port, creds, mv):
    api = gateway.Api(f"http://127.0.0.1:{api_port}", creds)
    n = int(os.environ.get("BENCH_LINES", "1000000"))
    nq = int(os.environ.get("BENCH_QUERIES", "200"))
    secs = int(os.environ.get("BENCH_SECONDS", "5"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    conns = int(os.environ.get("BENCH_CONNECTIONS", "16"))
    cli_pin = os.environ.get("BENCH_CLI_PIN", "").split()
    res = {"lines": n}

    # 1. fill
    script = os.path.join(d, "fill.py")
    with open(script, "w") as f:
        f.write(FILL)
    fill = create(api, ServiceGroupName="fill", Command=f"exec {sys.executable} {script} {n}")
    t0 = time.monotonic()
    while not find(api, ["filldone"], StartTime=rfc3339_ago(86400)):
        if time.monotonic() - t0 > 900:
            raise gateway.ApiError("the fill did not finish in 15 minutes")
        time.sleep(0.5)
    first = logs(api, ServiceId=fill["ServiceId"], Order="ASC", Limit=1,
                 StartTime=rfc3339_ago(86400))["Content"][0]
    done = find(api, ["filldone"], StartTime=rfc3339_ago(86400))[0]
    span = parse_ts(done["Timestamp"]) - parse_ts(first["Timestamp"])
    res["ingest_idle_lines_per_s"] = (n + 1) / span if span > 0 else None
    res["fill_s"] = span
    api.call("ModifyModelService", {"ServiceId": fill["ServiceId"], "ServiceAction": "STOP"})
    db = os.path.join(d, "data", "logs.db")
    res["db_bytes"] = os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)

    # 2. search
    week = rfc3339_ago(7 * 86400)
    queries = {
        "rare word (1 line)": dict(Filters=[{"Name": "Key", "Values": ["needle3"]}]),
        "word in 2 % (page of 100)": dict(Filters=[{"Name": "Key", "Values": ["u7"]}]),
        "word in every line (page of 100)": dict(Filters=[{"Name": "Key", "Values": ["status"]}]),
        "two words ANDed (1 line)": dict(Filters=[{"Name": "Key", "Values": ["u7", "r500007"]}]),
        "rare word + PodName* + LogStream": dict(Filters=[{"Name": "Key", "Values": ["needle5"]}],
                                                 PodName=fill["ServiceGroupId"] + "-*",
                                                 LogStream="stdout"),
        "no keyword (page of 100)": dict(),
        "word in 2 %, ASC, Offset 10000": dict(Filters=[{"Name": "Key", "Values": ["u7"]}],
                                               Order="ASC", Offset=10000),
    }
    res["search"] = {}
    for name, q in queries.items():
        got = logs(api, StartTime=week, Limit=100, **q)["Content"]
        ms = []
        for _ in range(nq):
            t = time.perf_counter()
            logs(api, StartTime=week, Limit=100, **q)
            ms.append((time.perf_counter() - t) * 1000)
        res["search"][name] = {"hits": len(got), "p50_ms": pct(ms, 0.5), "p99_ms": pct(ms, 0.99),
                               "mean_ms": statistics.mean(ms)}
        print(f"logs-bench: {name}: {len(got)} lines, p50 {pct(ms, 0.5):.2f} ms, "
              f"p99 {pct(ms, 0.99):.2f} ms", file=sys.stderr)

    # 3. the gateway with and without a chatty instance
    plain = create(api, ServiceGroupName="plain", ModelInfo={"ModelVersionId": mv})
    wait_ready(api, plain["ServiceId"])
    chatty = create(api, ServiceGroupName="chatty",
                    Command="exec yes 'GET /v1/models/m:predict 200 chatty line from an instance "
                            "that logs everything it does'")
    time.sleep(1)
    url = f"http://127.0.0.1:{gw_port}/{plain['ServiceGroupId']}/v1/models/m:predict"
    env = dict(os.environ, BENCH_BODY=os.path.join(d, "body_tf1.json"), BENCH_CT="application/json",
               BENCH_HDR_LEN="")
    lua = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post.lua")

    def wrk(s):
        out = subprocess.run(cli_pin + ["wrk", "-t1", f"-c{conns}", f"-d{s}s", "--timeout", "10s",
                                        "-s", lua, url], env=env, capture_output=True, text=True,
                             timeout=s + 30).stdout
        line = [ln for ln in out.splitlines() if ln.startswith("BENCH_RESULT ")]
        return json.loads(line[-1][13:]) if line else {"rps": 0, "error": out[-300:]}

    def set_chatty(on):
        api.call("ModifyModelService", {"ServiceId": chatty["ServiceId"],
                                        "ServiceAction": "RESUME" if on else "STOP"})
        end = time.monotonic() + 20
        while time.monotonic() < end:
            a = last_id(api)
            time.sleep(0.5)
            b = last_id(api)
            if (b > a) == on:
                return
        raise gateway.ApiError(f"chatty did not turn {'on' if on else 'off'}")

    wrk(1)  # warm-up
    res["gateway"] = []
    for r in range(rounds):
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            set_chatty(on)
            a, t = last_id(api), time.monotonic()
            w = wrk(secs)
            b, t2 = last_id(api), time.monotonic()
            row = {"round": r, "chatty": on, "rps": w.get("rps"), "p50_us": w.get("p50_us"),
                   "p99_us": w.get("p99_us"), "lines_per_s": (b - a) / (t2 - t)}
            res["gateway"].append(row)
            print(f"logs-bench: round {r} chatty={on}: {row['rps']:.0f} req/s, "
                  f"{row['lines_per_s']:.0f} lines/s stored", file=sys.stderr)
    set_chatty(False)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(res, f, indent=1)


def report(d, out_path):
    with open(os.path.join(d, "results.json")) as f:
        res = json.load(f)
    meta = res.get("meta", {})
    L = ["| query over %d stored lines, window the last 7 days, Limit 100 | lines | p50 ms | p99 ms |"
         % res["lines"], "| --- | ---: | ---: | ---: |"]
    for name, s in res["search"].items():
        L.append(f"| {name} | {s['hits']} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} |")
    L.append("")
    L.append(f"Ingest, idle gateway: {res['ingest_idle_lines_per_s']:,.0f} lines/s "
             f"({res['lines']:,} lines in {res['fill_s']:.1f} s); store {res['db_bytes'] / 2**20:.0f} MiB "
             f"(database + WAL) for them.")
    L.append("")
    off = [g["rps"] for g in res["gateway"] if not g["chatty"]]
    on = [g["rps"] for g in res["gateway"] if g["chatty"]]
    lines_on = [g["lines_per_s"] for g in res["gateway"] if g["chatty"]]
    L.append("| gateway, TF :predict batch 1 | req/s (median of rounds) | rounds | lines/s stored |")
    L.append("| --- | ---: | --- | ---: |")
    L.append(f"| without a chatty instance | {statistics.median(off):,.0f} | "
             f"{', '.join('%.0f' % v for v in off)} | |")
    L.append(f"| with `yes` printing as fast as it can | {statistics.median(on):,.0f} | "
             f"{', '.join('%.0f' % v for v in on)} | {statistics.median(lines_on):,.0f} |")
    L.append("")
    pairs = []
    for r in sorted({g["round"] for g in res["gateway"]}):
        w = [g["rps"] for g in res["gateway"] if g["round"] == r and g["chatty"]]
        wo = [g["rps"] for g in res["gateway"] if g["round"] == r and not g["chatty"]]
        if w and wo and wo[0]:
            pairs.append(w[0] / wo[0])
    L.append(f"Per-round ratios (with ÷ without, back to back): {', '.join('%.2f' % p for p in pairs)}; "
             f"median {statistics.median(pairs):.3f}.")
    L.append("")
    L.append(f"Ratio of the medians, with ÷ without: **{statistics.median(on) / statistics.median(off):.3f}**; "
             f"p99 latency without {statistics.median(g['p99_us'] for g in res['gateway'] if not g['chatty']) / 1000:.1f} ms, "
             f"with {statistics.median(g['p99_us'] for g in res['gateway'] if g['chatty']) / 1000:.1f} ms. "
             f"berthd's peak RSS over the whole run: {meta.get('berthd_vm_hwm_kb', 0) / 1024:.0f} MiB.")
    L.append("")
    L.append(f"Load before: {meta.get('loadavg', '?')} (busy {meta.get('busy_before', '?')} %), "
             f"pinning: {meta.get('pin', '?')}, {meta.get('cpus', '?')} CPUs, git {meta.get('git', '?')}.")
    text = "\n".join(L) + "\n"
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump(res, f, indent=1)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run" and len(sys.argv) == 7:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
    elif len(sys.argv) >= 2 and sys.argv[1] == "meta" and len(sys.argv) == 4:
        p = os.path.join(sys.argv[2], "results.json")
        with open(p) as f:
            res = json.load(f)
        res["meta"] = json.loads(sys.argv[3])
        with open(p, "w") as f:
            json.dump(res, f, indent=1)
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
