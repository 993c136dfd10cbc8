"""Errors: status codes, `{"error": ...}` bodies naming the problem, and a server that keeps
serving afterwards; slow and pipelining clients on raw sockets."""

import json
import os
import re
import socket
import struct
import threading
import time

import harness
from harness import assert_close, assert_error

MAX_BODY = 4096


class Errors(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0400")
        base = os.path.join(tmp, "m")
        b = harness.train("binary:logistic", n_features=5, seed=40)
        cls.m = harness.load_model(harness.write_version(base, 1, b, "json"))
        b = harness.train("binary:logistic", n_features=5, seed=41)
        cls.m2 = harness.load_model(harness.write_version(base, 2, b, "json"))
        cfg = harness.write_config_json(os.path.join(tmp, "models.json"), [
            {"name": "m", "base_path": base, "policy": {"all": {}}, "labels": {"stable": 1}},
        ])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg, "--file_system_poll_wait_seconds=0",
                                    "--max_request_bytes=%d" % MAX_BODY])
        cls.c = cls.client_for(cls.srv)
        cls.X = harness.rows(3, 5, seed=71)
        cls.exp = harness.predict(cls.m2, cls.X)

    def good(self):
        """After an error the server still answers a good request (on the same client)."""
        body = self.c.post_json("/v1/models/m:predict", {"instances": self.X.tolist()})
        assert_close(body["predictions"], self.exp)
        req = {"inputs": [{"name": "input", "shape": [3, 5], "datatype": "FP32", "data": self.X.tolist()}]}
        body = self.c.post_json("/v2/models/m/infer", req)
        assert_close(body["outputs"][0]["data"], self.exp)

    # ---- TF Serving API

    def test_malformed_json(self):
        for raw in ('{"instances": [[1,2,', '{"instances": [[0.1, 0.2, 0.3, 0.4, 0.5]]', "instances",
                    '{"instances": [[0.1, 0.2, 0.3, 0.4, 0.5,]]}', ""):
            r = self.c.post("/v1/models/m:predict", raw)
            assert_error(self, r, 400, ("json", "parse", "syntax", "malformed", "invalid", "unexpected", "empty"))
            self.good()

    def test_request_shape_errors(self):
        for body, needle in (({}, ("instances", "inputs")),
                             ([[0.1, 0.2, 0.3, 0.4, 0.5]], ("object", "instances", "inputs")),
                             ({"instances": [[0.1] * 5], "inputs": [[0.1] * 5]}, ("instances", "inputs")),
                             ({"instances": [[0.1] * 5, [0.1] * 4]}, ("5", "4", "shape", "dimension", "same"))):
            r = self.c.post("/v1/models/m:predict", body)
            assert_error(self, r, 400, needle)
            self.good()

    def test_wrong_feature_count(self):
        r = self.c.post("/v1/models/m:predict", {"instances": [[0.5] * 7, [0.25] * 7]})
        msg = assert_error(self, r, 400, "5")
        self.assertTrue("7" in msg or "feature" in msg.lower() or "shape" in msg.lower(), msg)
        self.good()
        r = self.c.post("/v1/models/m:predict", {"inputs": [[0.5] * 3]})
        assert_error(self, r, 400, "5")
        self.good()

    def test_wrong_value_types(self):
        for bad in ([["a", "b", "c", "d", "e"]], [[0.1, 0.2, "x", 0.4, 0.5]], [[0.1, 0.2, [0.3], 0.4, 0.5]],
                    [[0.1, 0.2, {"a": 1}, 0.4, 0.5]]):
            r = self.c.post("/v1/models/m:predict", {"instances": bad})
            assert_error(self, r, 400, ("string", "type", "number", "float", "numeric", "expected", "invalid",
                                        "shape", "dimension"))
            self.good()

    def test_unknown_model(self):
        for method, path, body in (("POST", "/v1/models/nosuchmodel:predict", {"instances": [[0.1] * 5]}),
                                   ("POST", "/v1/models/nosuchmodel:classify", {"examples": [{"f0": 1}]}),
                                   ("GET", "/v1/models/nosuchmodel", None),
                                   ("GET", "/v1/models/nosuchmodel/metadata", None)):
            r = self.c.request(method, path, body)
            assert_error(self, r, 404, "nosuchmodel")
            self.good()

    def test_unknown_version(self):
        for method, path, body in (("POST", "/v1/models/m/versions/7:predict", {"instances": [[0.1] * 5]}),
                                   ("POST", "/v1/models/m/versions/7:regress", {"examples": [{"f0": 1}]}),
                                   ("GET", "/v1/models/m/versions/7", None),
                                   ("GET", "/v1/models/m/versions/7/metadata", None)):
            r = self.c.request(method, path, body)
            assert_error(self, r, 404, "7")
            self.good()

    def test_unknown_label(self):
        for method, path, body in (("POST", "/v1/models/m/labels/nolabel:predict", {"instances": [[0.1] * 5]}),
                                   ("GET", "/v1/models/m/labels/nolabel", None),
                                   ("GET", "/v1/models/m/labels/nolabel/metadata", None)):
            r = self.c.request(method, path, body)
            assert_error(self, r, 400, "nolabel")
            self.good()
        # the known label works
        body = self.c.post_json("/v1/models/m/labels/stable:predict", {"instances": self.X.tolist()})
        assert_close(body["predictions"], harness.predict(self.m, self.X))

    def test_classify_unknown_feature_name(self):
        r = self.c.post("/v1/models/m:classify", {"examples": [{"f0": 0.1, "f1": 0.2, "bogus_feature": 1.0}]})
        assert_error(self, r, 400, "bogus_feature")
        self.good()
        r = self.c.post("/v1/models/m:regress", {"examples": [{"f0": "text"}]})
        assert_error(self, r, 400)
        self.good()
        r = self.c.post("/v1/models/m:classify", {"instances": [[0.1] * 5]})
        assert_error(self, r, 400, ("examples", "instances"))
        self.good()

    def test_body_too_large(self):
        rows = harness.rows(200, 5, seed=72).tolist()
        big = {"instances": rows}
        self.assertGreater(len(json.dumps(big)), MAX_BODY)
        r = self.c.post("/v1/models/m:predict", big)
        assert_error(self, r, 413)
        self.good()
        req = {"inputs": [{"name": "input", "shape": [200, 5], "datatype": "FP32", "data": rows}]}
        r = self.c.post("/v2/models/m/infer", req)
        assert_error(self, r, 413)
        self.good()

    def test_declared_length_too_large_answered_early(self):
        """Content-Length above --max_request_bytes: 413 without waiting for the body."""
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        try:
            s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 10000000\r\n\r\n{\"instances\": [")
            status, headers, body, _ = harness.read_http_response(s, timeout=3)
            self.assertEqual(status, 413, body)
            self.assertIn("error", json.loads(body))
        finally:
            s.close()
        self.good()

    def test_unknown_endpoints(self):
        for method, path in (("GET", "/v1/models/m:predict"), ("POST", "/v1/models/m/metadata"),
                             ("GET", "/v1/nothing/here"), ("GET", "/v2/nothing"), ("GET", "/nothing"),
                             ("POST", "/v1/models/m:explode")):
            r = self.c.request(method, path, "{}" if method == "POST" else None)
            self.assertTrue(400 <= r.status < 500, "%s %s -> %r" % (method, path, r))
            self.good()

    # ---- V2

    def test_v2_errors(self):
        X = self.X
        good_in = {"name": "input", "shape": [3, 5], "datatype": "FP32", "data": X.tolist()}
        cases = [
            ('{"inputs": [', 400, ("json", "parse", "syntax", "malformed", "invalid", "unexpected")),
            ({"inputs": [dict(good_in, name="nope")]}, 400, "nope"),
            ({"inputs": [dict(good_in, shape=[3, 7])]}, 400, ("5", "shape")),
            ({"inputs": [dict(good_in, shape=[4, 5])]}, 400, ("shape", "data", "size", "element", "15", "20")),
            ({"inputs": [dict(good_in, datatype="BYTES", data=["a"] * 15)]}, 400, ("BYTES", "datatype", "type")),
            ({"inputs": [dict(good_in, datatype="FP32", data=["a"] * 15)]}, 400,
             ("string", "type", "number", "float", "invalid", "expected")),
            ({"inputs": [good_in], "outputs": [{"name": "nosuch_output"}]}, 400, "nosuch_output"),
            ({"inputs": []}, 400, ("input",)),
        ]
        for body, status, needle in cases:
            r = self.c.post("/v2/models/m/infer", body)
            assert_error(self, r, status, needle)
            self.good()
        r = self.c.post("/v2/models/m/versions/7/infer", {"inputs": [good_in]})
        assert_error(self, r, 404, "7")
        self.good()
        r = self.c.post("/v2/models/nosuchmodel/infer", {"inputs": [good_in]})
        assert_error(self, r, 404, "nosuchmodel")
        self.good()

    def test_v2_binary_framing_errors(self):
        X = self.X
        raw = X.astype("<f4").tobytes()
        # binary_data_size larger than what follows the header
        h = json.dumps({"inputs": [{"name": "input", "shape": [3, 5], "datatype": "FP32",
                                    "parameters": {"binary_data_size": len(raw) + 40}}]}).encode()
        r = self.c.post("/v2/models/m/infer", h + raw, headers={"Inference-Header-Content-Length": str(len(h))})
        assert_error(self, r, 400)
        self.good()
        # size that does not match the shape
        h = json.dumps({"inputs": [{"name": "input", "shape": [3, 5], "datatype": "FP32",
                                    "parameters": {"binary_data_size": len(raw) - 4}}]}).encode()
        r = self.c.post("/v2/models/m/infer", h + raw[:-4], headers={"Inference-Header-Content-Length": str(len(h))})
        assert_error(self, r, 400)
        self.good()
        # header length beyond the body
        r = self.c.post("/v2/models/m/infer", h, headers={"Inference-Header-Content-Length": str(len(h) + 100)})
        assert_error(self, r, 400)
        self.good()
        # header length that is not a number
        r = self.c.post("/v2/models/m/infer", h + raw, headers={"Inference-Header-Content-Length": "abc"})
        assert_error(self, r, 400)
        self.good()


class Connections(harness.ServerCase):
    """Slow clients, timeouts and pipelining, on raw sockets."""

    TIMEOUT_MS = 3000

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0400c")
        base = os.path.join(tmp, "m")
        b = harness.train("binary:logistic", n_features=5, seed=42)
        cls.m = harness.load_model(harness.write_version(base, 1, b, "json"))
        cls.srv = cls.start_server(["--model_name=m", "--model_base_path=%s" % base,
                                    "--rest_api_num_threads=2", "--rest_api_timeout_in_ms=%d" % cls.TIMEOUT_MS])
        cls.X = harness.rows(4, 5, seed=73)
        cls.exp = harness.predict(cls.m, cls.X)

    def stalled_socket(self):
        """A client that sent the headers and half the body of a predict, then stalls."""
        body = json.dumps({"instances": self.X.tolist()}).encode()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
        return s

    def timed_good_requests(self, n):
        c = harness.Client(self.srv.port, timeout=10)
        try:
            worst = 0.0
            for _ in range(n):
                t0 = time.monotonic()
                body = c.post_json("/v1/models/m:predict", {"instances": self.X.tolist()})
                worst = max(worst, time.monotonic() - t0)
                assert_close(body["predictions"], self.exp)
            return worst
        finally:
            c.close()

    def test_slow_client_does_not_block_others(self):
        self.stalled_socket()
        time.sleep(0.2)
        worst = self.timed_good_requests(5)
        self.assertLess(worst, 1.0, "a request took %.2fs while one client stalled" % worst)

    def test_more_slow_clients_than_threads(self):
        for _ in range(4):      # --rest_api_num_threads=2
            self.stalled_socket()
        time.sleep(0.2)
        worst = self.timed_good_requests(5)
        self.assertLess(worst, 1.5, "a request took %.2fs while 4 clients stalled (2 worker threads)" % worst)

    def test_stalled_request_is_dropped_after_timeout(self):
        s = self.stalled_socket()
        t0 = time.monotonic()
        data, closed = harness.recv_until_close(s, self.TIMEOUT_MS / 1000.0 + 4)
        if not closed:
            self.fail("stalled connection still open %.1fs after it started (--rest_api_timeout_in_ms=%d)"
                      % (time.monotonic() - t0, self.TIMEOUT_MS))
        dt = time.monotonic() - t0
        self.assertGreater(dt, self.TIMEOUT_MS / 1000.0 * 0.5, "closed too early (%.1fs)" % dt)
        if data:   # an answer is allowed (408), but not a prediction
            self.assertFalse(data.startswith(b"HTTP/1.1 200"), data[:200])

    def test_idle_keepalive_closed_after_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _, rest = harness.read_http_response(s, timeout=5)
        self.assertEqual(status, 200)
        t0 = time.monotonic()
        d, closed = harness.recv_until_close(s, self.TIMEOUT_MS / 1000.0 + 4)
        self.assertTrue(closed, "idle keep-alive connection still open after %.1fs" % (time.monotonic() - t0))
        self.assertEqual(d, b"")

    def _pipeline(self, requests):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"".join(requests))
        out, rest = [], b""
        for _ in requests:
            status, headers, body, rest = harness.read_http_response(s, rest, timeout=5)
            out.append((status, headers, body))
        return out

    @staticmethod
    def http_req(method, path, body=b"", extra=b""):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method.encode(), path.encode())
        if method == "POST":
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        return head + extra + b"\r\n" + body

    def test_pipelined_requests_answered_in_order(self):
        A = harness.rows(1, 5, seed=74)
        B = harness.rows(3, 5, seed=75)
        C = harness.rows(2, 5, seed=76)
        reqs = [self.http_req("POST", "/v1/models/m:predict", {"instances": A.tolist()}),
                self.http_req("GET", "/v1/models/m"),
                self.http_req("POST", "/v1/models/m:predict", {"instances": B.tolist()}),
                self.http_req("POST", "/v2/models/m/infer",
                              {"id": "p4", "inputs": [{"name": "input", "shape": [2, 5], "datatype": "FP32",
                                                       "data": C.tolist()}]}),
                self.http_req("GET", "/v2/health/live")]
        out = self._pipeline(reqs)
        self.assertEqual([o[0] for o in out], [200] * 5, out)
        assert_close(json.loads(out[0][2])["predictions"], harness.predict(self.m, A))
        self.assertIn("model_version_status", json.loads(out[1][2]))
        assert_close(json.loads(out[2][2])["predictions"], harness.predict(self.m, B))
        v2 = json.loads(out[3][2])
        self.assertEqual(v2.get("id"), "p4")
        assert_close(v2["outputs"][0]["data"], harness.predict(self.m, C))
        self.assertEqual(json.loads(out[4][2]), {"live": True})

    def test_pipelined_error_then_good(self):
        A = harness.rows(2, 5, seed=77)
        reqs = [self.http_req("POST", "/v1/models/m:predict", b'{"instances": [[1,2'),
                self.http_req("POST", "/v1/models/m:predict", {"instances": A.tolist()}),
                self.http_req("GET", "/v1/models/nosuch"),
                self.http_req("POST", "/v1/models/m:predict", {"instances": A[:1].tolist()})]
        out = self._pipeline(reqs)
        self.assertEqual([o[0] for o in out], [400, 200, 404, 200], out)
        assert_close(json.loads(out[1][2])["predictions"], harness.predict(self.m, A))
        assert_close(json.loads(out[3][2])["predictions"], harness.predict(self.m, A[:1]))

    def test_connection_close_honoured(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(self.http_req("GET", "/v2/health/live", extra=b"Connection: close\r\n"))
        status, headers, body, rest = harness.read_http_response(s, timeout=5)
        self.assertEqual(status, 200)
        d, closed = harness.recv_until_close(s, 3)
        self.assertTrue(closed and rest + d == b"", "server should close after `Connection: close`")

    def test_expect_100_continue(self):
        """curl sends `Expect: 100-continue` for bodies over 1 KiB: the server answers
        `100 Continue` (RFC 9110 15.2.1) or a final status, then the request completes."""
        X = harness.rows(40, 5, seed=78)
        body = json.dumps({"instances": X.tolist()}).encode()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        s.settimeout(1.0)
        try:
            first = s.recv(4096)
        except socket.timeout:
            first = b""
        self.assertTrue(first.startswith(b"HTTP/1.1 100"),
                        "no `HTTP/1.1 100 Continue` within 1 s of `Expect: 100-continue`: %r" % first[:200])
        rest = first.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in first else b""
        s.sendall(body)
        status, headers, resp, _ = harness.read_http_response(s, rest, timeout=5)
        self.assertEqual(status, 200, resp[:300])
        assert_close(json.loads(resp)["predictions"], harness.predict(self.m, X))

    def test_chunked_request_body(self):
        """A chunked request body (HTTP/1.1 clients may send one) is predicted, or refused
        with a JSON error; either way answered promptly."""
        body = json.dumps({"instances": self.X.tolist()}).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50]) for i in range(0, len(body), 50))
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        status, headers, resp, _ = harness.read_http_response(s, timeout=3)
        if status == 200:
            assert_close(json.loads(resp)["predictions"], self.exp)
        else:
            self.assertIn(status, (400, 411, 413, 501), resp[:300])
            self.assertIn("error", json.loads(resp))

    def test_http10_request(self):
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
        self.addCleanup(s.close)
        body = json.dumps({"instances": self.X.tolist()}).encode()
        s.sendall(b"POST /v1/models/m:predict HTTP/1.0\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data, closed = harness.recv_until_close(s, 5)
        self.assertTrue(closed, "HTTP/1.0 without keep-alive: the server closes after the answer")
        head, _, resp = data.partition(b"\r\n\r\n")
        self.assertRegex(head.split(b"\r\n")[0], rb"^HTTP/1\.[01] 200", head[:200])
        assert_close(json.loads(resp)["predictions"], self.exp)

    def good_request(self):
        c = harness.Client(self.srv.port, timeout=5)
        try:
            body = c.post_json("/v1/models/m:predict", {"instances": self.X.tolist()})
            assert_close(body["predictions"], self.exp)
        finally:
            c.close()

    def test_garbage_and_oversized_requests(self):
        """Not-HTTP bytes, a huge header, a huge URL: an error status or a closed connection,
        never a crash; the server answers a good request afterwards."""
        cases = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,       # a TLS hello
                 b"HELLO WORLD\r\n\r\n",
                 b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n",
                 b"GET /v1/models/" + b"m" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"]
        for raw in cases:
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
            try:
                try:
                    s.sendall(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                data, closed = harness.recv_until_close(s, 5)
                if data:
                    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
                    self.assertTrue(m and 400 <= int(m.group(1)) < 500, "%r -> %r" % (raw[:40], data[:200]))
                else:
                    self.assertTrue(closed, "%r: neither an answer nor a close within 5 s" % raw[:40])
            finally:
                s.close()
            self.good_request()

    def test_client_vanishes_mid_request(self):
        body = json.dumps({"instances": harness.rows(300, 5, seed=79).tolist()}).encode()
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close with RST
            s.sendall(b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                      + body)
            s.close()
        self.good_request()

    def test_many_idle_connections(self):
        socks = []
        try:
            for _ in range(200):
                socks.append(socket.create_connection(("127.0.0.1", self.srv.port), timeout=5))
            t0 = time.monotonic()
            self.good_request()
            self.assertLess(time.monotonic() - t0, 1.5)
            # and they can all still be served
            for s in socks[:50]:
                s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            for s in socks[:50]:
                status, _, _, _ = harness.read_http_response(s, timeout=5)
                self.assertEqual(status, 200)
        finally:
            for s in socks:
                s.close()
        self.good_request()

    def test_concurrent_connections_with_stall(self):
        """Many clients in parallel while one stalls: all answered correctly."""
        self.stalled_socket()
        errors = []
        deadline = time.monotonic() + 15

        def worker(k):
            c = harness.Client(self.srv.port)
            try:
                for _ in range(15):
                    if time.monotonic() > deadline:
                        errors.append("out of time")
                        return
                    r = c.post("/v1/models/m:predict", {"instances": self.X.tolist()}, retry=False)
                    if r.status != 200:
                        errors.append(repr(r))
                    else:
                        assert_close(r.json()["predictions"], self.exp)
            except Exception as e:
                errors.append(repr(e))
            finally:
                c.close()

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(20)
        self.assertEqual(errors, [])
