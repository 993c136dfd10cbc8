"""PyTorch models through berthd: a PYTORCH (and a TORCH_SCRIPT) model version imported
through the API, deployed with CreateModelService, answers through the gateway as the model
does in Python; an eager torch.save file is refused at import with what to do instead."""

import os
import shutil
import unittest

import api
import harness
import t0800_torch


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


class TorchServices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1250")
        cls.models = os.path.join(cls.tmp, "made")
        try:
            cls.exp = t0800_torch.make_models(cls.models)
        except unittest.SkipTest:
            harness.rmtree(cls.tmp)
            raise
        api.start_berthd(cls)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def import_version(self, name, src, fmt):
        r = self.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                              "TrainingModelName": name, "ModelFormat": fmt,
                                              "TrainingModelCosPath": cos(src)})
        mv = r["TrainingModelVersionId"]
        got = {}

        def done():
            got.update(self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                       ["TrainingModelVersion"])
            return got["TrainingModelStatus"] in ("STATUS_SUCCESS", "STATUS_FAILED")
        harness.wait_until(done, 10, 0.05, what="the import of %s" % name)
        return mv, got

    def source(self, name, model):
        """A copy of a made model's version 1 (an import may move files: keep the originals)."""
        src = os.path.join(self.tmp, name)
        shutil.copytree(os.path.join(self.models, model, "1"), src)
        return src

    def test_eager_pickle_refused_at_import(self):
        for fmt in ("PYTORCH", "TORCH_SCRIPT"):
            mv, v = self.import_version("eager-" + fmt.lower().replace("_", "-"),
                                        self.source("eager-" + fmt, "bad"), fmt)
            self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED", v)
            self.assertIn("eager-mode", v["TrainingModelErrorMsg"])
            self.assertIn("torch.jit.script or torch.jit.trace", v["TrainingModelErrorMsg"])

    def test_pytorch_version_serves_through_the_gateway(self):
        mv, v = self.import_version("two", self.source("two", "two"), "PYTORCH")
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        s = self.c.ok("CreateModelService", {
            "ServiceGroupName": "torch-two", "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "ModelInfo": {"ModelVersionId": mv}, "Replicas": 1})["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["Status"]
                           == "Normal", 30, 0.1, what="%s to be Normal" % sid)
        case = self.exp["two"]
        gw = harness.Client(self.d.gateway_port)
        try:
            inst = [{"x": x, "w": w} for x, w in zip(*case["inputs"])]
            preds = gw.post_json("/%s/v1/models/m:predict" % gid, {"instances": inst})["predictions"]
            harness.assert_close([p["score"] for p in preds], case["outputs"][0])
            harness.assert_close([p["norm"] for p in preds], case["outputs"][1])
            req = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [len(case["inputs"][0]), 3],
                               "data": case["inputs"][0]},
                              {"name": "w", "datatype": "FP64", "shape": [len(case["inputs"][1]), 2],
                               "data": case["inputs"][1]}]}
            r = gw.post_json("/%s/v2/models/two/infer" % gid, req)
            self.assertEqual([o["name"] for o in r["outputs"]], ["score", "norm"], r)
            harness.assert_close(r["outputs"][0]["data"], harness.flatten(case["outputs"][0]))
            harness.assert_close(r["outputs"][1]["data"], harness.flatten(case["outputs"][1]))
            meta = gw.get_json("/%s/v2/models/m" % gid)
            self.assertEqual(meta["platform"], "pytorch_torchscript", meta)
        finally:
            gw.close()

    def test_torch_script_format_imports(self):
        mv, v = self.import_version("mlp", self.source("mlp", "mlp"), "TORCH_SCRIPT")
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)


if __name__ == "__main__":
    unittest.main()
