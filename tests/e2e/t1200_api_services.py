"""Online services through berthd: CreateModelService from an imported XGBoost model and from a
custom command, status from CREATING to Normal, predictions from the instances (compared with the
XGBoost library), STOP / RESUME / SCALE, new versions, deletes, crash restarts with backoff, and
kill -9 of berthd: nothing lost, nothing orphaned or duplicated."""

import json
import os
import signal
import sys
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def import_model(c, name, src):
    """Import the XGBoost model in directory src as a new model; (model id, version id) once
    the import has succeeded."""
    r = c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                     "TrainingModelName": name, "ModelFormat": "XGBOOST",
                                     "TrainingModelCosPath": cos(src)})
    mv = r["TrainingModelVersionId"]
    harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                       ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
    return r["Id"], mv


class Services(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1200")
        cls.booster = harness.train("binary:logistic", n_features=4)
        src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster, "ubj")
        cls.model_id, cls.mv = import_model(cls.c, "iris", src)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def create(self, **kw):
        p = {"ServiceGroupName": "svc%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": "TI.S.MEDIUM.POST", "ModelInfo": {"ModelVersionId": self.mv}, "Replicas": 1}
        p.update(kw)
        p = {k: v for k, v in p.items() if v is not None}
        return self.c.ok("CreateModelService", p)["Service"]

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def wait_status(self, sid, want, timeout=20):
        seen = []

        def check():
            s = self.describe(sid)
            seen.append(s["Status"])
            return s["Status"] == want
        harness.wait_until(check, timeout, 0.1, what="%s to be %s (saw %s)" % (sid, want, seen[-5:]))
        return self.describe(sid)

    def predict(self, address, name="m"):
        host, port = address.split(":")
        c = harness.Client(int(port))
        try:
            X = harness.rows(3, 4, seed=5)
            r = c.post_json("/v1/models/%s:predict" % name, {"instances": X.tolist()})
            harness.assert_close(r["predictions"], harness.predict(self.booster, X))
        finally:
            c.close()

    def test_model_service_lifecycle(self):
        s = self.create(ServiceDescription="first")
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertRegex(gid, r"^ms-[a-z0-9]{8}$")
        self.assertEqual(sid, gid + "-1")
        self.assertEqual(s["Version"], "1")
        self.assertEqual(s["Weight"], 100)
        self.assertIn(s["Status"], ("CREATING", "Pending", "Waiting", "Normal"))
        s = self.wait_status(sid, "Normal")
        info = s["ServiceInfo"]
        self.assertEqual(info["Replicas"], 1)
        self.assertEqual(info["Status"]["ReadyReplicas"], 1)
        self.assertEqual(info["ModelInfo"]["ModelVersionId"], self.mv)
        self.assertEqual(info["InstanceType"], "TI.S.MEDIUM.POST")
        pods = info["PodInfos"]
        self.assertEqual(len(pods), 1)
        self.assertEqual(pods[0]["Name"], sid + "-0")
        # The instance serves the model as "m" and under its repository name.
        self.predict(pods[0]["IP"], "m")
        self.predict(pods[0]["IP"], "iris")

        # SCALE to 2, then STOP and RESUME (which restores 2).
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2})
        s = self.wait_status(sid, "Normal")
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 2, 20)
        addresses = {p["IP"] for p in self.describe(sid)["ServiceInfo"]["PodInfos"]}
        self.assertEqual(len(addresses), 2)
        for a in addresses:
            self.predict(a)
        stopped = self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})["Service"]
        self.assertEqual(stopped["ServiceInfo"]["Replicas"], 0)
        self.assertEqual(stopped["ServiceInfo"]["OldReplicas"], 2)
        s = self.wait_status(sid, "Stopped")
        self.assertEqual(s["ServiceInfo"]["PodInfos"], [])
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.wait_status(sid, "Normal")
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 2, 20)

        # A second version in the same group starts with weight 0.
        v2 = self.create(ServiceGroupId=gid, NewVersion=True, ServiceGroupName=None)
        self.assertEqual(v2["ServiceId"], gid + "-2")
        self.assertEqual(v2["Weight"], 0)
        self.wait_status(v2["ServiceId"], "Normal")
        g = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]
        self.assertEqual(g["ServiceCount"], 2)
        self.assertEqual(g["LatestVersion"], "2")
        self.assertEqual([x["ServiceId"] for x in g["Services"]], [sid, gid + "-2"])
        groups = self.c.ok("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceGroupId", "Values": [gid]}]})
        self.assertEqual(groups["TotalCount"], 1)
        by_model = self.c.ok("DescribeModelServiceGroups", {"Filters": [{"Name": "ModelVersionId", "Values": [self.mv]}],
                                                            "Limit": 100})
        self.assertIn(gid, [x["ServiceGroupId"] for x in by_model["ServiceGroups"]])

        # The call address points at the gateway, and it answers there.
        info = self.c.ok("DescribeModelServiceCallInfo", {"ServiceGroupId": gid})["ServiceCallInfoV2"]
        self.assertEqual(info["InternetEndpoint"], "http://127.0.0.1:%d/%s" % (self.d.gateway_port, gid))
        self.assertFalse(info["AuthorizationEnable"])
        self.assertEqual(self.c.error("DescribeModelServiceCallInfo", {"ServiceGroupId": "ms-nosuchgr"})["Code"],
                         "ResourceNotFound")
        # Through the gateway: by group (weights 100/0: all to version 1) and by version.
        gw = harness.Client(self.d.gateway_port)
        X = harness.rows(4, 4, seed=9)
        want = harness.predict(self.booster, X)
        for prefix in (gid, sid, gid + "-2"):
            r = gw.post_json("/%s/v1/models/m:predict" % prefix, {"instances": X.tolist()})
            harness.assert_close(r["predictions"], want)
        r = gw.post_json("/%s/v2/models/iris/infer" % gid, {"inputs": [
            {"name": "input", "shape": [4, 4], "datatype": "FP32", "data": X.ravel().tolist()}]})
        self.assertEqual(r["model_name"], "iris")
        harness.assert_close(r["outputs"][0]["data"], want)
        # Errors of the instance pass through unchanged; the gateway's own are {"error": ...}.
        harness.assert_error(self, gw.post("/%s/v1/models/m:predict" % gid, "{bad json"), 400, "JSON")
        harness.assert_error(self, gw.get("/ms-nosuchgr/v1/models/m"), 404, "ms-nosuchgr")
        gw.close()

        # A model version in use cannot be deleted.
        err = self.c.error("DeleteTrainingModelVersion", {"TrainingModelVersionId": self.mv})
        self.assertEqual(err["Code"], "UnsupportedOperation")
        self.assertIn("used by", err["Message"])

        # A stopped version answers 503 through the gateway.
        self.c.ok("ModifyModelService", {"ServiceId": gid + "-2", "ServiceAction": "STOP"})
        self.wait_status(gid + "-2", "Stopped")
        gw = harness.Client(self.d.gateway_port)
        harness.wait_until(lambda: gw.get("/%s-2/v1/models/m" % gid).status == 503, 5)
        harness.assert_error(self, gw.get("/%s-2/v1/models/m" % gid), 503, "no ready instance")
        gw.close()

        pids = self.instance_pids(sid)
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        self.assertEqual(self.c.error("DescribeModelService", {"ServiceId": sid})["Code"], "ResourceNotFound")
        harness.wait_until(lambda: not any(alive(p) for p in pids), 10, what="instances of a deleted service to exit")
        harness.wait_until(lambda: not os.path.exists(os.path.join(self.d.data_dir + "-instances", sid)), 5,
                           what="the deleted service's work directories to go")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        self.assertEqual(self.c.error("DescribeModelServiceGroup", {"ServiceGroupId": gid})["Code"], "ResourceNotFound")

    def instance_pids(self, sid):
        """Pids of the processes listening on the service's instance ports."""
        ports = {int(p["IP"].split(":")[1]) for p in self.describe(sid)["ServiceInfo"]["PodInfos"] if p["IP"]}
        return pids_on_ports(ports)

    def test_traffic_weights(self):
        # Version 2 serves another model, so each answer says which version gave it.
        other = harness.train("binary:logistic", n_features=4, seed=11)
        src = os.path.join(self.tmp, "model-b")
        os.makedirs(src)
        harness.save_model(other, os.path.join(src, "model.json"), "json")
        mv2 = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": self.model_id,
                                                "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                                "TrainingModelCosPath": cos(src)})["TrainingModelVersionId"]
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv2})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        v1 = self.create()
        gid = v1["ServiceGroupId"]
        v2 = self.create(ServiceGroupId=gid, NewVersion=True, ServiceGroupName=None,
                         ModelInfo={"ModelVersionId": mv2})
        self.wait_status(v1["ServiceId"], "Normal")
        self.wait_status(v2["ServiceId"], "Normal")
        X = harness.rows(1, 4, seed=21)
        a = harness.predict(self.booster, X)[0]
        b = harness.predict(other, X)[0]
        self.assertGreater(abs(a - b), 1e-4)
        gw = harness.Client(self.d.gateway_port)

        def shares(n=200):
            got = {"a": 0, "b": 0}
            for _ in range(n):
                p = gw.post_json("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})["predictions"][0]
                got["a" if abs(p - a) < 1e-6 else "b"] += 1
            return got
        self.assertEqual(shares(50), {"a": 50, "b": 0})  # 100 / 0 as created
        g = self.c.ok("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [
            {"ServiceId": v1["ServiceId"], "Weight": 0}, {"ServiceId": v2["ServiceId"], "Weight": 100}]})["ServiceGroup"]
        self.assertEqual([x["Weight"] for x in g["Services"]], [0, 100])
        harness.wait_until(lambda: shares(20) == {"a": 0, "b": 20}, 5, what="all traffic on version 2")
        self.c.ok("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [
            {"ServiceId": v1["ServiceId"], "Weight": 50}]})  # v2 keeps 100: one third to v1
        harness.wait_until(lambda: shares(10)["a"] > 0, 5)
        got = shares(600)
        self.assertTrue(140 < got["a"] < 260, got)
        for weights, code, needle in [
            ([{"ServiceId": v1["ServiceId"], "Weight": 0}, {"ServiceId": v2["ServiceId"], "Weight": 0}],
             "InvalidParameterValue", "add up to 0"),
            ([{"ServiceId": "ms-nosuchgr-1", "Weight": 1}], "InvalidParameterValue", "ms-nosuchgr-1"),
            ([{"ServiceId": v1["ServiceId"], "Weight": -1}], "InvalidParameterValue", "Weight"),
            ([{"ServiceId": v1["ServiceId"], "Weight": 1}, {"ServiceId": v1["ServiceId"], "Weight": 2}],
             "InvalidParameterValue", "twice"),
            ([], "InvalidParameter", "Weights"),
        ]:
            err = self.c.error("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": weights})
            self.assertEqual(err["Code"], code, err)
            self.assertIn(needle, err["Message"], err)
        # Refused requests changed nothing.
        g = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]
        self.assertEqual([x["Weight"] for x in g["Services"]], [50, 100])
        gw.close()
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv2})

    def test_update_in_place_without_downtime(self):
        other = harness.train("binary:logistic", n_features=4, seed=12)
        src = os.path.join(self.tmp, "model-c")
        os.makedirs(src)
        harness.save_model(other, os.path.join(src, "model.json"), "json")
        mv2 = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": self.model_id,
                                                "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                                "TrainingModelCosPath": cos(src)})["TrainingModelVersionId"]
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv2})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        s = self.create(Replicas=2)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 2, 20)
        X = harness.rows(1, 4, seed=22)
        a, b = harness.predict(self.booster, X)[0], harness.predict(other, X)[0]
        old = {p["IP"] for p in self.describe(sid)["ServiceInfo"]["PodInfos"]}
        import threading
        stop = threading.Event()
        seen = {"a": 0, "b": 0, "failed": []}

        def load():
            gw = harness.Client(self.d.gateway_port)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                r = gw.post("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})
                if r.status != 200:
                    seen["failed"].append((r.status, r.body[:200]))
                    continue
                p = r.json()["predictions"][0]
                seen["a" if abs(p - a) < 1e-6 else "b"] += 1
            gw.close()
        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.3)
        r = self.c.ok("ModifyModelService", {"ServiceId": sid, "ModelInfo": {"ModelVersionId": mv2},
                                             "ServiceDescription": "now model c"})["Service"]
        self.assertEqual(r["ServiceInfo"]["ModelInfo"]["ModelVersionId"], mv2)
        self.assertEqual(r["ServiceDescription"], "now model c")
        self.assertEqual(r["ServiceInfo"]["Replicas"], 2)  # unchanged: not given

        most = [0]
        partial = []  # (UpdatedReplicas, Replicas) while old instances still ran

        def all_new():  # new instances listen on new ports
            info = self.describe(sid)["ServiceInfo"]
            pods = info["PodInfos"]
            most[0] = max(most[0], len(pods))
            if old & {p["IP"] for p in pods}:
                partial.append((info["Status"]["UpdatedReplicas"], info["Status"]["Replicas"]))
            return (len(pods) == 2 and all(p["Status"] == "Running" for p in pods)
                    and not old & {p["IP"] for p in pods})
        harness.wait_until(all_new, 30, 0.05, what="both instances replaced")
        self.assertLessEqual(most[0], 3, "more than replicas+1 instances during the rollout")
        # UpdatedReplicas counts the instances of the new spec: fewer than all while old ones ran
        self.assertTrue([u for u, n in partial if u < n], partial)
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["UpdatedReplicas"] == 2, 10,
                           what="UpdatedReplicas 2")
        before = seen["a"]
        time.sleep(0.5)
        stop.set()
        t.join(10)
        self.assertEqual(seen["failed"], [], "requests failed during the update")
        self.assertGreater(before, 0)
        self.assertEqual(seen["a"], before, "model a still answered after the update")
        # The old model version is free again; the new one is in use.
        err = self.c.error("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv2})
        self.assertEqual(err["Code"], "UnsupportedOperation")
        for params, code, needle in [
            ({"HorizontalPodAutoscaler": {"MinReplicas": 1}}, "InvalidParameterValue", "HorizontalPodAutoscaler"),
            ({"InstanceType": "TI.S.NOPE.POST"}, "InvalidParameterValue", "InstanceType"),
            ({"Command": "true", "ModelInfo": {"ModelVersionId": mv2}}, "UnsupportedOperation", "not both"),
            ({"Bogus": 1}, "UnknownParameter", "Bogus"),
        ]:
            err = self.c.error("ModifyModelService", dict(params, ServiceId=sid))
            self.assertEqual(err["Code"], code, err)
            self.assertIn(needle, err["Message"], err)
        self.assertEqual(self.describe(sid)["ServiceInfo"]["ModelInfo"]["ModelVersionId"], mv2)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv2})

    def watch_status(self, sid):
        """Poll DescribeModelService's Status in a thread; returns (stop event, statuses seen)."""
        import threading
        stop, seen = threading.Event(), []

        def poll():
            while not stop.is_set():
                seen.append(self.describe(sid)["Status"])
                time.sleep(0.02)
        t = threading.Thread(target=poll)
        t.start()
        return lambda: (stop.set(), t.join(10)), seen

    def test_one_replica_update_keeps_serving_and_normal(self):
        # One replica: the new instance starts first and takes over when it is ready (surge),
        # so no request fails and the status stays Normal throughout.
        script = os.path.join(self.tmp, "echo_server.py")
        with open(script, "w") as f:
            f.write(ECHO_SERVER)
        s = self.create(ModelInfo=None, Command="exec %s %s" % (sys.executable, script),
                        Env=[{"Name": "GREETING", "Value": "old"}])
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_status(sid, "Normal")
        import threading
        stop = threading.Event()
        seen = {"old": 0, "new": 0, "failed": []}

        def load():
            gw = harness.Client(self.d.gateway_port)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                r = gw.get("/%s/x" % gid)
                if r.status != 200:
                    seen["failed"].append((r.status, r.body[:200]))
                    continue
                seen[r.json()["greeting"]] += 1
            gw.close()
        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.3)
        end_watch, statuses = self.watch_status(sid)
        most = [0]

        def count():
            pods = self.describe(sid)["ServiceInfo"]["PodInfos"]
            most[0] = max(most[0], len(pods))
            return pods
        self.c.ok("ModifyModelService", {"ServiceId": sid, "Env": [{"Name": "GREETING", "Value": "new"}]})
        harness.wait_until(lambda: seen["new"] > 0 and len(count()) == 1, 20, 0.02,
                           what="the new instance to take over")
        time.sleep(0.3)
        stop.set()
        t.join(10)
        end_watch()
        self.assertEqual(len(seen["failed"]), 0, "requests failed during the update: %r" % seen["failed"][:3])
        self.assertGreater(seen["old"], 0)
        self.assertNotIn("Abnormal", statuses)
        self.assertEqual(set(statuses), {"Normal"}, statuses)
        self.assertLessEqual(most[0], 2, "more than replicas+1 instances")
        # Scaling up from 1 to 2 is routine too: never Abnormal.
        end_watch, statuses = self.watch_status(sid)
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2})
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 2, 20)
        end_watch()
        self.assertEqual(set(statuses), {"Normal"}, statuses)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_custom_command_and_crash_restart(self):
        script = os.path.join(self.tmp, "echo_server.py")
        with open(script, "w") as f:
            f.write(ECHO_SERVER)
        s = self.create(ModelInfo=None, Command="exec %s %s" % (sys.executable, script),
                        Env=[{"Name": "GREETING", "Value": "hello from env"}])
        sid = s["ServiceId"]
        s = self.wait_status(sid, "Normal")
        addr = s["ServiceInfo"]["PodInfos"][0]["IP"]
        c = harness.Client(int(addr.split(":")[1]))
        self.assertEqual(c.get_json("/anything")["greeting"], "hello from env")
        c.close()
        # Kill the instance: it comes back (restart count 1) on a port of its own.
        pid = pids_on_ports({int(addr.split(":")[1])})
        self.assertEqual(len(pid), 1)
        os.kill(pid.pop(), signal.SIGKILL)
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["PodInfos"][0]["ContainerInfos"][0]
                           ["Status"]["RestartCount"] == 1, 10, what="restart count 1")
        self.wait_status(sid, "Normal")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_http_readiness_probe(self):
        script = os.path.join(self.tmp, "gated_server.py")
        flag = os.path.join(self.tmp, "ready.flag")
        with open(script, "w") as f:
            f.write(GATED_SERVER)
        probe = {"ReadinessProbe": {"ProbeAction": {"ActionType": "HTTPGet", "HTTPGet": {"Path": "/ready"}},
                                    "PeriodSeconds": 1, "TimeoutSeconds": 1, "SuccessThreshold": 1,
                                    "FailureThreshold": 1}}
        s = self.create(ModelInfo=None, Command="exec %s %s %s" % (sys.executable, script, flag),
                        HealthProbe=probe)
        sid = s["ServiceId"]
        # Listening but /ready answers 503: Waiting, and the gateway has nowhere to go.
        self.wait_status(sid, "Waiting")
        time.sleep(1.5)
        self.assertEqual(self.describe(sid)["Status"], "Waiting")
        gw = harness.Client(self.d.gateway_port)
        harness.assert_error(self, gw.get("/%s/x" % sid), 503, "no ready instance")
        open(flag, "w").close()
        s = self.wait_status(sid, "Normal", timeout=10)
        self.assertEqual(s["ServiceInfo"]["HealthProbe"], probe)
        harness.wait_until(lambda: gw.get("/%s/x" % sid).status == 200, 5)
        # Not ready again after FailureThreshold failures: out of the gateway's rotation.
        os.unlink(flag)
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["ReadyReplicas"] == 0, 10)
        harness.wait_until(lambda: gw.get("/%s/x" % sid).status == 503, 5)
        gw.close()
        for bad, needle in [({"LivenessProbe": {"SuccessThreshold": 2}}, "HealthProbe.LivenessProbe.SuccessThreshold"),
                            ({"ReadinessProbe": {"ProbeAction": {"ActionType": "Exec"}}}, "Exec"),
                            ({"ReadinessProbe": {"PeriodSeconds": 0}}, "PeriodSeconds"),
                            ({"ReadinessProbe": {"ProbeAction": {"HTTPGet": {"Path": "/x", "Port": 9}}}}, "Port")]:
            err = self.c.error("CreateModelService", {"ServiceGroupName": "probe-bad", "InstanceType": "TI.S.MEDIUM.POST",
                                                      "Command": "true", "HealthProbe": bad})
            self.assertIn(needle, err["Message"], err)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_termination_grace_period(self):
        # An instance that ignores SIGTERM is killed when its grace period ends.
        s = self.create(ModelInfo=None, Command="trap '' TERM; exec sleep 600", TerminationGracePeriodSeconds=2)
        sid = s["ServiceId"]
        self.assertEqual(s["ServiceInfo"]["TerminationGracePeriodSeconds"], 2)
        harness.wait_until(lambda: self.sleep_pids(sid), 10, what="the instance to start")
        pids = self.sleep_pids(sid)
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        time.sleep(1.2)
        self.assertTrue(any(alive(p) for p in pids), "killed before the grace period ended")
        harness.wait_until(lambda: not any(alive(p) for p in pids), 5, what="SIGKILL after the grace period")
        self.wait_status(sid, "Stopped")
        err = self.c.error("CreateModelService", {"ServiceGroupName": "grace-bad", "InstanceType": "TI.S.MEDIUM.POST",
                                                  "Command": "true", "TerminationGracePeriodSeconds": 0})
        self.assertIn("TerminationGracePeriodSeconds", err["Message"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def sleep_pids(self, sid):
        """Pids of `sleep 600` processes started in this service's work directory."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().split(b"\0")
                cwd = os.readlink("/proc/%s/cwd" % pid)
            except OSError:
                continue
            if cmd[:2] == [b"sleep", b"600"] and ("-instances/%s/" % sid) in cwd + "/":
                out.append(int(pid))
        return out

    def test_crashing_command_is_abnormal_with_backoff(self):
        s = self.create(ModelInfo=None, Command="echo starting; exit 3")
        sid = s["ServiceId"]
        s = self.wait_status(sid, "Abnormal")
        reason = s["ServiceInfo"]["Status"]["Reason"]
        self.assertIn("exited with status 3", reason)
        self.assertIn("restarting in", reason)
        time.sleep(3.5)
        restarts = self.describe(sid)["ServiceInfo"]["PodInfos"][0]["ContainerInfos"][0]["Status"]["RestartCount"]
        # Backoff 1 s, 2 s, 4 s...: a few restarts in 3.5 s, not dozens.
        self.assertGreaterEqual(restarts, 2)
        self.assertLessEqual(restarts, 4)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_broken_model_is_create_failed(self):
        src = os.path.join(self.tmp, "broken")
        os.makedirs(src)
        with open(os.path.join(src, "model.json"), "w") as f:
            f.write('{"not": "a model"}')
        r = self.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                              "TrainingModelName": "broken", "ModelFormat": "XGBOOST",
                                              "TrainingModelCosPath": cos(src)})
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": r["TrainingModelVersionId"]})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        s = self.create(ModelInfo={"ModelVersionId": r["TrainingModelVersionId"]})
        s = self.wait_status(s["ServiceId"], "CREATE_FAILED")
        self.assertEqual(s["BusinessStatus"], "CREATE_FAILED")
        self.assertIn("did not load", s["CreateFailedReason"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_update_to_a_model_that_does_not_load_keeps_the_old_serving(self):
        src = os.path.join(self.tmp, "broken-update")
        os.makedirs(src)
        with open(os.path.join(src, "model.json"), "w") as f:
            f.write('{"not": "a model"}')
        _, broken = import_model(self.c, "broken-update", src)
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_status(sid, "Normal")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ModelInfo": {"ModelVersionId": broken}})
        s = self.wait_status(sid, "Abnormal")
        self.assertIn("did not load", s["ServiceInfo"]["Status"]["Reason"])
        # The old instance still answers; the broken one is gone.
        gw = harness.Client(self.d.gateway_port)
        X = harness.rows(2, 4, seed=9)
        for _ in range(20):
            r = gw.post_json("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})
            harness.assert_close(r["predictions"], harness.predict(self.booster, X))
        gw.close()
        harness.wait_until(lambda: len(self.describe(sid)["ServiceInfo"]["PodInfos"]) == 1, 5)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_bad_requests_name_the_field(self):
        base = {"ServiceGroupName": "bad", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ModelInfo": {"ModelVersionId": self.mv}}
        cases = [
            (dict(base, InstanceType="TI.S.HUGE.POST"), "InvalidParameterValue", "InstanceType"),
            ({k: v for k, v in base.items() if k != "InstanceType"}, "MissingParameter", "InstanceType"),
            (dict(base, ChargeType="PREPAID"), "MissingParameter", "ResourceGroupId"),
            (dict(base, ChargeType="FREE"), "InvalidParameterValue", "ChargeType"),
            (dict(base, ServiceGroupName="no spaces please"), "InvalidParameterValue", "ServiceGroupName"),
            ({k: v for k, v in base.items() if k != "ServiceGroupName"}, "MissingParameter", "ServiceGroupName"),
            (dict(base, ModelInfo={"ModelVersionId": "mv-v1-0000000000000000001"}), "ResourceNotFound", "ModelVersionId"),
            (dict(base, ModelInfo={}), "MissingParameter", "ModelVersionId"),
            ({k: v for k, v in base.items() if k != "ModelInfo"}, "MissingParameter", "Command"),
            (dict(base, Command="true"), "UnsupportedOperation", "not both"),
            (dict(base, Replicas=-1), "InvalidParameterValue", "Replicas"),
            (dict(base, Replicas=1000), "InvalidParameterValue", "Replicas"),
            (dict(base, ScaleMode="AUTO"), "MissingParameter", "ScaleStrategy"),
            (dict(base, ScaleMode="AUTO", ScaleStrategy="HPA"), "MissingParameter", "HorizontalPodAutoscaler"),
            (dict(base, HorizontalPodAutoscaler={"MinReplicas": 1}), "InvalidParameterValue", "HorizontalPodAutoscaler"),
            (dict(base, AuthorizationEnable="yes"), "InvalidParameter", "AuthorizationEnable"),
            (dict(base, ServicePort=9000), "UnsupportedOperation", "ServicePort"),
            (dict(base, ImageInfo={"ImageType": "CUSTOM", "ImageUrl": "nginx:latest"}), "UnsupportedOperation", "container"),
            (dict(base, Env=[{"Name": "1BAD", "Value": "x"}]), "InvalidParameterValue", "Env"),
            (dict(base, Env=[{"Name": "PORT", "Value": "1"}]), "InvalidParameterValue", "PORT"),
            (dict(base, ServiceGroupId="ms-nosuchgr", NewVersion=True), "ResourceNotFound", "ms-nosuchgr"),
            (dict(base, NewVersion=True), "MissingParameter", "ServiceGroupId"),
            (dict(base, Unknown=1), "UnknownParameter", "Unknown"),
            (dict(base, CommandBase64="!!!", ModelInfo=None), "InvalidParameterValue", "CommandBase64"),
        ]
        for params, code, needle in cases:
            params = {k: v for k, v in params.items() if v is not None}
            err = self.c.error("CreateModelService", params)
            self.assertEqual(err["Code"], code, (params, err))
            self.assertIn(needle.lower(), err["Message"].lower(), (params, err))
        groups = self.c.ok("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceGroupName", "Values": ["bad"]}]})
        self.assertEqual(groups["TotalCount"], 0, "a refused request left a group behind")
        # Another region sees none of this region's services.
        s = self.create()
        for action, key in (("DescribeModelService", "ServiceId"), ("DeleteModelService", "ServiceId")):
            err = self.c.error(action, {key: s["ServiceId"]}, region="ap-shanghai")
            self.assertEqual(err["Code"], "ResourceNotFound", err)
        err = self.c.error("DescribeModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]}, region="ap-shanghai")
        self.assertEqual(err["Code"], "ResourceNotFound", err)
        self.assertEqual(self.c.ok("DescribeModelServiceGroups", region="ap-shanghai")["TotalCount"], 0)
        err = self.c.error("ModifyModelService", {"ServiceId": s["ServiceId"], "ServiceAction": "STOP"},
                           region="ap-shanghai")
        self.assertEqual(err["Code"], "ResourceNotFound", err)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        for params, code, needle in [
            ({"ServiceId": "ms-nosuchgr-1", "ServiceAction": "STOP"}, "ResourceNotFound", "ms-nosuchgr-1"),
            ({"ServiceId": "ms-nosuchgr-1", "Env": []}, "ResourceNotFound", "ms-nosuchgr-1"),
            ({"ServiceId": "ms-nosuchgr-1", "ServiceAction": "RESTART"}, "InvalidParameterValue", "ServiceAction"),
        ]:
            err = self.c.error("ModifyModelService", params)
            self.assertEqual(err["Code"], code, err)
            self.assertIn(needle.lower(), err["Message"].lower(), err)


class Durability(unittest.TestCase):
    def test_kill9_of_berthd_restores_services_without_orphans(self):
        tmp = harness.tempdir("t1200k")
        booster = harness.train("reg:squarederror", n_features=3)
        src = os.path.join(tmp, "model")
        os.makedirs(src)
        harness.save_model(booster, os.path.join(src, "model.json"), "json")
        d = api.Berthd(os.path.join(tmp, "data"), tmp)
        try:
            d.start()
            c = d.client()
            mv = c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                              "TrainingModelName": "reg", "ModelFormat": "XGBOOST",
                                              "TrainingModelCosPath": cos(src)})["TrainingModelVersionId"]
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                               ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
            sid = c.ok("CreateModelService", {"ServiceGroupName": "durable", "InstanceType": "TI.S.MEDIUM.POST",
                                              "ModelInfo": {"ModelVersionId": mv}, "Replicas": 2})["Service"]["ServiceId"]
            normal = lambda: c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["Status"]["ReadyReplicas"] == 2
            harness.wait_until(normal, 20, 0.1)
            ports = {int(p["IP"].split(":")[1]) for p in
                     c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"]}
            before = pids_on_ports(ports)
            self.assertEqual(len(before), 2)
            d.kill9()
            # The instances outlive their daemon and a restarted one adopts them.
            time.sleep(0.5)
            self.assertTrue(all(alive(p) for p in before), "instances died with berthd")
            d.start()
            c = d.client()
            s = c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
            self.assertEqual(s["ServiceInfo"]["Replicas"], 2)
            harness.wait_until(normal, 20, 0.1, what="service back to Normal after restart")
            pods = c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"]
            self.assertEqual(len(pods), 2, "no duplicated instances")
            after = pids_on_ports({int(p["IP"].split(":")[1]) for p in pods})
            self.assertEqual(after, before, "the same instances, adopted")
            d.stop()
            # A clean stop ends the instances too.
            self.assertFalse(any(alive(p) for p in after))
        finally:
            d.cleanup()
        harness.rmtree(tmp)


def pids_on_ports(ports):
    """Pids listening on 127.0.0.1 at these ports."""
    return set(harness.listeners_on_ports(ports).values())


GATED_SERVER = r'''
import http.server, os, sys
FLAG = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path != "/ready" or os.path.exists(FLAG)
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

ECHO_SERVER = r'''
import http.server, json, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"greeting": os.environ.get("GREETING", "")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''
