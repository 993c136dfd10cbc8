#!/usr/bin/python3
"""syscalls.py - Python side of bench/syscalls.sh (stdlib only).

    syscalls.py nginx-return DIR PORT ANSWER
                        write DIR/nginx_return/nginx.conf: one worker answering every request
                        with `return 200` and the bytes of the file ANSWER (application/json)
    syscalls.py report DIR OUT
                        turn DIR/results.txt and DIR/perf_*.csv into a Markdown report, print
                        it, write it to OUT (and the raw figures to OUT with .json)

See bench/syscalls.sh and docs/benchmarks.md ("Syscalls per request and the gateway's CPU").
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gateway  # noqa: E402  (bench/gateway.py: the nginx.conf of bench/gateway.sh)

# gateway.py's nginx.conf (one worker, no logs, keep-alive) with `return 200` in place of
# the upstream and its proxy_pass.
_GW_HTTP = gateway.NGINX_CONF.split("    upstream instance")[0]
assert _GW_HTTP != gateway.NGINX_CONF, "gateway.NGINX_CONF changed shape"
NGINX_RETURN_CONF = _GW_HTTP.replace("bench/gateway.py for bench/gateway.sh",
                                     "bench/syscalls.py for bench/syscalls.sh") + """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""

TARGETS = (
    ("serve", "berth-serve (1 REST thread)"),
    ("nginx_return", "nginx `return 200`, same answer"),
    ("gateway", "berthd gateway -> instance"),
    ("nginx_proxy", "nginx proxy_pass -> same instance"),
)


def nginx_return(d, port, answer):
    nd = os.path.join(d, "nginx_return")
    os.makedirs(nd, exist_ok=True)
    body = open(answer, "rb").read().decode("utf-8")
    body = body.replace("\\", "\\\\").replace("'", "\\'").replace("$", "${dollar}")
    if "${dollar}" in body:
        raise SystemExit("syscalls.py: the answer holds '$'; nginx would need a variable for it")
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_RETURN_CONF.format(d=nd, port=port, body=body, up=0))


def perf_counts(path):
    """{syscall: count} from `perf stat -x,` output of syscalls:sys_enter_* events."""
    out = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) < 3 or not f[2].startswith("syscalls:sys_enter_"):
            continue
        try:
            n = int(f[0])
        except ValueError:
            continue  # <not counted> / <not supported>
        if n:
            out[f[2][len("syscalls:sys_enter_"):]] = n
    return out


def load(d):
    res = {}
    for line in open(os.path.join(d, "results.txt")):
        key, _, rest = line.strip().partition(" ")
        res[key] = json.loads(rest)
    for t, _ in TARGETS:
        p = os.path.join(d, f"perf_{t}.csv")
        if os.path.exists(p):
            res[f"perf_{t}"] = perf_counts(p)
    return res


def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2 if n else None


def cpu_runs(res, t):
    """Per round: (CPU µs per request, wrk's figures) of target t."""
    out = []
    for rep in range(1, 1000):
        cpu = res.get(f"cpu_{t}_{rep}")
        if not cpu:
            break
        out.append((cpu["ticks"] / cpu["hz"] * 1e6 / max(cpu["wrk"]["requests"], 1), cpu["wrk"]))
    return out


def figures(res):
    fig = {}
    for t, _ in TARGETS:
        c, counts = res.get(f"count_{t}"), res.get(f"perf_{t}")
        if not c or counts is None:
            continue
        req = max(c["requests"], 1)
        per = {k: v / req for k, v in counts.items()}
        f = {"requests": c["requests"], "rps_counted": c["rps"],
             "syscalls_per_req": sum(per.values()),
             "by_call": dict(sorted(per.items(), key=lambda kv: -kv[1]))}
        runs = cpu_runs(res, t)
        if runs:
            f["cpu_us_per_req_runs"] = [round(us, 2) for us, _ in runs]
            f["cpu_us_per_req"] = median(us for us, _ in runs)
            f["rps"] = median(w["rps"] for _, w in runs)
            f["p50_us"] = median(w["p50_us"] for _, w in runs)
        fig[t] = f
    g, n = cpu_runs(res, "gateway"), cpu_runs(res, "nginx_proxy")
    if g and n:
        fig["gateway_cpu_ratio_runs"] = [round(a[0] / b[0], 3) for a, b in zip(g, n)]
        fig["gateway_cpu_ratio"] = median(fig["gateway_cpu_ratio_runs"])
    return fig


def report(d, out_path):
    res = load(d)
    fig = figures(res)
    meta = res.get("meta", {})
    lines = [
        "# Syscalls per request and the gateway's CPU",
        "",
        f"{meta.get('build', '?')} (git {meta.get('git', '?')}), nginx {meta.get('nginx_version', '?')}; "
        f"wrk -t1 -c{meta.get('conns', '?')}, {meta.get('seconds', '?')} s per run, TF :predict "
        f"batch 1 ({meta.get('body_bytes', '?')}-byte body, {meta.get('answer_bytes', '?')}-byte "
        f"answer); pinning {meta.get('pin', '?')}; load before {meta.get('loadavg', '?')}.",
        "",
        "| target | syscalls/req | CPU µs/req | req/s | p50 µs | top calls per request |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for t, label in TARGETS:
        f = fig.get(t)
        if not f:
            continue
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(f["by_call"].items())[:6]
                        if v >= 0.01)
        lines.append(f"| {label} | {f['syscalls_per_req']:.2f} | "
                     f"{f.get('cpu_us_per_req', float('nan')):.1f} | {f.get('rps', 0):,.0f} | "
                     f"{f.get('p50_us', 0):.0f} | {top} |")
    lines.append("")

    def compare(a, b, key, fmt):
        if a in fig and b in fig and key in fig[a] and key in fig[b] and fig[b][key]:
            lines.append(fmt.format(a=fig[a][key], b=fig[b][key], r=fig[a][key] / fig[b][key]))
    compare("serve", "nginx_return", "syscalls_per_req",
            "- berth-serve makes {a:.2f} syscalls per request, nginx `return 200` {b:.2f} (×{r:.2f}).")
    compare("gateway", "nginx_proxy", "syscalls_per_req",
            "- the gateway makes {a:.2f} per proxied request, nginx proxy_pass {b:.2f} (×{r:.2f}).")
    if "gateway_cpu_ratio" in fig:
        runs = ", ".join(f"{r:.2f}" for r in fig["gateway_cpu_ratio_runs"])
        lines.append(f"- the gateway's CPU per proxied request ÷ nginx proxy_pass's: "
                     f"**×{fig['gateway_cpu_ratio']:.2f}** (median of the rounds: {runs}; "
                     f"{fig['gateway']['cpu_us_per_req']:.1f} and "
                     f"{fig['nginx_proxy']['cpu_us_per_req']:.1f} µs).")
    compare("serve", "nginx_return", "rps",
            "- berth-serve req/s ÷ nginx `return 200`'s: ×{r:.2f} (both pinned to one CPU, wrk on "
            "another; bench/floor.sh is the benchmark for this ratio).")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    with open(os.path.splitext(out_path)[0] + ".json", "w") as f:
        json.dump({"meta": meta, "figures": fig}, f, indent=1)


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "nginx-return":
        nginx_return(a[1], int(a[2]), a[3])
    elif len(a) == 3 and a[0] == "report":
        report(a[1], a[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
