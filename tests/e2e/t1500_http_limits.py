"""The HTTP layer every surface shares (src/http/server.c): ambiguous framing is refused with 400
on the API port, the gateway and berth-serve alike, and nothing of a smuggled request reaches an
instance; HEAD answers carry no body; the server's own errors on the API port are in the TI-ONE
envelope; running out of descriptors does not spin; connections and buffered bodies are capped,
so idle and slow-body clients cannot grow berthd without bound; SIGTERM lets a request in flight
through the gateway finish before berthd exits."""

import json
import os
import resource
import socket
import subprocess
import sys
import time
import unittest

import api
import harness

UPSTREAM = r'''
import http.server, json, os, sys, time
SEEN = os.environ["SEEN"]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self):
        with open(SEEN, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        out = json.dumps({"path": self.path, "body": body.decode()}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = reply
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

# Each of these must be refused with 400 by the parser, before any handler sees it.
SMUGGLING = [
    # whitespace between field name and colon (RFC 9112 5.1): the body is a second request
    (b"POST %(p)s HTTP/1.1\r\nHost: x\r\nContent-Length : 35\r\n\r\n"
     b"GET %(q)sadmin HTTP/1.1\r\nHost: x\r\n\r\n", ""),
    (b"POST %(p)s HTTP/1.1\r\nHost: x\r\nX-A : a\r\nContent-Length: 35\r\n\r\n"
     b"GET %(q)sadmin HTTP/1.1\r\nHost: x\r\n\r\n", "between the name and the colon"),
    # obs-fold (RFC 9112 5.2)
    (b"POST %(p)s HTTP/1.1\r\nHost: x\r\nX-A:\r\n Content-Length: 35\r\n\r\n"
     b"GET %(q)sadmin HTTP/1.1\r\nHost: x\r\n\r\n", "obs-fold"),
    # a bare CR, a NUL, a control byte in a value
    (b"GET %(p)s HTTP/1.1\r\nHost: x\r\nX-A: a\rContent-Length: 5\r\n\r\nhello", ""),
    (b"GET %(p)s HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", ""),
    (b"GET %(p)s HTTP/1.1\r\nHost: x\r\nX-A: a\x0bb\r\n\r\n", ""),
    # a bare LF ending the head
    (b"POST %(p)s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\nab", "bare LF"),
]


def exchange(port, data, timeout=5.0):
    """Send raw bytes; read until the server closes. Returns everything it sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        got, closed = harness.recv_until_close(s, timeout)
    finally:
        s.close()
    if not closed:
        raise AssertionError("the server kept the connection open after %r; sent %r" % (data[:80], got[:300]))
    return got


def parse_one(data):
    """(status, headers, body) of the one response in 'data'."""
    status, headers, body, rest = harness.read_http_response(_Replay(data), b"")
    return status, headers, body, rest


class _Replay:
    """A socket stand-in that hands out bytes already read."""

    def __init__(self, data):
        self.data = data

    def settimeout(self, t):
        pass

    def recv(self, n):
        d, self.data = self.data[:n], self.data[n:]
        return d


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_idle(port, n):
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class Surfaces(unittest.TestCase):
    """One berthd with a custom instance behind its gateway, and a berth-serve of its own."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1500")
        script = os.path.join(cls.tmp, "upstream.py")
        with open(script, "w") as f:
            f.write(UPSTREAM)
        cls.seen = os.path.join(cls.tmp, "seen.log")
        open(cls.seen, "w").close()
        os.chmod(cls.seen, 0o666)  # the instance runs as the unprivileged instance user
        api.start_berthd(cls, extra=["--drain-timeout-ms", "3000"])
        s = cls.c.ok("CreateModelService", {
            "ServiceGroupName": "upstream", "InstanceType": "TI.S.MEDIUM.POST",
            "Command": "SEEN=%s exec %s %s" % (cls.seen, sys.executable, script)})["Service"]
        cls.gid, cls.sid = s["ServiceGroupId"], s["ServiceId"]
        harness.wait_until(lambda: cls.c.ok("DescribeModelService", {"ServiceId": cls.sid})["Service"]["Status"]
                           == "Normal", 20)
        harness.wait_until(lambda: harness.Client(cls.d.gateway_port).get("/%s/ping" % cls.gid).status == 201, 5)
        base = os.path.join(cls.tmp, "base")
        os.makedirs(base)
        cls.serve = harness.Server(["--model_name=m", "--model_base_path=%s" % base], cls.tmp, name="serve")
        cls.serve.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.serve.stop()
            if cls.d.proc.poll() is None:
                cls.d.stop()
        finally:
            cls.d.cleanup()
        harness.rmtree(cls.tmp)

    def surfaces(self):
        """(name, port, path prefix) of each surface."""
        return [("api", self.d.port, "/"), ("gateway", self.d.gateway_port, "/%s/" % self.gid),
                ("berth-serve", self.serve.port, "/v1/models/")]

    def test_smuggling_is_refused_on_every_surface(self):
        for name, port, prefix in self.surfaces():
            for raw, why in SMUGGLING:
                data = raw % {b"p": prefix.encode(), b"q": prefix.encode()}
                with self.subTest(surface=name, request=data[:60]):
                    got = exchange(port, data)
                    status, headers, body, rest = parse_one(got)
                    self.assertEqual(rest, b"", "more than one answer: %r" % got)
                    self.assertEqual(headers.get("connection"), "close")
                    doc = json.loads(body)
                    if name == "api":
                        # The API's own format, HTTP 200 like every API error (item 20).
                        self.assertEqual(status, 200)
                        err = doc["Response"]["Error"]
                        self.assertEqual(err["Code"], "UnsupportedProtocol")
                        self.assertIn("malformed HTTP request", err["Message"])
                        self.assertIn(why, err["Message"])
                        self.assertTrue(doc["Response"]["RequestId"])
                    else:
                        self.assertEqual(status, 400)
                        self.assertIn("malformed HTTP request", doc["error"])
                        self.assertIn(why, doc["error"])
        # Nothing of it reached the instance; a good request still does.
        gw = harness.Client(self.d.gateway_port)
        self.assertEqual(gw.get("/%s/good" % self.gid).status, 201)
        gw.close()
        with open(self.seen) as f:
            seen = f.read()
        self.assertIn("GET /good", seen)
        self.assertNotIn("admin", seen)

    def test_api_size_errors_are_in_the_envelope(self):
        got = exchange(self.d.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
        status, headers, body, _ = parse_one(got)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        err = json.loads(body)["Response"]["Error"]
        self.assertEqual(err["Code"], "RequestSizeLimitExceeded")
        self.assertIn("exceeds the limit", err["Message"])
        many = b"".join(b"H%d: v\r\n" % i for i in range(70))
        got = exchange(self.d.port, b"POST / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        status, headers, body, _ = parse_one(got)
        self.assertEqual(json.loads(body)["Response"]["Error"]["Code"], "RequestSizeLimitExceeded")
        # The data plane keeps {"error": ...} with the HTTP status.
        got = exchange(self.d.gateway_port, b"GARBAGE\r\n\r\n")
        status, _, body, _ = parse_one(got)
        self.assertEqual(status, 400)
        self.assertIn("error", json.loads(body))

    def test_head_answers_carry_no_body(self):
        for name, port, path in [("api", self.d.port, "/"), ("berth-serve", self.serve.port, "/v1/models/m"),
                                 ("berth-serve", self.serve.port, "/v2/health/live")]:
            with self.subTest(surface=name, path=path):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                # HEAD, then GET on the same connection: the GET's answer must come right
                # after HEAD's head, and HEAD's Content-Length be that of the GET.
                s.sendall(b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
                          % (path.encode(), path.encode()))
                buf = b""
                while buf.count(b"\r\n\r\n") < 2:
                    d = s.recv(65536)
                    self.assertTrue(d, "closed early: %r" % buf)
                    buf += d
                head, rest = buf.split(b"\r\n\r\n", 1)
                self.assertTrue(rest.startswith(b"HTTP/1.1 "), "HEAD answer has a body: %r" % buf[:400])
                status, headers, body, _ = harness.read_http_response(s, rest)
                s.close()
                head_len = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                self.assertEqual(head_len, [b"Content-Length: %d" % len(body)])
                self.assertGreater(len(body), 0)
                self.assertEqual(head.split(b"\r\n")[0], b"HTTP/1.1 %d %s" % (status, {
                    200: b"OK", 404: b"Not Found"}[status]))

    def test_z_sigterm_drains_a_gateway_request_in_flight(self):
        # Last: it stops berthd. The instance takes 1 s to answer; berthd gets SIGTERM
        # after 0.3 s and must let the answer through, then exit 0.
        s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=10)
        s.sendall(b"POST /%s/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" % self.gid.encode())
        time.sleep(0.3)
        t0 = time.monotonic()
        self.d.proc.send_signal(15)
        # New clients are refused at once while the request drains.
        time.sleep(0.1)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=1).close()
        status, headers, body, _ = harness.read_http_response(s, b"", timeout=5)
        s.close()
        self.assertEqual(status, 201)
        self.assertEqual(json.loads(body)["body"], "hi")
        self.assertEqual(headers.get("connection"), "close")
        rc = self.d.proc.wait(8)
        self.d._log.close()
        self.assertEqual(rc, 0, self.d.log())
        for m in harness.SANITIZER_MARKERS:
            self.assertNotIn(m, self.d.log())
        self.assertLess(time.monotonic() - t0, 8)


class Limits(unittest.TestCase):
    """berthd with small caps: what a flood of idle, slow-body or descriptor-eating clients does."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1500l")
        api.start_berthd(cls, extra=["--api-max-connections", "40", "--gateway-max-connections", "400",
                                     "--gateway-body-budget-mib", "16", "--gateway-threads", "2"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_connection_cap_answers_503_then_recovers(self):
        socks = open_idle(self.d.port, 40)
        try:
            time.sleep(0.2)
            got = exchange(self.d.port, b"")
            status, headers, body, _ = parse_one(got)
            self.assertEqual(status, 200)
            err = json.loads(body)["Response"]["Error"]
            self.assertEqual(err["Code"], "ServiceUnavailable")
            self.assertIn("too many connections", err["Message"])
        finally:
            close_all(socks)
        harness.wait_until(lambda: "RequestId" in self.c.call("DescribeModelServiceGroups", {}), 5)
        self.c.ok("DescribeModelServiceGroups", {})

    def test_idle_and_slow_body_clients_stay_bounded(self):
        pid = self.d.proc.pid
        before = harness.rss_kib(pid)
        idle = open_idle(self.d.gateway_port, 200)
        slow, refused = [], 0
        try:
            # 20 clients announce 8 MiB bodies and send 1 MiB of each: the 16 MiB budget
            # takes two; the others are answered 503 before their bodies are read.
            # 20 clients announce 6 MiB bodies: the 16 MiB budget takes two; the others are
            # answered 503 before their bodies are read. Each then sends 4 MiB.
            for i in range(20):
                s = socket.create_connection(("127.0.0.1", self.d.gateway_port), timeout=5)
                s.sendall(b"POST /ms-nothing/p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (6 << 20))
                slow.append(s)
            time.sleep(0.3)
            admitted = []
            for s in slow:
                s.settimeout(0.1)
                try:
                    # The gateway streams bodies (hard-gateway): a body for no service is
                    # answered 404 at once and dropped, never buffered.
                    if s.recv(4096).startswith((b"HTTP/1.1 503", b"HTTP/1.1 404")):
                        refused += 1
                        continue
                except socket.timeout:
                    pass
                admitted.append(s)
            chunk = b"x" * (1 << 20)
            for _ in range(4):
                for s in admitted:
                    s.settimeout(2)
                    try:
                        s.sendall(chunk)
                    except OSError:
                        pass
            time.sleep(0.3)
            grown = harness.rss_kib(pid) - before
            # Other clients still get answers, on both ports.
            gw = harness.Client(self.d.gateway_port, timeout=5)
            self.assertEqual(gw.get("/ms-nothing/x").status, 404)
            gw.close()
            self.c.ok("DescribeModelServiceGroups", {})
        finally:
            close_all(idle)
            close_all(slow)
        self.assertGreaterEqual(refused, 17, "the body budget let more than 3 bodies in")
        self.assertLess(grown, 48 << 10, "berthd grew by %d KiB" % grown)

    def test_limits_come_from_the_option_table(self):
        # --help shows each limit's range and default; a config file sets them, and a bad value
        # there is refused naming the file, the line and the key.
        rc, out = api.run_exit([api.berthd_path(), "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("(1 to 1000000; default: 1536)", out)
        self.assertIn("(0 to 600000; default: 2000)", out)
        cfg = os.path.join(self.tmp, "limits.conf")
        with open(cfg, "w") as f:
            f.write("# limits\napi-max-connections = 3\ngateway-max-connections = 0\n")
        rc, out = api.run_exit([api.berthd_path(), "--data-dir", os.path.join(self.tmp, "unused"),
                                "--config", cfg])
        self.assertEqual(rc, 2, out)
        self.assertIn("limits.conf:3: gateway-max-connections: '0' must be a number from 1 to 1000000", out)
        with open(cfg, "w") as f:
            f.write("api-max-connections = 3\n")
        d = api.Berthd(os.path.join(self.tmp, "data-cfg"), self.tmp, name="berthd-cfg",
                       extra=["--config", cfg]).start()
        self.addCleanup(d.cleanup)
        socks = open_idle(d.port, 3)
        try:
            time.sleep(0.2)
            err = json.loads(parse_one(exchange(d.port, b""))[2])["Response"]["Error"]
            self.assertIn("too many connections", err["Message"])
        finally:
            close_all(socks)
        d.stop()

    def test_descriptor_exhaustion_does_not_spin(self):
        # A berthd of its own with 128 descriptors: 200 connections exhaust them.
        lim = 128
        d = api.Berthd(os.path.join(self.tmp, "data-fd"), self.tmp, name="berthd-fd",
                       extra=["--gateway-threads", "1"])
        real_popen = subprocess.Popen

        def popen_limited(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
            return real_popen(*a, **kw)

        subprocess.Popen = popen_limited
        try:
            d.start()
        finally:
            subprocess.Popen = real_popen
        self.addCleanup(d.cleanup)
        socks = []
        try:
            for _ in range(200):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=2))
                except OSError:
                    break
            time.sleep(0.3)
            log_before = d.log().count("accept failed")
            cpu0 = proc_cpu_s(d.proc.pid)
            time.sleep(1.0)
            cpu = proc_cpu_s(d.proc.pid) - cpu0
            lines = d.log().count("accept failed") - log_before
            self.assertLess(cpu, 0.3, "berthd used %.2f s of CPU in 1 s with no descriptors left" % cpu)
            self.assertLessEqual(lines, 3, "%d accept warnings in 1 s" % lines)
            self.assertGreaterEqual(d.log().count("accept failed"), 1)
            self.assertIn("descriptor limit %d" % lim, d.log())
        finally:
            close_all(socks)
        # Once the connections are gone it answers again.
        cred = d.credentials()
        c = api.ApiClient(d.port, cred["secretId"], cred["secretKey"])
        harness.wait_until(lambda: _answers(c), 5, what="berthd answering again")
        d.stop()


def _answers(c):
    try:
        return "RequestId" in c.call("DescribeModelServiceGroups", {})
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
