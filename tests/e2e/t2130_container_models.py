"""Model versions in custom images (issue 11): a model imported with ReasoningEnvironmentSource
CUSTOM and a ReasoningImageInfo runs in that image when a service names it by ModelInfo alone,
and a service may give an ImageInfo of its own with ModelInfo; either way the version's files
are mounted read-only at /data/model. A model format with no built-in runtime is fine in an
image, and a berthd without a container engine refuses CUSTOM at import."""

import os
import time
import unittest

import api
import harness
import podman_env
from t1200_api_services import cos
from t2100_containers import ContainerBase


class ModelImages(ContainerBase):
    tag = "t2130"

    def import_model(self, name, fmt, **kw):
        src = os.path.join(self.tmp, name)
        if fmt == "XGBOOST":
            harness.model_dir(src, harness.train("binary:logistic", n_features=4), "ubj")
        else:
            os.mkdir(src)
            for f in ("model.bin", "extra.txt"):
                with open(os.path.join(src, f), "w") as fh:
                    fh.write("not really a model\n")
        p = {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
             "ModelFormat": fmt, "TrainingModelCosPath": cos(src)}
        p.update(kw)
        mv = self.c.ok("CreateTrainingModel", p)["TrainingModelVersionId"]
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        return mv

    def test_model_image_and_mount(self):
        env = self.env
        img = env.image("t2130/serve", "v1")
        info = {"ImageType": "CCR", "ImageUrl": img}
        mv = self.import_model("onnxy", "ONNX", ReasoningEnvironmentSource="CUSTOM", ReasoningImageInfo=info)
        dto = self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})["TrainingModelVersion"]
        self.assertEqual(dto["ReasoningImageInfo"], info)
        # ModelInfo alone: the version's image, with its files at /data/model, read-only.
        svc = self.c.ok("CreateModelService", {
            "ServiceGroupName": "mimg", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": mv}})["Service"]
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        s = self.wait_status(sid, "Normal")
        self.assertEqual(s["ServiceInfo"]["ModelInfo"]["ModelVersionId"], mv)
        r = self.gateway(gid, "/model")
        self.assertEqual(r.json(), {"model_files": 2}, r.body)
        (ct,) = self.mine(sid)
        mounts = env.engine("GET", "/containers/%s/json" % ct["Id"])[1]["Mounts"]
        (m,) = [m for m in mounts if m["Destination"] == "/data/model"]
        self.assertFalse(m["RW"])
        # A SYSTEM model in a service's own image: mounted the same way.
        mv2 = self.import_model("plain", "XGBOOST")
        svc2 = self.c.ok("CreateModelService", {
            "ServiceGroupName": "mimg2", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": mv2}, "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": img}})["Service"]
        self.wait_status(svc2["ServiceId"], "Normal")
        files = len(os.listdir(os.path.join(self.tmp, "plain")))
        self.assertEqual(self.gateway(svc2["ServiceGroupId"], "/model").json(), {"model_files": files})
        for x in (sid, svc2["ServiceId"]):
            self.c.ok("DeleteModelService", {"ServiceId": x})
        harness.wait_until(lambda: not env.containers(), 20, 0.2, what="no container left")

    def test_custom_refused_without_engine(self):
        other = api.Berthd(os.path.join(self.tmp, "noengine"), self.tmp, name="noengine")
        try:
            other.start()
            src = os.path.join(self.tmp, "m3")
            os.mkdir(src)
            with open(os.path.join(src, "model.bin"), "w") as fh:
                fh.write("x\n")
            e = other.client().error("CreateTrainingModel", {
                "ImportMethod": "MODEL", "ReasoningEnvironmentSource": "CUSTOM", "TrainingModelName": "m3",
                "ModelFormat": "ONNX", "TrainingModelCosPath": cos(src),
                "ReasoningImageInfo": {"ImageType": "CCR", "ImageUrl": "%s/x:1" % self.env.registry}})
            self.assertEqual(e["Code"], "UnsupportedOperation")
            self.assertIn("--engine-socket", e["Message"])
        finally:
            other.stop()
            other.cleanup()


if __name__ == "__main__":
    unittest.main()
