"""The model repository through berthd's API: CreateTrainingModel (MODEL and VERSION, COPY and
CUT, local directories), the Describe actions with filters and paging, deletes, refusals that name
the field, region isolation, and durability across kill -9."""

import os
import shutil
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def model_dir(tmp, name, booster=None, extra=None):
    d = os.path.join(tmp, name)
    os.makedirs(d, exist_ok=True)
    if booster is not None:
        harness.save_model(booster, os.path.join(d, "model.json"), "json")
    for fname, text in (extra or {}).items():
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)
    return d


def import_params(name, path, **kw):
    p = {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
         "ModelFormat": "XGBOOST", "AlgorithmFramework": "XGBOOST", "TrainingModelCosPath": cos(path)}
    p.update(kw)
    return p


class Models(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.booster = harness.train("binary:logistic", n_features=4)
        api.start_berthd(cls, "t1100")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def wait_status(self, version_id, want=("STATUS_SUCCESS", "STATUS_FAILED")):
        got = {}

        def done():
            got.update(self.c.ok("DescribeTrainingModelVersion",
                                 {"TrainingModelVersionId": version_id})["TrainingModelVersion"])
            return got["TrainingModelStatus"] in want
        harness.wait_until(done, 10, 0.05, what="import of %s" % version_id)
        return got

    def test_import_model_then_version(self):
        src = model_dir(self.tmp, "src-a", self.booster, {"berth.json": '{"class_labels": ["n", "y"]}'})
        r = self.c.ok("CreateTrainingModel", import_params("alpha", src, TrainingModelVersion="v1",
                                                           Tags=[{"TagKey": "team", "TagValue": "ml"}]))
        self.assertRegex(r["Id"], r"^m-\d{19}$")
        self.assertRegex(r["TrainingModelVersionId"], r"^mv-v1-\d{19}$")
        v = self.wait_status(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        self.assertEqual(v["TrainingModelProgress"], 100)
        self.assertEqual(v["TrainingModelFormat"], "XGBOOST")
        self.assertEqual(v["AlgorithmFramework"], "XGBOOST")
        self.assertEqual(v["ReasoningEnvironmentId"], "berth-serve")
        self.assertEqual(v["TrainingModelName"], "alpha")
        self.assertEqual(v["TrainingModelCosPath"]["Paths"], [src])
        stored = v["ModelHotUpdatePath"]["Paths"][0]
        self.assertTrue(stored.startswith(self.d.data_dir), stored)
        # COPY leaves the source, and the stored copy is byte for byte the same.
        self.assertTrue(os.path.exists(os.path.join(src, "model.json")))
        with open(os.path.join(src, "model.json"), "rb") as a, open(os.path.join(stored, "model.json"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertTrue(os.path.exists(os.path.join(stored, "berth.json")))

        # A second version: label defaults to v2.
        src2 = model_dir(self.tmp, "src-a2", self.booster)
        r2 = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": r["Id"],
                                               "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                               "TrainingModelCosPath": cos(src2)})
        self.assertEqual(r2["Id"], r["Id"])
        self.assertRegex(r2["TrainingModelVersionId"], r"^mv-v2-")
        self.wait_status(r2["TrainingModelVersionId"])
        vs = self.c.ok("DescribeTrainingModelVersions", {"TrainingModelId": r["Id"]})["TrainingModelVersions"]
        self.assertEqual([x["TrainingModelVersion"] for x in vs], ["v1", "v2"])
        # Filters: one value is a fuzzy match, several are exact.
        vs = self.c.ok("DescribeTrainingModelVersions", {"TrainingModelId": r["Id"], "Filters": [
            {"Name": "TrainingModelVersionId", "Values": [r2["TrainingModelVersionId"]]}]})["TrainingModelVersions"]
        self.assertEqual(len(vs), 1)
        models = self.c.ok("DescribeTrainingModels", {"Filters": [{"Name": "keyword", "Values": ["alph"]}],
                                                      "WithModelVersions": True})
        self.assertEqual(models["TotalCount"], 1)
        m = models["TrainingModels"][0]
        self.assertEqual(m["TrainingModelName"], "alpha")
        self.assertEqual(m["Tags"], [{"TagKey": "team", "TagValue": "ml"}])
        self.assertEqual(len(m["TrainingModelVersions"]), 2)
        tagged = self.c.ok("DescribeTrainingModels", {"TagFilters": [{"TagKey": "team", "TagValues": ["ml"]}]})
        self.assertIn("alpha", [x["TrainingModelName"] for x in tagged["TrainingModels"]])
        untagged = self.c.ok("DescribeTrainingModels", {"TagFilters": [{"TagKey": "team", "TagValues": ["ops"]}]})
        self.assertNotIn("alpha", [x["TrainingModelName"] for x in untagged["TrainingModels"]])

        # Same name again is refused; the same label on the same model too.
        err = self.c.error("CreateTrainingModel", import_params("alpha", src))
        self.assertEqual(err["Code"], "InvalidParameterValue.DuplicateName")
        self.assertIn("alpha", err["Message"])
        err = self.c.error("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": r["Id"],
                                                   "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                                   "TrainingModelVersion": "v1", "TrainingModelCosPath": cos(src)})
        self.assertEqual(err["Code"], "InvalidParameterValue.DuplicateName")

        # Deleting a version removes its files; deleting the model removes the rest.
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": r2["TrainingModelVersionId"]})
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(stored), r2["TrainingModelVersionId"])))
        err = self.c.error("DescribeTrainingModelVersion", {"TrainingModelVersionId": r2["TrainingModelVersionId"]})
        self.assertEqual(err["Code"], "ResourceNotFound")
        self.c.ok("DeleteTrainingModel", {"TrainingModelId": r["Id"]})
        self.assertFalse(os.path.exists(stored))
        self.assertEqual(self.c.error("DeleteTrainingModel", {"TrainingModelId": r["Id"]})["Code"], "ResourceNotFound")
        self.assertTrue(os.path.exists(os.path.join(src, "model.json")), "the source is never touched")

    def test_cut_moves_the_files(self):
        src = model_dir(self.tmp, "src-cut", self.booster)
        r = self.c.ok("CreateTrainingModel", import_params("cutter", src, ModelMoveMode="CUT"))
        v = self.wait_status(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        self.assertFalse(os.path.exists(src))
        self.assertTrue(os.path.exists(os.path.join(v["ModelHotUpdatePath"]["Paths"][0], "model.json")))

    def test_failed_imports_give_the_reason(self):
        # A source that does not exist is refused at once, naming the field.
        err = self.c.error("CreateTrainingModel", import_params("missing", os.path.join(self.tmp, "nowhere")))
        self.assertEqual(err["Code"], "InvalidParameterValue")
        self.assertIn("TrainingModelCosPath.Paths", err["Message"])
        self.assertIn("does not exist", err["Message"])
        empty = model_dir(self.tmp, "src-empty")
        r = self.c.ok("CreateTrainingModel", import_params("empty", empty))
        v = self.wait_status(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED")
        self.assertIn("no model file", v["TrainingModelErrorMsg"])
        two = model_dir(self.tmp, "src-two", self.booster, {"other.bin": "x"})
        r = self.c.ok("CreateTrainingModel", import_params("two", two))
        v = self.wait_status(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED")
        self.assertIn("one model file", v["TrainingModelErrorMsg"])

    def test_bad_requests_name_the_field(self):
        src = model_dir(self.tmp, "src-bad", self.booster)
        cases = [
            ({k: v for k, v in import_params("x1", src).items() if k != "ImportMethod"}, "MissingParameter", "ImportMethod"),
            (import_params("x2", src, ImportMethod="SOMETIMES"), "InvalidParameterValue", "ImportMethod"),
            (import_params("x3", src, ImportMethod="EXIST"), "UnsupportedOperation", "EXIST"),
            ({k: v for k, v in import_params("x4", src).items() if k != "TrainingModelName"}, "MissingParameter", "TrainingModelName"),
            (import_params("bad name!", src), "InvalidParameterValue", "TrainingModelName"),
            (import_params("x" * 61, src), "InvalidParameterValue", "TrainingModelName"),
            (import_params("x5", src, ModelFormat="KERAS"), "InvalidParameterValue", "ModelFormat"),
            (import_params("x6", src, AlgorithmFramework="SKLEARN"), "InvalidParameterValue", "AlgorithmFramework"),
            (import_params("x7", src, ModelMoveMode="LINK"), "InvalidParameterValue", "ModelMoveMode"),
            (import_params("x8", "relative/dir"), "InvalidParameterValue", "absolute"),
            (import_params("x9", src, TrainingModelCosPath={"Bucket": "b", "Region": "ap-guangzhou", "Paths": [src]}),
             "UnsupportedOperation", "Bucket"),
            (import_params("x10", src, AutoClean="maybe"), "InvalidParameterValue", "AutoClean"),
            (import_params("x11", src, MaxReservedModels=99), "InvalidParameterValue", "MaxReservedModels"),
            (import_params("x12", src, ModelVersionType="ACCELERATE"), "UnsupportedOperation", "ACCELERATE"),
            (import_params("x13", src, Tags=[{"TagKey": ""}]), "InvalidParameter", "Tags"),
            (import_params("x14", src, ReasoningEnvironmentId="tensorflow2.4-py38(gpu)"), "InvalidParameterValue", "ReasoningEnvironmentId"),
            (import_params("x15", src, Surprise=True), "UnknownParameter", "Surprise"),
            (import_params("x16", src, ReasoningEnvironmentSource="CUSTOM"), "MissingParameter", "ReasoningImageInfo"),
            ({"ImportMethod": "VERSION", "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
              "TrainingModelCosPath": cos(src)}, "MissingParameter", "TrainingModelId"),
            ({"ImportMethod": "VERSION", "TrainingModelId": "m-0000000000000000000", "ModelFormat": "XGBOOST",
              "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelCosPath": cos(src)}, "ResourceNotFound", "m-0000000000000000000"),
        ]
        for params, code, needle in cases:
            err = self.c.error("CreateTrainingModel", params)
            self.assertEqual(err["Code"], code, (params, err))
            self.assertIn(needle.lower(), err["Message"].lower(), (params, err))
        # Nothing half-written: none of those names exist now.
        names = [m["TrainingModelName"] for m in self.c.ok("DescribeTrainingModels", {"Limit": 1000})["TrainingModels"]]
        for i in range(1, 17):
            self.assertNotIn("x%d" % i, names)
        # Clients send "" for unused fields: that is not an error.
        r = self.c.ok("CreateTrainingModel", import_params("blanks", src, TrainingJobName="", TrainingModelId="",
                                                           ModelMoveMode="", TrainingModelIndex=""))
        self.wait_status(r["TrainingModelVersionId"])

    def test_paging_and_order(self):
        src = model_dir(self.tmp, "src-page", self.booster)
        ids = []
        for i in range(3):
            ids.append(self.c.ok("CreateTrainingModel", import_params("page%d" % i, src))["Id"])
        kw = {"Filters": [{"Name": "keyword", "Values": ["page"]}]}
        desc = self.c.ok("DescribeTrainingModels", dict(kw, Limit=2))
        self.assertEqual(desc["TotalCount"], 3)
        self.assertEqual(len(desc["TrainingModels"]), 2)
        asc = self.c.ok("DescribeTrainingModels", dict(kw, Order="ASC", Offset=1, Limit=10))
        self.assertEqual([m["TrainingModelId"] for m in asc["TrainingModels"]], ids[1:])
        exact = self.c.ok("DescribeTrainingModels", {"Filters": [{"Name": "TrainingModelId", "Values": ids[:2]}]})
        self.assertEqual(exact["TotalCount"], 2)
        neg = self.c.ok("DescribeTrainingModels", {"Filters": [{"Name": "keyword", "Values": ["page"], "Negative": True}],
                                                   "Limit": 1000})
        self.assertFalse(any(m["TrainingModelName"].startswith("page") for m in neg["TrainingModels"]))
        err = self.c.error("DescribeTrainingModels", {"Filters": [{"Name": "Color", "Values": ["red"]}]})
        self.assertEqual(err["Code"], "InvalidParameterValue.InvalidFilter")

    def test_delete_during_import_leaves_no_files(self):
        big = model_dir(self.tmp, "src-big-delete", self.booster)
        for i in range(30):
            with open(os.path.join(big, "blob%02d.dat" % i), "wb") as f:
                f.write(os.urandom(1 << 20))
        small = model_dir(self.tmp, "src-small-delete", self.booster)
        r = self.c.ok("CreateTrainingModel", import_params("deleted-early", small))
        # The second version is deleted while its files are being copied.
        v2 = self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": r["Id"],
                                               "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "ONNX",
                                               "TrainingModelCosPath": cos(big)})["TrainingModelVersionId"]
        time.sleep(0.1)
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": v2})
        path = os.path.join(self.d.data_dir, "models", r["Id"], v2)
        harness.wait_until(lambda: not os.path.exists(path) and not os.path.exists(path + ".importing"), 15,
                           what="the deleted version's files to be gone after its import")
        time.sleep(1.5)  # and they do not come back when the copy finishes
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(path + ".importing"))
        self.assertTrue(os.path.exists(os.path.join(big, "blob00.dat")), "COPY never touches the source")
        self.c.ok("DeleteTrainingModel", {"TrainingModelId": r["Id"]})

    def test_regions_are_isolated(self):
        src = model_dir(self.tmp, "src-region", self.booster)
        r = self.c.ok("CreateTrainingModel", import_params("regional", src), region="ap-shanghai")
        other = self.c.ok("DescribeTrainingModels", {"Limit": 1000})
        self.assertNotIn(r["Id"], [m["TrainingModelId"] for m in other["TrainingModels"]])
        err = self.c.error("DescribeTrainingModelVersion", {"TrainingModelVersionId": r["TrainingModelVersionId"]})
        self.assertEqual(err["Code"], "ResourceNotFound")
        self.assertEqual(self.c.error("DeleteTrainingModel", {"TrainingModelId": r["Id"]})["Code"], "ResourceNotFound")
        # The same name is free in another region.
        self.c.ok("CreateTrainingModel", import_params("regional", src))
        here = self.c.ok("DescribeTrainingModels", {"Limit": 1000}, region="ap-shanghai")
        self.assertIn(r["Id"], [m["TrainingModelId"] for m in here["TrainingModels"]])


class Durability(unittest.TestCase):
    def test_kill9_loses_nothing_and_resumes_imports(self):
        tmp = harness.tempdir("t1100k")
        booster = harness.train("reg:squarederror", n_features=3)
        d = api.Berthd(os.path.join(tmp, "data"), tmp)
        try:
            d.start()
            c = d.client()
            src = model_dir(tmp, "src", booster)
            done = c.ok("CreateTrainingModel", import_params("kept", src))
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {
                "TrainingModelVersionId": done["TrainingModelVersionId"]})["TrainingModelVersion"]["TrainingModelStatus"]
                == "STATUS_SUCCESS", 10)
            # A big source so that the import is still running when berthd dies.
            big = model_dir(tmp, "big", booster)
            for i in range(40):
                with open(os.path.join(big, "blob%02d.dat" % i), "wb") as f:
                    f.write(os.urandom(1 << 20))
            pending = c.ok("CreateTrainingModel", import_params("pending", big, ModelFormat="ONNX"))
            d.kill9()
            d.start()
            c = d.client()
            names = {m["TrainingModelName"] for m in c.ok("DescribeTrainingModels", {"Limit": 100})["TrainingModels"]}
            self.assertEqual(names, {"kept", "pending"})
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {
                "TrainingModelVersionId": pending["TrainingModelVersionId"]})["TrainingModelVersion"]["TrainingModelStatus"]
                == "STATUS_SUCCESS", 30, what="resumed import")
            v = c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": pending["TrainingModelVersionId"]})
            stored = v["TrainingModelVersion"]["ModelHotUpdatePath"]["Paths"][0]
            self.assertEqual(len(os.listdir(stored)), 41)
            leftovers = [p for p in os.listdir(os.path.dirname(stored)) if p.endswith(".importing")]
            self.assertEqual(leftovers, [])
            d.stop()
        finally:
            d.cleanup()
        harness.rmtree(tmp)
