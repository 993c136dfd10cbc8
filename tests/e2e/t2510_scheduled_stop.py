"""Scheduled stops (ScheduledAction {ScheduleStop, ScheduleStopTime}, docs/scheduled-stop.md): a
version stops within 1 s of its time, through the normal stop path (desired replicas 0, status
Stopped, RESUME brings it back), with a ScheduledStop event and ScheduleStop turned false; a
berthd killed and restarted before the time still stops it on time, and one that was down at the
time stops it as soon as it is back. A time in the past, or not RFC 3339, is refused naming the
field; setting a stop on a running version does not restart its instance."""

import sys
import time
import unittest

import api


def rfc3339(t, offset_h=0):
    """Unix second t as RFC 3339 with a +HH:00 offset."""
    if offset_h == 0:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + offset_h * 3600)) + "+%02d:00" % offset_h


def serving(name, **kw):
    """A version that becomes ready (Status Normal): a real HTTP server on $PORT."""
    return params(name, Command="exec %s -m http.server $PORT --bind 127.0.0.1" % sys.executable, **kw)


def params(name, **kw):
    p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
         "Command": "exec sleep 600", "Replicas": 1}
    p.update(kw)
    return p


class ScheduledStop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2510")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def service(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def wait_stopped(self, sid, deadline):
        """Poll every 20 ms until desired Replicas is 0; the time it was first seen."""
        while time.time() < deadline:
            if self.service(sid)["ServiceInfo"]["Replicas"] == 0:
                return time.time()
            time.sleep(0.02)
        self.fail("%s was not stopped: %r" % (sid, self.service(sid)["ServiceInfo"]))

    def wait_status(self, sid, status, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.service(sid)
            if s["Status"] == status:
                return s
            time.sleep(0.05)
        self.fail("%s did not reach %s: %r" % (sid, status, self.service(sid)["Status"]))

    def stop_events(self, sid):
        rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
        return [e for e in rows if e["ResourceKind"] == "Deployment" and "ScheduleStopTime" in e["Message"]]

    def assert_stopped_on_time(self, sid, t):
        seen = self.wait_stopped(sid, t + 5)
        self.assertGreaterEqual(seen, t - 0.05, "stopped before its time")
        self.assertLess(seen - t, 1.0, "stopped %.3f s after its time" % (seen - t))
        print("# %s: desired replicas 0 seen %.3f s after its ScheduleStopTime" % (sid, seen - t))
        s = self.wait_status(sid, "Stopped")
        self.assertEqual(s["ServiceInfo"]["ScheduledAction"]["ScheduleStop"], False)
        ev = self.stop_events(sid)
        self.assertEqual(len(ev), 1, ev)
        self.assertIn(rfc3339(t), ev[0]["Message"])

    def test_01_stops_within_a_second_of_its_time(self):
        t = int(time.time()) + 5
        when = rfc3339(t, 8)  # the offset is honoured
        s = self.c.ok("CreateModelService", serving("soon", ScheduledAction={
            "ScheduleStop": True, "ScheduleStopTime": when}))["Service"]
        sid = s["ServiceId"]
        self.assertEqual(s["ServiceInfo"]["ScheduledAction"], {"ScheduleStop": True, "ScheduleStopTime": when})
        self.wait_status(sid, "Normal")
        self.assert_stopped_on_time(sid, t)
        self.assertEqual(self.service(sid)["ServiceInfo"]["ScheduledAction"]["ScheduleStopTime"], when)
        # the normal stop path: RESUME brings it back, and it does not stop again
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.wait_status(sid, "Normal")
        time.sleep(0.3)
        self.assertEqual(self.service(sid)["ServiceInfo"]["Replicas"], 1)

    def test_02_set_on_a_running_version_without_restarting_it(self):
        s = self.c.ok("CreateModelService", serving("later"))["Service"]
        sid = s["ServiceId"]
        self.assertIsNone(s["ServiceInfo"]["ScheduledAction"])
        pod = self.wait_status(sid, "Normal")["ServiceInfo"]["PodInfos"][0]
        t = int(time.time()) + 3
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ScheduledAction": {
            "ScheduleStop": True, "ScheduleStopTime": rfc3339(t)}})
        time.sleep(1.0)
        now = self.service(sid)["ServiceInfo"]["PodInfos"]
        self.assertEqual([(p["Name"], p["CreateTime"]) for p in now], [(pod["Name"], pod["CreateTime"])])
        self.assert_stopped_on_time(sid, t)

    def test_03_switched_off_or_moved_it_does_not_stop_then(self):
        t = int(time.time()) + 2
        s = self.c.ok("CreateModelService", params("moved", ScheduledAction={
            "ScheduleStop": True, "ScheduleStopTime": rfc3339(t)}))["Service"]
        sid = s["ServiceId"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ScheduledAction": {
            "ScheduleStop": False, "ScheduleStopTime": rfc3339(t)}})
        time.sleep(t + 1.2 - time.time())
        self.assertEqual(self.service(sid)["ServiceInfo"]["Replicas"], 1)
        self.assertEqual(self.stop_events(sid), [])

    def test_04_bad_times_are_refused(self):
        past = rfc3339(int(time.time()) - 5)
        for p, code, needle in [
            ({"ScheduleStop": True, "ScheduleStopTime": past}, "InvalidParameterValue", "in the past"),
            ({"ScheduleStop": True, "ScheduleStopTime": "tomorrow"}, "InvalidParameterValue", "RFC 3339"),
            ({"ScheduleStop": True}, "MissingParameter", "ScheduledAction.ScheduleStopTime"),
            ({"ScheduleStop": "yes"}, "InvalidParameter", "ScheduledAction.ScheduleStop"),
        ]:
            err = self.c.error("CreateModelService", params("bad", ScheduledAction=p))
            self.assertEqual(err["Code"], code, err)
            self.assertIn(needle, err["Message"])
            self.assertIn("ScheduledAction", err["Message"])
        groups = self.c.ok("DescribeModelServiceGroups", {"Limit": 100})["ServiceGroups"]
        self.assertNotIn("bad", [g["ServiceGroupName"] for g in groups])
        sid = self.c.ok("CreateModelService", params("ok"))["Service"]["ServiceId"]
        err = self.c.error("ModifyModelService", {"ServiceId": sid, "ScheduledAction": {
            "ScheduleStop": True, "ScheduleStopTime": past}})
        self.assertEqual(err["Code"], "InvalidParameterValue")
        self.assertIsNone(self.service(sid)["ServiceInfo"]["ScheduledAction"])

    def test_05_across_a_restart(self):
        now = int(time.time())
        t_missed, t_live = now + 3, now + 8
        missed = self.c.ok("CreateModelService", params("missed", ScheduledAction={
            "ScheduleStop": True, "ScheduleStopTime": rfc3339(t_missed)}))["Service"]["ServiceId"]
        live = self.c.ok("CreateModelService", params("live", ScheduledAction={
            "ScheduleStop": True, "ScheduleStopTime": rfc3339(t_live)}))["Service"]["ServiceId"]
        self.d.kill9()
        time.sleep(max(0, t_missed + 1.5 - time.time()))
        self.d.start()
        self.c.port = self.d.port
        self.assertLess(time.time(), t_live - 1, "the restart took too long for this test")
        # down at its time: stopped as soon as berthd is back
        self.assertEqual(self.service(missed)["ServiceInfo"]["Replicas"], 0)
        self.assertEqual(len(self.stop_events(missed)), 1)
        self.assertEqual(self.service(live)["ServiceInfo"]["Replicas"], 1)
        self.assert_stopped_on_time(live, t_live)


if __name__ == "__main__":
    unittest.main()
