"""Imports under attack and accident: CUT never loses the user's files (failed validation, kill -9
midway, a delete while moving), sources are confined to the import roots (outside, the data
directory, links that escape, '..'), parallel imports get distinct labels, and CreateTrainingModel
refuses what Berth cannot honour, naming the field."""

import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import time
import unittest

import api
import harness


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def params(name, path, **kw):
    p = {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": name,
         "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(path)}
    p.update(kw)
    return p


def version_params(model_id, path, **kw):
    p = {"ImportMethod": "VERSION", "TrainingModelId": model_id, "ReasoningEnvironmentSource": "SYSTEM",
         "ModelFormat": "XGBOOST", "TrainingModelCosPath": cos(path)}
    p.update(kw)
    return p


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def snapshot(root):
    """Every entry under root: file -> sha256, link -> target, dir -> 'dir', fifo -> 'fifo'."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = "link:" + os.readlink(p)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif stat.S_ISFIFO(st.st_mode):
                out[rel] = "fifo"
            else:
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


class Base(unittest.TestCase):
    abstract = True  # shared set-up; the run skips this class itself
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir(cls.__name__.lower())
        cls.booster = harness.train("binary:logistic", n_features=4)
        cls.model_bytes = cls.make_model_bytes()
        api.start_berthd(cls, import_roots=cls.import_roots())

    @classmethod
    def import_roots(cls):
        return None

    @classmethod
    def make_model_bytes(cls):
        p = os.path.join(cls.tmp, "model-bytes.json")
        harness.save_model(cls.booster, p, "json")
        with open(p, "rb") as f:
            data = f.read()
        os.unlink(p)
        return data

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def src(self, name, files=None):
        d = os.path.join(self.tmp, name)
        for rel, data in (files if files is not None else {"model.json": self.model_bytes}).items():
            write(os.path.join(d, rel), data)
        os.makedirs(d, exist_ok=True)
        return d

    def wait(self, version_id, c=None, timeout=20):
        c = c or self.c
        got = {}

        def done():
            got.update(c.ok("DescribeTrainingModelVersion",
                            {"TrainingModelVersionId": version_id})["TrainingModelVersion"])
            return got["TrainingModelStatus"] != "STATUS_RUNNING"
        harness.wait_until(done, timeout, 0.05, what="import of %s" % version_id)
        return got

    def refused(self, p, code, *needles):
        err = self.c.error("CreateTrainingModel", p)
        self.assertEqual(err["Code"], code, err)
        for n in needles:
            self.assertIn(n, err["Message"], err)
        return err


class Cut(Base):
    def test_cut_that_fails_validation_leaves_the_source(self):
        # No model file, two model files, a link that escapes: each fails, and the folder stays
        # as it was, byte for byte.
        outside = self.src("cut-outside", {"secret.txt": b"not a model"})
        cases = [
            ("cut-empty", {"notes/readme.txt": b"hello"}, "no model file"),
            ("cut-two", {"model.json": self.model_bytes, "other.bin": b"x" * 1000, "sub/deep.txt": b"d"},
             "one model file"),
            ("cut-escape", {"model.json": self.model_bytes}, "outside the model directory"),
        ]
        for name, files, reason in cases:
            d = self.src(name, files)
            if name == "cut-escape":
                os.symlink(os.path.join(outside, "secret.txt"), os.path.join(d, "leak.txt"))
            before = snapshot(d)
            fmt = "ONNX" if name == "cut-escape" else "XGBOOST"  # ONNX: no file count, the link fails it
            r = self.c.ok("CreateTrainingModel", params(name, d, ModelMoveMode="CUT", ModelFormat=fmt))
            v = self.wait(r["TrainingModelVersionId"])
            self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED", v)
            self.assertIn(reason, v["TrainingModelErrorMsg"])
            self.assertEqual(snapshot(d), before, "a failed CUT import must leave %s as it was" % name)
            stored = v["ModelHotUpdatePath"]["Paths"][0]
            self.assertFalse(os.path.exists(stored))
            self.assertFalse(os.path.exists(stored + ".importing"))
        self.assertEqual(snapshot(outside), {"secret.txt": hashlib.sha256(b"not a model").hexdigest()})

    def test_cut_removes_only_what_it_imported(self):
        d = self.src("cut-partial", {"model.json": self.model_bytes, "berth.json": b'{"class_labels": ["n", "y"]}'})
        os.mkfifo(os.path.join(d, "pipe"))  # not a model file: not imported, so not removed
        r = self.c.ok("CreateTrainingModel", params("cut-partial", d, ModelMoveMode="CUT"))
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        stored = v["ModelHotUpdatePath"]["Paths"][0]
        with open(os.path.join(stored, "model.json"), "rb") as f:
            self.assertEqual(f.read(), self.model_bytes)
        self.assertTrue(os.path.exists(os.path.join(stored, "berth.json")))
        self.assertFalse(os.path.exists(os.path.join(stored, "pipe")))
        self.assertEqual(snapshot(d), {"pipe": "fifo"})
        # A file with another name elsewhere is copied, not linked: that name cannot change the version.
        d3 = self.src("cut-hardlink", {"model.json": self.model_bytes})
        other = os.path.join(self.tmp, "cut-hardlink-other.json")
        os.link(os.path.join(d3, "model.json"), other)
        r = self.c.ok("CreateTrainingModel", params("cut-hardlink", d3, ModelMoveMode="CUT"))
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        with open(other, "r+b") as f:
            f.write(b"XXXX")
        with open(os.path.join(v["ModelHotUpdatePath"]["Paths"][0], "model.json"), "rb") as f:
            self.assertEqual(f.read(), self.model_bytes)
        self.assertFalse(os.path.exists(d3))
        # A folder of model files only goes away entirely.
        d2 = self.src("cut-whole", {"model.json": self.model_bytes, "berth.json": b"{}"})
        r = self.c.ok("CreateTrainingModel", params("cut-whole", d2, ModelMoveMode="CUT"))
        self.assertEqual(self.wait(r["TrainingModelVersionId"])["TrainingModelStatus"], "STATUS_SUCCESS")
        self.assertFalse(os.path.exists(d2))

    def test_delete_is_refused_while_a_cut_moves_files(self):
        # A big COPY import keeps the import thread busy; the CUT import behind it is running.
        big = self.src("cut-busy-big", {"blob%02d.dat" % i: os.urandom(1 << 20) for i in range(30)})
        first = self.c.ok("CreateTrainingModel", params("cut-busy-big", big, ModelFormat="ONNX"))
        d = self.src("cut-busy", {"model.json": self.model_bytes})
        r = self.c.ok("CreateTrainingModel", params("cut-busy", d, ModelMoveMode="CUT"))
        err = self.c.error("DeleteTrainingModelVersion", {"TrainingModelVersionId": r["TrainingModelVersionId"]})
        self.assertEqual(err["Code"], "ResourceInUse", err)
        self.assertIn("CUT", err["Message"])
        self.assertEqual(self.c.error("DeleteTrainingModel", {"TrainingModelId": r["Id"]})["Code"], "ResourceInUse")
        self.wait(first["TrainingModelVersionId"])
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        self.c.ok("DeleteTrainingModel", {"TrainingModelId": r["Id"]})


class CutKill9(unittest.TestCase):
    """kill -9 of berthd at several points of a CUT import: every file is always in the source or in
    the stored version, byte for byte, and after a restart the import completes."""

    def run_kills(self, data_parent, tag):
        tmp = harness.tempdir("t1110k")
        data = tempfile.mkdtemp(prefix="berth-e2e-t1110-data-", dir=data_parent) if data_parent else \
            os.path.join(tmp, "data")
        d = api.Berthd(data, tmp, import_roots=[tmp])
        try:
            for delay in (0.0, 0.02, 0.08, 0.25):
                d.start()
                c = d.client()
                src = os.path.join(tmp, "src-%s-%d" % (tag, int(delay * 1000)))
                for i in range(24):
                    write(os.path.join(src, "part%d" % (i % 3), "blob%02d.dat" % i), os.urandom(1 << 20))
                write(os.path.join(src, "model.onnx"), os.urandom(4096))
                os.symlink("model.onnx", os.path.join(src, "alias.onnx"))
                before = snapshot(src)
                r = c.ok("CreateTrainingModel", params("k-%s-%d" % (tag, int(delay * 1000)), src,
                                                       ModelFormat="ONNX", ModelMoveMode="CUT"))
                time.sleep(delay)
                d.kill9()
                stored = os.path.join(os.path.realpath(data), "models", r["Id"], r["TrainingModelVersionId"])
                # Each file is in the source or complete in the store.
                have_src = snapshot(src) if os.path.isdir(src) else {}
                have_dst = snapshot(stored) if os.path.isdir(stored) else {}
                for rel, want in before.items():
                    self.assertIn(want, (have_src.get(rel), have_dst.get(rel)),
                                  "after kill -9 at %.2fs, %s is lost" % (delay, rel))
                d.start()
                c = d.client()
                harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {
                    "TrainingModelVersionId": r["TrainingModelVersionId"]})["TrainingModelVersion"][
                    "TrainingModelStatus"] != "STATUS_RUNNING", 30, what="the resumed CUT import")
                v = c.ok("DescribeTrainingModelVersion",
                         {"TrainingModelVersionId": r["TrainingModelVersionId"]})["TrainingModelVersion"]
                self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
                self.assertEqual(snapshot(v["ModelHotUpdatePath"]["Paths"][0]), before)
                self.assertFalse(os.path.exists(src), "a completed CUT removes the source")
                d.stop()
        finally:
            d.cleanup()
            harness.rmtree(tmp)
            if data_parent:
                harness.rmtree(data)

    def test_kill9_while_a_cut_is_validated(self):
        # Many entries that are not model files make the check of an XGBOOST folder take a while;
        # berthd dies during it, right after accepting the import.
        tmp = harness.tempdir("t1110v")
        d = api.Berthd(os.path.join(tmp, "data"), tmp, import_roots=[tmp])
        try:
            d.start()
            booster = harness.train("binary:logistic", n_features=3)
            src = os.path.join(tmp, "src")
            os.makedirs(src)
            harness.save_model(booster, os.path.join(src, "model.json"), "json")
            for i in range(30000):
                os.mkfifo(os.path.join(src, "p%05d" % i))
            before = snapshot(src)
            r = d.client().ok("CreateTrainingModel", params("validated", src, ModelMoveMode="CUT"))
            d.kill9()
            stored = os.path.join(os.path.realpath(d.data_dir), "models", r["Id"], r["TrainingModelVersionId"])
            have = dict(snapshot(stored) if os.path.isdir(stored) else {})
            have.update(snapshot(src) if os.path.isdir(src) else {})
            lost = sorted(k for k in before if have.get(k) != before[k])
            self.assertEqual(lost[:3], [], "kill -9 during a CUT import lost %d of %d files" % (len(lost), len(before)))
            d.start()
            c = d.client()
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {
                "TrainingModelVersionId": r["TrainingModelVersionId"]})["TrainingModelVersion"][
                "TrainingModelStatus"] != "STATUS_RUNNING", 30, what="the resumed CUT import")
            self.assertEqual(snapshot(stored), {"model.json": before["model.json"]})
            self.assertEqual(len(os.listdir(src)), 30000, "the fifos were not imported, so they stay")
            d.stop()
        finally:
            d.cleanup()
            harness.rmtree(tmp)

    def test_kill9_same_file_system(self):
        self.run_kills(None, "same")

    def test_kill9_across_file_systems(self):
        shm = "/dev/shm"
        if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tempfile.gettempdir()).st_dev:
            self.skipTest("no second file system for the data directory")
        self.run_kills(shm, "cross")


class Confinement(Base):
    """Sources must resolve inside the import roots and stay clear of the data directory."""

    @classmethod
    def import_roots(cls):
        cls.root = os.path.join(cls.tmp, "root")
        os.makedirs(cls.root)
        return [cls.root]

    def test_paths_are_confined(self):
        good = os.path.join(self.root, "good")
        write(os.path.join(good, "model.json"), self.model_bytes)
        outside = self.src("outside")
        secret_dir = self.src("secret-dir", {"model.json": b"secret"})
        os.symlink(secret_dir, os.path.join(self.root, "escape"))
        os.symlink(self.d.data_dir, os.path.join(self.root, "into-data"))
        os.symlink(good, os.path.join(self.root, "inner-alias"))
        f = os.path.join(self.root, "a-file")
        write(f, b"x")
        field = "TrainingModelCosPath.Paths"
        self.refused(params("c1", outside), "InvalidParameterValue", field, "outside the import roots", self.root)
        self.refused(params("c2", os.path.join(self.root, "escape")), "InvalidParameterValue", field,
                     "resolves to", "outside the import roots")
        self.refused(params("c3", os.path.join(self.root, "into-data")), "InvalidParameterValue", field,
                     "data directory")
        self.refused(params("c4", os.path.join(self.root, "good", "..", "good")), "InvalidParameterValue", field,
                     "'..'")
        self.refused(params("c5", "root/good"), "InvalidParameterValue", field, "absolute")
        self.refused(params("c6", os.path.join(self.root, "missing")), "InvalidParameterValue", field,
                     "does not exist")
        self.refused(params("c7", f), "InvalidParameterValue", field, "not a directory")
        self.refused(params("c8", "/"), "InvalidParameterValue", field)
        # A sibling whose name starts like the root is not inside it.
        sibling = self.root + "-sibling"
        write(os.path.join(sibling, "model.json"), self.model_bytes)
        self.refused(params("c9", sibling), "InvalidParameterValue", field, "outside the import roots")
        # Names that merely contain dots are fine.
        dotted = os.path.join(self.root, "..v1..")
        write(os.path.join(dotted, "model.json"), self.model_bytes)
        r = self.c.ok("CreateTrainingModel", params("c-dotted", dotted))
        self.assertEqual(self.wait(r["TrainingModelVersionId"])["TrainingModelStatus"], "STATUS_SUCCESS")
        # A link inside the roots to a directory inside them is fine.
        r = self.c.ok("CreateTrainingModel", params("c-alias", os.path.join(self.root, "inner-alias")))
        self.assertEqual(self.wait(r["TrainingModelVersionId"])["TrainingModelStatus"], "STATUS_SUCCESS")
        self.assertEqual(snapshot(secret_dir), {"model.json": hashlib.sha256(b"secret").hexdigest()})

    def test_data_directory_is_off_limits_even_inside_a_root(self):
        # berthd whose root contains its data directory (as the tests' and `make run`'s do).
        tmp = harness.tempdir("t1110d")
        d = api.Berthd(os.path.join(tmp, "data"), tmp, import_roots=[tmp]).start()
        try:
            c = d.client()
            src = os.path.join(tmp, "src")
            write(os.path.join(src, "model.json"), self.model_bytes)
            r = c.ok("CreateTrainingModel", params("kept", src))
            harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {
                "TrainingModelVersionId": r["TrainingModelVersionId"]})["TrainingModelVersion"][
                "TrainingModelStatus"] == "STATUS_SUCCESS", 10)
            stored = os.path.join(os.path.realpath(d.data_dir), "models", r["Id"], r["TrainingModelVersionId"])
            before = snapshot(d.data_dir)
            for i, (path, needle) in enumerate([
                    (d.data_dir, "inside berthd's data directory"),
                    (os.path.join(d.data_dir, "models"), "inside berthd's data directory"),
                    (stored, "inside berthd's data directory"),
                    (tmp, "contains berthd's data directory")]):
                err = c.error("CreateTrainingModel", params("steal%d" % i, path, ModelMoveMode="CUT",
                                                            ModelFormat="ONNX"))
                self.assertEqual(err["Code"], "InvalidParameterValue", err)
                self.assertIn("TrainingModelCosPath.Paths", err["Message"])
                self.assertIn(needle, err["Message"])
            self.assertEqual(snapshot(d.data_dir).keys() - {"berth.db-wal", "berth.db-shm"},
                             before.keys() - {"berth.db-wal", "berth.db-shm"})
            self.assertTrue(os.path.exists(os.path.join(stored, "model.json")))
            d.stop()
        finally:
            d.cleanup()
            harness.rmtree(tmp)

    def test_instance_directories_are_off_limits_even_inside_a_root(self):
        # Instances write in their work directories: a CUT from there would take an instance's
        # files, a COPY another instance's home. The root holds the instance directory.
        tmp = harness.tempdir("t1110i")
        os.makedirs(os.path.join(tmp, "inst"))
        os.chmod(os.path.join(tmp, "inst"), 0o755)
        inst = os.path.join(tmp, "inst", "all")
        d = api.Berthd(os.path.join(tmp, "data"), tmp, import_roots=[tmp], extra=["--instance-dir", inst]).start()
        try:
            c = d.client()
            sid = c.ok("CreateModelService", {
                "ServiceGroupName": "writer", "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 1,
                "Command": "echo '{}' > model.json && exec sleep 60"})["Service"]["ServiceId"]
            home = os.path.join(inst, sid, "0", "home")
            harness.wait_until(lambda: os.path.exists(os.path.join(home, "model.json")), 15,
                               what="the instance's file")
            for i, (path, mode, needle) in enumerate([
                    (home, "CUT", "inside the instances' work directories"),
                    (home, "COPY", "inside the instances' work directories"),
                    (os.path.join(inst, sid), "CUT", "inside the instances' work directories"),
                    (inst, "COPY", "inside the instances' work directories"),
                    (os.path.join(tmp, "inst"), "CUT", "contains the instances' work directories")]):
                err = c.error("CreateTrainingModel", params("steal%d" % i, path, ModelMoveMode=mode))
                self.assertEqual(err["Code"], "InvalidParameterValue", err)
                self.assertIn("TrainingModelCosPath.Paths[0]", err["Message"])
                self.assertIn(needle, err["Message"])
            self.assertTrue(os.path.exists(os.path.join(home, "model.json")))
            # A source beside them is still fine.
            src = os.path.join(tmp, "src")
            write(os.path.join(src, "model.json"), self.model_bytes)
            r = c.ok("CreateTrainingModel", params("kept", src))
            self.assertEqual(self.wait(r["TrainingModelVersionId"], c)["TrainingModelStatus"], "STATUS_SUCCESS")
            d.stop()
        finally:
            d.cleanup()
            harness.rmtree(tmp)

    def test_links_inside_the_folder(self):
        secret = self.src("link-secret", {"key": b"secret"})
        cases = [
            ("abs", lambda d: os.symlink(os.path.join(secret, "key"), os.path.join(d, "key"))),
            ("dotdot", lambda d: os.symlink("../../link-secret/key", os.path.join(d, "key"))),
            ("dir", lambda d: os.symlink(secret, os.path.join(d, "sub"))),
            ("data", lambda d: os.symlink(os.path.join(self.d.data_dir, "credentials"), os.path.join(d, "c"))),
        ]
        for name, make in cases:
            d = os.path.join(self.root, "links-" + name)
            write(os.path.join(d, "model.onnx"), b"onnx")
            make(d)
            before = snapshot(d)
            r = self.c.ok("CreateTrainingModel", params("links-" + name, d, ModelFormat="ONNX", ModelMoveMode="CUT"))
            v = self.wait(r["TrainingModelVersionId"])
            self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED", (name, v))
            self.assertIn("symbolic link", v["TrainingModelErrorMsg"])
            self.assertEqual(snapshot(d), before)
        # A relative link that stays inside is kept as a link.
        d = os.path.join(self.root, "links-ok")
        write(os.path.join(d, "sub", "model.onnx"), b"onnx")
        os.symlink("sub/model.onnx", os.path.join(d, "model.onnx"))
        r = self.c.ok("CreateTrainingModel", params("links-ok", d, ModelFormat="ONNX"))
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        stored = v["ModelHotUpdatePath"]["Paths"][0]
        self.assertEqual(os.readlink(os.path.join(stored, "model.onnx")), "sub/model.onnx")
        self.assertEqual(snapshot(secret), {"key": hashlib.sha256(b"secret").hexdigest()})

    def test_a_source_swapped_for_a_link_before_its_import_is_refused(self):
        big = os.path.join(self.root, "swap-big")
        for i in range(30):
            write(os.path.join(big, "blob%02d.dat" % i), os.urandom(1 << 20))
        secret = self.src("swap-secret", {"model.json": self.model_bytes})
        d = os.path.join(self.root, "swap")
        write(os.path.join(d, "model.json"), self.model_bytes)
        first = self.c.ok("CreateTrainingModel", params("swap-big", big, ModelFormat="ONNX"))
        r = self.c.ok("CreateTrainingModel", params("swap", d, ModelMoveMode="CUT"))
        shutil.rmtree(d)
        os.symlink(secret, d)
        self.wait(first["TrainingModelVersionId"])
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_FAILED", v)
        self.assertIn("outside the import roots", v["TrainingModelErrorMsg"])
        self.assertTrue(os.path.exists(os.path.join(secret, "model.json")))


class Roots(unittest.TestCase):
    def test_bad_roots_stop_berthd_at_start(self):
        tmp = harness.tempdir("t1110r")
        try:
            data = os.path.join(tmp, "data")
            os.makedirs(os.path.join(data, "inside"))
            base = [api.berthd_path(), "--data-dir", data, "--api-listen", "127.0.0.1:0",
                    "--gateway-listen", "127.0.0.1:0"]
            rc, out = api.run_exit(base + ["--import-root", os.path.join(data, "inside")])
            self.assertNotEqual(rc, 0)
            self.assertIn("inside the data directory", out)
            rc, out = api.run_exit(base + ["--import-root", data])
            self.assertNotEqual(rc, 0)
            self.assertIn("inside the data directory", out)
            rc, out = api.run_exit(base + ["--import-root", os.path.join(tmp, "nowhere")])
            self.assertNotEqual(rc, 0)
            self.assertIn("nowhere", out)
            rc, out = api.run_exit([api.berthd_path(), "--help"])
            self.assertIn("--import-root", out)
        finally:
            harness.rmtree(tmp)

    def test_without_roots_imports_are_refused(self):
        if os.path.isdir("/srv/berth/import"):
            self.skipTest("the default import root exists here")
        tmp = harness.tempdir("t1110n")
        d = api.Berthd(os.path.join(tmp, "data"), tmp, import_roots=[]).start()
        try:
            src = os.path.join(tmp, "src")
            write(os.path.join(src, "model.json"), b"{}")
            err = d.client().error("CreateTrainingModel", params("none", src))
            self.assertEqual(err["Code"], "UnsupportedOperation", err)
            self.assertIn("TrainingModelCosPath.Paths", err["Message"])
            self.assertIn("--import-root", err["Message"])
            d.stop()
        finally:
            d.cleanup()
            harness.rmtree(tmp)


class Labels(Base):
    def test_parallel_imports_get_distinct_labels(self):
        src = self.src("labels-src")
        m = self.c.ok("CreateTrainingModel", params("labels", src))["Id"]
        n, rounds = 12, 3
        bodies = [json.dumps(version_params(m, src)) for _ in range(n)]
        errors = []
        lock = threading.Lock()

        def one(body, start):
            start.wait()
            try:
                r = self.c.call("CreateTrainingModel", body)
            except Exception as e:  # noqa: BLE001 - reported below
                r = {"Error": {"Code": "client", "Message": repr(e)}}
            if "Error" in r:
                with lock:
                    errors.append(r["Error"])
        for _ in range(rounds):
            start = threading.Barrier(n)
            threads = [threading.Thread(target=one, args=(b, start)) for b in bodies]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        vs = self.c.ok("DescribeTrainingModelVersions", {"TrainingModelId": m})["TrainingModelVersions"]
        labels = sorted((v["TrainingModelVersion"] for v in vs), key=lambda x: int(x[1:]))
        self.assertEqual(labels, ["v%d" % i for i in range(1, n * rounds + 2)])

    def test_a_freed_label_is_skipped_not_repeated(self):
        src = self.src("gap-src")
        r = self.c.ok("CreateTrainingModel", params("gap", src))
        v2 = self.c.ok("CreateTrainingModel", version_params(r["Id"], src))["TrainingModelVersionId"]
        self.c.ok("CreateTrainingModel", version_params(r["Id"], src))
        for v in (r["TrainingModelVersionId"], v2):
            self.wait(v)
        self.c.ok("DeleteTrainingModelVersion", {"TrainingModelVersionId": v2})
        v4 = self.c.ok("CreateTrainingModel", version_params(r["Id"], src))["TrainingModelVersionId"]
        self.assertRegex(v4, r"^mv-v4-")


class Fields(Base):
    def test_runtime_and_nested_fields(self):
        src = self.src("fields-src")
        preset = {"ImageType": "PRE_SET", "ImageUrl": "tione.tencentcloudcr.com/qcloud-ti-platform/x:1",
                  "RegistryRegion": "", "RegistryId": ""}
        cases = [
            (params("f1", src, ReasoningImageInfo="image:1"), "InvalidParameter", "ReasoningImageInfo"),
            (params("f2", src, ReasoningImageInfo=dict(preset, Colour="red")), "UnknownParameter",
             "ReasoningImageInfo.Colour"),
            (params("f3", src, ReasoningImageInfo={"ImageUrl": "x:1"}), "MissingParameter",
             "ReasoningImageInfo.ImageType"),
            (params("f4", src, ReasoningImageInfo={"ImageType": "PRE_SET", "ImageUrl": 5}), "InvalidParameter",
             "ReasoningImageInfo.ImageUrl"),
            (params("f5", src, ReasoningImageInfo=dict(preset, ImageType="DOCKERHUB")), "InvalidParameterValue",
             "ReasoningImageInfo.ImageType"),
            (params("f6", src, ReasoningImageInfo=dict(preset, ImageType="CCR")), "InvalidParameterValue",
             "ReasoningImageInfo.ImageType"),
            (params("f7", src, ReasoningImageInfo=dict(preset, AllowSaveAllContent="yes")), "InvalidParameter",
             "ReasoningImageInfo.AllowSaveAllContent"),
            (params("f8", src, ReasoningEnvironmentSource="CUSTOM",
                    ReasoningImageInfo={"ImageType": "CCR", "ImageUrl": "ccr.example/me/serve:1"}),
             "UnsupportedOperation", "ReasoningEnvironmentSource CUSTOM"),
            (params("f9", src, AlgorithmFramework="TENSORFLOW"), "InvalidParameterValue", "AlgorithmFramework"),
            (params("f10", src, ModelFormat="SAVED_MODEL", AlgorithmFramework="PYTORCH"), "InvalidParameterValue",
             "ModelFormat 'SAVED_MODEL'"),
            (params("f11", src, TrainingModelCosPath={"Bucket": "", "Region": "", "Paths": [src], "Prefix": "a"}),
             "UnknownParameter", "TrainingModelCosPath.Prefix"),
            (params("f12", src, TrainingModelCosPath={"Bucket": "", "Region": "", "Paths": [src, src]}),
             "InvalidParameterValue", "TrainingModelCosPath.Paths"),
            (params("f13", src, ModelOutputPath="/elsewhere"), "InvalidParameter", "ModelOutputPath"),
            (params("f14", src, ModelOutputPath={"Bucket": "", "Path": "/x"}), "UnknownParameter",
             "ModelOutputPath.Path"),
        ]
        for p, code, needle in cases:
            err = self.c.error("CreateTrainingModel", p)
            self.assertEqual(err["Code"], code, (p, err))
            self.assertIn(needle, err["Message"], (p, err))
        err = self.c.error("CreateTrainingModel", cases[10][0])
        self.assertNotIn("COS buckets", err["Message"])
        names = {m["TrainingModelName"] for m in self.c.ok("DescribeTrainingModels", {"Limit": 1000})["TrainingModels"]}
        self.assertFalse(names & {"f%d" % i for i in range(1, 15)})
        # What the console sends: SYSTEM with the preset image it chose, kept as given; and
        # frameworks with the formats they produce.
        r = self.c.ok("CreateTrainingModel", params("console", src, ReasoningImageInfo=preset,
                                                    AlgorithmFramework="XGBOOST"))
        v = self.wait(r["TrainingModelVersionId"])
        self.assertEqual(v["TrainingModelStatus"], "STATUS_SUCCESS", v)
        self.assertEqual(v["ReasoningImageInfo"], preset)
        self.c.ok("CreateTrainingModel", params("onnx-torch", src, ModelFormat="ONNX", AlgorithmFramework="PYTORCH"))
        self.c.ok("CreateTrainingModel", params("tf", src, ModelFormat="SAVED_MODEL",
                                                AlgorithmFramework="TENSORFLOW",
                                                ModelOutputPath={"Bucket": "", "Region": "", "Paths": []}))


if __name__ == "__main__":
    unittest.main()
