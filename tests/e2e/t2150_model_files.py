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
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest
import urllib.parse

import api
import harness

BIG_BYTES = 24 * 1024 * 1024 + 12345  # more than one turn of the sender, not a multiple of a piece


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def fetch(args, token, timeout=60):
    """berth-serve fetch with BERTH_MODEL_TOKEN=token; returns (exit code, output)."""
    env = dict(os.environ, BERTH_MODEL_TOKEN=token)
    p = subprocess.run([harness.require_binary(), "fetch"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def tree(root):
    """{relative path: bytes} of every file under root (links followed)."""
    out = {}
    for dp, _dns, fns in os.walk(root):
        for fn in fns:
            with open(os.path.join(dp, fn), "rb") as f:
                out[os.path.relpath(os.path.join(dp, fn), root)] = f.read()
    return out


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

    def raw_get(self, path):
        sock = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        sock.sendall(("GET /model-files/v1/%s/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                      % (self.sid, path, self.token())).encode())
        return sock

    def test_05b_slow_and_vanishing_readers(self):
        """A reader slower than the file (the sender waits for it, holding a bounded buffer) gets
        every byte; readers that go away mid-file cost berthd nothing that lasts."""
        want = self.expected()
        big = [e for e in want if e["Path"] == "assets/deep/big.bin"][0]
        sock = self.raw_get("assets/deep/big.bin")
        # The file is larger than the sockets' buffers: berthd fills them and has to wait. (A
        # receive buffer shrunk after connecting would stall in the kernel, not in berthd.)
        time.sleep(1.0)
        sock.settimeout(30)
        data = bytearray()  # harness.read_http_response's bytes += is quadratic for 24 MB
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        body = bytearray(body)
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(body) < length:
            piece = sock.recv(1 << 20)
            self.assertTrue(piece, "berthd closed the connection after %d bytes" % len(body))
            body += piece
        sock.close()
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
        self.assertEqual(len(body), BIG_BYTES)
        self.assertEqual(hashlib.sha256(body).hexdigest(), big["Sha256"])
        self.assertEqual(self.get("").json()["Files"], want)  # the kept-alive connection is open
        fds = len(os.listdir("/proc/%d/fd" % self.d.proc.pid))
        for _ in range(5):
            sock = self.raw_get("assets/deep/big.bin")
            sock.recv(1000)
            sock.close()
        self.assertEqual(self.get("").json()["Files"], want)
        def links():
            d = "/proc/%d/fd" % self.d.proc.pid
            out = []
            for l in os.listdir(d):
                try:
                    out.append(os.readlink(os.path.join(d, l)))
                except OSError:
                    pass
            return out
        before = links()
        harness.wait_until(lambda: len(links()) <= fds, 5, what="berthd's descriptors back (%d: %r)" % (fds, before))
        self.assertFalse([l for l in os.listdir("/proc/%d/fd" % self.d.proc.pid)
                          if os.readlink("/proc/%d/fd/%s" % (self.d.proc.pid, l)).endswith("big.bin")])

    def url(self, sid=None):
        return "http://127.0.0.1:%d/model-files/v1/%s/" % (self.d.port, sid or self.sid)

    def test_06_fetch_and_serve(self):
        base = os.path.join(self.tmp, "fetched")
        into = os.path.join(base, "1")
        rc, out = fetch(["--from", self.url(), "--into", into], self.token())
        self.assertEqual(rc, 0, out)
        self.assertIn("verified", out)
        want = {e["Path"]: e for e in self.expected()}
        got = tree(into)
        self.assertEqual(sorted(got), sorted(want))
        for p, data in got.items():
            self.assertEqual(hashlib.sha256(data).hexdigest(), want[p]["Sha256"], p)
        self.assertFalse(os.path.islink(os.path.join(into, "assets", "alias.txt")))
        # Again into the same directory: what is there and right stays (same inode); a damaged
        # file and a missing one are fetched again; the URL may lack its final '/'.
        model = os.path.join(into, "model.json")
        ino = os.stat(os.path.join(into, "assets", "deep", "big.bin")).st_ino
        with open(model, "r+b") as f:
            f.write(b"X")
        os.unlink(os.path.join(into, "assets", "empty"))
        rc, out = fetch(["--from", self.url().rstrip("/"), "--into", into], self.token())
        self.assertEqual(rc, 0, out)
        self.assertEqual(tree(into), got)
        self.assertEqual(os.stat(os.path.join(into, "assets", "deep", "big.bin")).st_ino, ino)
        # berth-serve serves the copy as the original model predicts.
        srv = harness.Server(["--model_base_path=" + base, "--model_name=m"], self.tmp, name="fetched")
        srv.start()
        try:
            X = harness.rows(7, 4)
            c = srv.client()
            body = c.post_json("/v1/models/m:predict", {"instances": X.tolist()})
            harness.assert_close(body["predictions"], harness.predict(self.booster, X))
            c.close()
        finally:
            srv.stop()

    def test_07_fetch_refused(self):
        into = os.path.join(self.tmp, "refused")
        for tok, sid in ((self.token("ms-other-1"), None), ("0" * 64, None), (self.token("ms-nothere0-1"), "ms-nothere0-1")):
            rc, out = fetch(["--from", self.url(sid), "--into", into, "--tries", "2"], tok)
            self.assertEqual(rc, 1, out)
            self.assertIn("manifest", out)
            self.assertIn("401" if sid is None else "404", out)
            self.assertNotIn("trying again", out)  # not transient
            self.assertNotIn(tok, out)
        self.assertFalse(os.path.exists(into))
        rc, out = fetch(["--from", self.url(), "--into", into], "not-a-token")
        self.assertEqual(rc, 2, out)
        self.assertIn("BERTH_MODEL_TOKEN", out)
        for args in ([], ["--from", self.url()], ["--into", into], ["--from", "ftp://x/", "--into", into],
                     ["--from", self.url(), "--into", into, "--tries", "0"], ["--bogus"]):
            rc, out = fetch(args, self.token())
            self.assertEqual(rc, 2, (args, out))
        rc, out = fetch(["--from", "http://127.0.0.1:%d/model-files/v1/x/" % harness.free_port(),
                         "--into", into, "--tries", "2"], self.token())
        self.assertEqual(rc, 1, out)
        self.assertIn("trying again (2 of 2)", out)

    def test_08_fetch_retries_and_verifies(self):
        """Against a server of the test's own: a 503, a cut body and a wrong body are retried;
        a file whose bytes never match the manifest fails, named; so does a manifest path
        that climbs out."""
        good, bad = b"0123456789" * 1000, b"abc"
        files = [{"Path": "a/good.bin", "Size": len(good), "Sha256": hashlib.sha256(good).hexdigest()}]
        state = {"hits": {}, "manifest": None}

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, status, body, length=None):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                n = state["hits"][self.path] = state["hits"].get(self.path, 0) + 1
                if self.path == "/m/":
                    self.send(200, json.dumps(state["manifest"]).encode())
                elif self.path == "/m/a/good.bin":
                    if n == 1:
                        self.send(503, b'{"error":"busy"}')
                    elif n == 2:
                        self.send(200, good[:100], length=len(good))  # cut: the connection closes
                        self.close_connection = True
                    elif n == 3:
                        self.send(200, good[::-1])  # the right length, the wrong bytes
                    else:
                        self.send(200, good)
                elif self.path == "/m/b.bin":
                    self.send(200, bad[::-1])
                else:
                    self.send(404, b'{"error":"no"}')

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            base = "http://127.0.0.1:%d/m/" % srv.server_address[1]
            into = os.path.join(self.tmp, "own")
            state["manifest"] = {"ServiceId": "x", "Files": files}
            rc, out = fetch(["--from", base, "--into", into], self.token())
            self.assertEqual(rc, 0, out)
            self.assertEqual(state["hits"]["/m/a/good.bin"], 4, out)
            self.assertEqual(out.count("trying again"), 3, out)
            self.assertEqual(tree(into), {"a/good.bin": good})
            state["manifest"] = {"ServiceId": "x", "Files": files + [
                {"Path": "b.bin", "Size": len(bad), "Sha256": hashlib.sha256(bad).hexdigest()}]}
            rc, out = fetch(["--from", base, "--into", into, "--tries", "3"], self.token())
            self.assertEqual(rc, 1, out)
            self.assertIn("cannot fetch 'b.bin'", out)
            self.assertIn("SHA-256", out)
            self.assertEqual(state["hits"]["/m/b.bin"], 3)
            self.assertEqual(sorted(os.listdir(into)), ["a"])  # no temporary file left
            for p in ("../escape", "/abs", "a/./b", "a//b", ""):
                state["manifest"] = {"Files": [{"Path": p, "Size": 1, "Sha256": "0" * 64}]}
                rc, out = fetch(["--from", base, "--into", into], self.token())
                self.assertEqual(rc, 1, (p, out))
                self.assertIn("malformed", out)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "escape")))
        finally:
            srv.shutdown()
            srv.server_close()


class ModelFilesTls(unittest.TestCase):
    """The same over berthd's HTTPS API listener: fetch verifies berthd against --ca (a 24 MB
    file streamed through TLS), and without it, or with a CA that did not sign berthd's
    certificate, fails at once (not a transient failure)."""

    @classmethod
    def setUpClass(cls):
        import t2600_tls
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        cls.tmp = harness.tempdir("t2150-tls")
        cls.pki = os.path.join(cls.tmp, "pki")
        t2600_tls.make_pki(cls.pki)
        cls.ca = os.path.join(cls.pki, "ca.pem")
        cert, key = os.path.join(cls.pki, "a.pem"), os.path.join(cls.pki, "a.key")
        api.start_berthd(cls, extra=["--api-tls-cert", cert, "--api-tls-key", key], name="berthd-tls")
        try:
            cls.c.ssl_context = ssl.create_default_context(cafile=cls.ca)
            cls.booster = harness.train("binary:logistic", n_features=4, seed=3)
            src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster, "json")
            os.makedirs(os.path.join(src, "data"))  # one model file at the top, the rest below
            with open(os.path.join(src, "data", "big.bin"), "wb") as f:
                f.write(os.urandom(BIG_BYTES))
            r = cls.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                                 "TrainingModelName": "mft", "ModelFormat": "XGBOOST",
                                                 "TrainingModelCosPath": cos(src)})
            mv = r["TrainingModelVersionId"]
            harness.wait_until(lambda: cls.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                               ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 20)
            cls.sid = cls.c.ok("CreateModelService", {
                "ServiceGroupName": "mft", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ModelInfo": {"ModelVersionId": mv}, "Replicas": 1})["Service"]["ServiceId"]
            cls.src = src
            with open(os.path.join(cls.d.data_dir, "secret.key")) as f:
                cls.key = bytes.fromhex(f.read().strip())
        except BaseException:
            api.stop_berthd(cls)
            raise

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_fetch_over_tls(self):
        token = hmac.new(self.key, ("berth-model-files:" + self.sid).encode(), hashlib.sha256).hexdigest()
        url = "https://127.0.0.1:%d/model-files/v1/%s/" % (self.d.port, self.sid)
        into = os.path.join(self.tmp, "fetched", "1")
        rc, out = fetch(["--from", url, "--into", into, "--ca", self.ca], token)
        self.assertEqual(rc, 0, out)
        self.assertEqual(tree(into), tree(self.src))
        for extra in ([], ["--ca", os.path.join(self.pki, "rogue.pem")]):
            rc, out = fetch(["--from", url, "--into", os.path.join(self.tmp, "no")] + extra, token)
            self.assertEqual(rc, 1, (extra, out))
            self.assertIn("manifest", out)
            self.assertNotIn("trying again", out)
        # Plain HTTP to the TLS listener is no manifest either.
        rc, out = fetch(["--from", url.replace("https:", "http:"), "--into", os.path.join(self.tmp, "no"),
                         "--tries", "1"], token)
        self.assertEqual(rc, 1, out)
