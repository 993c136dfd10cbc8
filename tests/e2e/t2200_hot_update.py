"""Model hot update: CreateTrainingModel's auto-clean settings (AutoClean, MaxReservedModels,
ModelCleanPeriod) stored, described and checked; ModelHotUpdateEnable refused without auto-clean
and for commands; DescribeModelServiceHotUpdated; and a running service that, when version 2 and
then 3 of its model are imported, answers with them through the gateway within seconds, without a
failed request or a restart, while auto-clean keeps only MaxReservedModels version directories."""

import os
import threading
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


class HotUpdate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2200")
        cls.boosters = [harness.train("binary:logistic", n_features=4, seed=s) for s in (1, 7, 13)]
        cls.srcs = []
        for i, b in enumerate(cls.boosters):
            src = os.path.join(cls.tmp, "model-%d" % (i + 1))
            os.makedirs(src)
            harness.save_model(b, os.path.join(src, "model.json"), "json")
            cls.srcs.append(src)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def wait_imported(self, mv):
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)

    def import_model(self, name, src, **kw):
        p = {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
             "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(src)}
        p.update(kw)
        r = self.c.ok("CreateTrainingModel", p)
        self.wait_imported(r["TrainingModelVersionId"])
        return r["Id"], r["TrainingModelVersionId"]

    def import_version(self, model_id, src, **kw):
        p = {"ImportMethod": "VERSION", "TrainingModelId": model_id, "ReasoningEnvironmentSource": "SYSTEM",
             "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(src)}
        p.update(kw)
        return self.c.ok("CreateTrainingModel", p)["TrainingModelVersionId"]

    def version(self, mv):
        return self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})["TrainingModelVersion"]

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def create(self, mv, **kw):
        p = {"ServiceGroupName": "hot%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": "TI.S.MEDIUM.POST", "ModelInfo": {"ModelVersionId": mv}, "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def test_auto_clean_settings(self):
        _, mv = self.import_model("clean-on", self.srcs[0], AutoClean="true", MaxReservedModels=3,
                                  ModelCleanPeriod=5)
        v = self.version(mv)
        self.assertEqual((v["AutoClean"], v["MaxReservedModels"], v["ModelCleanPeriod"]), ("true", 3, 5))
        # On without a limit or a period: TI-ONE's defaults, 24 and 1 minute.
        _, mv = self.import_model("clean-defaults", self.srcs[0], AutoClean="true")
        v = self.version(mv)
        self.assertEqual((v["AutoClean"], v["MaxReservedModels"], v["ModelCleanPeriod"]), ("true", 24, 1))
        # Off (the console sends the defaults with it): 0 and 0, as TI-ONE describes it.
        _, mv = self.import_model("clean-off", self.srcs[0], AutoClean="false", MaxReservedModels=24,
                                  ModelCleanPeriod=1)
        v = self.version(mv)
        self.assertEqual((v["AutoClean"], v["MaxReservedModels"], v["ModelCleanPeriod"]), ("false", 0, 0))
        base = {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": "bad",
                "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(self.srcs[0])}
        for extra, code, needle in [
            ({"AutoClean": "yes"}, "InvalidParameterValue", "AutoClean"),
            ({"AutoClean": True}, "InvalidParameter", "AutoClean"),
            ({"AutoClean": "true", "MaxReservedModels": 25}, "InvalidParameterValue", "MaxReservedModels"),
            ({"AutoClean": "true", "MaxReservedModels": 0}, "InvalidParameterValue", "MaxReservedModels"),
            ({"AutoClean": "true", "ModelCleanPeriod": 1441}, "InvalidParameterValue", "ModelCleanPeriod"),
            ({"AutoClean": "true", "ModelFormat": "ONNX", "AlgorithmFramework": "ONNX"},
             "InvalidParameterValue", "ONNX"),
        ]:
            err = self.c.error("CreateTrainingModel", dict(base, **extra))
            self.assertEqual(err["Code"], code, (extra, err))
            self.assertIn(needle, err["Message"], (extra, err))

    def test_hot_update_needs_auto_clean(self):
        _, plain = self.import_model("no-clean", self.srcs[0])
        err = self.c.error("CreateModelService", {
            "ServiceGroupName": "hot-refused", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": plain}, "ModelHotUpdateEnable": True})
        self.assertEqual(err["Code"], "InvalidParameterValue", err)
        self.assertIn("ModelHotUpdateEnable", err["Message"])
        self.assertIn("AutoClean", err["Message"])
        err = self.c.error("CreateModelService", {
            "ServiceGroupName": "hot-command", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "Command": "sleep 100", "ModelHotUpdateEnable": True})
        self.assertEqual(err["Code"], "InvalidParameterValue", err)
        self.assertIn("ModelInfo", err["Message"])
        # Nothing was created.
        groups = self.c.ok("DescribeModelServiceGroups", {})["ServiceGroups"]
        self.assertFalse([g for g in groups if g["ServiceGroupName"].startswith("hot-")])
        # A service without hot update cannot switch it on while its model has no auto-clean.
        s = self.create(plain)
        err = self.c.error("ModifyModelService", {"ServiceId": s["ServiceId"], "ModelHotUpdateEnable": True})
        self.assertEqual(err["Code"], "InvalidParameterValue", err)
        self.assertFalse(self.describe(s["ServiceId"])["ServiceInfo"]["ModelHotUpdateEnable"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_describe_hot_updated(self):
        _, plain = self.import_model("ask-plain", self.srcs[0])
        _, clean = self.import_model("ask-clean", self.srcs[0], AutoClean="true", MaxReservedModels=2)
        preset = {"ImageType": "PRE_SET"}
        for params, flag in [
            ({"ImageInfo": preset, "ModelInfo": {"ModelVersionId": clean}}, "Allowed"),
            ({"ImageInfo": preset, "ModelInfo": {"ModelVersionId": plain}}, "Forbidden"),
            ({"ImageInfo": preset}, "Forbidden"),
            ({"ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "127.0.0.1:5000/x:1"},
              "ModelInfo": {"ModelVersionId": clean}}, "Forbidden"),
        ]:
            r = self.c.ok("DescribeModelServiceHotUpdated", params)
            self.assertEqual(r["ModelTurboFlag"], flag, params)
        err = self.c.error("DescribeModelServiceHotUpdated", {"ModelInfo": {"ModelVersionId": clean}})
        self.assertEqual(err["Code"], "MissingParameter")
        self.assertIn("ImageInfo", err["Message"])
        err = self.c.error("DescribeModelServiceHotUpdated",
                           {"ImageInfo": preset, "ModelInfo": {"ModelVersionId": "mv-v1-1"}})
        self.assertEqual(err["Code"], "ResourceNotFound")

    def test_new_versions_reach_the_running_service(self):
        b1, b2, b3 = self.boosters
        model_id, mv1 = self.import_model("hot", self.srcs[0], AutoClean="true", MaxReservedModels=2,
                                          ModelCleanPeriod=1)
        s = self.create(mv1, ModelHotUpdateEnable=True)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertTrue(s["ServiceInfo"]["ModelHotUpdateEnable"])
        harness.wait_until(lambda: self.describe(sid)["Status"] == "Normal", 20, 0.1, what="Normal")
        pod = self.describe(sid)["ServiceInfo"]["PodInfos"][0]
        base = os.path.join(self.tmp, "data-instances", sid, "model")
        self.assertEqual(sorted(n for n in os.listdir(base) if n.isdigit()), ["1"])

        X = harness.rows(1, 4, seed=22)
        want = [harness.predict(b, X)[0] for b in (b1, b2, b3)]
        self.assertTrue(all(abs(want[i] - want[j]) > 1e-4 for i in range(3) for j in range(i)))
        stop = threading.Event()
        seen = {"answers": [], "failed": []}

        def load():
            gw = harness.Client(self.d.gateway_port)
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                r = gw.post("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})
                if r.status != 200:
                    seen["failed"].append((r.status, r.body[:200]))
                    continue
                p = r.json()["predictions"][0]
                which = [i + 1 for i, w in enumerate(want) if abs(p - w) < 1e-6]
                seen["answers"].append((time.monotonic(), which[0] if which else p))
            gw.close()
        t = threading.Thread(target=load)
        t.start()
        try:
            harness.wait_until(lambda: seen["answers"], 10, what="answers from version 1")

            def answers_with(n, since):
                return lambda: [a for a in seen["answers"] if a[0] > since and a[1] == n]
            for n, src in [(2, self.srcs[1]), (3, self.srcs[2])]:
                t0 = time.monotonic()
                mv = self.import_version(model_id, src, AutoClean="true", MaxReservedModels=2)
                harness.wait_until(answers_with(n, t0), 15, 0.05, what="answers from version %d" % n)
                took = time.monotonic() - t0
                self.assertLess(took, 10, "version %d took %.1f s" % (n, took))
                # Once it answers, only it answers.
                time.sleep(0.5)
                t1 = time.monotonic()
                time.sleep(0.5)
                late = [a for a in seen["answers"] if a[0] > t1]
                self.assertTrue(late and all(a[1] == n for a in late), late[-5:])
                # The instance reports it as the version it serves.
                host, port = pod["IP"].split(":")
                ic = harness.Client(int(port))
                status = ic.get_json("/v1/models/m")["model_version_status"]
                ic.close()
                self.assertEqual([e["version"] for e in status if e["state"] == "AVAILABLE"], [str(n)])
        finally:
            stop.set()
            t.join(10)
        self.assertEqual(seen["failed"], [], "requests failed during the hot updates")
        # Auto-clean keeps the newest MaxReservedModels (2) version directories.
        harness.wait_until(lambda: sorted(n for n in os.listdir(base) if n.isdigit()) == ["2", "3"], 10,
                           what="auto-clean to leave versions 2 and 3 (saw %s)" % os.listdir(base))
        # The same instance served all three: hot, not a restart.
        after = self.describe(sid)["ServiceInfo"]["PodInfos"]
        self.assertEqual([(p["IP"], p["ContainerInfos"][0]["Status"]["RestartCount"]) for p in after], [(pod["IP"], 0)])
        messages = " | ".join(e["Message"] for e in self.c.ok("DescribeEvents", {
            "Service": "INFER", "ServiceId": sid, "Limit": 100})["Events"])
        self.assertIn("is version 3 of the model base path", messages)
        self.assertIn("Auto-clean removed 1 old version (keeps 2)", messages)
        # Off again: the service is rolled back to its own version only.
        r = self.c.ok("ModifyModelService", {"ServiceId": sid, "ModelHotUpdateEnable": False})["Service"]
        self.assertFalse(r["ServiceInfo"]["ModelHotUpdateEnable"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_z_kill9_of_berthd_keeps_the_versions_and_their_numbers(self):
        b1, b2, b3 = self.boosters
        model_id, mv1 = self.import_model("hot-durable", self.srcs[0], AutoClean="true", MaxReservedModels=5)
        s = self.create(mv1, ModelHotUpdateEnable=True)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        X = harness.rows(1, 4, seed=23)
        want = [harness.predict(b, X)[0] for b in (b1, b2, b3)]

        def answers(n):
            gw = harness.Client(self.d.gateway_port)
            try:
                r = gw.post("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})
                return r.status == 200 and abs(r.json()["predictions"][0] - want[n - 1]) < 1e-6
            finally:
                gw.close()
        harness.wait_until(lambda: answers(1), 20, 0.1, what="version 1")
        self.wait_imported(self.import_version(model_id, self.srcs[1], AutoClean="true", MaxReservedModels=5))
        harness.wait_until(lambda: answers(2), 15, 0.1, what="version 2")
        self.d.kill9()
        self.d.start()
        self.__class__.c = self.c = self.d.client()
        # Back on the newest version it had, without a third copy of anything.
        harness.wait_until(lambda: answers(2), 20, 0.1, what="version 2 after the restart")
        base = os.path.join(self.tmp, "data-instances", sid, "model")
        self.assertEqual(sorted(n for n in os.listdir(base) if n.isdigit()), ["1", "2"])
        self.wait_imported(self.import_version(model_id, self.srcs[2], AutoClean="true", MaxReservedModels=5))
        harness.wait_until(lambda: answers(3), 15, 0.1, what="version 3 after the restart")
        self.assertEqual(sorted(n for n in os.listdir(base) if n.isdigit()), ["1", "2", "3"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: not os.path.exists(base), 15, what="the base path gone with the service")


if __name__ == "__main__":
    unittest.main()
