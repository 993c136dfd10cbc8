"""Helpers for berthd end-to-end tests: a TC3-HMAC-SHA256 signer written from the reference
(../shared/reference/tione-api.md §1.5), an API client, and a Berthd process wrapper with the
same stop checks as berth-serve's (SIGTERM, exit 0, no sanitizer report)."""

import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import subprocess
import time

import harness

SERVICE = "tione"
VERSION = "2021-11-11"


def berthd_path():
    return os.path.join(os.path.dirname(harness.bin_path()), "berthd")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(secret_id, secret_key, body, timestamp, host, content_type="application/json",
         service=SERVICE, extra_signed=None, date=None):
    """Returns the Authorization value for a POST / with these headers signed
    (content-type, host and the lower-case names in extra_signed, a dict)."""
    headers = {"content-type": content_type, "host": host}
    for k, v in (extra_signed or {}).items():
        headers[k.lower()] = v
    names = sorted(headers)
    canonical_headers = "".join("%s:%s\n" % (n, headers[n].strip().lower()) for n in names)
    signed = ";".join(names)
    canonical = "POST\n/\n\n%s\n%s\n%s" % (canonical_headers, signed, sha256_hex(body))
    date = date or time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    scope = "%s/%s/tc3_request" % (date, service)
    string_to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (timestamp, scope, sha256_hex(canonical.encode()))
    k = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    sig = hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        secret_id, scope, signed, sig)


class ApiClient:
    def __init__(self, port, secret_id, secret_key, region="ap-guangzhou"):
        self.port = port
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.region = region

    def raw(self, action, body, headers=None, timestamp=None, sign_host=None, key=None,
            secret_id=None, drop=(), region=None, service=SERVICE, date=None, content_type="application/json",
            source=None):
        """Send one request; returns (status, content_type, parsed JSON). 'source' is the
        client socket's address (another loopback one such as 127.0.0.2 plays another host)."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        ts = int(time.time()) if timestamp is None else timestamp
        host = "127.0.0.1:%d" % self.port
        h = {"Content-Type": content_type, "Host": host, "X-TC-Action": action,
             "X-TC-Version": VERSION, "X-TC-Region": region or self.region,
             "X-TC-Timestamp": str(ts)}
        h["Authorization"] = sign(secret_id or self.secret_id, key or self.secret_key, body, ts,
                                  sign_host or host, content_type=content_type, service=service,
                                  date=date)
        h.update(headers or {})
        for d in drop:
            h.pop(d, None)
        if getattr(self, "ssl_context", None):  # an HTTPS API (t2600)
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                            context=self.ssl_context)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                           source_address=(source, 0) if source else None)
        try:
            c.request("POST", "/", body, h)
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheader("Content-Type"), json.loads(data)
        finally:
            c.close()

    def call(self, action, params=None, **kw):
        """The Response object; raises on HTTP or envelope trouble."""
        status, ctype, doc = self.raw(action, params or {}, **kw)
        assert status == 200, (status, doc)
        assert ctype == "application/json", ctype
        resp = doc["Response"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            resp.get("RequestId", "")), resp
        return resp

    def ok(self, action, params=None, **kw):
        resp = self.call(action, params, **kw)
        assert "Error" not in resp, "%s failed: %r" % (action, resp["Error"])
        return resp

    def error(self, action, params=None, **kw):
        """The Error object of a call that must fail."""
        resp = self.call(action, params, **kw)
        assert "Error" in resp, "%s should have failed: %r" % (action, resp)
        return resp["Error"]


class Berthd:
    """berthd on a free loopback port and a data directory of the test's."""

    def __init__(self, data_dir, workdir, extra=(), name="berthd", import_roots=None):
        self.data_dir = data_dir
        self.workdir = workdir
        # Tests import from directories inside their workdir unless they say otherwise.
        self.import_roots = [workdir] if import_roots is None else list(import_roots)
        self.extra = list(extra)
        self.name = name
        self.proc = None
        self.port = None
        self.runs = 0
        self.log_path = None

    def start(self, timeout=15):
        path = berthd_path()
        if not os.access(path, os.X_OK):
            raise AssertionError("berthd is not built at %s" % path)
        self.port = harness.free_port()
        self.gateway_port = harness.free_port()
        self.runs += 1
        self.log_path = os.path.join(self.workdir, "%s-%d.log" % (self.name, self.runs))
        self._log = open(self.log_path, "wb")
        self.argv = [path, "--data-dir", self.data_dir, "--api-listen",
                     "127.0.0.1:%d" % self.port, "--gateway-listen",
                     "127.0.0.1:%d" % self.gateway_port] + self.extra
        # berthd leaves its instances running when it stops (for the next one to adopt);
        # a test stops them with it unless it says otherwise.
        if not any(a.startswith("--instances-on-exit") for a in self.extra):
            self.argv += ["--instances-on-exit", "stop"]
        for root in self.import_roots:
            self.argv += ["--import-root", root]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while "management API listening" not in self.log():
            if self.proc.poll() is not None:
                raise AssertionError("berthd exited with %d at start\n%s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("berthd did not start in %ds\n%s" % (timeout, self.log()))
            time.sleep(0.05)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def credentials(self):
        with open(os.path.join(self.data_dir, "credentials")) as f:
            return json.load(f)

    def client(self, region="ap-guangzhou"):
        cred = self.credentials()
        return ApiClient(self.port, cred["secretId"], cred["secretKey"], region)

    def stop(self):
        """SIGTERM: exit 0 within 5 s and a clean log."""
        if not self.proc or self.proc.poll() is not None:
            rc = self.proc.returncode if self.proc else None
            raise AssertionError("berthd was not running (exit %r)\n%s" % (rc, self.log()))
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("berthd did not stop within 5 s of SIGTERM\n" + self.log())
        self._log.close()
        problems = [m for m in harness.SANITIZER_MARKERS if m in self.log()]
        if rc != 0 or problems:
            raise AssertionError("berthd exited %d %s\n%s" % (rc, problems, self.log()))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        end_instances(self.data_dir)


def end_instances(data_dir):
    """End the instances recorded in berthd's store whose keepers still run (left by a berthd
    killed with -9 or stopped with --instances-on-exit keep): SIGHUP makes a keeper end its
    instance and everything under it. Returns the keeper pids signalled."""
    db = os.path.join(data_dir, "berth.db")
    if not os.path.exists(db):
        return []
    import sqlite3
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            rows = con.execute("SELECT keeper_pid, keeper_ticks FROM instances").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []
    ended = []
    for pid, ticks in rows:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if pid > 1 and fields[0] != "Z" and int(fields[19]) == ticks:
            os.kill(pid, signal.SIGHUP)
            ended.append(pid)
    deadline = time.monotonic() + 5
    for pid in ended:
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.02)
    return ended


def start_berthd(cls, tag=None, **kw):
    """The class fixture of most API tests, for setUpClass: cls.tmp, a new temporary directory
    named after 'tag' (without a tag, the one setUpClass made already), berthd as cls.d with
    its data directory in cls.tmp/data and cls.tmp as its work directory and import root
    (keywords go to Berthd), and cls.c, its client. Pair it with stop_berthd(cls)."""
    if tag is not None:
        cls.tmp = harness.tempdir(tag)
    cls.d = Berthd(os.path.join(cls.tmp, "data"), cls.tmp, **kw)
    cls.d.start()  # cls.d is set first, so that stop_berthd ends one that failed to start
    cls.c = cls.d.client()
    return cls.d


def stop_berthd(cls):
    """The tearDownClass of start_berthd: berthd's stop checks (SIGTERM, exit 0, a clean log),
    then the temporary directory goes, which is kept when they fail. Also right after a
    setUpClass that failed part way (the runner calls it then too)."""
    d, tmp = vars(cls).get("d"), vars(cls).get("tmp")
    if d is not None:
        try:
            d.stop()
        finally:
            d.cleanup()
    harness.rmtree(tmp)


def run_exit(argv, timeout=10):
    """Run a command expected to exit by itself; returns (exit code, output)."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def run_berth(d, cwd, *args):
    """The berth CLI against berthd 'd' with its administrator credentials (no TENCENTCLOUD_*
    from the environment); returns (exit code, stdout, stderr)."""
    argv = [os.path.join(os.path.dirname(berthd_path()), "berth"), "--endpoint",
            "http://127.0.0.1:%d" % d.port, "--credentials",
            os.path.join(d.data_dir, "credentials")] + list(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, cwd=cwd)
    return p.returncode, p.stdout, p.stderr
