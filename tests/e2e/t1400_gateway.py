"""The gateway in front of custom services: responses stream through (a chunked answer arrives
piece by piece), keep-alive and pipelined requests on one client connection, methods, query
strings, request headers and bodies reach the instance unchanged, hop-by-hop headers do not, and
an instance that dies mid-answer gives the client a clean error, not a hang."""

import hashlib
import json
import os
import socket
import sys
import threading
import time
import unittest

import api
import harness

UPSTREAM = r'''
import hashlib, http.server, json, os, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def count(self, slow):
        # Read the body piece by piece (Content-Length or chunked), keeping only a hash.
        h, n = hashlib.sha256(), 0
        def take(k):
            nonlocal n
            while k:
                piece = self.rfile.read(min(k, 1 << 20))
                h.update(piece)
                n += len(piece)
                k -= len(piece)
                if slow:
                    time.sleep(0.005)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                take(size)
                self.rfile.readline()
        else:
            take(int(self.headers.get("Content-Length") or 0))
        out = json.dumps({"bytes": n, "sha256": h.hexdigest(),
                          "te": self.headers.get("Transfer-Encoding"),
                          "cl": self.headers.get("Content-Length")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def reply(self):
        if self.path.startswith("/count"):
            return self.count(self.path.startswith("/count-slow"))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                piece = ("part %d\n" % i).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        if self.path.startswith("/big"):
            size = 64 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(size >> 20):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        if self.path.startswith("/close10"):
            # HTTP/1.0 without a length: the body ends when the connection does.
            self.close_connection = True
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            self.wfile.flush()
            time.sleep(0.1)
            self.wfile.write(b"first line\n" * 1000)
            self.wfile.write(b"the end\n")
            return
        if self.path.startswith("/badhead/"):
            self.close_connection = True
            bad = {"space": b"X-A : a\r\n", "ctl": b"X-A: a\x01b\r\n", "fold": b"X-A: a\r\n b\r\n",
                   "nul": b"X-A: a\x00b\r\n", "name": b"X\x7fA: a\r\n",
                   "good": b"X-Empty:\r\nX-B:  1 \r\nX-C: a\tb\r\n"}[self.path[9:]]
            self.wfile.write(b"HTTP/1.1 200 OK\r\n" + bad + b"Content-Length: 2\r\n\r\nok")
            return
        if self.path.startswith("/die"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only part of it")
            self.wfile.flush()
            os._exit(1)
        out = json.dumps({"method": self.command, "path": self.path, "body": body.decode(),
                          "headers": {k.lower(): v for k, v in self.headers.items()},
                          "xff_count": len(self.headers.get_all("X-Forwarded-For") or [])}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        if self.path.startswith("/connresp"):
            self.send_header("Connection", "X-Hop, keep-alive")
            self.send_header("X-Hop", "for the gateway only")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = reply
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "12345")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


class Gateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) instead of
        # being reused, so the RSS checks below would count the 100 MiB upload's freed pieces. A
        # small quarantine keeps them meaningful; use-after-free is still caught. (This file runs
        # in its own process.)
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                            "quarantine_size_mb=16"]))
        cls.tmp = harness.tempdir("t1400")
        script = os.path.join(cls.tmp, "upstream.py")
        with open(script, "w") as f:
            f.write(UPSTREAM)
        api.start_berthd(cls)
        s = cls.c.ok("CreateModelService", {"ServiceGroupName": "upstream", "InstanceType": "TI.S.MEDIUM.POST",
                                            "Command": "exec %s %s" % (sys.executable, script)})["Service"]
        cls.gid, cls.sid = s["ServiceGroupId"], s["ServiceId"]
        harness.wait_until(lambda: cls.c.ok("DescribeModelService", {"ServiceId": cls.sid})["Service"]["Status"]
                           == "Normal", 20)
        harness.wait_until(lambda: harness.Client(cls.d.gateway_port).get("/%s/ping" % cls.gid).status == 201, 5)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_request_passes_through(self):
        gw = harness.Client(self.d.gateway_port)
        r = gw.request("PUT", "/%s/a/b?x=1&y=%%20z" % self.gid, b'{"k": 1}',
                       headers={"X-Custom": "kept", "Connection": "keep-alive", "Te": "trailers"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.headers.get("x-upstream"), "yes")
        doc = r.json()
        self.assertEqual(doc["method"], "PUT")
        self.assertEqual(doc["path"], "/a/b?x=1&y=%20z")
        self.assertEqual(doc["body"], '{"k": 1}')
        self.assertEqual(doc["headers"]["x-custom"], "kept")
        self.assertNotIn("te", doc["headers"])
        self.assertEqual(doc["headers"]["x-forwarded-prefix"], "/" + self.gid)
        self.assertEqual(doc["headers"]["x-forwarded-for"], "127.0.0.1")
        # A client's X-Forwarded-For is its own word, not a proxy's: replaced (t1600 covers
        # trusted proxies).
        doc = gw.request("GET", "/%s/xff" % self.gid, headers={"X-Forwarded-For": "203.0.113.7"}).json()
        self.assertEqual(doc["headers"]["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(doc["xff_count"], 1)
        # The bare prefix is the instance's root.
        self.assertEqual(gw.get("/%s" % self.sid).json()["path"], "/")
        gw.close()

    def test_forwarding_headers_from_a_client_are_replaced(self):
        # berthd trusts no proxy here: whatever the client claims, the instance hears the truth.
        gw = harness.Client(self.d.gateway_port)
        forged = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7",
                  "Forwarded": "for=203.0.113.7;proto=https", "X-Forwarded-Host": "bank.example",
                  "X-Forwarded-Proto": "https"}
        doc = gw.request("GET", "/%s/forged" % self.gid, headers=dict(forged, Host="front.example:81")).json()
        h = doc["headers"]
        self.assertNotIn("203.0.113.7", json.dumps(h))
        self.assertEqual(h["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(h["x-real-ip"], "127.0.0.1")
        self.assertEqual(h["forwarded"], 'for=127.0.0.1;host="front.example:81";proto=http')
        self.assertEqual(h["x-forwarded-host"], "front.example:81")
        self.assertEqual(h["x-forwarded-proto"], "http")
        gw.close()

    def test_connection_named_headers_stay_on_their_hop(self):
        # RFC 9110 7.6.1: a field named in Connection is for the next hop only, both ways.
        gw = harness.Client(self.d.gateway_port)
        r = gw.request("GET", "/%s/connresp" % self.gid,
                       headers={"Connection": "keep-alive, X-Secret", "X-Secret": "hop", "X-Kept": "yes"})
        self.assertEqual(r.status, 201)
        self.assertNotIn("x-hop", r.headers)
        self.assertEqual(r.headers.get("x-upstream"), "yes")
        h = r.json()["headers"]
        self.assertNotIn("x-secret", h)
        self.assertEqual(h["x-kept"], "yes")
        gw.close()

    def test_head_requests(self):
        gw = harness.Client(self.d.gateway_port, timeout=5)
        for _ in range(3):  # and the connections stay usable
            r = gw.request("HEAD", "/%s/anything" % self.gid)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get("content-length"), "12345")
            self.assertEqual(r.body, b"")
        self.assertEqual(gw.get("/%s/after-head" % self.gid).status, 201)
        gw.close()

    def test_responses_stream(self):
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
        s.sendall(b"GET /%s/stream HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode())
        t0 = time.monotonic()
        first = s.recv(4096)
        t_first = time.monotonic() - t0
        data = first
        while not data.endswith(b"0\r\n\r\n"):
            more = s.recv(4096)
            if not more:
                break
            data += more
        t_all = time.monotonic() - t0
        s.close()
        self.assertIn(b"Transfer-Encoding: chunked", data)
        self.assertIn(b"part 0", data)
        self.assertIn(b"part 2", data)
        self.assertLess(t_first, 0.35, "the head and first piece came only at the end (%.2fs)" % t_first)
        self.assertGreater(t_all, 0.7)

    def test_keep_alive_and_pipelining(self):
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
        reqs = b"".join(b"POST /%s/n%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d" % (self.gid.encode(), i, i)
                        for i in range(5))
        s.sendall(reqs)
        buf = b""
        for i in range(5):
            status, headers, body, buf = harness.read_http_response(s, buf)
            self.assertEqual(status, 201)
            doc = json.loads(body)
            self.assertEqual(doc["path"], "/n%d" % i)
            self.assertEqual(doc["body"], str(i))
        s.close()
        gw = harness.Client(self.d.gateway_port)
        for i in range(50):
            self.assertEqual(gw.get("/%s/k%d" % (self.gid, i)).status, 201)
        gw.close()

    def test_client_leaving_mid_request(self):
        # The client gives up while the instance is still working: nothing breaks.
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=5)
            s.sendall(b"GET /%s/slow HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode())
            time.sleep(0.1)
            s.close()
        time.sleep(1.5)  # the instance answers into the void
        gw = harness.Client(self.d.gateway_port)
        self.assertEqual(gw.get("/%s/after" % self.gid).status, 201)
        gw.close()

    def test_slow_reader_does_not_balloon_memory(self):
        before = harness.rss_kib(self.d.proc.pid)
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.sendall(b"GET /%s/big HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode())
        got = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # read slowly: 64 KiB every 50 ms
            got += len(s.recv(64 << 10))
            time.sleep(0.05)
        peak = harness.rss_kib(self.d.proc.pid)
        s.close()
        self.assertGreater(got, 0)
        # The upstream can send 64 MiB in well under 2 s; the gateway must not hold it.
        self.assertLess(peak - before, 24 << 10, "berthd grew by %d KiB behind a slow reader" % (peak - before))
        gw = harness.Client(self.d.gateway_port)
        harness.wait_until(lambda: gw.get("/%s/after" % self.gid).status == 201, 10)
        gw.close()

    def test_many_slow_readers_stay_bounded(self):
        # 100 clients ask for 64 MiB each, pipeline more requests behind and read nothing: each
        # costs berthd its capped queue (64 KiB and one read), its capped pipelined bytes and no
        # upstream read buffer of its own. (Before: about 660 KiB each.)
        gw = harness.Client(self.d.gateway_port)
        harness.wait_until(lambda: gw.get("/%s/warm" % self.gid).status == 201, 10)
        gw.close()
        before = harness.rss_kib(self.d.proc.pid)
        junk = b"GET /%s/after HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode()
        junk = junk * ((256 << 10) // len(junk))
        socks = []
        try:
            for _ in range(100):
                s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
                s.sendall(b"GET /%s/big HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode())
                s.setblocking(False)
                socks.append(s)
            peak, end = 0, time.monotonic() + 2.0
            while time.monotonic() < end:
                for s in socks:
                    try:
                        s.send(junk)  # what the socket takes
                    except OSError:
                        pass
                peak = max(peak, harness.rss_kib(self.d.proc.pid))
                time.sleep(0.1)
        finally:
            for s in socks:
                s.close()
        allowance = harness.rss_allowance_kib(24 << 10)
        self.assertLess(peak - before, allowance, "berthd grew by %d KiB behind 100 slow readers" % (peak - before))
        gw = harness.Client(self.d.gateway_port)
        harness.wait_until(lambda: gw.get("/%s/after" % self.gid).status == 201, 10)
        gw.close()

    def test_close_delimited_response_ends(self):
        # An HTTP/1.0 answer without Content-Length ends at close: the client gets all of it, with
        # its chunked (HTTP/1.1) or close-delimited (HTTP/1.0) framing ended properly.
        want = b"first line\n" * 1000 + b"the end\n"
        gw = harness.Client(self.d.gateway_port, timeout=5)
        for _ in range(2):  # and the client connection stays usable
            r = gw.get("/%s/close10" % self.gid)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, want)
        self.assertEqual(gw.get("/%s/after-close10" % self.gid).status, 201)
        gw.close()
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=5)
        s.sendall(b"GET /%s/close10 HTTP/1.0\r\nHost: x\r\n\r\n" % self.gid.encode())
        data = b""
        while True:
            more = s.recv(65536)
            if not more:
                break
            data += more
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), data[:40])
        self.assertTrue(data.endswith(b"\r\n\r\n" + want), data[-60:])

    def test_malformed_upstream_headers_are_refused(self):
        # A header the gateway's parser would not accept from a client is not passed on either.
        gw = harness.Client(self.d.gateway_port, timeout=5)
        for kind in ("space", "ctl", "fold", "nul", "name"):
            r = gw.get("/%s/badhead/%s" % (self.gid, kind))
            self.assertEqual(r.status, 502, kind)
            self.assertIn("malformed", r.json()["error"], kind)
            self.assertNotIn("x-a", r.headers, kind)
        # What is allowed still passes: an empty value, a tab inside one.
        r = gw.get("/%s/badhead/good" % self.gid)
        self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assertEqual((r.headers.get("x-empty"), r.headers.get("x-b"), r.headers.get("x-c")), ("", "1", "a\tb"))
        self.assertEqual(gw.get("/%s/after-badhead" % self.gid).status, 201)
        gw.close()

    def test_large_upload_streams_with_bounded_memory(self):
        # 100 MiB to an instance that reads slowly: the gateway passes it on as it comes and stops
        # reading the client while the instance lags, so berthd holds a bounded buffer.
        before = harness.rss_kib(self.d.proc.pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], harness.rss_kib(self.d.proc.pid))
                time.sleep(0.02)
        sampler = threading.Thread(target=sample)
        sampler.start()
        size, piece = 100 << 20, bytes(range(256)) * 4096  # 1 MiB
        digest = hashlib.sha256()
        try:
            s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=30)
            s.sendall(b"POST /%s/count-slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (self.gid.encode(), size))
            for _ in range(size // len(piece)):
                s.sendall(piece)
                digest.update(piece)
            status, headers, body, _ = harness.read_http_response(s, timeout=30)
            s.close()
        finally:
            done.set()
            sampler.join()
        self.assertEqual(status, 200, body[:200])
        doc = json.loads(body)
        self.assertEqual((doc["bytes"], doc["sha256"], doc["cl"]), (size, digest.hexdigest(), str(size)))
        self.assertLess(peak[0] - before, 24 << 10, "berthd grew by %d KiB during a 100 MiB upload"
                        % (peak[0] - before))

    def test_chunked_upload_is_forwarded_chunked(self):
        # A body of unknown length goes on as it comes, so chunked, not buffered to count it.
        pieces = [os.urandom(n) for n in (1, 5000, 70000, 1 << 20, 3, 300000)]
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
        s.sendall(b"POST /%s/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  % self.gid.encode())
        for p in pieces:
            s.sendall(b"%x\r\n%s\r\n" % (len(p), p))
        s.sendall(b"0\r\n\r\n")
        status, headers, body, _ = harness.read_http_response(s, timeout=10)
        # And a second request on the same connection: the stream ended where it should.
        s.sendall(b"GET /%s/after-chunked HTTP/1.1\r\nHost: x\r\n\r\n" % self.gid.encode())
        status2, _, _, _ = harness.read_http_response(s, timeout=10)
        s.close()
        self.assertEqual(status, 200, body[:200])
        doc = json.loads(body)
        whole = b"".join(pieces)
        self.assertEqual((doc["bytes"], doc["sha256"], doc["te"], doc["cl"]),
                         (len(whole), hashlib.sha256(whole).hexdigest(), "chunked", None))
        self.assertEqual(status2, 201)

    def test_instance_dying_mid_answer(self):
        gw = harness.Client(self.d.gateway_port, timeout=10)
        t0 = time.monotonic()
        try:
            r = gw.get("/%s/die" % self.gid)
            # If a status line made it through, the body must not pretend to be complete.
            self.assertNotEqual(len(r.body), 1000)
        except (OSError, Exception) as e:  # the connection is cut: that is the right answer
            self.assertNotIsInstance(e, AssertionError)
        self.assertLess(time.monotonic() - t0, 5)
        gw.close()
        # The instance comes back and the gateway finds it again.
        harness.wait_until(lambda: harness.Client(self.d.gateway_port).get("/%s/ok" % self.gid).status == 201, 15,
                           what="the restarted instance behind the gateway")
