"""The container driver when things go wrong (issue 11): a missing image and a registry that
cannot be reached are CREATE_FAILED with the registry's reason; an image that exits is
restarted with backoff and Abnormal with its exit status; kill -9 of berthd leaves its
containers running and a restart adopts them (same containers, no duplicates, still serving),
while a container the store no longer wants is removed."""

import os
import time
import unittest

import api
import harness
import podman_env
from t2100_containers import ContainerBase


class Failures(ContainerBase):
    tag = "t2110"

    def test_a_missing_image_and_unreachable_registry(self):
        missing = "%s/t2110/nosuch:v9" % self.env.registry
        sid = self.create(missing)["ServiceId"]
        s = self.wait_status(sid, "CREATE_FAILED")
        reason = s["ServiceInfo"]["Status"]["Reason"]
        self.assertIn("cannot pull '%s'" % missing, reason)
        self.assertIn("manifest unknown", reason)  # the registry's own words
        self.assertEqual(self.mine(sid), [])
        # A registry nobody listens on: the engine's reason.
        dead = "127.0.0.1:%d/t2110/srv:v1" % harness.free_port()
        sid2 = self.create(dead)["ServiceId"]
        s = self.wait_status(sid2, "CREATE_FAILED")
        self.assertIn("cannot pull '%s'" % dead, s["ServiceInfo"]["Status"]["Reason"])
        self.assertIn("connection refused", s["ServiceInfo"]["Status"]["Reason"])
        for x in (sid, sid2):
            self.c.ok("DeleteModelService", {"ServiceId": x})

    def test_a2_registry_credentials(self):
        env = self.env
        img = env.image("t2110/private", "v1", registry=env.auth_registry)
        # Without credentials for that registry: CREATE_FAILED with the registry's refusal.
        sid = self.create(img)["ServiceId"]
        s = self.wait_status(sid, "CREATE_FAILED")
        self.assertIn("cannot pull '%s'" % img, s["ServiceInfo"]["Status"]["Reason"])
        self.assertIn("unauthorized", s["ServiceInfo"]["Status"]["Reason"])
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        # With them (the operator's file): it pulls and serves.
        creds = os.path.join(self.tmp, "registry-auth")
        with open(creds, "w") as f:
            f.write("# host user password\n%s %s %s\n" % (env.auth_registry, env.auth_user,
                                                          env.auth_password))
        os.chmod(creds, 0o600)
        other = api.Berthd(os.path.join(self.tmp, "withcreds"), self.tmp, name="withcreds",
                           extra=["--engine-socket", env.socket, "--registry-auth-file", creds])
        try:
            other.start()
            c = other.client()
            svc = c.ok("CreateModelService", {
                "ServiceGroupName": "private", "ChargeType": "POSTPAID_BY_HOUR",
                "InstanceType": "TI.S.MEDIUM.POST", "ImageInfo": {"ImageType": "TCR", "ImageUrl": img}})["Service"]
            harness.wait_until(lambda: c.ok("DescribeModelService", {"ServiceId": svc["ServiceId"]})
                               ["Service"]["Status"] == "Normal", 40, 0.2, what="the private image Normal")
            c.ok("DeleteModelService", {"ServiceId": svc["ServiceId"]})
            harness.wait_until(lambda: not [x for x in env.containers()
                                            if x["Labels"].get("berth.service") == svc["ServiceId"]],
                               20, 0.2, what="its container gone")
        finally:
            other.stop()
            other.cleanup()

    def test_b_crashing_image_backs_off(self):
        crash = self.env.image("t2110/crash", "v1", env=[("CRASH", "1")])
        sid = self.create(crash)["ServiceId"]
        s = self.wait_status(sid, "Abnormal")
        self.assertIn("exited with status 3", s["ServiceInfo"]["Status"]["Reason"])
        # Restarted, with a growing back-off (1 s, 2 s, ...), each time a new container.
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["PodInfos"] and
                           self.describe(sid)["ServiceInfo"]["PodInfos"][0]["ContainerInfos"][0]["Status"]["RestartCount"] >= 2,
                           30, 0.2, what="two restarts")
        msgs = [e["Message"] for e in self.events(sid)]
        self.assertTrue([m for m in msgs if m.startswith("Back-off")], msgs)
        harness.wait_until(lambda: self.logs(sid, "crashing"), 10, 0.2, what="its stderr in the logs")
        self.assertLessEqual(len(self.mine(sid)), 1)
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not self.mine(sid), 20, 0.2, what="the crashing container gone")

    def test_b2_killed_container_reads_137(self):
        img = self.env.image("t2110/srv", "k1")
        sid = self.create(img)["ServiceId"]
        self.wait_status(sid, "Normal")
        (ct,) = self.mine(sid)
        status, _ = self.env.engine("POST", "/containers/%s/kill?signal=KILL" % ct["Id"])
        self.assertEqual(status, 204)
        seen = harness.wait_until(
            lambda: [e["Message"] for e in self.events(sid) if "137" in e["Message"]], 15, 0.1,
            what="the exit in the events")
        self.assertEqual(seen, ["The instance exited with status 137 (killed: out of memory or SIGKILL)"])
        # Restarted after its back-off, in a new container.
        self.wait_status(sid, "Normal")
        (ct2,) = self.mine(sid)
        self.assertNotEqual(ct2["Id"], ct["Id"])
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not self.mine(sid), 20, 0.2, what="its container gone")

    def test_c_kill9_and_restart_adopts(self):
        img = self.env.image("t2110/srv", "v1")
        svc = self.create(img, Replicas=2)
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        gone = self.create(img)["ServiceId"]
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 2 and
                           self.describe(gone)["Status"] == "Normal", 40, 0.2, what="both Normal")
        before = sorted(c["Id"] for c in self.mine(sid))
        self.assertEqual(len(before), 2)
        (doomed,) = self.mine(gone)
        self.d.kill9()
        # The containers outlive berthd.
        self.assertEqual(sorted(c["Id"] for c in self.mine(sid) if c["State"] == "running"), before)
        # While it is down, one service leaves the store (as if deleted by an older berthd):
        # the restarted berthd must remove its container, not adopt it.
        import sqlite3
        db = sqlite3.connect("%s/berth.db" % self.d.data_dir)
        try:
            db.execute("DELETE FROM services WHERE id = ?", (gone,))
            db.commit()
        finally:
            db.close()
        self.d.start()
        type(self).c = self.d.client()  # a new API port
        s = self.wait_status(sid, "Normal")
        self.assertEqual(s["ServiceInfo"]["Status"]["ReadyReplicas"], 2)
        r = self.gateway(gid)
        self.assertEqual(r.status, 200, r.body)
        after = sorted(c["Id"] for c in self.mine(sid))
        self.assertEqual(after, before)  # adopted, not replaced, and no duplicate
        msgs = [e["Message"] for e in self.events(sid)]
        self.assertTrue([m for m in msgs if m.startswith("berthd restarted and took over")], msgs)
        harness.wait_until(lambda: not [c for c in self.env.containers() if c["Id"] == doomed["Id"]],
                           20, 0.2, what="the unwanted container removed")
        time.sleep(1)
        self.assertEqual(sorted(c["Id"] for c in self.mine(sid)), before)
        # An adopted container is stopped like any other.
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not self.env.containers(), 20, 0.2, what="no container left")


if __name__ == "__main__":
    unittest.main()
