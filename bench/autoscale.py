"""bench/autoscale.py - how fast Berth's HPA reacts (bench/autoscale.sh runs it; see
docs/benchmarks.md, "Autoscaling").

  1. reference: the cold start of the instance itself, the command server of
     tests/e2e/t2010_hpa.py started directly, from spawn to its first 200;
  2. first request from zero: an HPA service with MinReplicas 0 at 0 instances; the latency of
     one request through the gateway (held, woken, forwarded), then of 10 concurrent ones, each
     time after it went back to 0; the ratio to the reference cold start;
  3. load step -> new replica serving: from the first request of a step of load to the moment
     DescribeModelService shows a second ready instance (polled every 20 ms; the route table is
     republished at readiness, so it serves from then), for concurrency-util (8 clients on a 1 s
     handler, target 2: the fast path) and service-qps (30 requests/s, target 5: the 1 s sample);

Everything on 127.0.0.1, bounded in time; only processes it started are stopped."""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import api  # noqa: E402
import harness  # noqa: E402
import t2010_hpa as t  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def reference_cold_start():
    port = harness.free_port()
    env = dict(os.environ, PORT=str(port))
    t0 = time.time()
    p = subprocess.Popen(["/bin/sh", "-c", t.command("plain")], env=env)
    try:
        while time.time() - t0 < 20:
            try:
                cl = harness.Client(port, timeout=2)
                if cl.get("/").status == 200:
                    cl.close()
                    return time.time() - t0
            except OSError:
                time.sleep(0.002)
        raise RuntimeError("the reference server did not start")
    finally:
        p.terminate()
        p.wait(5)


class Bench:
    def __init__(self):
        self.tmp = harness.tempdir("bench-autoscale")
        self.d = api.Berthd(os.path.join(self.tmp, "data"), self.tmp)
        self.d.start()
        self.c = self.d.client()

    def info(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]

    def wait(self, pred, timeout, what):
        harness.wait_until(pred, timeout, 0.02, what=what)

    def get(self, path):
        cl = harness.Client(self.d.gateway_port, timeout=30)
        t0 = time.time()
        try:
            return cl.get(path).status, time.time() - t0
        finally:
            cl.close()

    def from_zero(self, clients):
        s = self.c.ok("CreateModelService", t.params("zero%d" % clients, "plain", {
            "MinReplicas": 0, "MaxReplicas": 2, "HpaMetrics": [{"Name": "service-qps", "Value": 100}],
            "ScaleDownStabilizationWindowSeconds": 1}, replicas=0))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        out = []
        for _ in range(ROUNDS):
            self.wait(lambda: self.info(sid)["Replicas"] == 0 and not self.info(sid)["PodInfos"],
                      30, "back at 0")
            res = []
            th = [threading.Thread(target=lambda: res.append(self.get("/%s/" % gid)))
                  for _ in range(clients)]
            for x in th:
                x.start()
            for x in th:
                x.join(40)
            out.append({"max_s": max(r[1] for r in res), "min_s": min(r[1] for r in res),
                        "failed": sum(r[0] != 200 for r in res)})
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        return out

    def step(self, metric, value, path, clients, rps):
        out = []
        for i in range(max(1, ROUNDS // 2 + 1)):
            s = self.c.ok("CreateModelService", t.params("step-%s-%d" % (metric, i), "plain", {
                "MinReplicas": 1, "MaxReplicas": 8, "HpaMetrics": [{"Name": metric, "Value": value}],
                "ScaleDownStabilizationWindowSeconds": 60}))["Service"]
            sid, gid = s["ServiceId"], s["ServiceGroupId"]
            self.wait(lambda: self.info(sid)["Status"]["ReadyReplicas"] == 1, 20, "ready")
            time.sleep(1.2)  # a sample of no load first
            t0 = time.time()
            load = t.Load(self.d.gateway_port, "/%s%s" % (gid, path), clients, rps)
            try:
                desired = ready = None
                while time.time() - t0 < 15 and ready is None:
                    inf = self.info(sid)
                    if desired is None and inf["Replicas"] > 1:
                        desired = time.time() - t0
                    if inf["Status"]["ReadyReplicas"] >= 2:
                        ready = time.time() - t0
                    time.sleep(0.02)
            finally:
                codes = load.stop()
            out.append({"desired_s": desired, "ready_s": ready, "codes": codes})
            self.c.ok("DeleteModelService", {"ServiceId": sid})
        return out

    def close(self):
        self.d.stop()
        self.d.cleanup()
        harness.rmtree(self.tmp)


def main():
    ref = [reference_cold_start() for _ in range(ROUNDS)]
    b = Bench()
    try:
        z1 = b.from_zero(1)
        z10 = b.from_zero(10)
        conc = b.step("concurrency-util", 2, "/sleep", 8, 0)
        qps = b.step("service-qps", 5, "/", 3, 30)
    finally:
        b.close()
    cold = statistics.median(ref)
    res = {"reference_cold_start_s": ref, "from_zero_1": z1, "from_zero_10": z10,
           "step_concurrency": conc, "step_qps": qps}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "autoscale.json"), "w") as f:
        json.dump(res, f, indent=1)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    z1m = med([r["max_s"] for r in z1])
    z10m = med([r["max_s"] for r in z10])
    print("| measure | median | range | ÷ reference cold start |")
    print("| --- | ---: | --- | ---: |")
    print("| reference cold start (spawn to first 200) | %.3f s | %.3f–%.3f s | 1 |" % (cold, min(ref), max(ref)))
    print("| first request from zero, 1 client | %.3f s | %.3f–%.3f s | %.2f |" % (
        z1m, min(r["max_s"] for r in z1), max(r["max_s"] for r in z1), z1m / cold))
    print("| first requests from zero, 10 clients (slowest) | %.3f s | %.3f–%.3f s | %.2f |" % (
        z10m, min(r["max_s"] for r in z10), max(r["max_s"] for r in z10), z10m / cold))
    print("| failed requests from zero | %d of %d | | |" % (
        sum(r["failed"] for r in z1 + z10), len(z1) + 10 * len(z10)))
    for name, rows in (("concurrency-util step (8 clients, target 2)", conc),
                       ("service-qps step (30 req/s, target 5)", qps)):
        ds = [r["desired_s"] for r in rows if r["desired_s"] is not None]
        rs = [r["ready_s"] for r in rows if r["ready_s"] is not None]
        print("| %s: desired count raised | %s | %s | |" % (
            name, "%.3f s" % med(ds) if ds else "n/a", ", ".join("%.2f" % x for x in ds)))
        print("| %s: new replica serving | %s | %s | goal 3 s: %s |" % (
            name, "%.3f s" % med(rs) if rs else "n/a", ", ".join("%.2f" % x for x in rs),
            "%.2f" % (med(rs) / 3) if rs else "n/a"))
        bad = sum(v for r in rows for k, v in r["codes"].items() if k != 200)
        print("| %s: failed requests | %d | | |" % (name, bad))


if __name__ == "__main__":
    main()
