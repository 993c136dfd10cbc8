"""CRON scaling (ScaleMode AUTO, ScaleStrategy CRON, CronScaleJobs): a job due at the next
minute changes the desired count within one second of that minute and the instances follow; an
excluded date is skipped; a berthd that was down when a window began or ended applies what holds
when it is back; a window's end returns to Replicas; Replicas 0 outside the windows leaves no
instance, Status Stopped and a 503 from the gateway that says why. Bad cron expressions are
refused naming the field; Modify switches MANUAL <-> CRON; SCALE on a CRON version needs
ScaleMode MANUAL; `berth service autoscale` sets it all.

Waiting for wall-clock minutes would make this slow: berthd runs with --test-clock-offset-s (a
test-only option) so that its clock reaches a minute a few seconds after the test starts, and the
offset grows across restarts to jump to the next instants that matter."""

import calendar
import json
import os
import subprocess
import sys
import time
import unittest

import api
import harness

LEAD_S = 7  # from creating the services to the first minute, in real seconds


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def server_command():
    return "exec %s -m http.server $PORT --bind 127.0.0.1" % sys.executable


def minute_cron(t):
    """The cron expression of the one minute at berthd instant t (UTC)."""
    g = time.gmtime(t)
    return "%d %d * * *" % (g.tm_min, g.tm_hour)


def create_params(name, jobs, replicas):
    return {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": server_command(),
            "ScaleMode": "AUTO", "ScaleStrategy": "CRON", "CronScaleJobs": jobs, "Replicas": replicas}


class CronSchedule(unittest.TestCase):
    """One berthd timeline: minute M (live), then down across M+60, back at M+112, M+120 live."""

    @classmethod
    def setUpClass(cls):
        now = time.time()
        # berthd's clock = real + offset; its minute M comes LEAD_S real seconds from now.
        cls.m = (int(now) // 60 + 2) * 60
        cls.offset = cls.m - (int(now) + LEAD_S)
        api.start_berthd(cls, "t2000", extra=["--time-zone", "UTC",
                                              "--test-clock-offset-s", str(cls.offset)])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def real(self, berthd_t):
        return berthd_t - self.offset

    def service(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def cron_events(self, sid):
        rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        return sorted((e for e in rows if e["ResourceKind"] == "Deployment" and "CronScaleJobs" in e["Message"]),
                      key=lambda e: (e["FirstTimestamp"], e["Id"]))

    def wait_replicas(self, sid, n, deadline):
        """Poll every 20 ms until ServiceInfo.Replicas is n; the real time it was first seen."""
        while time.time() < deadline:
            if self.service(sid)["ServiceInfo"]["Replicas"] == n:
                return time.time()
            time.sleep(0.02)
        self.fail("%s did not reach Replicas %d: %r" % (sid, n, self.service(sid)["ServiceInfo"]))

    def wait_ready(self, sid, n, timeout=20):
        harness.wait_until(lambda: self.service(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == n
                           and len(self.service(sid)["ServiceInfo"]["PodInfos"]) == n,
                           timeout, 0.02, what="%s with %d ready instances" % (sid, n))
        return time.time()

    def logged_at(self, sid, text):
        """The real time of berthd's log line about sid that holds text. berthd logs the change
        just after it stores it, so the API can show the count before the line is written: wait
        up to 5 s for it."""
        def stamp():
            for line in self.d.log().splitlines():
                if "cronscale" in line and "service=%s " % sid in line and text in line:
                    day, frac = line.split()[0].rstrip("Z").split(".")
                    return calendar.timegm(time.strptime(day, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000
            return None
        try:
            return harness.wait_until(stamp, 5, 0.02, what="a cronscale line for %s with %r" % (sid, text))
        except AssertionError as e:
            self.fail("%s in\n%s" % (e, self.d.log()))

    def gateway_get(self, gid):
        cl = harness.Client(self.d.gateway_port, timeout=5)
        try:
            return cl.get("/%s/" % gid)
        finally:
            cl.close()

    def test_schedule_exclusion_restart_and_zero(self):
        m, m2 = self.m, self.m + 60
        g = time.gmtime(m)
        today = "* * %d %d *" % (g.tm_mday, g.tm_mon)
        x = self.c.ok("CreateModelService", create_params(
            "cron-x", [{"Schedule": minute_cron(m), "Name": "peak", "TargetReplicas": 2}], 1))["Service"]
        z = self.c.ok("CreateModelService", create_params(
            "cron-z", [{"Schedule": minute_cron(m), "Name": "skip", "TargetReplicas": 2,
                        "ExcludeDates": [today]}], 1))["Service"]
        y = self.c.ok("CreateModelService", create_params(
            "cron-y", [{"Schedule": minute_cron(m2), "Name": "night", "TargetReplicas": 1}], 0))["Service"]
        xid, zid, yid = x["ServiceId"], z["ServiceId"], y["ServiceId"]
        self.assertLess(time.time(), self.real(m) - 1, "the services took too long to create")
        # Shown as given, with every default written out.
        info = x["ServiceInfo"]
        self.assertEqual((info["ScaleMode"], info["ScaleStrategy"], info["HorizontalPodAutoscaler"]),
                         ("AUTO", "CRON", None))
        self.assertEqual(info["CronScaleJobs"], [{"Schedule": minute_cron(m), "Name": "peak",
                                                  "TargetReplicas": 2, "MinReplicas": 2,
                                                  "MaxReplicas": 2, "ExcludeDates": []}])
        self.assertEqual(info["Replicas"], 1)
        group = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": x["ServiceGroupId"]})["ServiceGroup"]
        self.assertEqual(group["Services"][0]["ServiceInfo"]["CronScaleJobs"][0]["Name"], "peak")
        # Replicas 0 outside every window: no instance, Stopped, and the gateway says why.
        self.wait_ready(xid, 1)
        ys = self.service(yid)
        self.assertEqual((ys["ServiceInfo"]["Replicas"], ys["Status"]), (0, "Stopped"))
        self.assertEqual(ys["ServiceInfo"]["PodInfos"], [])
        r = self.gateway_get(y["ServiceGroupId"])
        self.assertEqual(r.status, 503)
        self.assertIn("scaled to zero by its schedule", r.json()["error"])

        # Minute M: X goes 1 -> 2 within a second; Z's job is excluded today.
        seen = self.wait_replicas(xid, 2, self.real(m) + 3)
        late = seen - self.real(m)
        self.assertGreaterEqual(late, 0.0, "scaled before the minute")
        self.assertLess(late, 1.0, "desired replicas changed %.3f s after the minute" % late)
        ev = self.cron_events(xid)
        self.assertEqual(len(ev), 2, ev)  # created outside the window, then the window
        self.assertRegex(ev[0]["Message"], r"^Outside every CronScaleJobs window \(the next change "
                         r"is at %s\): Replicas, 1 replica$" % time.strftime("%Y-%m-%dT%H:%M:%S\+00:00", g))
        self.assertIn(ts(ev[1]["FirstTimestamp"]) - self.real(m), (0, 1), ev)
        self.assertEqual(ev[1]["Message"], "CronScaleJobs[0] 'peak' holds from %s until %s: 1 -> 2 replicas"
                         % (time.strftime("%Y-%m-%dT%H:%M:%S+00:00", g),
                            time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m + 60))))
        # berthd's log says when it wrote the count, to the millisecond.
        written = self.logged_at(xid, "'peak' holds") - self.real(m)
        self.assertGreaterEqual(written, 0.0)
        self.assertLess(written, 1.0)
        ready = self.wait_ready(xid, 2)
        cold = ready - seen
        sys.stderr.write("\n  cron precision: desired count written %.3f s after the minute, seen by "
                         "the API %.3f s after; second instance ready %.3f s later (cold start)\n"
                         % (written, late, cold))
        zs = self.service(zid)
        self.assertEqual(zs["ServiceInfo"]["Replicas"], 1)
        # Only the creation's event: the next window is tomorrow's.
        self.assertEqual([e["Message"] for e in self.cron_events(zid)],
                         ["Outside every CronScaleJobs window (the next change is at %s): Replicas, 1 replica"
                          % time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m + 86400))])

        # berthd down across M+60 (X's window ends, Y's begins), back at M+112.
        self.d.stop()
        self.offset = (m2 + 52) - int(time.time())
        self.d.extra[-1] = str(self.offset)
        self.d.start()
        self.c = self.d.client()
        self.assertEqual(self.service(xid)["ServiceInfo"]["Replicas"], 1)
        self.assertEqual(self.service(yid)["ServiceInfo"]["Replicas"], 1)
        # Events within one second come in any order: look for them by message.
        self.assertTrue([e for e in self.cron_events(yid) if e["Message"].endswith(
            "'night' holds from %s until %s: 0 -> 1 replicas" % (
                time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m2)),
                time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(m2 + 60))))], self.cron_events(yid))
        self.assertTrue([e for e in self.cron_events(xid) if e["Message"].startswith(
            "Outside every CronScaleJobs window") and e["Message"].endswith(": Replicas, 2 -> 1 replicas")],
            self.cron_events(xid))
        self.wait_ready(yid, 1)
        self.assertEqual(self.gateway_get(y["ServiceGroupId"]).status, 200)

        # M+120 live: Y's window ends, back to Replicas 0.
        end = m2 + 60
        self.assertLess(time.time(), self.real(end) - 0.5, "restarted too late")
        seen = self.wait_replicas(yid, 0, self.real(end) + 3)
        late = seen - self.real(end)
        self.assertGreaterEqual(late, 0.0)
        self.assertLess(late, 1.0, "window end applied %.3f s after the minute" % late)
        written = self.logged_at(yid, "1 -> 0 replicas") - self.real(end)
        self.assertTrue(0.0 <= written < 1.0, written)
        sys.stderr.write("  window end: count written %.3f s after the minute\n" % written)
        harness.wait_until(lambda: self.service(yid)["Status"] == "Stopped", 10, 0.05, what="Y stopped")
        r = self.gateway_get(y["ServiceGroupId"])
        self.assertEqual(r.status, 503)
        self.assertIn("scaled to zero by its schedule", r.json()["error"])


class CronApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2000api", extra=["--time-zone", "Asia/Shanghai"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def berth(self, *args):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"), "--endpoint",
                "http://127.0.0.1:%d" % self.d.port, "--credentials",
                os.path.join(self.d.data_dir, "credentials")] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def refused(self, jobs, replicas=1, code="InvalidParameterValue"):
        e = self.c.error("CreateModelService", create_params("bad", jobs, replicas))
        self.assertEqual(e["Code"], code, e)
        return e["Message"]

    def test_bad_expressions_are_refused_naming_the_field(self):
        self.assertIn("CronScaleJobs[0].Schedule: hour field '25'",
                      self.refused([{"Schedule": "0 25 * * *", "TargetReplicas": 1}]))
        self.assertIn("CronScaleJobs[1].ExcludeDates[0]",
                      self.refused([{"Schedule": "* 9 * * *", "TargetReplicas": 1},
                                    {"Schedule": "* 10 * * *", "TargetReplicas": 1,
                                     "ExcludeDates": ["* * 32 * *"]}]))
        self.assertIn("CronScaleJobs[0].Schedule",
                      self.refused([{"Schedule": "0 0 30 2 *", "TargetReplicas": 1}]))
        self.assertIn("Replicas is required with ScaleStrategy CRON",
                      self.refused([{"Schedule": "* 9 * * *", "TargetReplicas": 1}], None,
                                   "MissingParameter"))
        p = create_params("hpa", [], 1)
        p.update(ScaleStrategy="HPA")
        del p["CronScaleJobs"]
        e = self.c.error("CreateModelService", p)
        self.assertEqual(e["Code"], "MissingParameter", e)
        self.assertIn("HorizontalPodAutoscaler is required with ScaleStrategy HPA", e["Message"])
        p["HorizontalPodAutoscaler"] = {"MinReplicas": 1, "MaxReplicas": 2,
                                        "HpaMetrics": [{"Name": "gpu-util", "Value": 50}]}
        self.assertIn("no GPUs", self.c.error("CreateModelService", p)["Message"])
        # Nothing was created.
        self.assertEqual(self.c.ok("DescribeModelServiceGroups", {})["TotalCount"], 0)

    def test_modify_switches_and_keeps(self):
        never = [{"Schedule": "0 0 1 1 *", "Name": "newyear", "TargetReplicas": 3}]
        s = self.c.ok("CreateModelService", {"ServiceGroupName": "sw", "ChargeType": "POSTPAID_BY_HOUR",
                                             "InstanceType": "TI.S.MEDIUM.POST",
                                             "Command": server_command(), "Replicas": 1})["Service"]
        sid = s["ServiceId"]
        self.assertEqual((s["ServiceInfo"]["ScaleMode"], s["ServiceInfo"]["CronScaleJobs"]), ("MANUAL", []))
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
                           ["ServiceInfo"]["Status"]["ReadyReplicas"] == 1, 20, 0.05, what="ready")
        pod = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"][0]
        # MANUAL -> CRON: outside the window, Replicas 2; the instance is kept (no restart).
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "AUTO", "ScaleStrategy": "CRON",
                                               "CronScaleJobs": never, "Replicas": 2})["Service"]["ServiceInfo"]
        self.assertEqual((out["ScaleMode"], out["ScaleStrategy"], out["Replicas"]), ("AUTO", "CRON", 2))
        # Omitted scaling fields stay; Replicas alone changes the count outside the windows.
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceDescription": "d"})["Service"]["ServiceInfo"]
        self.assertEqual((out["ScaleStrategy"], out["CronScaleJobs"][0]["Name"], out["Replicas"]),
                         ("CRON", "newyear", 2))
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "Replicas": 1})["Service"]["ServiceInfo"]
        self.assertEqual((out["ScaleStrategy"], out["Replicas"]), ("CRON", 1))
        # Scaling changes only the count: the instance that ran is the one that runs, and no
        # rollout began.
        pods = lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"]
        time.sleep(0.5)
        harness.wait_until(lambda: len(pods()) == 1, 10, 0.05, what="the surplus instance gone")
        now = pods()
        self.assertEqual([(p["Name"], p["CreateTime"], p["Phase"]) for p in now],
                         [(pod["Name"], pod["CreateTime"], "Running")])
        rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        self.assertEqual([e for e in rows if "The spec changed" in e["Message"]], [])
        # SCALE on a CRON version needs ScaleMode MANUAL, which leaves the schedule.
        e = self.c.error("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2})
        self.assertEqual(e["Code"], "UnsupportedOperation", e)
        self.assertIn("give ScaleMode MANUAL", e["Message"])
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2,
                                               "ScaleMode": "MANUAL"})["Service"]["ServiceInfo"]
        self.assertEqual((out["ScaleMode"], out["ScaleStrategy"], out["CronScaleJobs"], out["Replicas"]),
                         ("MANUAL", "", [], 2))
        # CRON -> MANUAL by Modify keeps the count when Replicas is omitted.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "AUTO", "ScaleStrategy": "CRON",
                                         "CronScaleJobs": never, "Replicas": 0})
        e = self.c.error("ModifyModelService", {"ServiceId": sid, "ScaleMode": "MANUAL"})
        self.assertIn("Replicas is required with ScaleMode MANUAL", e["Message"])
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "ScaleMode": "MANUAL",
                                               "Replicas": 1})["Service"]["ServiceInfo"]
        self.assertEqual((out["ScaleMode"], out["Replicas"]), ("MANUAL", 1))

    def test_time_zone_option(self):
        self.assertIn("time zone Asia/Shanghai (CronScaleJobs)", self.d.log())
        data = os.path.join(self.tmp, "tzdata")
        for zone, why in (("Nowhere/Atlantis", "Nowhere/Atlantis"), ("../etc/passwd", "..")):
            rc, out = api.run_exit([api.berthd_path(), "--data-dir", data, "--api-listen", "127.0.0.1:0",
                                    "--gateway-listen", "127.0.0.1:0", "--time-zone", zone])
            self.assertEqual(rc, 1, out)
            self.assertIn("--time-zone", out)
            self.assertIn(why, out)
        rc, out = api.run_exit([api.berthd_path(), "--help"])
        self.assertIn("--time-zone", out)
        self.assertIn("default: the machine's", out)

    def test_stop_and_resume(self):
        never = [{"Schedule": "0 0 1 1 *", "TargetReplicas": 3}]
        sid = self.c.ok("CreateModelService", create_params("sr", never, 1))["Service"]["ServiceId"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        time.sleep(0.5)  # the jobs leave a stopped version alone
        s = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
        self.assertEqual((s["ServiceInfo"]["Replicas"], s["ServiceInfo"]["ScaleStrategy"]), (0, "CRON"))
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["Status"]
                           == "Stopped", 10, 0.05, what="stopped")
        # RESUME runs what the jobs ask for now: Replicas, outside the window.
        out = self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})["Service"]
        self.assertEqual(out["ServiceInfo"]["Replicas"], 1)

    def test_cli_autoscale(self):
        rc, out, err = self.berth("service", "create", "--name", "cli-cron", "--command", server_command())
        self.assertEqual(rc, 0, err)
        sid = out.split()[1]
        rc, out, err = self.berth("service", "autoscale", sid, "--cron", "0 9-17 * * 1,3,5=3,name=day",
                                  "--cron", "* 12 * * *=4,name=lunch,exclude=* * 25 12 *,exclude=* * 1 1 *",
                                  "--replicas", "1")
        self.assertEqual(rc, 0, err)
        info = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertEqual(info["ScaleStrategy"], "CRON")
        self.assertEqual([(j["Schedule"], j["Name"], j["TargetReplicas"], j["ExcludeDates"])
                          for j in info["CronScaleJobs"]],
                         [("0 9-17 * * 1,3,5", "day", 3, []),
                          ("* 12 * * *", "lunch", 4, ["* * 25 12 *", "* * 1 1 *"])])
        rc, out, err = self.berth("service", "show", sid)
        self.assertEqual(rc, 0, err)
        self.assertIn("0 9-17 * * 1,3,5", out)
        self.assertIn("lunch", out)
        rc, out, err = self.berth("service", "autoscale", sid, "--cron", "0 25 * * *=1", "--replicas", "1")
        self.assertNotEqual(rc, 0)
        self.assertIn("CronScaleJobs[0].Schedule", err)
        rc, out, err = self.berth("service", "autoscale", sid, "--cron", "* * * * *")
        self.assertNotEqual(rc, 0)
        self.assertIn("SCHEDULE=TARGET", err)
        rc, out, err = self.berth("service", "autoscale", sid, "--manual", "2")
        self.assertEqual(rc, 0, err)
        info = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertEqual((info["ScaleMode"], info["Replicas"], info["CronScaleJobs"]), ("MANUAL", 2, []))


if __name__ == "__main__":
    unittest.main()
