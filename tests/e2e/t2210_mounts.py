"""Storage mounts: VolumeMount / VolumeMounts with VolumeSourceType CFS naming file systems given
to berthd with --file-system. The source path is visible inside the instance at MountPath (a
mount namespace of its own: the host does not see it there), read-only for MountType SOURCE and
read-only file systems; the platform cleans a source path it created on stop and on update, and
leaves one that holds files it did not write. A model service on a mount keeps its versions there,
and may hot-update without auto-clean."""

import os
import threading
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def cfs(fs, path, mount, mount_type=None):
    c = {"Id": fs, "Path": path}
    if mount_type:
        c["MountType"] = mount_type
    return {"VolumeSourceType": "CFS", "CFSConfig": c, "MountPath": mount}


# Writes what the instance sees into the mount, then serves the mount over HTTP.
SERVE = ('cd "$MNT" && echo "$GREETING" > out.txt && '
         'if [ -n "$RO" ]; then if touch "$RO/probe" 2>/dev/null; then echo rw; else echo ro; fi > ro-check; '
         'cp "$RO/hello.txt" hello-copy.txt; fi; '
         'exec /usr/bin/python3 -m http.server "$PORT" --bind 127.0.0.1')


@unittest.skipUnless(os.geteuid() == 0, "mounting needs berthd to run as root")
class Mounts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2210")
        cls.fs = os.path.join(cls.tmp, "cfs1")
        cls.fs_ro = os.path.join(cls.tmp, "cfs-ro")
        for d in (cls.fs, cls.fs_ro, os.path.join(cls.fs, "shared")):
            os.makedirs(d)
            os.chmod(d, 0o755)
        # The operator's directory is anyone's to write: only the mount keeps SOURCE read-only.
        os.chmod(os.path.join(cls.fs, "shared"), 0o777)
        for d in (cls.fs, cls.fs_ro):
            with open(os.path.join(d, "shared", "hello.txt") if d == cls.fs else os.path.join(d, "hello.txt"),
                      "w") as f:
                f.write("hello from the file system\n")
        cls.mnt = {}
        for name in ("a", "b"):
            cls.mnt[name] = os.path.join(cls.tmp, "mnt", name)
            os.makedirs(cls.mnt[name])
            os.chmod(os.path.dirname(cls.mnt[name]), 0o755)
            os.chmod(cls.mnt[name], 0o755)
        api.start_berthd(cls, extra=["--file-system", "cfs-test1 " + cls.fs,
                                     "--file-system", "cfs-ro " + cls.fs_ro + " read-only"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def wait_status(self, sid, want, timeout=20):
        harness.wait_until(lambda: self.describe(sid)["Status"] == want, timeout, 0.1,
                           what="%s to be %s" % (sid, want))

    def create(self, name, **kw):
        p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def get(self, gid, path):
        gw = harness.Client(self.d.gateway_port)
        try:
            return gw.get("/%s/%s" % (gid, path))
        finally:
            gw.close()

    def events(self, sid):
        return " | ".join(e["Message"] for e in self.c.ok("DescribeEvents", {
            "Service": "INFER", "ServiceId": sid, "Limit": 100})["Events"])

    def test_refusals(self):
        a = self.mnt["a"]
        for vm, code, needle in [
            (cfs("cfs-nope", "/x", a), "InvalidParameterValue", "cfs-nope"),
            (dict(cfs("cfs-test1", "/x", a), VolumeSourceType="COS"), "UnsupportedOperation", "COS"),
            (dict(cfs("cfs-test1", "/x", a), VolumeSourceType="NAS"), "InvalidParameterValue", "VolumeSourceType"),
            (cfs("cfs-test1", "/x/../y", a), "InvalidParameterValue", "CFSConfig.Path"),
            (cfs("cfs-test1", "/x", "relative"), "InvalidParameterValue", "MountPath"),
            (cfs("cfs-test1", "/x", "/etc/berth"), "InvalidParameterValue", "/etc"),
            (cfs("cfs-test1", "/x", os.path.join(self.tmp, "missing")), "InvalidParameterValue", "existing directory"),
            (cfs("cfs-test1", "/x", a, "BLOCK"), "InvalidParameterValue", "MountType"),
            ({"VolumeSourceType": "CFS", "MountPath": a}, "MissingParameter", "CFSConfig"),
            (dict(cfs("cfs-test1", "/x", a), Extra=1), "UnknownParameter", "Extra"),
        ]:
            err = self.c.error("CreateModelService", {
                "ServiceGroupName": "refused", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "Command": "sleep 60", "VolumeMount": vm})
            self.assertEqual(err["Code"], code, (vm, err))
            self.assertIn(needle, err["Message"], (vm, err))
            self.assertIn("VolumeMount", err["Message"], (vm, err))
        err = self.c.error("CreateModelService", {
            "ServiceGroupName": "refused", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "Command": "sleep 60", "VolumeMounts": [cfs("cfs-test1", "/x", a), cfs("cfs-test1", "/y", a)]})
        self.assertEqual(err["Code"], "InvalidParameterValue")
        self.assertIn("overlaps", err["Message"])
        groups = self.c.ok("DescribeModelServiceGroups", {})["ServiceGroups"]
        self.assertFalse([g for g in groups if g["ServiceGroupName"] == "refused"])
        self.assertFalse(os.path.exists(os.path.join(self.fs, "x")))

    def test_visible_read_only_and_cleaned_on_stop_and_update(self):
        a, b = self.mnt["a"], self.mnt["b"]
        s = self.create("mounted", Command=SERVE, Env=[
            {"Name": "MNT", "Value": a}, {"Name": "RO", "Value": b}, {"Name": "GREETING", "Value": "one"}],
            VolumeMounts=[cfs("cfs-test1", "/scratch", a), cfs("cfs-test1", "/shared", b, "SOURCE")])
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertEqual(s["ServiceInfo"]["VolumeMounts"][0]["CFSConfig"]["Path"], "/scratch")
        self.wait_status(sid, "Normal")
        scratch = os.path.join(self.fs, "scratch")
        # The instance wrote through its mount into the file system's directory ...
        harness.wait_until(lambda: os.path.exists(os.path.join(scratch, "out.txt")), 10)
        self.assertEqual(self.get(gid, "out.txt").text().strip(), "one")
        # ... read the SOURCE mount, and could not write it.
        self.assertEqual(self.get(gid, "ro-check").text().strip(), "ro")
        self.assertEqual(self.get(gid, "hello-copy.txt").text(), "hello from the file system\n")
        self.assertFalse(os.path.exists(os.path.join(self.fs, "shared", "probe")))
        # What the host writes into the source path, the instance sees.
        with open(os.path.join(scratch, "seed.txt"), "w") as f:
            f.write("from the host\n")
        self.assertEqual(self.get(gid, "seed.txt").text(), "from the host\n")
        # The mount is the instance's alone: the host's directory stays empty.
        self.assertEqual(os.listdir(a), [])
        self.assertTrue(os.path.exists(os.path.join(scratch, ".berth-source")))

        # Update: the source path is cleaned before the new instance starts.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "Env": [
            {"Name": "MNT", "Value": a}, {"Name": "RO", "Value": b}, {"Name": "GREETING", "Value": "two"}]})
        harness.wait_until(lambda: self.get(gid, "out.txt").text().strip() == "two", 20, 0.1,
                           what="the updated instance")
        self.assertFalse(os.path.exists(os.path.join(scratch, "seed.txt")))
        self.assertEqual(self.get(gid, "seed.txt").status, 404)

        # Stop: cleaned, the marker kept; the SOURCE path, not the platform's, untouched.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_status(sid, "Stopped")
        harness.wait_until(lambda: sorted(os.listdir(scratch)) == [".berth-source"], 10,
                           what="the source path cleaned (saw %s)" % os.listdir(scratch))
        self.assertEqual(sorted(os.listdir(os.path.join(self.fs, "shared"))), ["hello.txt"])
        msgs = self.events(sid)
        self.assertIn("On update: cleaned " + scratch, msgs)
        self.assertIn("On stop: cleaned " + scratch, msgs)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

    def test_foreign_path_is_not_cleaned(self):
        a = self.mnt["a"]
        s = self.create("foreign", Command=SERVE, Env=[{"Name": "MNT", "Value": a}, {"Name": "GREETING", "Value": "hi"}],
                        VolumeMount=cfs("cfs-test1", "/shared", a))
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_status(sid, "Normal")
        self.assertEqual(self.get(gid, "hello.txt").text(), "hello from the file system\n")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_status(sid, "Stopped")
        harness.wait_until(lambda: "did not create it" in self.events(sid), 10, what="the refusal event")
        self.assertEqual(sorted(os.listdir(os.path.join(self.fs, "shared"))), ["hello.txt", "out.txt"])
        os.unlink(os.path.join(self.fs, "shared", "out.txt"))
        # A read-only file system: mounted read-only whatever MountType says.
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        s = self.create("ro-fs", Command='touch "$MNT/x" 2>/dev/null && echo rw > /dev/null; '
                        'cd "$MNT" && exec /usr/bin/python3 -m http.server "$PORT" --bind 127.0.0.1',
                        Env=[{"Name": "MNT", "Value": a}], VolumeMount=cfs("cfs-ro", "/", a))
        self.wait_status(s["ServiceId"], "Normal")
        self.assertEqual(self.get(s["ServiceGroupId"], "hello.txt").text(), "hello from the file system\n")
        self.assertEqual(sorted(os.listdir(self.fs_ro)), ["hello.txt"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_model_on_a_mount_hot_updates_without_auto_clean(self):
        boosters = [harness.train("binary:logistic", n_features=4, seed=s) for s in (3, 9)]
        srcs = []
        for i, b in enumerate(boosters):
            src = os.path.join(self.tmp, "model-%d" % i)
            os.makedirs(src)
            harness.save_model(b, os.path.join(src, "model.json"), "json")
            srcs.append(src)
        r = self.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                              "TrainingModelName": "mounted", "ModelFormat": "XGBOOST",
                                              "TrainingModelCosPath": cos(srcs[0])})
        model_id, mv = r["Id"], r["TrainingModelVersionId"]
        harness.wait_until(lambda: self.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        vm = cfs("cfs-test1", "/models/svc", self.mnt["b"])
        flag = self.c.ok("DescribeModelServiceHotUpdated", {"ImageInfo": {"ImageType": "PRE_SET"},
                                                             "ModelInfo": {"ModelVersionId": mv}, "VolumeMount": vm})
        self.assertEqual(flag["ModelTurboFlag"], "Allowed")
        s = self.create("mounted-model", ModelInfo={"ModelVersionId": mv}, VolumeMount=vm, ModelHotUpdateEnable=True)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_status(sid, "Normal")
        base = os.path.join(self.fs, "models", "svc")
        self.assertTrue(os.path.isdir(os.path.join(base, "1")))
        X = harness.rows(1, 4, seed=4)
        want = [harness.predict(b, X)[0] for b in boosters]

        def answer():
            gw = harness.Client(self.d.gateway_port)
            try:
                return gw.post_json("/%s/v1/models/m:predict" % gid, {"instances": X.tolist()})["predictions"][0]
            finally:
                gw.close()
        self.assertAlmostEqual(answer(), want[0], places=5)
        self.c.ok("CreateTrainingModel", {"ImportMethod": "VERSION", "TrainingModelId": model_id,
                                          "ReasoningEnvironmentSource": "SYSTEM", "ModelFormat": "XGBOOST",
                                          "TrainingModelCosPath": cos(srcs[1])})
        harness.wait_until(lambda: abs(answer() - want[1]) < 1e-5, 15, 0.1, what="version 2 on the mount")
        self.assertEqual(sorted(n for n in os.listdir(base) if n.isdigit()), ["1", "2"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: sorted(os.listdir(base)) == [".berth-source"], 15,
                           what="the versions cleaned on delete (saw %s)" % os.listdir(base))


if __name__ == "__main__":
    unittest.main()
