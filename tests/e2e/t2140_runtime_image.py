"""The built-in runtime in a container (issue 11): `make runtime-image` (scripts/runtime-image.sh)
imports berth-serve without libtorch and exactly the shared libraries ldd lists as
localhost/berth-serve:VERSION; berthd --model-runtime container runs SYSTEM model services in it
through the container driver. An XGBoost model deployed so answers the library's predictions
through the gateway, runs as a container of that image with the spec's limits, its port on
127.0.0.1 only and its files read-only at /data/model, and stop and delete leave nothing. Hot
update and a berthd without an engine or without the image are refused clearly."""

import os
import subprocess
import time

import api
import harness
import podman_env
from t1200_api_services import cos
from t2100_containers import ContainerBase


def build_runtime_image(env):
    """What `make runtime-image` runs, on the binaries under test; the image's reference."""
    serve = harness.bin_path()
    tar = os.path.join(env.tmp, "runtime-rootfs.tar")
    p = subprocess.run([os.path.join(harness.REPO, "scripts", "runtime-image.sh"), serve, tar, "podman"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env.env, timeout=120)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    ref = p.stdout.decode().strip().splitlines()[-1]
    env.images.append(ref)  # removed with the shared systems
    return ref, tar


class RuntimeImage(ContainerBase):
    tag = "t2140"

    @classmethod
    def setUpClass(cls):
        cls.env = podman_env.get(cls.tag)
        cls.tmp = harness.tempdir(cls.tag)
        cls.ref, cls.tar = build_runtime_image(cls.env)
        # The image named as berth-serve's version (berthd's default names its own,
        # the same when both come from one `make`).
        api.start_berthd(cls, extra=["--engine-socket", cls.env.socket, "--model-runtime", "container",
                                     "--model-runtime-image", cls.ref])

    def import_model(self, name, booster, **kw):
        src = os.path.join(self.tmp, name)
        harness.model_dir(src, booster, "ubj")
        mv = self.c.ok("CreateTrainingModel", dict({
            "ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
            "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(src)}, **kw))["TrainingModelVersionId"]
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        return mv

    def test_a_image_is_small_and_holds_what_ldd_lists(self):
        import tarfile
        with tarfile.open(self.tar) as t:
            names = {n.lstrip(".") for n in t.getnames()}
        serve = harness.bin_path()
        out = subprocess.run(["ldd", serve], stdout=subprocess.PIPE, check=True).stdout.decode()
        libs = [w for line in out.splitlines() for w in line.split() if w.startswith("/")]
        self.assertTrue(libs)
        for lib in libs:
            self.assertIn(lib, names)
        self.assertIn("/usr/bin/berth-serve", names)
        self.assertFalse([n for n in names if "torch" in n], names)
        self.assertLess(os.path.getsize(self.tar), 64 << 20)
        version = subprocess.run([serve, "--version"], stdout=subprocess.PIPE, check=True).stdout.split()[1]
        self.assertEqual(self.ref, "localhost/berth-serve:" + version.decode())

    def test_b_model_service_in_the_runtime_image(self):
        env = self.env
        booster = harness.train("binary:logistic", n_features=4)
        mv = self.import_model("rt", booster)
        base = {"ServiceGroupName": "rt", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ModelInfo": {"ModelVersionId": mv}}
        # Hot update syncs versions for the process driver only: refused, nothing written,
        # and DescribeModelServiceHotUpdated says so even for a version with auto-clean.
        clean = self.import_model("rt-clean", booster, AutoClean="true", MaxReservedModels=2)
        r = self.c.ok("DescribeModelServiceHotUpdated", {"ImageInfo": {"ImageType": "PRE_SET"},
                                                         "ModelInfo": {"ModelVersionId": clean}})
        self.assertEqual(r["ModelTurboFlag"], "Forbidden")
        e = self.c.error("CreateModelService", dict(base, ModelHotUpdateEnable=True))
        self.assertEqual(e["Code"], "UnsupportedOperation", e)
        self.assertIn("ModelHotUpdateEnable", e["Message"])
        self.assertEqual(self.c.ok("DescribeModelServiceGroups", {})["TotalCount"], 0)
        t0 = time.monotonic()
        svc = self.c.ok("CreateModelService", base)["Service"]
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        s = self.wait_status(sid, "Normal", timeout=60)
        print("t2140: create -> Normal in the runtime image: %.0f ms" % ((time.monotonic() - t0) * 1000))
        self.assertEqual(s["ServiceInfo"]["ModelInfo"]["ModelVersionId"], mv)
        X = harness.rows(8, 4)

        def answers():
            gw = harness.Client(self.d.gateway_port)
            try:
                for name in ("m", "rt"):
                    r = gw.post_json("/%s/v1/models/%s:predict" % (gid, name), {"instances": X.tolist()})
                    harness.assert_close(r["predictions"], harness.predict(booster, X))
            finally:
                gw.close()
        answers()
        # A container of the runtime image, with the spec's limits, on 127.0.0.1 only.
        (ct,) = self.mine(sid)
        status, info = env.engine("GET", "/containers/%s/json" % ct["Id"])
        self.assertEqual(status, 200)
        self.assertIn(info["Config"]["Image"], (self.ref, self.ref.split("/", 1)[1]))
        host = info["HostConfig"]
        self.assertEqual(host["NanoCpus"], 2 * 10**9)  # TI.S.MEDIUM.POST: 2 cores
        self.assertEqual(host["Memory"], 4 * 1024**3)  # and 4 GiB
        self.assertEqual([b["HostIp"] for b in host["PortBindings"]["8501/tcp"]], ["127.0.0.1"])
        addr = s["ServiceInfo"]["PodInfos"][0]["IP"]
        self.assertEqual(addr, "127.0.0.1:%s" % host["PortBindings"]["8501/tcp"][0]["HostPort"])
        (m,) = [m for m in info["Mounts"] if m["Destination"] == "/data/model"]
        self.assertFalse(m["RW"])
        # No berth-serve child of berthd: the model server is the container's.
        kids = subprocess.run(["pgrep", "-P", str(self.d.proc.pid)], stdout=subprocess.PIPE).stdout.split()
        for k in kids:
            with open("/proc/%s/cmdline" % k.decode(), "rb") as f:
                self.assertNotIn(b"berth-serve", f.read())
        # Its output reaches the service's logs.
        harness.wait_until(lambda: self.logs(sid, "listening"), 10, 0.2, what="its output in the logs")
        # kill -9 of berthd: the restarted one adopts the same container, which answers on.
        self.d.kill9()
        self.d.start()
        type(self).c = self.d.client()  # a new API port
        self.wait_status(sid, "Normal")
        answers()
        self.assertEqual([c["Id"] for c in self.mine(sid)], [ct["Id"]])
        # Stop, then delete: nothing left behind.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        harness.wait_until(lambda: not self.mine(sid), 30, 0.2, what="no container after stop")
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not env.containers(), 20, 0.2, what="no container left")

    def test_c_process_stays_the_default(self):
        other = api.Berthd(os.path.join(self.tmp, "process"), self.tmp, name="process",
                           extra=["--engine-socket", self.env.socket])
        try:
            other.start()
            c = other.client()
            booster = harness.train("binary:logistic", n_features=4, seed=3)
            src = os.path.join(self.tmp, "procm")
            harness.model_dir(src, booster, "ubj")
            mv = c.ok("CreateTrainingModel", {
                "ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": "procm",
                "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(src)})["TrainingModelVersionId"]
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                               ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
            t0 = time.monotonic()
            sid = c.ok("CreateModelService", {
                "ServiceGroupName": "procm", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ModelInfo": {"ModelVersionId": mv}})["Service"]["ServiceId"]
            harness.wait_until(lambda: c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["Status"]
                               == "Normal", 30, 0.1, what="the process service Normal")
            print("t2140: create -> Normal as a process: %.0f ms" % ((time.monotonic() - t0) * 1000))
            self.assertEqual(self.mine(sid), [])  # a berth-serve child, no container
            c.ok("DeleteModelService", {"ServiceId": sid})
        finally:
            other.stop()
            other.cleanup()

    def test_d_refused_without_engine_or_image(self):
        berthd = os.path.join(os.path.dirname(harness.bin_path()), "berthd")
        for extra, needle in (([], "needs --engine-socket"),
                              (["--engine-socket", self.env.socket, "--model-runtime-image",
                                "localhost/berth-serve:none-%d" % os.getpid()], "make runtime-image"),
                              (["--model-runtime", "vm"], "'vm' is not 'process', 'container' or 'kubernetes'")):
            if "--model-runtime" not in extra:
                extra = ["--model-runtime", "container"] + extra
            p = subprocess.run([berthd, "--data-dir", os.path.join(self.tmp, "refused"),
                                "--api-listen", "127.0.0.1:%d" % harness.free_port(),
                                "--gateway-listen", "127.0.0.1:%d" % harness.free_port()] + extra,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=20)
            self.assertNotEqual(p.returncode, 0, p.stdout)
            self.assertIn(needle, p.stdout.decode(errors="replace"))


if __name__ == "__main__":
    import unittest
    unittest.main()
