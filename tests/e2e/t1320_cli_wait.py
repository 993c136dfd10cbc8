"""berth's long operations and tables against a real berthd: --wait on create, scale, update,
stop and resume shows progress and returns once the state is reached (the API agrees right
after); a crash-looping service fails --wait within seconds naming the reason and pointing at
the logs; --timeout gives up; `service show` and `model versions` as tables and --json;
`model delete`; credentials found in the user's config directory."""

import json
import os
import shutil
import subprocess
import time
import unittest

import api
import harness

SERVER = "exec python3 -m http.server $PORT --bind 127.0.0.1"


class CliWait(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1320")
        cls.cred = os.path.join(cls.d.data_dir, "credentials")
        cls.exe = os.path.join(os.path.dirname(api.berthd_path()), "berth")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def berth(self, *args, env=None, creds=True, cwd=None, timeout=120):
        argv = [self.exe, "--endpoint", "http://127.0.0.1:%d" % self.d.port]
        if creds:
            argv += ["--credentials", self.cred]
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("TENCENTCLOUD_") and k not in ("BERTH_CREDENTIALS", "XDG_CONFIG_HOME")}
        e.update(env or {})
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout, env=e,
                           cwd=cwd or self.tmp)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, p.stderr, args)
        return p.returncode, p.stdout, p.stderr

    def service(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def row(self, out, sid):
        rows = [l for l in out.splitlines() if l.startswith(sid + " ")]
        self.assertEqual(len(rows), 1, out)
        return rows[0]

    def test_crash_loop_fails_within_seconds(self):
        t0 = time.monotonic()
        rc, out, err = self.berth("service", "create", "--name", "crashy", "--command",
                                  "echo about to fail >&2; exit 3", "--wait", "--timeout", "60")
        took = time.monotonic() - t0
        self.assertEqual(rc, 4, (out, err))
        self.assertLess(took, 15, err)
        sid = out.split()[1]
        self.assertIn("berth: %s is Abnormal: " % sid, err)
        self.assertIn("exited with status 3", err)
        self.assertIn("berth logs %s" % sid, err)
        self.assertEqual(self.service(sid)["Status"], "Abnormal")
        # An update that keeps it crashing fails too, once its own instances crash.
        rc, out, err = self.berth("service", "update", sid, "--command", "exit 4", "--wait")
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("exited with status", err)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": sid.rsplit("-", 1)[0]})

    def test_timeout_gives_up(self):
        # Never listens: Waiting until --timeout.
        t0 = time.monotonic()
        rc, out, err = self.berth("service", "create", "--name", "sleepy", "--command", "exec sleep 600",
                                  "--timeout", "3s")
        took = time.monotonic() - t0
        self.assertEqual(rc, 5, (out, err))
        self.assertGreaterEqual(took, 2.9)
        self.assertLess(took, 10)
        sid = out.split()[1]
        self.assertIn("berth: %s is not done after 3s (%s: Waiting, 0/1 ready)" % (sid, sid), err)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": sid.rsplit("-", 1)[0]})

    def test_wait_on_each_action(self):
        rc, out, err = self.berth("service", "create", "--name", "waiter", "--command", SERVER, "--wait")
        self.assertEqual(rc, 0, err)
        sid = out.split()[1]
        self.assertIn("%s: Normal, 1/1 ready" % sid, err)
        self.assertRegex(self.row(out, sid), r" Normal +1/1 ")
        # scale: ready n/m on the way, the table shows the new state
        rc, out, err = self.berth("service", "scale", sid, "3", "--wait")
        self.assertEqual(rc, 0, err)
        self.assertIn("%s: Normal, 3/3 ready" % sid, err)
        self.assertRegex(self.row(out, sid), r" Normal +3/3 ")
        st = self.service(sid)["ServiceInfo"]["Status"]
        self.assertEqual((st["ReadyReplicas"], st["Replicas"]), (3, 3))
        # update: waits for the rollout, every instance started after the change
        rc, out, err = self.berth("--json", "service", "update", sid, "--env", "COLOR=blue", "--wait")
        self.assertEqual(rc, 0, err)
        self.assertIn("3/3 updated", err)
        svc = json.loads(out)["Service"]
        self.assertEqual(svc["ServiceInfo"]["Env"], [{"Name": "COLOR", "Value": "blue"}])
        svc = self.service(sid)
        pods = svc["ServiceInfo"]["PodInfos"]
        self.assertEqual(len(pods), 3)
        self.assertTrue(all(p["CreateTime"] >= svc["UpdateTime"] for p in pods), pods)
        self.assertEqual(svc["ServiceInfo"]["Status"]["ReadyReplicas"], 3)
        # stop and resume
        rc, out, err = self.berth("service", "stop", sid, "--wait")
        self.assertEqual(rc, 0, err)
        self.assertRegex(self.row(out, sid), r" Stopped ")
        self.assertEqual(self.service(sid)["Status"], "Stopped")
        self.assertEqual(self.service(sid)["ServiceInfo"]["PodInfos"], [])
        rc, out, err = self.berth("service", "resume", sid, "-w")
        self.assertEqual(rc, 0, err)
        self.assertRegex(self.row(out, sid), r" Normal +3/3 ")
        self.assertEqual(self.service(sid)["ServiceInfo"]["Status"]["ReadyReplicas"], 3)
        # scale down: done once the extra instances are gone
        rc, out, err = self.berth("service", "scale", sid, "1", "--wait")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.service(sid)["ServiceInfo"]["PodInfos"]), 1)
        # without --wait: the answer at once, as the API gave it
        rc, out, err = self.berth("service", "scale", sid, "2")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.row(out, sid)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": svc["ServiceGroupId"]})

    def test_tables_json_and_model_delete(self):
        booster = harness.train("binary:logistic", n_features=4)
        src = harness.model_dir(os.path.join(self.tmp, "model"), booster)
        rc, out, err = self.berth("--json", "model", "import", "--name", "tabled", "--path", src, "--wait")
        self.assertEqual(rc, 0, err)
        imp = json.loads(out)
        mid, mv = imp["Id"], imp["TrainingModelVersionId"]
        self.assertIn("%s: STATUS_SUCCESS" % mv, err)
        rc, out, err = self.berth("model", "versions", mid)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^VERSION +LABEL +FORMAT +STATUS +CREATED")
        self.assertRegex(out, r"\n%s +v1 +XGBOOST +STATUS_SUCCESS " % mv)
        rc, out, err = self.berth("model", "versions", mid, "--json")
        self.assertEqual([v["TrainingModelVersionId"] for v in json.loads(out)["TrainingModelVersions"]], [mv])
        rc, out, err = self.berth("service", "create", "--name", "tabled-svc", "--model-version", mv, "-w")
        self.assertEqual(rc, 0, err)
        sid = out.split()[1]
        gid = sid.rsplit("-", 1)[0]
        rc, out, err = self.berth("service", "show", sid)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"Service: +%s \(version 1 of group %s, tabled-svc\)" % (sid, gid))
        self.assertRegex(out, r"\nStatus: +Normal, 1/1 ready\n")
        self.assertRegex(out, r"\nRuns: +model tabled \(%s\) version v1 %s, XGBOOST\n" % (mid, mv))
        self.assertRegex(out, r"\nINSTANCE +STATUS +READY +RESTARTS")
        self.assertRegex(out, r"\n%s-\d+ +Running +yes +0 +127\.0\.0\.1:\d+ " % sid)
        rc, out, err = self.berth("service", "show", gid)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"Group: +%s \(tabled-svc\)" % gid)
        self.assertRegex(self.row(out, sid), r" Normal +1/1 ")
        rc, out, err = self.berth("service", "show", sid, "--json")
        self.assertEqual(json.loads(out)["ServiceId"], sid)
        rc, out, err = self.berth("--json", "service", "show", gid)
        self.assertEqual([s["ServiceId"] for s in json.loads(out)["Services"]], [sid])
        # model delete: refused while a service runs the version, then the version, the model
        rc, out, err = self.berth("model", "delete", mv)
        self.assertEqual(rc, 1)
        self.assertIn("UnsupportedOperation", err)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        rc, out, err = self.berth("model", "delete", mv)
        self.assertEqual((rc, out), (0, "deleted %s\n" % mv), err)
        rc, out, err = self.berth("model", "versions", mid)
        self.assertNotIn(mv, out)
        rc, out, err = self.berth("model", "delete", mid)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("model", "versions", mid)
        self.assertEqual(rc, 1)
        self.assertIn("ResourceNotFound", err)

    def test_credentials_from_the_config_directory(self):
        empty = os.path.join(self.tmp, "elsewhere")
        home = os.path.join(self.tmp, "home")
        xdg = os.path.join(self.tmp, "xdg")
        for d in (empty, home, xdg):
            os.makedirs(d, exist_ok=True)
        call = ("call", "DescribeTrainingModels")
        rc, out, err = self.berth(*call, creds=False, cwd=empty, env={"HOME": home})
        self.assertEqual(rc, 2)
        self.assertIn("no credentials", err)
        os.makedirs(os.path.join(home, ".config", "berth"))
        shutil.copy(self.cred, os.path.join(home, ".config", "berth", "credentials"))
        rc, out, err = self.berth(*call, creds=False, cwd=empty, env={"HOME": home})
        self.assertEqual(rc, 0, err)
        self.assertIn("TotalCount", json.loads(out))
        # $XDG_CONFIG_HOME/berth wins over ~/.config/berth
        os.makedirs(os.path.join(xdg, "berth"))
        with open(os.path.join(xdg, "berth", "credentials"), "w") as f:
            json.dump({"secretId": "AKIDnobody", "secretKey": "x" * 32}, f)
        rc, out, err = self.berth(*call, creds=False, cwd=empty, env={"HOME": home, "XDG_CONFIG_HOME": xdg})
        self.assertEqual(rc, 1)
        self.assertIn("AuthFailure", err)
        shutil.copy(self.cred, os.path.join(xdg, "berth", "credentials"))
        rc, out, err = self.berth(*call, creds=False, cwd=empty, env={"HOME": empty, "XDG_CONFIG_HOME": xdg})
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main()
