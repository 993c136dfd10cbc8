"""Hardening of the service actions (issue 6): a service created while its model version is
deleted, signatures replayed as another action, bad CommandBase64, off switches of features
Berth does not have, Replicas 0, the group's UpdateTime and BusinessStatus, fields Berth cannot
honour, and error messages that name the full path of a nested field."""

import base64
import http.client
import json
import os
import threading
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


class Hardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1210")
        booster = harness.train("binary:logistic", n_features=4)
        cls.src = harness.model_dir(os.path.join(cls.tmp, "model"), booster)
        r = cls.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                             "TrainingModelName": "base", "ModelFormat": "XGBOOST",
                                             "TrainingModelCosPath": cos(cls.src)})
        cls.model_id, cls.mv = r["Id"], r["TrainingModelVersionId"]
        cls.wait_imported(cls.mv)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    @classmethod
    def wait_imported(cls, mv):
        harness.wait_until(lambda: cls.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 20,
                           what="the import of %s" % mv)

    def base(self, name, **kw):
        p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "Command": "exec sleep 600", "Replicas": 1}
        p.update(kw)
        return {k: v for k, v in p.items() if v is not None}

    def refused(self, action, params, code, *needles):
        err = self.c.error(action, params)
        self.assertEqual(err["Code"], code, (params, err))
        for n in needles:
            self.assertIn(n, err["Message"], (params, err))
        return err

    # -- 6: create racing delete ------------------------------------------------------------

    def test_create_racing_version_delete_never_both_succeed(self):
        trials, both, neither, created = 40, [], [], 0
        for i in range(trials):
            mv = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": self.model_id,
                                                   "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                                   "TrainingModelCosPath": cos(self.src)})["TrainingModelVersionId"]
            self.wait_imported(mv)
            out = {}
            go = threading.Barrier(2)

            def create():
                go.wait()
                out["create"] = self.c.call("CreateModelService", {
                    "ServiceGroupName": "race%d" % i, "InstanceType": "TI.S.MEDIUM.POST",
                    "ModelInfo": {"ModelVersionId": mv}, "Replicas": 1})

            def delete():
                go.wait()
                out["delete"] = self.c.call("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv})
            ts = [threading.Thread(target=create), threading.Thread(target=delete)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            made = "Error" not in out["create"]
            deleted = "Error" not in out["delete"]
            if made and deleted:
                both.append((mv, out["create"]["Service"]["ServiceId"]))
            elif not made and not deleted:
                neither.append((mv, out["create"]["Error"], out["delete"]["Error"]))
            if made:
                created += 1
                self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": out["create"]["Service"]["ServiceGroupId"]})
            else:
                self.assertIn(out["create"]["Error"]["Code"], ("ResourceNotFound",), out["create"])
            if not deleted:
                self.assertEqual(out["delete"]["Error"]["Code"], "UnsupportedOperation", out["delete"])
                self.assertIn("used by", out["delete"]["Error"]["Message"])
                self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv})
        self.assertEqual(both, [], "a service was created on a version deleted at the same time")
        self.assertEqual(neither, [], "both sides of the race were refused")
        # No group is left that runs a version that is gone.
        groups = self.c.ok("DescribeModelServiceGroups", {"Limit": 100})["ServiceGroups"]
        self.assertEqual([g["ServiceGroupName"] for g in groups if g["ServiceGroupName"].startswith("race")], [])
        print("# race: %d of %d trials created the service first" % (created, trials))

    # -- 7: a signature replayed as another action ------------------------------------------

    def test_signature_replayed_as_another_action_is_refused(self):
        s = self.c.ok("CreateModelService", self.base("replay"))["Service"]
        sid = s["ServiceId"]
        body = json.dumps({"ServiceId": sid})
        ts = int(time.time())
        # The SDKs sign content-type and host only; capture one signed Describe.
        status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts)
        self.assertNotIn("Error", doc["Response"], doc)
        # Past the grace period that lets a client make its next call in the same second (same
        # body, same timestamp: the same signature), the signature belongs to its action.
        time.sleep(2.1)
        # Sent again as is (a client's retry): still fine.
        status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts)
        self.assertNotIn("Error", doc["Response"], doc)
        self.assertEqual(doc["Response"]["Service"]["ServiceId"], sid)
        # The same signature as another action, or in another region: refused.
        for headers in ({"X-TC-Action": "DeleteModelService"}, {"X-TC-Region": "ap-shanghai"}):
            status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts, headers=headers)
            err = doc["Response"].get("Error")
            self.assertIsNotNone(err, (headers, doc))
            self.assertEqual(err["Code"], "AuthFailure.SignatureFailure", err)
            self.assertIn("another X-TC-Action", err["Message"])
        self.assertEqual(self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceId"], sid)
        # A signature that covers X-TC-Action does not verify with another one.
        auth = api.sign(self.c.secret_id, self.c.secret_key, body.encode(), ts, "127.0.0.1:%d" % self.d.port,
                        extra_signed={"x-tc-action": "DescribeModelService"})
        status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts,
                                    headers={"Authorization": auth, "X-TC-Action": "DeleteModelService"})
        self.assertEqual(doc["Response"]["Error"]["Code"], "AuthFailure.SignatureFailure", doc)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_signature_replayed_from_another_address_within_the_grace_is_refused(self):
        # Within the grace period a signature may take another action, but only from where it
        # was first used: a client's next call. Someone who captured it elsewhere (127.0.0.2, a
        # loopback address too, plays that host) cannot turn a Describe into a Delete.
        s = self.c.ok("CreateModelService", self.base("replayfrom"))["Service"]
        sid = s["ServiceId"]
        body = json.dumps({"ServiceId": sid})
        ts = int(time.time())
        start = time.monotonic()
        status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts)
        self.assertNotIn("Error", doc["Response"], doc)
        for action in ("DeleteModelService", "DescribeModelServiceCallInfo"):
            status, _, doc = self.c.raw(action, body, timestamp=ts, source="127.0.0.2")
            err = doc["Response"].get("Error")
            self.assertIsNotNone(err, (action, doc))
            self.assertEqual(err["Code"], "AuthFailure.SignatureFailure", err)
            self.assertIn("first used from another address", err["Message"])
        self.assertLess(time.monotonic() - start, 2.0, "the attempts came after the grace period")
        self.assertEqual(self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceId"], sid)
        # The same request resent from there is a retry of what the signature was used for.
        status, _, doc = self.c.raw("DescribeModelService", body, timestamp=ts, source="127.0.0.2")
        self.assertEqual(doc["Response"]["Service"]["ServiceId"], sid, doc)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_next_call_with_the_same_body_in_the_same_second_passes(self):
        # An SDK that signs content-type and host gives two calls signed in the same second with
        # the same body the same signature: DescribeModelServiceGroup, then CallInfo, then Delete.
        gid = self.c.ok("CreateModelService", self.base("samesecond"))["Service"]["ServiceGroupId"]
        body = json.dumps({"ServiceGroupId": gid})
        ts = int(time.time())
        for action in ("DescribeModelServiceGroup", "DescribeModelServiceCallInfo", "DeleteModelServiceGroup"):
            status, _, doc = self.c.raw(action, body, timestamp=ts)
            self.assertNotIn("Error", doc["Response"], (action, doc))
        self.assertEqual(self.c.error("DescribeModelServiceGroup", {"ServiceGroupId": gid})["Code"], "ResourceNotFound")

    # -- 15: CommandBase64 -------------------------------------------------------------------

    def test_command_base64_is_strict(self):
        b64 = lambda t: base64.b64encode(t.encode()).decode()
        s = self.c.ok("CreateModelService", self.base("b64ok", Command=None,
                                                      CommandBase64=b64("exec sleep 600 # é")))["Service"]
        self.assertEqual(s["ServiceInfo"]["Command"], "exec sleep 600 # é")
        for bad in ["!!!", "=", "====", "QQ", "QQ=", "QR==", "ZXhl Yw==", "ZXhlYw==\n", "ZXhlYw-_",
                    b64("   "), b64("\n\t")]:
            for action, params in (("CreateModelService", self.base("b64", Command=None, CommandBase64=bad)),
                                   ("ModifyModelService", {"ServiceId": s["ServiceId"], "CommandBase64": bad})):
                self.refused(action, params, "InvalidParameterValue", "CommandBase64")
        self.refused("CreateModelService", self.base("b64", Command="  "), "InvalidParameterValue", "Command")
        self.assertEqual(self.c.ok("DescribeModelService", {"ServiceId": s["ServiceId"]})["Service"]
                         ["ServiceInfo"]["Command"], "exec sleep 600 # é")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    # -- 22: features switched off -----------------------------------------------------------

    def test_features_switched_off_are_accepted(self):
        offs = [
            {"ServiceLimit": {"EnableInstanceRpsLimit": False}},
            {"ServiceLimit": {"EnableInstanceReqLimit": False}},
            {"ServiceLimit": {"EnableInstanceRpsLimit": False, "InstanceRpsLimit": 0,
                              "EnableInstanceReqLimit": False, "InstanceReqLimit": 0}},
            {"ScheduledAction": {"ScheduleStop": False}},
            {"ScheduledAction": {"ScheduleStop": False, "ScheduleStopTime": ""},
             "ServiceLimit": {"EnableInstanceRpsLimit": False, "InstanceRpsLimit": 0}},
        ]
        gids = []
        for i, off in enumerate(offs):
            s = self.c.ok("CreateModelService", self.base("off%d" % i, **off))["Service"]
            gids.append(s["ServiceGroupId"])
        sid = gids[0] + "-1"
        self.c.ok("ModifyModelService", dict(offs[2], ServiceId=sid))
        self.c.ok("ModifyModelService", dict(offs[4], ServiceId=sid, ServiceAction="STOP"))
        ons = [
            ({"ServiceLimit": {"EnableInstanceRpsLimit": True}}, "MissingParameter",
             "ServiceLimit.InstanceRpsLimit"),
            ({"ServiceLimit": {"EnableInstanceReqLimit": True, "InstanceReqLimit": 100001}},
             "InvalidParameterValue", "ServiceLimit.InstanceReqLimit"),
            ({"ScheduledAction": {"ScheduleStop": True, "ScheduleStopTime": "2020-01-26T19:46:22+08:00"}},
             "InvalidParameterValue", "ScheduledAction.ScheduleStopTime"),
            ({"ServiceLimit": {"EnableInstanceRpsLimit": False, "Rps": 1}}, "UnknownParameter", "ServiceLimit.Rps"),
            ({"ServiceLimit": {"EnableInstanceRpsLimit": "no"}}, "InvalidParameter",
             "ServiceLimit.EnableInstanceRpsLimit"),
            ({"ServiceLimit": {"InstanceRpsLimit": -1}}, "InvalidParameterValue", "ServiceLimit.InstanceRpsLimit"),
            ({"ServiceLimit": []}, "InvalidParameter", "ServiceLimit"),
            ({"ScheduledAction": {"ScheduleStop": False, "ScheduleStopTime": 5}}, "InvalidParameter",
             "ScheduledAction.ScheduleStopTime"),
        ]
        for params, code, needle in ons:
            self.refused("CreateModelService", self.base("on", **params), code, needle)
            self.refused("ModifyModelService", dict(params, ServiceId=sid), code, needle)
            self.refused("ModifyModelService", dict(params, ServiceId=sid, ServiceAction="RESUME"), code, needle)
        # a limit switched on is applied by a modification, not along with a ServiceAction
        self.refused("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME",
                                            "ServiceLimit": {"EnableInstanceRpsLimit": True, "InstanceRpsLimit": 5}},
                     "InvalidParameterValue", "cannot be combined with ServiceAction")
        for gid in gids:
            self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    # -- 23: Replicas 0, the group's UpdateTime and BusinessStatus ---------------------------

    def test_replicas_zero_is_refused(self):
        err = self.refused("CreateModelService", self.base("zero", Replicas=0), "InvalidParameterValue",
                           "Replicas", "at least 1")
        self.assertIn("STOP", err["Message"])
        groups = self.c.ok("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceGroupName", "Values": ["zero"]}]})
        self.assertEqual(groups["TotalCount"], 0)
        s = self.c.ok("CreateModelService", self.base("zero-mod"))["Service"]
        self.refused("ModifyModelService", {"ServiceId": s["ServiceId"], "Replicas": 0}, "InvalidParameterValue",
                     "Replicas", "at least 1")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def groups_by_update(self, order):
        r = self.c.ok("DescribeModelServiceGroups", {"OrderField": "UpdateTime", "Order": order, "Limit": 100,
                                                     "Filters": [{"Name": "ServiceGroupName", "Values": ["upd-"]}]})
        return [g["ServiceGroupName"] for g in r["ServiceGroups"]]

    def test_desc_is_the_reverse_of_asc(self):
        # Times are to the second: groups made in the same second come newest first with DESC.
        for n in ("tie-a", "tie-b", "tie-c"):
            self.c.ok("CreateModelService", self.base(n))

        def names(order):
            r = self.c.ok("DescribeModelServiceGroups", {"OrderField": "CreateTime", "Order": order,
                                                         "Filters": [{"Name": "ServiceGroupName", "Values": ["tie-"]}]})
            return [g["ServiceGroupName"] for g in r["ServiceGroups"]]
        self.assertEqual(names("ASC"), ["tie-a", "tie-b", "tie-c"])
        self.assertEqual(names("DESC"), ["tie-c", "tie-b", "tie-a"])

    def test_group_update_time_follows_its_versions(self):
        a = self.c.ok("CreateModelService", self.base("upd-a"))["Service"]
        b = self.c.ok("CreateModelService", self.base("upd-b"))["Service"]
        b2 = self.c.ok("CreateModelService", self.base(None, ServiceGroupId=b["ServiceGroupId"],
                                                       NewVersion=True))["Service"]
        time.sleep(1.1)  # UpdateTime has whole seconds
        self.c.ok("ModifyModelService", {"ServiceId": a["ServiceId"], "ServiceAction": "SCALE", "Replicas": 2})
        self.assertEqual(self.groups_by_update("DESC"), ["upd-a", "upd-b"])
        self.assertEqual(self.groups_by_update("ASC"), ["upd-b", "upd-a"])
        g = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": a["ServiceGroupId"]})["ServiceGroup"]
        self.assertGreater(g["UpdateTime"], g["CreateTime"])
        self.assertEqual(g["UpdateTime"], g["Services"][0]["UpdateTime"])
        time.sleep(1.1)
        self.c.ok("DeleteModelService", {"ServiceId": b2["ServiceId"]})
        self.assertEqual(self.groups_by_update("DESC"), ["upd-b", "upd-a"])
        for x in (a, b):
            self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": x["ServiceGroupId"]})

    def test_stopped_group_is_not_billing(self):
        s = self.c.ok("CreateModelService", self.base("bill"))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        group = lambda: self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]
        harness.wait_until(lambda: group()["Status"] not in ("CREATING", "Pending"), 10)
        self.assertEqual(group()["BusinessStatus"], "BILLING")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        harness.wait_until(lambda: group()["Status"] == "Stopped", 10, what="the group to stop")
        g = group()
        self.assertEqual(g["BusinessStatus"], "")  # as TI-ONE answers for a stopped group
        self.assertEqual(g["Services"][0]["BusinessStatus"], "CREATE_SUCCEED")
        listed = self.c.ok("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceGroupId", "Values": [gid]}]})
        self.assertEqual(listed["ServiceGroups"][0]["BusinessStatus"], "")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        harness.wait_until(lambda: group()["Status"] != "Stopped", 10, what="the group to run again")
        self.assertEqual(group()["BusinessStatus"], "BILLING")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    # -- 21: fields Berth cannot honour, and fields that contradict the version -------------

    def test_fields_berth_cannot_honour_or_that_contradict(self):
        model = lambda name, **kw: self.base(name, Command=None, ModelInfo=dict({"ModelVersionId": self.mv}, **kw))
        cases = [
            (dict(model("x"), ImageInfo={"ImageType": "PRE_SET", "ImageUrl": "ccr.example/ti/xgb:1"}),
             "UnsupportedOperation", ["ImageInfo.ImageUrl", "ccr.example/ti/xgb:1"]),
            (dict(model("x"), ImageInfo={"ImageType": "PreSet", "ImageName": "xgboost-1.7"}),
             "UnsupportedOperation", ["ImageInfo.ImageName"]),
            (dict(model("x"), SchedulingStrategy="spread"), "UnsupportedOperation", ["SchedulingStrategy", "spread"]),
            (dict(model("x"), SchedulingStrategy="random"), "InvalidParameterValue", ["SchedulingStrategy"]),
            (model("x", AlgorithmFramework="PYTORCH"), "InvalidParameterValue",
             ["ModelInfo.AlgorithmFramework", "PYTORCH", "XGBOOST"]),
            (model("x", ModelSource="GooseFSx"), "InvalidParameterValue", ["ModelInfo.ModelSource", "GooseFSx", "COS"]),
        ]
        for params, code, needles in cases:
            self.refused("CreateModelService", params, code, *needles)
        s = self.c.ok("CreateModelService", dict(model("honoured", AlgorithmFramework="xgboost", ModelSource="COS"),
                                                 ImageInfo={"ImageType": "PRE_SET"}, SchedulingStrategy="binpack"))
        sid = s["Service"]["ServiceId"]
        for params, code, needles in cases:
            params = {k: v for k, v in params.items() if k in ("ModelInfo", "ImageInfo", "SchedulingStrategy")}
            self.refused("ModifyModelService", dict(params, ServiceId=sid), code, *needles)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["Service"]["ServiceGroupId"]})
        # A version imported with its own framework and source is checked against those.
        mv = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": self.model_id,
                                               "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                               "AlgorithmFramework": "XGBOOST", "TrainingModelSource": "CFS",
                                               "TrainingModelCosPath": cos(self.src)})["TrainingModelVersionId"]
        self.wait_imported(mv)
        p = self.base("cfs", Command=None, ModelInfo={"ModelVersionId": mv, "ModelSource": "COS"})
        self.refused("CreateModelService", p, "InvalidParameterValue", "ModelInfo.ModelSource", "'COS'", "'CFS'")
        p["ModelInfo"]["ModelSource"] = "CFS"
        gid = self.c.ok("CreateModelService", p)["Service"]["ServiceGroupId"]
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": mv})

    # -- 10: the request timeout a service sets is shown ------------------------------------

    def test_request_timeout_is_shown_in_service_info(self):
        info = lambda sid: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        s = self.c.ok("CreateModelService", self.base("timeout", RequestTimeoutSeconds=7))["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertEqual(s["ServiceInfo"]["RequestTimeoutSeconds"], 7, s["ServiceInfo"])
        self.assertEqual(info(sid)["RequestTimeoutSeconds"], 7)
        group = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]
        self.assertEqual([v["ServiceInfo"]["RequestTimeoutSeconds"] for v in group["Services"]], [7])
        self.c.ok("ModifyModelService", {"ServiceId": sid, "RequestTimeoutSeconds": 9})
        self.assertEqual(info(sid)["RequestTimeoutSeconds"], 9)
        # A Modify that does not name it keeps it.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "TerminationGracePeriodSeconds": 5})
        self.assertEqual((info(sid)["RequestTimeoutSeconds"], info(sid)["TerminationGracePeriodSeconds"]), (9, 5))
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        # Not set: null, the gateway's default.
        s = self.c.ok("CreateModelService", self.base("notimeout"))["Service"]
        self.assertIsNone(info(s["ServiceId"])["RequestTimeoutSeconds"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_a_new_request_timeout_does_not_replace_instances(self):
        # The timeout is the gateway's: changing it republishes the routes, while a change of
        # what runs rolls out a new instance next to the old one (surge).
        s = self.c.ok("CreateModelService", self.base("timeoutroll", RequestTimeoutSeconds=7))["Service"]
        sid = s["ServiceId"]
        pods = lambda: sorted((p["Name"], p["CreateTime"]) for p in
                              self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]["PodInfos"])
        harness.wait_until(lambda: len(pods()) == 1, 10, what="one instance")
        before = pods()
        self.c.ok("ModifyModelService", {"ServiceId": sid, "RequestTimeoutSeconds": 30})
        time.sleep(1.0)  # four reconciler ticks
        self.assertEqual(pods(), before)
        self.c.ok("ModifyModelService", {"ServiceId": sid, "TerminationGracePeriodSeconds": 5})
        harness.wait_until(lambda: len(pods()) == 2, 10, what="a surge instance for the new spec")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    # -- 18: every error names the full path; nested objects refuse unknown keys -------------

    def test_errors_name_the_full_path(self):
        pa = "HealthProbe.ReadinessProbe.ProbeAction"
        probe = lambda action: {"ReadinessProbe": {"ProbeAction": action}}
        mv = self.mv
        create = [
            ({"HealthProbe": probe({"HTTPGet": {"Port": "x"}})}, "InvalidParameter", pa + ".HTTPGet.Port"),
            ({"HealthProbe": probe({"HTTPGet": {"Port": 70000}})}, "InvalidParameterValue", pa + ".HTTPGet.Port"),
            ({"HealthProbe": probe({"HTTPGet": {"Path": 5}})}, "InvalidParameter", pa + ".HTTPGet.Path"),
            ({"HealthProbe": probe({"HTTPGet": {"Path": "/", "Scheme": "HTTPS"}})}, "UnknownParameter",
             pa + ".HTTPGet.Scheme"),
            ({"HealthProbe": probe({"ActionType": "TCPSocket", "TCPSocket": {"Port": 8501, "Host": "h"}})},
             "UnknownParameter", pa + ".TCPSocket.Host"),
            ({"HealthProbe": probe({"ActionType": "TCPSocket", "TCPSocket": {"Port": "p"}})}, "InvalidParameter",
             pa + ".TCPSocket.Port"),
            ({"HealthProbe": probe({"ActionType": "TCPSocket", "HTTPGet": {"Path": "/ready"}})},
             "InvalidParameterValue", pa + ".HTTPGet"),
            ({"HealthProbe": probe({"ActionType": 5})}, "InvalidParameter", pa + ".ActionType"),
            ({"HealthProbe": probe({"HTTPGet": []})}, "InvalidParameter", pa + ".HTTPGet"),
            ({"HealthProbe": probe({"ActionType": "TCPSocket", "TCPSocket": "8501"})}, "InvalidParameter",
             pa + ".TCPSocket"),
            ({"HealthProbe": probe([])}, "InvalidParameter", pa),
            ({"HealthProbe": probe({"Bogus": 1})}, "UnknownParameter", pa + ".Bogus"),
            ({"HealthProbe": {"ReadinessProbe": {"PeriodSeconds": "x"}}}, "InvalidParameter",
             "HealthProbe.ReadinessProbe.PeriodSeconds"),
            ({"HealthProbe": {"ReadinessProbe": {"Bogus": 1}}}, "UnknownParameter", "HealthProbe.ReadinessProbe.Bogus"),
            ({"HealthProbe": {"Bogus": 1}}, "UnknownParameter", "HealthProbe.Bogus"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv, "Bogus": 1}}, "UnknownParameter", "ModelInfo.Bogus"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": 5}}, "InvalidParameter", "ModelInfo.ModelVersionId"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv, "ModelName": 5}}, "InvalidParameter",
             "ModelInfo.ModelName"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv, "ModelType": 5}}, "InvalidParameter",
             "ModelInfo.ModelType"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv}, "ImageInfo": {"ImageUrl": "x"}},
             "MissingParameter", "ImageInfo.ImageType"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv}, "ImageInfo": {"ImageType": "PRE_SET", "Foo": 1}},
             "UnknownParameter", "ImageInfo.Foo"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv},
              "ImageInfo": {"ImageType": "PRE_SET", "AllowSaveAllContent": "yes"}},
             "InvalidParameter", "ImageInfo.AllowSaveAllContent"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv}, "ImageInfo": {"ImageType": "PRE_SET", "ImageUrl": 5}},
             "InvalidParameter", "ImageInfo.ImageUrl"),
            ({"Command": None, "ModelInfo": {"ModelVersionId": mv}, "ImageInfo": "registry/x:1"},
             "InvalidParameter", "ImageInfo"),
            ({"Env": [{"Name": "A", "Value": "1", "ValueFrom": {}}]}, "UnknownParameter", "Env[0].ValueFrom"),
            ({"Env": [{"Name": "A", "Value": "1"}, {"Name": "B"}]}, "MissingParameter", "Env[1].Value"),
            ({"Env": [{"Name": 5, "Value": "1"}]}, "InvalidParameter", "Env[0].Name"),
            ({"Env": [{"Value": "1"}]}, "MissingParameter", "Env[0].Name"),
            ({"Env": ["A=1"]}, "InvalidParameter", "Env[0]"),
            ({"ServiceLimit": {"Foo": 1}}, "UnknownParameter", "ServiceLimit.Foo"),
            ({"ScheduledAction": {"Foo": 1}}, "UnknownParameter", "ScheduledAction.Foo"),
            ({"Resources": {"Cpu": 1000}}, "InvalidParameterValue", "Resources"),
            ({"RollingUpdate": {"MaxSurge": {"Value": 1}}}, "UnsupportedOperation", "RollingUpdate"),
        ]
        for params, code, path in create:
            err = self.refused("CreateModelService", self.base("paths", **params), code)
            self.assertTrue(err["Message"].startswith(path + " ") or err["Message"].startswith(path + ":"),
                            (params, path, err))
        s = self.c.ok("CreateModelService", self.base("paths"))["Service"]
        gid, sid = s["ServiceGroupId"], s["ServiceId"]
        for params, code, path in [case for case in create if "ModelInfo" not in case[0]]:
            err = self.refused("ModifyModelService", dict(params, ServiceId=sid), code)
            self.assertTrue(err["Message"].startswith(path + " ") or err["Message"].startswith(path + ":"),
                            (params, path, err))
        others = [
            ("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [{"ServiceId": sid, "Weight": 1, "X": 1}]},
             "UnknownParameter", "Weights[0].X"),
            ("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [{"ServiceId": sid, "Weight": "a"}]},
             "InvalidParameter", "Weights[0].Weight"),
            ("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [{"Weight": 1}]},
             "MissingParameter", "Weights[0].ServiceId"),
            ("ModifyServiceGroupWeights", {"ServiceGroupId": gid, "Weights": [5]},
             "InvalidParameter", "Weights[0]"),
            ("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceId", "Values": ["x"], "Bogus": 1}]},
             "UnknownParameter", "Filters[0].Bogus"),
            ("DescribeModelServiceGroups", {"Filters": [{"Name": "ServiceId", "Values": ["x"], "Fuzzy": "yes"}]},
             "InvalidParameter", "Filters[0].Fuzzy"),
            ("DescribeModelServiceGroups", {"TagFilters": [{"TagKey": "a", "TagValues": ["b"], "X": 1}]},
             "UnknownParameter", "TagFilters[0].X"),
            ("DescribeModelServiceGroups", {"TagFilters": [{"TagKey": "a", "TagValues": [1]}]},
             "InvalidParameter", "TagFilters[0].TagValues[0]"),
        ]
        for action, params, code, path in others:
            err = self.refused(action, params, code)
            self.assertTrue(err["Message"].startswith(path + " "), (params, path, err))
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})


class LegacyZeroReplicas(unittest.TestCase):
    """A version created with Replicas 0 before that was refused: RESUME starts it."""

    def test_resume_of_a_version_with_no_replica_starts_it(self):
        import sqlite3
        tmp = harness.tempdir("t1210z")
        d = api.Berthd(os.path.join(tmp, "data"), tmp)
        try:
            d.start()
            c = d.client()
            s = c.ok("CreateModelService", {"ServiceGroupName": "legacy", "InstanceType": "TI.S.MEDIUM.POST",
                                            "Command": "exec sleep 600"})["Service"]
            d.stop()
            db = sqlite3.connect(os.path.join(d.data_dir, "berth.db"))
            db.execute("UPDATE services SET replicas = 0, old_replicas = 0, stopped = 0 WHERE id = ?",
                       (s["ServiceId"],))
            db.commit()
            db.close()
            d.start()
            c = d.client()
            self.assertEqual(c.ok("DescribeModelService", {"ServiceId": s["ServiceId"]})["Service"]
                             ["ServiceInfo"]["Replicas"], 0)
            r = c.ok("ModifyModelService", {"ServiceId": s["ServiceId"], "ServiceAction": "RESUME"})["Service"]
            self.assertEqual(r["ServiceInfo"]["Replicas"], 1)
            harness.wait_until(lambda: len(c.ok("DescribeModelService", {"ServiceId": s["ServiceId"]})
                                           ["Service"]["ServiceInfo"]["PodInfos"]) == 1, 10,
                               what="the resumed version's instance")
            d.stop()
        finally:
            d.cleanup()
        harness.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
