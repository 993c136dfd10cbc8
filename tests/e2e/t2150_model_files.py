"""A version's model files over berthd's API listener (issue 15, docs/model-files.md): the
manifest at GET /model-files/v1/{ServiceId}/ lists every file of the version's ModelPath with
its size and SHA-256 (a link inside the directory as the file it leads to), GET of one file
gives its bytes (streamed, with Content-Length), all behind the version's own token
(hex HMAC-SHA256 of the seal key, secret.key, over "berth-model-files:" + id): a missing or
wrong token, or another version's, is 401; '..', an escaping link or a bad escape is refused;
an unknown service is 404. `berth-serve fetch` copies the files into a directory, verified,
and berth-serve serves that copy with the original's predictions; a wrong token makes it
fail naming the manifest."""

import glob
import hashlib
import hmac
import json
import os
import subprocess
import unittest
import urllib.parse

import api
import harness

BIG_BYTES = 24 * 1024 * 1024 + 12345  # more than one turn of the sender, not a multiple of a piece


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


class ModelFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2150")
        api.start_berthd(cls)
        try:
            cls.booster = harness.train("binary:logistic", n_features=4)
            src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster, "json")
            os.makedirs(os.path.join(src, "assets", "deep"))
            with open(os.path.join(src, "assets", "vocab file%.txt"), "w") as f:
                f.write("a b c\n")
            with open(os.path.join(src, "assets", "deep", "big.bin"), "wb") as f:
                f.write(os.urandom(BIG_BYTES))
            open(os.path.join(src, "assets", "empty"), "wb").close()
            os.symlink("vocab file%.txt", os.path.join(src, "assets", "alias.txt"))
            r = cls.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                                 "TrainingModelName": "mf", "ModelFormat": "XGBOOST",
                                                 "TrainingModelCosPath": cos(src)})
            cls.mv = r["TrainingModelVersionId"]
            harness.wait_until(lambda: cls.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": cls.mv})
                               ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 20)
            s = cls.c.ok("CreateModelService", {
                "ServiceGroupName": "mf", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ModelInfo": {"ModelVersionId": cls.mv}, "Replicas": 1})["Service"]
            cls.sid = s["ServiceId"]
            dirs = glob.glob(os.path.join(cls.d.data_dir, "models", "*", cls.mv))
            assert len(dirs) == 1, dirs
            cls.model_path = dirs[0]
            with open(os.path.join(cls.d.data_dir, "secret.key")) as f:
                cls.key = bytes.fromhex(f.read().strip())
        except BaseException:
            api.stop_berthd(cls)
            raise
        cls.http = harness.Client(cls.d.port, timeout=30)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "http", None):
            cls.http.close()
        api.stop_berthd(cls)

    def token(self, sid=None):
        return hmac.new(self.key, ("berth-model-files:" + (sid or self.sid)).encode(), hashlib.sha256).hexdigest()

    def get(self, path, token=None, sid=None, method="GET"):
        sid = sid or self.sid
        h = {} if token == "" else {"Authorization": "Bearer " + (token or self.token(sid))}
        return self.http.request(method, "/model-files/v1/%s/%s" % (sid, path), headers=h)

    def expected(self):
        """What the manifest should say: every regular file (links inside as their target)."""
        out = []
        for dp, dns, fns in os.walk(self.model_path):
            for fn in fns:
                full = os.path.join(dp, fn)
                real = os.path.realpath(full)
                if not real.startswith(self.model_path + "/") or not os.path.isfile(real):
                    continue
                with open(real, "rb") as f:
                    data = f.read()
                out.append({"Path": os.path.relpath(full, self.model_path), "Size": len(data),
                            "Sha256": hashlib.sha256(data).hexdigest()})
        return sorted(out, key=lambda e: e["Path"].encode())

    def test_01_manifest(self):
        r = self.get("")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        m = r.json()
        self.assertEqual(m["ServiceId"], self.sid)
        want = self.expected()
        self.assertEqual(m["Files"], want)
        paths = [f["Path"] for f in m["Files"]]
        for p in ("model.json", "assets/vocab file%.txt", "assets/alias.txt", "assets/empty",
                  "assets/deep/big.bin"):
            self.assertIn(p, paths)
        self.assertEqual([f["Size"] for f in m["Files"] if f["Path"] == "assets/deep/big.bin"], [BIG_BYTES])
        # A second listing (from the hash cache) says the same.
        self.assertEqual(self.get("").json(), m)

    def test_02_files(self):
        for e in self.expected():
            r = self.get(urllib.parse.quote(e["Path"]))
            self.assertEqual(r.status, 200, (e["Path"], r))
            self.assertEqual(r.headers.get("content-type"), "application/octet-stream")
            self.assertEqual(int(r.headers.get("content-length")), e["Size"])
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), e["Sha256"], e["Path"])
        # The connection was kept alive through the streamed answers, and HEAD has the length alone.
        self.assertEqual(self.http.connections_opened, 1)
        r = self.get("model.json", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(int(r.headers["content-length"]), os.path.getsize(os.path.join(self.model_path, "model.json")))

    def test_03_tokens(self):
        for tok in ("", "0" * 64, self.token()[:-1], self.token().upper(), self.token("ms-other-1")):
            r = self.get("", token=tok)
            self.assertEqual(r.status, 401, (tok, r))
            self.assertIn("error", r.json())
            self.assertIn("Bearer", r.headers.get("www-authenticate", ""))
            self.assertEqual(self.get("model.json", token=tok).status, 401)
        r = self.http.request("GET", "/model-files/v1/%s/" % self.sid, headers={"Authorization": self.token()})
        self.assertEqual(r.status, 401)
        # The management API's own credentials are no model token.
        r = self.http.request("POST", "/model-files/v1/%s/" % self.sid,
                              headers={"Authorization": "Bearer " + self.token()})
        self.assertEqual(r.status, 405)

    def test_04_paths_refused(self):
        outside = os.path.join(self.tmp, "secret.txt")
        with open(outside, "w") as f:
            f.write("not for pods\n")
        link = os.path.join(self.model_path, "assets", "escape")
        os.symlink(outside, link)
        try:
            for p in ("../../../secret.key", "assets/../model.json", "./model.json", "assets//empty",
                      "%2e%2e/%2e%2e/%2e%2e/secret.key", "assets/%2E%2E/model.json", "/etc/passwd",
                      "%2fetc%2fpasswd", "model.json%00", "model%zz.json", "model%4", "assets/"):
                r = self.get(p)
                self.assertIn(r.status, (400, 404), (p, r))
                self.assertNotIn(b"not for pods", r.body)
                self.assertIn("error", r.json())
            for p in ("assets/escape", "assets", "nothing.bin"):
                r = self.get(p)
                self.assertEqual(r.status, 404, (p, r))
            self.assertNotIn("assets/escape", [f["Path"] for f in self.get("").json()["Files"]])
            # Percent-encoded names are decoded: the file with a space and a '%'.
            self.assertEqual(self.get("assets/vocab%20file%25.txt").body, b"a b c\n")
        finally:
            os.unlink(link)

    def test_05_unknown_service(self):
        for sid in ("ms-nothere0-1", "ms-x"):
            r = self.get("", sid=sid)
            self.assertEqual(r.status, 404, (sid, r))
            self.assertEqual(self.get("model.json", sid=sid).status, 404)
        self.assertEqual(self.http.get("/model-files/v1/").status, 404)
        self.assertEqual(self.http.get("/model-files/v1/" + self.sid).status, 404)
