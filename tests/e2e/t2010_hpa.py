"""HPA scaling (ScaleMode AUTO, ScaleStrategy HPA, HorizontalPodAutoscaler), measured by Berth
itself: service-qps through the gateway scales 1 -> >= 5 and back after the scale-down window;
concurrency-util scales a service whose instances are busy (the fast path), cpu-util one whose
instances burn CPU; MaxReplicas and MinReplicas hold; every change is an HpaScaled event that
says which metric and what value caused it. MinReplicas 0: a service at 0 answers its first
requests from 10 concurrent clients after a cold start with none failed, and goes back to 0
when idle. gpu-util is refused here; SCALE on an HPA version needs ScaleMode MANUAL; Modify
switches MANUAL <-> HPA, as `berth service autoscale --hpa` does. A request held at 0 for an
instance that never becomes ready gets 503 after --wake-timeout-ms; a service that is merely
unready (not wakeable) gets 503 at once. Short stabilization windows keep the file under a
minute."""

import os
import subprocess
import sys
import threading
import time
import unittest

import api
import harness

# A threaded HTTP server: /sleep waits 1 s, mode "burn" keeps one core busy.
SERVER = r"""
import http.server, os, sys, threading, time
mode = sys.argv[1]
def burn():
    while True:
        pass
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/sleep"):
            time.sleep(1.0)
        b = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
if mode == "burn":
    threading.Thread(target=burn, daemon=True).start()
S(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def command(mode):
    return "exec %s -c '%s' %s" % (sys.executable, SERVER, mode)


def params(name, mode, hpa, replicas=None):
    p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
         "InstanceType": "TI.S.MEDIUM.POST", "Command": command(mode),
         "ScaleMode": "AUTO", "ScaleStrategy": "HPA", "HorizontalPodAutoscaler": hpa}
    if replicas is not None:
        p["Replicas"] = replicas
    return p


class Load:
    """'clients' threads, each sending GET path through the gateway, paced to 'rps' in all
    (0: as fast as answers come), until stop(); counts the answers by status."""

    def __init__(self, port, path, clients, rps=0):
        self.port, self.path, self.clients, self.rps = port, path, clients, rps
        self.codes, self.lock, self.halt = {}, threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        cl = harness.Client(self.port, timeout=30)
        gap = self.clients / self.rps if self.rps else 0
        nxt = time.time()
        try:
            while not self.halt.is_set():
                try:
                    code = cl.get(self.path).status
                except OSError:
                    code = "error"
                with self.lock:
                    self.codes[code] = self.codes.get(code, 0) + 1
                if gap:
                    nxt += gap
                    delay = nxt - time.time()
                    if delay > 0:
                        self.halt.wait(delay)
        finally:
            cl.close()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(35)
        return dict(self.codes)


class Hpa(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2010", extra=["--wake-timeout-ms", "2000"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def info(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]

    def replicas(self, sid):
        return self.info(sid)["Replicas"]

    def events(self, sid):
        rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        return [e["Message"] for e in rows if e["Message"].startswith("HorizontalPodAutoscaler: ")]

    def wait_replicas(self, sid, pred, timeout, what, seen=None):
        """Poll until pred(Replicas); every count seen goes into 'seen'."""
        def check():
            n = self.replicas(sid)
            if seen is not None:
                seen.add(n)
            return pred(n)
        harness.wait_until(check, timeout, 0.1, what="%s: %s" % (sid, what))

    def berth(self, *args):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"), "--endpoint",
                "http://127.0.0.1:%d" % self.d.port, "--credentials",
                os.path.join(self.d.data_dir, "credentials")] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def delete(self, sid):
        self.c.ok("DeleteModelService", {"ServiceId": sid})

    def test_service_qps_up_and_down(self):
        s = self.c.ok("CreateModelService", params("hpa-qps", "plain", {
            "MinReplicas": 1, "MaxReplicas": 8, "HpaMetrics": [{"Name": "service-qps", "Value": 5}],
            "ScaleDownStabilizationWindowSeconds": 4}))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        info = s["ServiceInfo"]
        self.assertEqual((info["ScaleMode"], info["ScaleStrategy"], info["Replicas"]), ("AUTO", "HPA", 1))
        self.assertEqual(info["HorizontalPodAutoscaler"]["ScaleUpStabilizationWindowSeconds"], 0)
        harness.wait_until(lambda: self.info(sid)["Status"]["ReadyReplicas"] == 1, 20, 0.1, what="ready")
        seen = set()
        load = Load(self.d.gateway_port, "/%s/" % gid, clients=3, rps=30)
        try:
            self.wait_replicas(sid, lambda n: n >= 5, 15, "scaled up to >= 5", seen)
        finally:
            codes = load.stop()
        self.assertEqual(set(codes), {200}, codes)
        self.wait_replicas(sid, lambda n: n == 1, 15, "back to 1 after the window", seen)
        time.sleep(1.5)
        self.assertEqual(self.replicas(sid), 1, "MinReplicas 1 holds")
        self.assertTrue(all(1 <= n <= 8 for n in seen), seen)
        ev = self.events(sid)
        self.assertTrue(any("service-qps" in m and "target 5" in m and "-> " in m for m in ev), ev)
        self.assertTrue(any("1 -> " in m for m in ev), ev)
        self.delete(sid)

    def test_concurrency_fast_path_and_max(self):
        s = self.c.ok("CreateModelService", params("hpa-conc", "plain", {
            "MinReplicas": 1, "MaxReplicas": 3,
            "HpaMetrics": [{"Name": "concurrency-util", "Value": 2}],
            "ScaleDownStabilizationWindowSeconds": 60}))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        harness.wait_until(lambda: self.info(sid)["Status"]["ReadyReplicas"] == 1, 20, 0.1, what="ready")
        seen = set()
        load = Load(self.d.gateway_port, "/%s/sleep" % gid, clients=8)
        try:
            self.wait_replicas(sid, lambda n: n == 3, 10, "scaled to MaxReplicas 3", seen)
            time.sleep(2)
            self.wait_replicas(sid, lambda n: True, 1, "", seen)
        finally:
            codes = load.stop()
        self.assertEqual(set(codes), {200}, codes)
        self.assertTrue(max(seen) == 3, "MaxReplicas 3 holds: %r" % seen)
        ev = self.events(sid)
        self.assertTrue(any("in flight" in m and "held to MaxReplicas 3" in m for m in ev), ev)
        self.delete(sid)

    def test_cpu_util(self):
        s = self.c.ok("CreateModelService", params("hpa-cpu", "burn", {
            "MinReplicas": 1, "MaxReplicas": 2, "HpaMetrics": [{"Name": "cpu-util", "Value": 15}],
            "ScaleDownStabilizationWindowSeconds": 60}))["Service"]
        sid = s["ServiceId"]
        try:
            # One core of a 2-core spec is 50 %: ceil(1 x 50 / 15) = 4, held to 2.
            self.wait_replicas(sid, lambda n: n == 2, 20, "scaled up by cpu-util")
            ev = self.events(sid)
            self.assertTrue(any("cpu-util" in m and "target 15" in m for m in ev), ev)
        finally:
            self.delete(sid)

    def test_scale_from_zero_without_failures(self):
        s = self.c.ok("CreateModelService", params("hpa-zero", "plain", {
            "MinReplicas": 0, "MaxReplicas": 2, "HpaMetrics": [{"Name": "service-qps", "Value": 100}],
            "ScaleDownStabilizationWindowSeconds": 3}, replicas=0))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertEqual(s["ServiceInfo"]["Replicas"], 0)
        time.sleep(1.5)
        self.assertEqual(self.info(sid)["PodInfos"] or [], [], "nothing runs at 0")
        results, lock = [], threading.Lock()

        def one():
            cl = harness.Client(self.d.gateway_port, timeout=30)
            t0 = time.time()
            try:
                r = cl.get("/%s/" % gid)
                out = (r.status, time.time() - t0, r.body)
            except OSError as e:
                out = ("error %s" % e, time.time() - t0, b"")
            finally:
                cl.close()
            with lock:
                results.append(out)

        threads = [threading.Thread(target=one) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        self.assertEqual([r[0] for r in results], [200] * 10, results)
        self.assertTrue(all(r[2] == b"ok" for r in results), results)
        ev = self.events(sid)
        self.assertTrue(any("waiting at 0 instances" in m for m in ev), ev)
        # Idle for the whole scale-down window: back to 0.
        self.wait_replicas(sid, lambda n: n == 0, 15, "back to 0 when idle")
        self.assertTrue(any("-> 0" in m for m in self.events(sid)), self.events(sid))
        self.delete(sid)

    def test_fields_and_switching(self):
        e = self.c.error("CreateModelService", params("hpa-gpu", "plain", {
            "MinReplicas": 1, "MaxReplicas": 2, "HpaMetrics": [{"Name": "gpu-util", "Value": 50}]}))
        self.assertIn("gpu-util", e["Message"])
        self.assertIn("no GPUs", e["Message"])
        p = params("hpa-sw", "plain", {"MinReplicas": 1, "MaxReplicas": 2,
                                       "HpaMetrics": [{"Name": "memory-util", "Value": 90}]})
        p.update({"ScaleMode": "MANUAL", "Replicas": 1})
        del p["ScaleStrategy"], p["HorizontalPodAutoscaler"]
        sid = self.c.ok("CreateModelService", p)["Service"]["ServiceId"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "AUTO", "ScaleStrategy": "HPA",
                                         "HorizontalPodAutoscaler": {
                                             "MinReplicas": 2, "MaxReplicas": 3,
                                             "HpaMetrics": [{"Name": "memory-util", "Value": 90}]}})
        info = self.info(sid)
        self.assertEqual((info["ScaleStrategy"], info["Replicas"]), ("HPA", 2), "MinReplicas 2 holds")
        e = self.c.error("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 1})
        self.assertIn("HorizontalPodAutoscaler", e["Message"])
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "MANUAL", "Replicas": 1})
        info = self.info(sid)
        self.assertEqual((info["ScaleMode"], info["HorizontalPodAutoscaler"], info["Replicas"]),
                         ("MANUAL", None, 1))
        rc, out, err = self.berth("service", "autoscale", sid, "--hpa", "--min", "1", "--max", "4",
                                  "--metric", "cpu-util=60", "--metric", "service-qps=20",
                                  "--up-window", "3", "--down-window", "30")
        self.assertEqual(rc, 0, err)
        h = self.info(sid)["HorizontalPodAutoscaler"]
        self.assertEqual((h["MinReplicas"], h["MaxReplicas"], h["ScaleUpStabilizationWindowSeconds"],
                          h["ScaleDownStabilizationWindowSeconds"]), (1, 4, 3, 30))
        self.assertEqual(h["HpaMetrics"], [{"Name": "cpu-util", "Value": 60},
                                           {"Name": "service-qps", "Value": 20}])
        rc, out, err = self.berth("service", "autoscale", sid, "--hpa", "--min", "1", "--max", "4",
                                  "--metric", "cpu-util=5")
        self.assertNotEqual(rc, 0)
        self.assertIn("HpaMetrics[0].Value", err)
        rc, out, err = self.berth("service", "autoscale", sid, "--hpa", "--metric", "cpu-util")
        self.assertNotEqual(rc, 0)
        self.assertIn("NAME=VALUE", err)
        self.delete(sid)

    def test_wait_timeout_and_not_wakeable(self):
        # Never listens: a request held at 0 waits --wake-timeout-ms (2 s), then 503.
        p = params("hpa-never", "plain", {"MinReplicas": 0, "MaxReplicas": 1,
                                          "HpaMetrics": [{"Name": "service-qps", "Value": 10}]}, replicas=0)
        p["Command"] = "exec sleep 600"
        s = self.c.ok("CreateModelService", p)["Service"]
        cl = harness.Client(self.d.gateway_port, timeout=10)
        t0 = time.time()
        r = cl.get("/%s/" % s["ServiceGroupId"])
        waited = time.time() - t0
        cl.close()
        self.assertEqual(r.status, 503, r)
        self.assertIn("no instance became ready within 2000 ms", r.json()["error"])
        self.assertGreaterEqual(waited, 1.9)
        self.assertLess(waited, 5)
        self.assertEqual(self.replicas(s["ServiceId"]), 1, "the request woke it")
        self.delete(s["ServiceId"])
        # MANUAL and never ready: not wakeable, 503 at once as before.
        p = params("manual-never", "plain", None)
        p.update({"Command": "exec sleep 600", "ScaleMode": "MANUAL", "Replicas": 1})
        del p["ScaleStrategy"], p["HorizontalPodAutoscaler"]
        s = self.c.ok("CreateModelService", p)["Service"]
        cl = harness.Client(self.d.gateway_port, timeout=10)
        t0 = time.time()
        r = cl.get("/%s/" % s["ServiceGroupId"])
        cl.close()
        self.assertEqual(r.status, 503, r)
        self.assertIn("has no ready instance", r.json()["error"])
        self.assertLess(time.time() - t0, 1)
        self.delete(s["ServiceId"])


if __name__ == "__main__":
    unittest.main()
