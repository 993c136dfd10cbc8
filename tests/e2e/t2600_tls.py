"""TLS on berthd's listeners: a test CA and server certificates made with the openssl command,
berthd with HTTPS on the management API and the gateway; the CLI drives the API with the CA
file (--ca-file, BERTH_CA_FILE) and predicts through the gateway over TLS; Python's http.client
and curl as other clients; DescribeModelServiceCallInfo gives https addresses; plain HTTP to a
TLS port gets a plain 400; TLS 1.1 is refused; SIGHUP picks up a new certificate for new
connections (checked by serial) and keeps the old one when the new files are bad."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

import api
import harness
import t1400_gateway


def openssl(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr))


def make_pki(d):
    """ca.pem; a.pem/a.key (P-256, serial 0xA001) and b.pem/b.key (RSA, serial 0xB002), both
    for 127.0.0.1 and localhost; other.pem, the same name under a CA nobody trusts."""
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    for ca in ("ca", "rogue"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2", "-subj",
                "/CN=Berth t2600 %s" % ca, cwd=d)
    for name, key, serial, ca in (("a", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "0xA001", "ca"),
                                  ("b", ["rsa:2048"], "0xB002", "ca"),
                                  ("other", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "0xC003",
                                   "rogue")):
        openssl("req", "-newkey", *key, "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=127.0.0.1", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-set_serial", serial, "-days", "1", "-extfile", ext, "-out", name + ".pem", cwd=d)


def use_cert(d, name, key=None):
    """Put the certificate 'name' (and the key 'key', default its own) where berthd reads them."""
    for src, dst in ((name + ".pem", "server.pem"), ((key or name) + ".key", "server.key")):
        shutil.copy(os.path.join(d, src), os.path.join(d, dst + ".tmp"))
        os.replace(os.path.join(d, dst + ".tmp"), os.path.join(d, dst))


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        cls.tmp = harness.tempdir("t2600")
        cls.booster = harness.train("binary:logistic", n_features=4)
        cls.src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster)
        cls.pki = os.path.join(cls.tmp, "pki")
        make_pki(cls.pki)
        use_cert(cls.pki, "a")
        cls.ca = os.path.join(cls.pki, "ca.pem")
        cert, key = os.path.join(cls.pki, "server.pem"), os.path.join(cls.pki, "server.key")
        api.start_berthd(cls, extra=["--api-tls-cert", cert, "--api-tls-key", key,
                                     "--gateway-tls-cert", cert, "--gateway-tls-key", key],
                         name="berthd-tls")
        cls.cred = os.path.join(cls.d.data_dir, "credentials")
        cls.ctx = ssl.create_default_context(cafile=cls.ca)
        cls.c.ssl_context = cls.ctx  # the harness's signed API client, over HTTPS

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def berth(self, *args, env=None, ca=True):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"),
                "--endpoint", "https://127.0.0.1:%d" % self.d.port, "--credentials", self.cred]
        if ca:
            argv += ["--ca-file", self.ca]
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("TENCENTCLOUD_") and k not in ("BERTH_CA_FILE", "SSL_CERT_FILE",
                                                                  "CURL_CA_BUNDLE")}
        e.update(env or {})
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=120, env=e,
                           cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def serial(self, port, ctx=None):
        """The serial number (hex) of the certificate a new connection to 'port' gets."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with (ctx or self.ctx).wrap_socket(raw, server_hostname="127.0.0.1") as s:
                return s.getpeercert()["serialNumber"]

    def deploy(self):
        """A service through the CLI over TLS (once per class): (group id, service id)."""
        if getattr(type(self), "svc", None):
            return type(self).svc
        rc, out, err = self.berth("--json", "model", "import", "--name", "tls-model", "--path",
                                  self.src, "--wait")
        self.assertEqual(rc, 0, err)
        mv = json.loads(out)["TrainingModelVersionId"]
        rc, out, err = self.berth("--json", "service", "create", "--name", "tls-svc",
                                  "--model-version", mv, "--replicas", "1", "--wait")
        self.assertEqual(rc, 0, err)
        svc = json.loads(out)["Service"]
        type(self).svc = (svc["ServiceGroupId"], svc["ServiceId"])
        return type(self).svc

    def test_1_cli_over_tls_with_the_ca(self):
        gid, sid = self.deploy()
        rc, out, err = self.berth("service", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn(sid, out)
        # The gateway's address is https, and berth predict goes there with the same CA file.
        info = self.c.ok("DescribeModelServiceCallInfo", {"ServiceGroupId": gid})
        endpoint = info["ServiceCallInfoV2"]["InternetEndpoint"]
        self.assertEqual(endpoint, "https://127.0.0.1:%d/%s" % (self.d.gateway_port, gid))
        self.assertEqual(info["ServiceCallInfo"]["OuterHttpsAddr"], endpoint)
        self.assertEqual(info["ServiceCallInfo"]["OuterHttpAddr"], "")
        X = harness.rows(3, 4, seed=5)
        rc, out, err = self.berth("predict", gid, json.dumps({"instances": X.tolist()}))
        self.assertEqual(rc, 0, err)
        harness.assert_close(json.loads(out)["predictions"], harness.predict(self.booster, X))
        # BERTH_CA_FILE does what --ca-file does.
        rc, out, err = self.berth("predict", sid, json.dumps({"instances": X.tolist()}), ca=False,
                                  env={"BERTH_CA_FILE": self.ca})
        self.assertEqual(rc, 0, err)
        harness.assert_close(json.loads(out)["predictions"], harness.predict(self.booster, X))
        # Without the CA the certificate does not verify: a network error (3), no API call.
        rc, out, err = self.berth("call", "DescribeTrainingModels", ca=False)
        self.assertEqual(rc, 3, (out, err))
        self.assertIn("certificate", err.lower())
        # A CA that did not sign it: the same.
        rc, out, err = self.berth("call", "DescribeTrainingModels", ca=False,
                                  env={"BERTH_CA_FILE": os.path.join(self.pki, "rogue.pem")})
        self.assertEqual(rc, 3, (out, err))

    def test_2_python_and_curl_clients(self):
        gid, sid = self.deploy()
        # Python's http.client on one kept-alive TLS connection: ALPN http/1.1, TLS 1.2 at least,
        # a large request and a large answer both ways through the gateway, then small ones.
        X = harness.rows(20000, 4, seed=9)
        big = json.dumps({"instances": X.tolist()}).encode()
        self.assertGreater(len(big), 600000)
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.gateway_port, timeout=60,
                                           context=self.ctx)
        try:
            for i in range(4):
                body = big if i == 1 else json.dumps({"instances": X[:2].tolist()}).encode()
                conn.request("POST", "/%s/v1/models/m:predict" % gid, body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                self.assertEqual(r.status, 200, data[:300])
                want = harness.predict(self.booster, X if i == 1 else X[:2])
                harness.assert_close(json.loads(data)["predictions"], want)
            self.assertIn(conn.sock.version(), ("TLSv1.2", "TLSv1.3"))
        finally:
            conn.close()
        # A client offering h2 first gets http/1.1 by ALPN.
        alpn = ssl.create_default_context(cafile=self.ca)
        alpn.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10) as raw:
            with alpn.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        # Requests pipelined in one write over TLS are answered in order.
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as raw:
            with self.ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3 +
                          b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                got = b""
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                self.assertEqual(got.count(b"HTTP/1.1 200"), 4, got)
        # The API over TLS with Python's client (the harness signs as the SDKs do).
        r = self.c.ok("DescribeTrainingModels", {"Limit": 5})
        self.assertIn("TotalCount", r)
        # curl with --cacert, to both listeners; it offers h2 and gets http/1.1.
        if shutil.which("curl"):
            p = subprocess.run(["curl", "-sS", "-v", "--cacert", self.ca,
                                "https://127.0.0.1:%d/healthz" % self.d.port],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("ALPN: server accepted http/1.1", p.stderr)
            p = subprocess.run(["curl", "-sS", "--cacert", self.ca, "-H",
                                "Content-Type: application/json", "-d",
                                json.dumps({"instances": X[:2].tolist()}),
                                "https://localhost:%d/%s/v1/models/m:predict" % (self.d.gateway_port, sid)],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            harness.assert_close(json.loads(p.stdout)["predictions"],
                                 harness.predict(self.booster, X[:2]))

    def test_3_plain_http_and_garbage_fail_cleanly(self):
        # In each surface's own error format: the API's envelope (HTTP 200, as TI-ONE answers
        # errors), the inference protocols' 400 {"error": ...}.
        for port, status, needle in ((self.d.port, b"200", b'"Code":"UnsupportedProtocol"'),
                                     (self.d.gateway_port, b"400", b'{"error": ')):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                resp, closed = harness.recv_until_close(s, 10)
                self.assertTrue(closed)
            self.assertTrue(resp.startswith(b"HTTP/1.1 " + status + b" "), resp)
            self.assertIn(b"https://", resp)
            self.assertIn(needle, resp)
            self.assertIn(b"Connection: close", resp)
            # Bytes that are neither TLS nor HTTP: the connection closes, nothing else.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64)
                resp, closed = harness.recv_until_close(s, 10)
                self.assertTrue(closed)
            self.assertFalse(resp.startswith(b"HTTP"), resp)
            # A client that gives up half way through the handshake.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                o = ssl.MemoryBIO()
                tls = self.ctx.wrap_bio(ssl.MemoryBIO(), o, server_hostname="127.0.0.1")
                with self.assertRaises(ssl.SSLWantReadError):
                    tls.do_handshake()
                raw.sendall(o.read()[:40])
        # The daemon took all that and still answers.
        self.assertEqual(self.serial(self.d.port), "A001")
        self.assertIn("TotalCount", self.c.ok("DescribeTrainingModels", {}))

    def test_4_tls_1_1_refused_tls_1_2_and_1_3_taken(self):
        for port in (self.d.port, self.d.gateway_port):
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            old.load_verify_locations(self.ca)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with self.assertRaises(ssl.SSLError) as cm:
                    old.wrap_socket(raw, server_hostname="127.0.0.1")
            # The server's alert, not the client refusing to offer TLS 1.1 at all.
            self.assertIn("PROTOCOL_VERSION", str(cm.exception).upper(), cm.exception)
            for v, want in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
                ctx = ssl.create_default_context(cafile=self.ca)
                ctx.minimum_version = ctx.maximum_version = v
                with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        self.assertEqual(s.version(), want)
                        if v == ssl.TLSVersion.TLSv1_2:
                            name, _, bits = s.cipher()
                            self.assertTrue(name.startswith("ECDHE-") and ("GCM" in name or
                                                                           "CHACHA20" in name),
                                            name)
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        self.assertTrue(harness.recv_until_close(s, 10)[0].startswith(b"HTTP/1.1 "))
            # A CBC-only TLS 1.2 client finds no common cipher.
            cbc = ssl.create_default_context(cafile=self.ca)
            cbc.maximum_version = ssl.TLSVersion.TLSv1_2
            cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with self.assertRaises(ssl.SSLError):
                    cbc.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_5_sighup_reloads_the_certificate(self):
        gid, sid = self.deploy()
        self.assertEqual(self.serial(self.d.port), "A001")
        self.assertEqual(self.serial(self.d.gateway_port), "A001")
        # A connection opened before the reload keeps working on it.
        X = harness.rows(2, 4, seed=11)
        body = json.dumps({"instances": X.tolist()})
        path = "/%s/v1/models/m:predict" % gid
        kept = http.client.HTTPSConnection("127.0.0.1", self.d.gateway_port, timeout=30,
                                           context=self.ctx)
        kept.request("POST", path, body)
        r = kept.getresponse()
        self.assertEqual((r.status, bool(r.read())), (200, True))
        use_cert(self.pki, "b")
        self.d.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.d.log().count("certificate reloaded") >= 2, 10,
                           what="the reload log lines")
        self.assertIn("serial=B002", self.d.log())
        self.assertEqual(self.serial(self.d.port), "B002")
        self.assertEqual(self.serial(self.d.gateway_port), "B002")
        kept.request("POST", path, body)
        r = kept.getresponse()
        self.assertEqual(r.status, 200)
        harness.assert_close(json.loads(r.read())["predictions"], harness.predict(self.booster, X))
        self.assertEqual(kept.sock.getpeercert()["serialNumber"], "A001")
        kept.close()
        rc, out, err = self.berth("predict", gid, body)
        self.assertEqual(rc, 0, err)
        # A bad pair (a's certificate with b's key): logged, and the old one stays.
        use_cert(self.pki, "a", key="b")
        self.d.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.d.log().count("keeping the") >= 2, 10,
                           what="the failed reload's log lines")
        self.assertEqual(self.serial(self.d.port), "B002")
        self.assertEqual(self.serial(self.d.gateway_port), "B002")
        # A certificate nobody here trusts is loaded (berthd does not judge it), and clients
        # with the CA then refuse it: the reload really swaps what new connections get.
        use_cert(self.pki, "other")
        self.d.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: "serial=C003" in self.d.log(), 10, what="the third reload")
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.serial(self.d.port)
        use_cert(self.pki, "a")
        self.d.proc.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: self.d.log().count("serial=A001") >= 2, 10, what="the last reload")
        self.assertEqual(self.serial(self.d.port), "A001")

    def test_7_pipelined_through_the_gateway_then_half_closed(self):
        """60 KiB of requests in a few records, then the client's FIN: the gateway answers one at
        a time, so most of what was decrypted waits in the session; every request is answered
        in order before the end of the stream closes the connection."""
        gid, sid = self.deploy()
        X = harness.rows(20, 4, seed=13)
        body = json.dumps({"instances": X.tolist()}).encode()
        one = (b"POST /%s/v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
               b"\r\nContent-Length: %d\r\n\r\n" % (gid.encode(), len(body))) + body
        n = 60000 // len(one) + 1
        raw = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=30)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        t = self.ctx.wrap_bio(inc, out, server_hostname="127.0.0.1")
        try:
            while True:
                try:
                    t.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(out.read())
                    data = raw.recv(65536)
                    self.assertTrue(data, "the server closed during the handshake")
                    inc.write(data)
            t.write(one * n)
            raw.sendall(out.read())
            raw.shutdown(socket.SHUT_WR)
            got, closed, deadline = b"", False, time.monotonic() + 60
            while not closed and time.monotonic() < deadline:
                data = raw.recv(65536)
                if not data:
                    break
                inc.write(data)
                try:
                    while True:
                        piece = t.read(65536)
                        if not piece:  # close_notify
                            closed = True
                            break
                        got += piece
                except ssl.SSLWantReadError:
                    pass
        finally:
            raw.close()
        self.assertEqual(got.count(b"HTTP/1.1 200 OK"), n, got[-500:])
        self.assertTrue(closed, "no close_notify after the last answer")
        last = got[got.rindex(b"HTTP/1.1 200 OK"):]
        harness.assert_close(json.loads(last[last.index(b"\r\n\r\n") + 4:])["predictions"],
                             harness.predict(self.booster, X))
        self.assertGreater(n, 20)

    def test_8_the_instance_hears_https(self):
        """A custom instance behind the TLS gateway is told the client came over https."""
        script = os.path.join(self.tmp, "echo.py")
        with open(script, "w") as f:
            f.write(t1400_gateway.UPSTREAM)  # answers 201 with the header fields it was sent
        s = self.c.ok("CreateModelService", {"ServiceGroupName": "tls-echo",
                                             "InstanceType": "TI.S.MEDIUM.POST",
                                             "Command": "exec %s %s" % (sys.executable, script)})
        gid, sid = s["Service"]["ServiceGroupId"], s["Service"]["ServiceId"]
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})
                           ["Service"]["Status"] == "Normal", 30, what="the echo service")
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.gateway_port, timeout=30,
                                           context=self.ctx)
        try:
            conn.request("GET", "/%s/hello" % gid, headers={"X-Forwarded-Proto": "http"})
            r = conn.getresponse()
            seen = json.loads(r.read())
        finally:
            conn.close()
        self.assertEqual(r.status, 201, seen)
        self.assertEqual(seen["headers"]["x-forwarded-proto"], "https")
        self.assertTrue(seen["headers"]["forwarded"].endswith(";proto=https"), seen["headers"])

    def test_6_bad_options_refused_at_start(self):
        berthd = api.berthd_path()
        data = os.path.join(self.tmp, "data-bad")
        cert, key = os.path.join(self.pki, "a.pem"), os.path.join(self.pki, "a.key")
        rc, out = api.run_exit([berthd, "--data-dir", data, "--api-listen", "127.0.0.1:0",
                                "--gateway-listen", "127.0.0.1:0", "--api-tls-cert", cert])
        self.assertEqual(rc, 2, out)
        self.assertIn("--api-tls-cert and --api-tls-key go together", out)
        rc, out = api.run_exit([berthd, "--data-dir", data, "--api-listen", "127.0.0.1:0",
                                "--gateway-listen", "127.0.0.1:0", "--gateway-tls-cert", cert,
                                "--gateway-tls-key", os.path.join(self.pki, "b.key")])
        self.assertEqual(rc, 2, out)
        self.assertIn("cannot load the key", out)
        rc, out = api.run_exit([berthd, "--data-dir", data, "--api-listen", "127.0.0.1:0",
                                "--gateway-listen", "127.0.0.1:0", "--api-tls-cert",
                                os.path.join(self.pki, "missing.pem"), "--api-tls-key", key])
        self.assertEqual(rc, 2, out)
        self.assertIn("missing.pem", out)
        self.assertFalse(os.path.exists(os.path.join(data, "credentials")))


if __name__ == "__main__":
    unittest.main()
