"""Events (DescribeEvents, `berth events`): what the reconciler and the API record about services
and their instances, folded like Kubernetes events. A crash-looping command shows its exits and
its back-off as one row each with a growing Count; a healthy service shows created, started and
ready; scaling, weights, rollouts, stops and deletes show; filters, paging, order, the time window
and the limits behave as the reference says; events survive a restart of berthd."""

import calendar
import json
import os
import signal
import subprocess
import sys
import time
import unittest

import api
import harness

CRASH = "echo starting; exit 1"


def ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class EventsBase(unittest.TestCase):
    def create(self, command, **kw):
        p = {"ServiceGroupName": "ev%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": "TI.S.MEDIUM.POST", "Command": command, "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def events(self, client=None, **kw):
        return (client or self.c).ok("DescribeEvents", dict({"Service": "INFER"}, **kw))

    def rows(self, sid, **kw):
        return self.events(ServiceId=sid, **kw)["Events"]

    def find(self, sid, reason_text, kind="Pod"):
        return [e for e in self.rows(sid) if e["ResourceKind"] == kind and reason_text in e["Message"]]

    def wait_event(self, sid, text, kind="Pod", count=1, timeout=15):
        def check():
            hit = self.find(sid, text, kind)
            return hit and hit[0]["Count"] >= count
        harness.wait_until(check, timeout, 0.1,
                           what="a %s event '%s' with Count >= %d in %r" % (kind, text, count, self.rows(sid)))
        return self.find(sid, text, kind)

    def server_command(self):
        return "exec %s -m http.server $PORT --bind 127.0.0.1" % sys.executable

    def wait_ready(self, sid, n):
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
                           ["ServiceInfo"]["Status"]["ReadyReplicas"] == n, 20, 0.1, what="%d ready" % n)

    def berth(self, *args):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"), "--endpoint",
                "http://127.0.0.1:%d" % self.d.port, "--credentials",
                os.path.join(self.d.data_dir, "credentials")] + list(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr


class Events(EventsBase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1920")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_crash_loop_folds_exits_and_backoff(self):
        s = self.create(CRASH)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        pod = sid + "-0"
        exits = self.wait_event(sid, "exited with status 1", count=2)
        backoff = self.wait_event(sid, "Back-off", count=2)
        # One row each, however often it happened.
        self.assertEqual(len(exits), 1, exits)
        self.assertEqual(len(backoff), 1, backoff)
        for e in exits + backoff:
            self.assertEqual(e["Type"], "Warning")
            self.assertEqual(e["ResourceName"], pod)
            self.assertLess(ts(e["FirstTimestamp"]), ts(e["LastTimestamp"]), e)
        self.assertEqual(exits[0]["Message"], "The instance exited with status 1")
        self.assertRegex(backoff[0]["Message"], r"^Back-off \d+s restarting the failed instance$")
        # The pod is the instance DescribeModelService lists.
        info = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertEqual(info["PodInfos"][0]["Name"], pod)
        started = self.find(sid, "Started the instance")
        self.assertEqual(len(started), 1, started)
        self.assertGreaterEqual(started[0]["Count"], 2)
        created = self.find(sid, "Created", kind="Deployment")
        self.assertEqual(len(created), 1)
        self.assertEqual((created[0]["Type"], created[0]["ResourceName"], created[0]["Count"]),
                         ("Normal", sid, 1))
        # The count grows with the next exit; the row and its first time stay.
        n = exits[0]["Count"]
        again = self.wait_event(sid, "exited with status 1", count=n + 1)
        self.assertEqual((again[0]["Id"], again[0]["FirstTimestamp"]), (exits[0]["Id"], exits[0]["FirstTimestamp"]))
        # berth events: a table, oldest first, with the folded count.
        rc, out, err = self.berth("events", gid)
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("LAST SEEN"), out)
        row = [ln for ln in lines if "exited with status 1" in ln]
        self.assertEqual(len(row), 1, out)
        self.assertIn("Pod/" + pod, row[0])
        self.assertIn("Warning", row[0])
        self.assertIn("Deployment/%s" % sid, lines[1], out)  # created comes first
        rc, out, err = self.berth("events", gid, "--type", "Normal", "--since", "1h")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("Warning", out)
        self.assertIn("Started the instance", out)
        # Deleted: the version's events stay readable, with the group's deletion.
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        rows = self.rows(sid)
        self.assertTrue(any(e["ResourceKind"] == "ServiceGroup" and e["ResourceName"] == gid and
                            "Deleted" in e["Message"] for e in rows), rows)
        self.assertTrue(any("exited with status 1" in e["Message"] for e in rows))

    def test_healthy_service_scale_weights_rollout_stop(self):
        s = self.create(self.server_command())
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_event(sid, "The instance is ready")
        asc = self.rows(sid, Order="ASC")
        self.assertEqual([(e["ResourceKind"], e["Message"]) for e in asc][:3],
                         [("Deployment", "Created with 1 replica in a new service group"),
                          ("Pod", asc[1]["Message"]), ("Pod", "The instance is ready")])
        self.assertRegex(asc[1]["Message"], r"^Started the instance on 127\.0\.0\.1:\d+$")
        self.assertEqual({e["Type"] for e in asc}, {"Normal"})
        # Scaled.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2})
        self.wait_event(sid, "Scaled from 1 to 2 replicas", kind="Deployment")
        self.wait_ready(sid, 2)
        ready = self.find(sid, "The instance is ready")
        self.assertEqual(sorted(e["ResourceName"] for e in ready), [sid + "-0", sid + "-1"])
        # A second version and the weights: one event on the group, seen from both versions.
        v2 = self.c.ok("CreateModelService", {"ServiceGroupId": gid, "NewVersion": True,
                                              "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                                              "Command": self.server_command(), "Replicas": 1})["Service"]["ServiceId"]
        self.c.ok("ModifyServiceGroupWeights", {"ServiceGroupId": gid,
                                                "Weights": [{"ServiceId": sid, "Weight": 40}, {"ServiceId": v2, "Weight": 60}]})
        for v in (sid, v2):
            w = self.find(v, "Traffic weights changed", kind="ServiceGroup")
            self.assertEqual(len(w), 1, self.rows(v))
            self.assertEqual(w[0]["Message"], "Traffic weights changed: %s 100 -> 40, %s 0 -> 60" % (sid, v2))
            self.assertEqual(w[0]["ResourceName"], gid)
        # A version sees its own and its group's, not its sibling's; the group sees all.
        names = {e["ResourceName"] for e in self.rows(sid)}
        self.assertNotIn(v2, names)
        self.assertNotIn(v2 + "-0", names)
        self.assertTrue({sid, v2, gid} <= {e["ResourceName"] for e in self.rows(gid)})
        # berth events --version: that version and its group, not the sibling.
        rc, out, err = self.berth("events", gid, "--version", sid.rsplit("-", 1)[1])
        self.assertEqual(rc, 0, err)
        self.assertIn("ServiceGroup/%s" % gid, out)
        self.assertIn("Pod/%s-1" % sid, out)
        self.assertNotIn("Deployment/%s " % v2, out)
        self.assertNotIn("Pod/%s-" % v2, out)
        self.assertIn("Deployment/%s " % v2, self.berth("events", gid)[1])
        rc, out, err = self.berth("--json", "events", gid, "--kind", "ServiceGroup")
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual([e["ResourceKind"] for e in doc["Events"]], ["ServiceGroup"])
        self.assertEqual(doc["TotalCount"], 1)
        # A rollout, step by step.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "Env": [{"Name": "X", "Value": "2"}]})
        self.wait_event(sid, "Rollout complete: 2 instances run the new spec", kind="Deployment", timeout=30)
        steps = [e["Message"] for e in self.rows(sid, Order="ASC") if e["ResourceKind"] == "Deployment"]
        self.assertIn("The spec changed: rolling out, one new instance at a time", steps)
        self.assertTrue(any(m.startswith("Rollout: started %s-" % sid) for m in steps), steps)
        self.assertTrue(any(m.startswith("Rollout: stopping outdated %s-" % sid) for m in steps), steps)
        # Stop and resume.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_event(sid, "Stopped: 2 -> 0 replicas", kind="Deployment")
        self.wait_event(sid, "The instance stopped")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.wait_event(sid, "Resumed with 2 replicas", kind="Deployment")
        self.c.ok("DeleteModelService", {"ServiceId": v2})
        self.assertEqual(len(self.find(v2, "Deleted the version", kind="Deployment")), 1)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_probe_failures(self):
        probe = {"ReadinessProbe": {"ProbeAction": {"ActionType": "HTTPGet", "HTTPGet": {"Path": "/"}},
                                    "PeriodSeconds": 1, "TimeoutSeconds": 1, "SuccessThreshold": 1,
                                    "FailureThreshold": 1}}
        never = dict(probe, ReadinessProbe=dict(probe["ReadinessProbe"], FailureThreshold=2,
                                                ProbeAction={"ActionType": "HTTPGet", "HTTPGet": {"Path": "/nope"}}))
        s = self.create(self.server_command(), HealthProbe=never)
        bad = self.wait_event(s["ServiceId"], "Readiness probe failed 2 times")
        self.assertEqual((bad[0]["Type"], bad[0]["ResourceName"]), ("Warning", s["ServiceId"] + "-0"))
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        # Ready, then frozen: the HTTP probe times out and the instance is Unhealthy.
        s = self.create(self.server_command(), HealthProbe=probe)
        sid = s["ServiceId"]
        self.wait_event(sid, "The instance is ready")
        port = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"][0]["IP"].split(":")[1]
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and self.cmdline(p).endswith(
            b"http.server\x00%s\x00--bind\x00127.0.0.1\x00" % port.encode())]
        self.assertEqual(len(pids), 1)
        # (A probe that fails before the server listens counts too, as in Kubernetes.)
        failed = sum(e["Count"] for e in self.find(sid, "Readiness probe failed 1 time"))
        os.kill(pids[0], signal.SIGSTOP)
        try:
            e = self.wait_event(sid, "Readiness probe failed 1 time", count=failed + 1)
            self.assertEqual(len(e), 1)
            self.assertEqual(e[0]["Type"], "Warning")
        finally:
            os.kill(pids[0], signal.SIGCONT)
        self.wait_event(sid, "The instance is ready", count=2)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    @staticmethod
    def cmdline(pid):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def test_filters_paging_order_window(self):
        s = self.create(CRASH)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_event(sid, "Back-off", count=2)
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_event(sid, "Stopped: 1 -> 0 replicas", kind="Deployment")
        time.sleep(0.3)  # nothing changes from here on
        full = self.events(ServiceId=sid)
        evs = full["Events"]
        self.assertEqual(full["TotalCount"], len(evs))
        self.assertGreaterEqual(len(evs), 5)
        kinds = {e["ResourceKind"] for e in evs}
        self.assertEqual(kinds, {"Pod", "Deployment"})
        # Default order: LastTimestamp, newest first.
        last = [ts(e["LastTimestamp"]) for e in evs]
        self.assertEqual(last, sorted(last, reverse=True))
        asc = self.rows(sid, Order="ASC")
        self.assertEqual([e["Id"] for e in asc], [e["Id"] for e in reversed(evs)])
        first = [ts(e["FirstTimestamp"]) for e in self.rows(sid, Order="ASC", OrderField="FirstTimestamp")]
        self.assertEqual(first, sorted(first))
        # Paging returns every event once, and TotalCount is the whole match.
        seen = []
        for off in range(0, len(evs) + 2, 2):
            page = self.events(ServiceId=sid, Limit=2, Offset=off)
            self.assertEqual(page["TotalCount"], len(evs))
            seen += [e["Id"] for e in page["Events"]]
        self.assertEqual(seen, [e["Id"] for e in evs])
        # Filters: one value each, and AND between filters.
        pods = self.rows(sid, Filters=[{"Name": "ResourceKind", "Values": ["Pod"]}])
        self.assertEqual({e["ResourceKind"] for e in pods}, {"Pod"})
        self.assertEqual(len(pods), sum(e["ResourceKind"] == "Pod" for e in evs))
        warn = self.rows(sid, Filters=[{"Name": "Type", "Values": ["Warning"]}])
        self.assertEqual({e["Type"] for e in warn}, {"Warning"})
        self.assertEqual(len(warn), sum(e["Type"] == "Warning" for e in evs))
        both = self.rows(sid, Filters=[{"Name": "ResourceKind", "Values": ["Pod"]},
                                       {"Name": "Type", "Values": ["Normal"]}])
        self.assertEqual([e["Id"] for e in both],
                         [e["Id"] for e in evs if e["ResourceKind"] == "Pod" and e["Type"] == "Normal"])
        self.assertTrue(both)
        # Several values are ANDed, as the reference says: no event is both a Pod and a Deployment.
        r = self.events(ServiceId=sid, Filters=[{"Name": "ResourceKind", "Values": ["Pod", "Deployment"]}])
        self.assertEqual((r["Events"], r["TotalCount"]), ([], 0))
        self.assertEqual(len(self.rows(sid, Filters=[{"Name": "ResourceKind", "Values": ["Pod", "Pod"]}])), len(pods))
        # The window: events whose span overlaps it.
        t_first = min(ts(e["FirstTimestamp"]) for e in evs)
        t_last = max(ts(e["LastTimestamp"]) for e in evs)
        self.assertEqual(self.events(ServiceId=sid, StartTime=rfc3339(t_first - 100),
                                     EndTime=rfc3339(t_first - 1))["TotalCount"], 0)
        self.assertEqual(self.events(ServiceId=sid, StartTime=rfc3339(t_last + 1),
                                     EndTime=rfc3339(t_last + 100))["TotalCount"], 0)
        self.assertEqual(self.events(ServiceId=sid, StartTime=rfc3339(t_first),
                                     EndTime=rfc3339(t_last))["TotalCount"], len(evs))
        folded = [e for e in evs if ts(e["FirstTimestamp"]) < ts(e["LastTimestamp"])][0]
        inside = self.rows(sid, StartTime=rfc3339(ts(folded["LastTimestamp"])),
                           EndTime=rfc3339(ts(folded["LastTimestamp"])))
        self.assertIn(folded["Id"], [e["Id"] for e in inside])
        # With a time zone offset, as in the reference's example.
        off = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(t_last + 1 + 8 * 3600))
        self.assertEqual(self.events(ServiceId=sid, StartTime=off, EndTime=rfc3339(t_last + 100))
                         ["TotalCount"], 0)
        # Without ServiceId: the region's events, this group's among them; another region sees none.
        region = self.events(Limit=100)
        self.assertGreaterEqual(region["TotalCount"], len(evs))
        other = self.d.client(region="ap-shanghai")
        self.assertEqual(self.events(client=other)["TotalCount"], 0)
        self.assertEqual(other.error("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Code"],
                         "ResourceNotFound")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_refusals_name_the_field(self):
        cases = [
            ({}, "MissingParameter", "Service"),
            ({"Service": "TRAIN"}, "UnsupportedOperation", "INFER"),
            ({"Service": "WEB"}, "InvalidParameterValue", "Service"),
            ({"Service": "INFER", "Limit": 101}, "InvalidParameterValue", "Limit"),
            ({"Service": "INFER", "Limit": 0}, "InvalidParameterValue", "Limit"),
            ({"Service": "INFER", "Limit": "10"}, "InvalidParameter", "Limit"),
            ({"Service": "INFER", "Offset": -1}, "InvalidParameterValue", "Offset"),
            ({"Service": "INFER", "Order": "UP"}, "InvalidParameterValue", "Order"),
            ({"Service": "INFER", "OrderField": "Count"}, "InvalidParameterValue", "OrderField"),
            ({"Service": "INFER", "StartTime": "yesterday"}, "InvalidParameterValue", "StartTime"),
            ({"Service": "INFER", "EndTime": "2022-01-10 19:22:04"}, "InvalidParameterValue", "EndTime"),
            ({"Service": "INFER", "StartTime": "2022-01-11T00:00:00Z", "EndTime": "2022-01-10T00:00:00Z"},
             "InvalidParameterValue", "after EndTime"),
            ({"Service": "INFER", "Filters": [{"Name": "Reason", "Values": ["BackOff"]}]},
             "InvalidParameterValue.InvalidFilter", "Filters[0].Name"),
            ({"Service": "INFER", "Filters": [{"Name": "Type", "Values": ["Error"]}]},
             "InvalidParameterValue.InvalidFilter", "Filters[0].Values[0]"),
            ({"Service": "INFER", "Filters": [{"Name": "ResourceKind", "Values": ["Replicaset"]}]},
             "InvalidParameterValue.InvalidFilter", "Pod, Deployment or ServiceGroup"),
            ({"Service": "INFER", "Filters": [{"Name": "Type", "Values": ["Normal"], "Negative": True}]},
             "UnsupportedOperation", "Filters[0].Negative"),
            ({"Service": "INFER", "Filters": [{"Name": "Type", "Values": ["Normal"], "Fuzzy": True}]},
             "UnsupportedOperation", "Filters[0].Fuzzy"),
            ({"Service": "INFER", "ServiceId": "ms-nothere-1"}, "ResourceNotFound", "ms-nothere-1"),
            ({"Service": "INFER", "PodName": "x"}, "UnknownParameter", "PodName"),
        ]
        for params, code, needle in cases:
            e = self.c.error("DescribeEvents", params)
            self.assertEqual(e["Code"], code, (params, e))
            self.assertIn(needle, e["Message"], (params, e))
        # TiProjectId is cloud-only: accepted and ignored.
        self.events(TiProjectId="ws-1")
        rc, out, err = self.berth("events", "ms-nothere")
        self.assertEqual(rc, 1)
        self.assertIn("ResourceNotFound", err)


class Restart(EventsBase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1920r")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_events_survive_a_restart_and_keep_folding(self):
        s = self.create(CRASH)
        sid = s["ServiceId"]
        exits = self.wait_event(sid, "exited with status 1", count=2)
        before = {e["Id"]: e for e in self.rows(sid)}
        self.d.stop()
        self.d.start()
        self.c = self.d.client()
        after = {e["Id"]: e for e in self.rows(sid)}
        for i, e in before.items():
            self.assertIn(i, after)
            self.assertEqual(after[i]["FirstTimestamp"], e["FirstTimestamp"])
            self.assertGreaterEqual(after[i]["Count"], e["Count"])
        # The restarted berthd runs the instance again, and its exits fold into the same row.
        again = self.wait_event(sid, "exited with status 1", count=exits[0]["Count"] + 1)
        self.assertEqual(len(again), 1)
        self.assertEqual(again[0]["Id"], exits[0]["Id"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})


if __name__ == "__main__":
    unittest.main()
