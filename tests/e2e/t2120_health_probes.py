"""HealthProbe's liveness and startup probes (issue 11), for both drivers: an instance that fails
its liveness probe FailureThreshold times is restarted (a crash, with its back-off and restart
count); until its startup probe passes, neither readiness nor liveness is probed, and failing
the startup probe restarts it too; a container that fails its liveness probe is replaced by a
new container."""

import os
import sys
import time
import unittest

import api
import harness
import podman_env
from t2100_containers import ContainerBase

SERVER = r'''
import http.server, os, sys
d = sys.argv[1]
print("boot", flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        need = {"/live": "alive", "/started": "started"}.get(self.path)
        ok = need is None or os.path.exists(os.path.join(d, need))
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def probe(path, period=1, failures=2, delay=0):
    return {"ProbeAction": {"ActionType": "HTTPGet", "HTTPGet": {"Path": path}},
            "PeriodSeconds": period, "TimeoutSeconds": 1, "FailureThreshold": failures,
            "InitialDelaySeconds": delay}


class ProcessProbes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2120")
        cls.script = os.path.join(cls.tmp, "server.py")
        with open(cls.script, "w") as f:
            f.write(SERVER)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def flags(self, name):
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        os.chmod(d, 0o755)
        return d

    def create(self, d, hp):
        return self.c.ok("CreateModelService", {
            "ServiceGroupName": "hp%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec %s %s %s" % (sys.executable, self.script, d),
            "HealthProbe": hp})["Service"]["ServiceId"]

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def restarts(self, sid):
        pods = self.describe(sid)["ServiceInfo"]["PodInfos"]
        return pods[0]["ContainerInfos"][0]["Status"]["RestartCount"] if pods else 0

    def events(self, sid):
        return [e["Message"] for e in self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]]

    def test_liveness_restarts(self):
        d = self.flags("live")
        open(os.path.join(d, "alive"), "w").close()
        sid = self.create(d, {"LivenessProbe": probe("/live")})
        harness.wait_until(lambda: self.describe(sid)["Status"] == "Normal", 20, 0.1, what="Normal")
        time.sleep(2.5)  # passing liveness checks do nothing
        self.assertEqual(self.restarts(sid), 0)
        os.unlink(os.path.join(d, "alive"))
        harness.wait_until(lambda: self.restarts(sid) >= 1, 15, 0.1, what="a restart")
        open(os.path.join(d, "alive"), "w").close()
        self.assertIn("Liveness probe failed 2 times: restarting the instance", self.events(sid))
        harness.wait_until(lambda: self.describe(sid)["Status"] == "Normal", 20, 0.1, what="Normal again")
        n = self.restarts(sid)
        time.sleep(2.5)
        self.assertEqual(self.restarts(sid), n)
        self.assertEqual(self.describe(sid)["ServiceInfo"]["HealthProbe"]["LivenessProbe"]["PeriodSeconds"], 1)
        self.c.ok("DeleteModelService", {"ServiceId": sid})

    def test_startup_gates_readiness_and_restarts(self):
        d = self.flags("startup")
        open(os.path.join(d, "alive"), "w").close()
        sid = self.create(d, {"StartupProbe": probe("/started", failures=3),
                              "ReadinessProbe": probe("/", failures=1),
                              "LivenessProbe": probe("/live")})
        # The server answers / at once, but readiness waits for the startup probe.
        time.sleep(2)
        self.assertEqual(self.describe(sid)["Status"], "Waiting")
        harness.wait_until(lambda: self.restarts(sid) >= 1, 15, 0.1, what="a restart after 3 failures")
        self.assertIn("Startup probe failed 3 times: restarting the instance", self.events(sid))
        open(os.path.join(d, "started"), "w").close()
        harness.wait_until(lambda: self.describe(sid)["Status"] == "Normal", 30, 0.1, what="Normal once started")
        self.c.ok("DeleteModelService", {"ServiceId": sid})


class ContainerLiveness(ContainerBase):
    tag = "t2120"

    def test_container_liveness_replaces_it(self):
        img = self.env.image("t2120/srv", "v1")
        sid = self.create(img, HealthProbe={"LivenessProbe": probe("/fail", failures=2, delay=1)})["ServiceId"]
        first = harness.wait_until(lambda: self.mine(sid), 20, 0.1, what="its container")[0]["Id"]
        harness.wait_until(lambda: [c for c in self.mine(sid) if c["Id"] != first], 30, 0.2,
                           what="a new container")
        msgs = [e["Message"] for e in self.events(sid)]
        self.assertIn("Liveness probe failed 2 times: restarting the instance", msgs)
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not self.mine(sid), 20, 0.2, what="no container left")


if __name__ == "__main__":
    unittest.main()
