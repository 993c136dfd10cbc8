"""The container driver (issue 11): a custom image pushed to a local registry (Debian's
docker-registry) is deployed with ImageInfo through Podman's Docker-compatible service, shows
its pull in the events, becomes Normal, answers through the gateway, runs with the spec's CPU
and memory as its limits and its port published on 127.0.0.1 only, prints to the service's
logs, is updated to a new tag with no failed request, runs its PreStopCommand when stopped,
and is stopped and deleted with nothing left behind (containers, volumes, published ports)."""

import os
import socket
import threading
import time
import unittest

import api
import harness
import podman_env


class ContainerBase(unittest.TestCase):
    abstract = True
    tag = "t2100"

    @classmethod
    def setUpClass(cls):
        cls.env = podman_env.get(cls.tag)
        cls.tmp = harness.tempdir(cls.tag)
        api.start_berthd(cls, extra=["--engine-socket", cls.env.socket])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def create(self, image, **kw):
        p = {"ServiceGroupName": "ct%d" % int(time.time() * 1000 % 1e9),
             "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": image}, "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def wait_status(self, sid, want, timeout=40):
        seen = []

        def check():
            s = self.describe(sid)
            seen.append((s["Status"], s["ServiceInfo"]["Status"]["Reason"]))
            return s["Status"] == want
        harness.wait_until(check, timeout, 0.1, what="%s to be %s (saw %s)" % (sid, want, seen[-3:]))
        return self.describe(sid)

    def events(self, sid):
        return self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]

    def logs(self, sid, word):
        return self.c.ok("DescribeLogs", {"Service": "INFER", "ServiceId": sid,
                                          "Filters": [{"Name": "Key", "Values": [word]}]})["Content"]

    def mine(self, sid):
        return [c for c in self.env.containers()
                if c["Labels"].get("berth.service") == sid]

    def gateway(self, gid, path="/"):
        c = harness.Client(self.d.gateway_port)
        try:
            return c.get("/%s%s" % (gid, path))
        finally:
            c.close()


class Deploy(ContainerBase):
    def test_a_refused_without_engine_and_bad_fields(self):
        img = {"ImageType": "CUSTOM", "ImageUrl": "%s/t2100/none:v1" % self.env.registry}
        base = {"ServiceGroupName": "bad", "ChargeType": "POSTPAID_BY_HOUR",
                "InstanceType": "TI.S.MEDIUM.POST", "ImageInfo": img}
        for extra, code, needle in (
                ({"ServicePort": 8505}, "InvalidParameterValue", "ServicePort 8505 is reserved"),
                ({"ServicePort": 6006}, "InvalidParameterValue", "reserved"),
                ({"ImageInfo": {"ImageType": "CUSTOM"}}, "MissingParameter", "ImageInfo.ImageUrl"),
                ({"ImageInfo": {"ImageType": "TCR", "ImageUrl": "bad image"}},
                 "InvalidParameterValue", "ImageInfo.ImageUrl"),
                ({"PreStopCommand": "sleep 1"}, "InvalidParameterValue", "PreStopCommand"),
                ({"PreStopCommand": [""]}, "InvalidParameterValue", "PreStopCommand[0]")):
            e = self.c.error("CreateModelService", dict(base, **extra))
            self.assertEqual(e["Code"], code, (extra, e))
            self.assertIn(needle, e["Message"])
        # ServicePort and PreStopCommand belong to images, not to commands.
        e = self.c.error("CreateModelService", {"ServiceGroupName": "cmd", "ChargeType": "POSTPAID_BY_HOUR",
                                                "InstanceType": "TI.S.MEDIUM.POST", "Command": "sleep 9",
                                                "ServicePort": 9000})
        self.assertEqual(e["Code"], "UnsupportedOperation")
        self.assertIn("ServicePort", e["Message"])
        # A berthd without --engine-socket refuses images, naming the option.
        other = api.Berthd(os.path.join(self.tmp, "noengine"), self.tmp, name="noengine")
        try:
            other.start()
            e = other.client().error("CreateModelService", base)
            self.assertEqual(e["Code"], "UnsupportedOperation")
            self.assertIn("--engine-socket", e["Message"])
        finally:
            other.stop()
            other.cleanup()
        self.assertEqual(self.c.ok("DescribeModelServiceGroups", {})["TotalCount"], 0)

    def test_b_deploy_serve_limits_logs_update_delete(self):
        env = self.env
        v1 = env.image("t2100/srv", "v1", volume="/data")
        v2 = env.image("t2100/srv", "v2", env=[("VERSION", "v2")], volume="/data")
        volumes_before = {v["Name"] for v in env.engine("GET", "/volumes")[1]["Volumes"] or []}
        svc = self.create(v1, ServicePort=9000, Env=[{"Name": "GREETING", "Value": "hi"}],
                          PreStopCommand=["/prestop"], TerminationGracePeriodSeconds=5)
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        s = self.wait_status(sid, "Normal")
        # The pull showed in the events, and then the start.
        messages = [e["Message"] for e in self.events(sid)]
        self.assertTrue([m for m in messages if m.startswith("pulling image '%s'" % v1)], messages)
        self.assertTrue([m for m in messages if m.startswith("pulled image '%s'" % v1)], messages)
        self.assertEqual(s["ServiceInfo"]["ServicePort"], 9000)
        self.assertEqual(s["ServiceInfo"]["PreStopCommand"], ["/prestop"])
        r = self.gateway(gid)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"version": "v1"})
        # One container, the spec's limits, Init, published on 127.0.0.1 only.
        (ct,) = self.mine(sid)
        status, info = env.engine("GET", "/containers/%s/json" % ct["Id"])
        self.assertEqual(status, 200)
        host = info["HostConfig"]
        self.assertEqual(host["NanoCpus"], 2 * 10**9)          # TI.S.MEDIUM.POST: 2 cores
        self.assertEqual(host["Memory"], 4 * 1024**3)          # and 4 GiB
        self.assertTrue(host["Init"])
        bindings = host["PortBindings"]["9000/tcp"]
        self.assertEqual([b["HostIp"] for b in bindings], ["127.0.0.1"])
        self.assertIn("PORT=9000", info["Config"]["Env"])
        self.assertIn("GREETING=hi", info["Config"]["Env"])
        addr = s["ServiceInfo"]["PodInfos"][0]["IP"]
        self.assertEqual(addr, "127.0.0.1:%s" % bindings[0]["HostPort"])
        old_port = int(bindings[0]["HostPort"])
        # What it prints reaches DescribeLogs.
        harness.wait_until(lambda: self.logs(sid, "listening"), 10, 0.2, what="its output in the logs")
        self.assertEqual(self.logs(sid, "listening")[0]["Message"], "listening on 9000 version v1")

        # Update to a new tag under load: no failed request, then only v2 answers.
        failures, seen, stop = [], set(), threading.Event()

        def load():
            c = harness.Client(self.d.gateway_port)
            while not stop.is_set():
                try:
                    r = c.get("/%s/" % gid)
                    if r.status != 200:
                        failures.append((r.status, r.body[:200]))
                    else:
                        seen.add(r.json()["version"])
                except Exception as e:  # noqa: BLE001 - any failure counts
                    failures.append(repr(e))
                    c.close()
                time.sleep(0.005)
            c.close()
        th = threading.Thread(target=load)
        th.start()
        try:
            time.sleep(0.3)
            self.c.ok("ModifyModelService", {"ServiceId": sid,
                                             "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": v2}})
            harness.wait_until(lambda: self.gateway(gid).json() == {"version": "v2"} and
                               len(self.mine(sid)) == 1 and
                               self.describe(sid)["Status"] == "Normal", 40, 0.2,
                               what="the new tag serving alone")
            time.sleep(0.3)
        finally:
            stop.set()
            th.join()
        self.assertEqual(failures, [])
        self.assertEqual(seen, {"v1", "v2"})
        # The old container ran its PreStopCommand before it stopped.
        harness.wait_until(lambda: self.logs(sid, "prestop"), 10, 0.2, what="the PreStopCommand's mark")
        self.assertEqual(self.describe(sid)["ServiceInfo"]["ImageInfo"]["ImageUrl"], v2)
        (ct2,) = self.mine(sid)
        self.assertNotEqual(ct2["Id"], ct["Id"])
        new_port = int(ct2["Labels"]["berth.port"])

        # Stop, then delete: no container, no volume, no published port is left.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        harness.wait_until(lambda: not self.mine(sid), 20, 0.2, what="the container gone on stop")
        self.wait_status(sid, "Stopped")
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not env.containers(), 20, 0.2, what="no container left")
        volumes_after = {v["Name"] for v in env.engine("GET", "/volumes")[1]["Volumes"] or []}
        self.assertEqual(volumes_after - volumes_before, set())
        for port in (old_port, new_port):
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()


if __name__ == "__main__":
    unittest.main()
