"""Helpers for the berth-serve end-to-end tests.

Python 3 standard library plus xgboost and numpy (Debian's /usr/bin/python3).

- free_port(): a free TCP port on 127.0.0.1
- Server: starts the real berth-serve with given flags, stderr+stdout to a log file,
  waits for GET /v2/health/live == 200, stops it with SIGTERM and checks the exit code and
  the log for sanitizer reports.
- Client: HTTP/1.1 client on a kept-alive http.client connection.
- train()/write_version(): small XGBoost models written as numbered version directories.
- assert_close(), assert_error(), parse_prometheus(): checks shared by the tests.
"""

import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Servers started (and logs written) by the current test file; the runner dumps their logs
# when a test fails and makes sure none is left running.
SERVERS = []
_SERVERS_LOCK = threading.Lock()

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


# --------------------------------------------------------------------------------------------
# binary, ports, temp dirs

def bin_path():
    d = os.environ.get("BERTH_BIN_DIR", "build")
    if not os.path.isabs(d):
        d = os.path.join(REPO, d)
    return os.path.join(d, "berth-serve")


def require_binary():
    p = bin_path()
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        raise unittest.SkipTest("berth-serve not built at %s" % p)
    return p


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def listeners_on_ports(ports):
    """{port: pid} of the processes listening on 127.0.0.1 at these ports (from /proc/net/tcp
    and /proc/*/fd)."""
    inodes = {}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            port = int(parts[1].split(":")[1], 16)
            if parts[3] == "0A" and port in ports:
                inodes[parts[9]] = port
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % pid):
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    out[inodes[link[8:-1]]] = int(pid)
        except OSError:
            continue
    return out


def tempdir(tag):
    d = tempfile.mkdtemp(prefix="berth-e2e-%s-" % tag)
    # Searchable by berthd's unprivileged instance user, which runs the tests' scripts and
    # works in the instance directory beside the data directory; nothing here is listable.
    os.chmod(d, 0o711)
    return d


def rss_kib(pid):
    """The resident set of process 'pid' (VmRSS), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        return int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])


def rss_allowance_kib(plain_kib):
    """How much a sanitized berthd may grow where a plain one may grow plain_kib. Under
    AddressSanitizer its redzones and size classes about double what is held, and its quarantine
    (the tests set 16 MiB) keeps freed pieces: plain + 40 MiB. Under ThreadSanitizer RSS says
    little about what berthd holds (its shadow memory and allocator; 63 to 147 MiB where a plain
    build grows under 24 MiB): no bound, the plain and ASan runs check it."""
    bins = os.environ.get("BERTH_BIN_DIR", "")
    if "thread" in bins:
        return float("inf")
    if "address" in bins:
        return plain_kib + (40 << 10)
    return plain_kib


def rmtree(path):
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; bounded in time. Returns the value or
    raises AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s"
                                 % (timeout, what, (" (last error: %r)" % err) if err else ""))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# HTTP

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # dict, lower-case names
        self.body = body                # bytes

    def json(self):
        # Python's json accepts the NaN/Infinity tokens, as TF Serving's parser does.
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        b = self.body[:600]
        return "<HTTP %d %r>" % (self.status, b)


def dumps(obj):
    return json.dumps(obj, allow_nan=True, separators=(",", ":"))


class Client:
    """An HTTP/1.1 client on one kept-alive connection. If the server closed an idle
    kept-alive connection, the request is retried once on a new connection (retry=False
    turns that off)."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.conn = None
        self.connections_opened = 0

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.conn = None

    def request(self, method, path, body=None, headers=None, retry=True):
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            fresh = self.conn is None
            if fresh:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.connections_opened += 1
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, http.client.BadStatusLine,
                    BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close()
                if fresh or not retry or attempt:
                    raise
                continue
            except Exception:
                self.close()
                raise
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            resp = Response(r.status, r.reason, hdrs, data)
            if r.will_close:
                self.close()
            return resp
        raise AssertionError("unreachable")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def get_json(self, path, status=200):
        r = self.get(path)
        if r.status != status:
            raise AssertionError("GET %s: expected %d, got %d %r" % (path, status, r.status, r.body[:600]))
        return r.json()

    def post_json(self, path, body, status=200):
        r = self.post(path, body)
        if r.status != status:
            raise AssertionError("POST %s: expected %d, got %d %r" % (path, status, r.status, r.body[:600]))
        return r.json()


def read_http_response(sock, buf=b"", timeout=5.0):
    """Read one HTTP/1.1 response (Content-Length framed, or chunked) from a raw socket.
    Returns (status, headers, body, rest_of_buffer). Bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout

    def more():
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out reading a response; have %r" % buf[:300])
        sock.settimeout(left)
        d = sock.recv(65536)
        if not d:
            raise AssertionError("connection closed while reading a response; have %r" % buf[:300])
        return d

    while b"\r\n\r\n" not in buf:
        buf += more()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            buf += more()
        return status, headers, buf[:n], buf[n:]
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += more()
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                buf += more()
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                return status, headers, body, buf
    raise AssertionError("response has neither Content-Length nor chunked encoding: %r" % head)


def recv_until_close(sock, timeout):
    """Read from a raw socket until the peer closes it. Returns (data, closed): closed is
    False if `timeout` seconds passed first. A reset counts as closed."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionResetError, ConnectionAbortedError):
            return data, True
        if not d:
            return data, True
        data += d


# --------------------------------------------------------------------------------------------
# server process

class ServerExited(AssertionError):
    pass


class Server:
    def __init__(self, args, workdir, name="berth", port=None, env=None, spaced_flags=False,
                 binary=None):
        self.args = list(args)
        self.binary = binary  # another build's berth-serve (a path), else bin_path()
        self.spaced_flags = spaced_flags
        self.workdir = workdir
        self.name = name
        self.port = port
        self.env = env
        self.proc = None
        self.log_path = None
        self._logf = None
        self.stopped = False

    # -- lifecycle
    def start(self, wait=True, timeout=STARTUP_TIMEOUT):
        binp = self.binary or require_binary()
        fixed_port = self.port is not None
        ask_zero = self.port == 0
        for attempt in range(3):
            if ask_zero:
                self.port = 0
            elif not fixed_port:
                self.port = free_port()
            self.log_path = os.path.join(self.workdir, "%s-%d.log" % (self.name, attempt))
            self._logf = open(self.log_path, "wb")
            if self.spaced_flags:
                argv = [binp, "--rest_api_port", str(self.port), "--rest_api_host", "127.0.0.1"] + self.args
            else:
                argv = [binp, "--rest_api_port=%d" % self.port, "--rest_api_host=127.0.0.1"] + self.args
            self.argv = argv
            env = dict(os.environ)
            if self.env:
                env.update(self.env)
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._logf,
                                         stderr=subprocess.STDOUT, cwd=self.workdir, env=env)
            self.stopped = False
            with _SERVERS_LOCK:
                SERVERS.append(self)
            if not wait:
                return self
            try:
                if ask_zero:
                    self.port = self.wait_listening_line(timeout)
                self.wait_live(timeout)
                return self
            except ServerExited:
                if not fixed_port and "in use" in self.log().lower() and attempt < 2:
                    self._close_log()
                    continue
                raise
        return self

    def wait_listening_line(self, timeout=STARTUP_TIMEOUT):
        """Wait for the `listening on 127.0.0.1:PORT` line; returns PORT."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                self.stopped = True
                raise ServerExited("berth-serve exited during startup with code %d; argv %s\n%s"
                                   % (self.proc.returncode, " ".join(self.argv), self.log_tail()))
            if time.monotonic() >= deadline:
                raise AssertionError("no 'listening on 127.0.0.1:PORT' line within %.0fs\n%s"
                                     % (timeout, self.log_tail()))
            time.sleep(0.05)

    def wait_live(self, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.stopped = True
                raise ServerExited("berth-serve exited during startup with code %d; argv %s\n%s"
                                   % (rc, " ".join(self.argv), self.log_tail()))
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
                try:
                    c.request("GET", "/v2/health/live")
                    r = c.getresponse()
                    r.read()
                    if r.status == 200:
                        return
                finally:
                    c.close()
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                raise AssertionError("berth-serve did not answer GET /v2/health/live with 200 within "
                                     "%.0fs; argv %s\n%s" % (timeout, " ".join(self.argv), self.log_tail()))
            time.sleep(0.05)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True):
        """SIGTERM; require exit code 0 within 5 s and no sanitizer report in the log."""
        if self.proc is None or self.stopped:
            return
        self.stopped = True
        problems = []
        rc = self.proc.poll()
        if rc is not None:
            problems.append("berth-serve had already exited with code %d before SIGTERM" % rc)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                rc = None
                problems.append("berth-serve did not exit within %.0fs of SIGTERM" % STOP_TIMEOUT)
            if rc is not None and rc != 0:
                problems.append("berth-serve exited with code %d after SIGTERM (want 0)" % rc)
        self._close_log()
        problems += self.sanitizer_problems()
        if problems and check:
            raise AssertionError("; ".join(problems) + "\n" + self.log_tail())
        return problems

    def kill(self):
        """Hard stop without checks (cleanup only)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.stopped = True
        self._close_log()

    def wait_exit(self, timeout):
        """For servers expected to exit by themselves: returns the exit code (or None)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stopped = True
        self._close_log()
        return rc

    def _close_log(self):
        if self._logf is not None:
            try:
                self._logf.close()
            except OSError:
                pass
            self._logf = None

    # -- log
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def log_tail(self, lines=80):
        text = self.log().splitlines()
        tail = text[-lines:]
        return "---- %s log (%s, last %d of %d lines) ----\n%s\n---- end of log ----" % (
            self.name, self.log_path, len(tail), len(text), "\n".join(tail))

    def sanitizer_problems(self):
        text = self.log()
        return ["server log contains %r" % m for m in SANITIZER_MARKERS if m in text]

    # -- clients
    def client(self, timeout=10.0):
        return Client(self.port, timeout=timeout)

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def run_to_exit(args, workdir, timeout=10.0, name="berth-exit"):
    """Run berth-serve with args that should make it exit by itself. Returns (rc, log text);
    rc is None if it was still running after `timeout` (then it is killed)."""
    binp = require_binary()
    log_path = os.path.join(workdir, name + ".log")
    port = free_port()
    with open(log_path, "wb") as f:
        p = subprocess.Popen([binp, "--rest_api_port=%d" % port, "--rest_api_host=127.0.0.1"] + list(args),
                             stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, cwd=workdir)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
            rc = None
    with open(log_path, "rb") as f:
        return rc, f.read().decode("utf-8", "replace")


def cleanup_servers():
    """Kill every server this process started that is still running (runner's safety net)."""
    with _SERVERS_LOCK:
        servers = list(SERVERS)
    for s in servers:
        if s.alive():
            s.kill()


# --------------------------------------------------------------------------------------------
# models

_xgb = None
_np = None


def xgb():
    global _xgb
    if _xgb is None:
        import xgboost
        _xgb = xgboost
    return _xgb


def np():
    global _np
    if _np is None:
        import numpy
        _np = numpy
    return _np


def rows(n, n_features, seed=1, low=-0.2, high=1.2):
    """float32 rows, finite, a little outside the training range too."""
    N = np()
    rng = N.random.default_rng(seed)
    return (rng.random((n, n_features)) * (high - low) + low).astype(N.float32)


def train(objective, n_features=5, num_class=3, seed=0, rounds=6, feature_names=None, n=300, max_depth=3):
    """Train a small booster. Different seeds give visibly different predictions."""
    N = np()
    X = xgb()
    rng = N.random.default_rng(1000 + seed)
    data = rng.random((n, n_features)).astype(N.float32)
    w = rng.normal(size=n_features)
    score = data @ w
    params = {"objective": objective, "max_depth": max_depth, "eta": 0.3, "seed": seed,
              "nthread": 1, "verbosity": 0}
    if objective.startswith("binary:"):
        label = (score > N.median(score)).astype(N.float32)
    elif objective.startswith("multi:"):
        qs = N.quantile(score, [i / num_class for i in range(1, num_class)])
        label = N.searchsorted(qs, score).astype(N.float32)
        params["num_class"] = num_class
    else:
        label = (score - score.mean()).astype(N.float32) + float(seed % 5)
    dm = X.DMatrix(data, label=label, feature_names=feature_names)
    return X.train(params, dm, rounds)


def predict(booster, data, feature_names=None):
    """The library's own predictions, float32 array, for float32 rows."""
    N = np()
    arr = N.asarray(data, dtype=N.float32)
    names = feature_names if feature_names is not None else booster.feature_names
    return booster.predict(xgb().DMatrix(arr, feature_names=names))


_EXT = {"json": ".json", "ubj": ".ubj", "bin": ".bin"}


def save_model(booster, path, fmt):
    """Save booster at `path` in format fmt ('json', 'ubj' or 'bin', the legacy binary one)
    whatever path's name is: XGBoost picks the format from the extension, so save under a
    name with the right extension and rename."""
    d = os.path.dirname(path)
    tmp = os.path.join(d, ".save-%d-%d%s" % (os.getpid(), threading.get_ident(), _EXT[fmt]))
    booster.save_model(tmp)
    with open(tmp, "rb") as f:
        head = f.read(4)
    if fmt == "bin" and head[:1] == b"{":
        raise AssertionError("xgboost wrote %s in JSON/UBJSON, not the binary format" % tmp)
    if fmt == "json" and head[:2] != b'{"':
        raise AssertionError("xgboost did not write JSON to %s" % tmp)
    os.replace(tmp, path)
    return path


def model_dir(path, booster, fmt="json"):
    """A new directory `path` holding booster as model.<fmt's extension>, what an import takes."""
    os.makedirs(path)
    save_model(booster, os.path.join(path, "model" + _EXT[fmt]), fmt)
    return path


def write_version(base, version, booster, fmt="json", filename=None, berth=None, atomic=True):
    """Write <base>/<version>/<file> (+ berth.json). With atomic=True the directory is built
    under a dot-name in base (ignored by the server: not a positive integer) and renamed into
    place. Returns the model file path."""
    os.makedirs(base, exist_ok=True)
    final = os.path.join(base, str(version))
    d = os.path.join(base, ".stage-%s-%d" % (version, os.getpid())) if atomic else final
    if atomic:
        rmtree(d)
    os.makedirs(d, exist_ok=True)
    name = filename or ("model" + _EXT[fmt])
    save_model(booster, os.path.join(d, name), fmt)
    if berth is not None:
        with open(os.path.join(d, "berth.json"), "w") as f:
            json.dump(berth, f)
    if atomic:
        os.rename(d, final)
    return os.path.join(final, name)


def load_model(path):
    """The library's own reading of a model file (any name: XGBoost sniffs the content)."""
    return xgb().Booster(model_file=path)


def write_config_text(path, models):
    """models: list of dicts(name, base_path, policy_text=None, labels=None, platform='xgboost')."""
    lines = ["model_config_list {"]
    for m in models:
        lines.append("  config {")
        lines.append("    name: '%s'" % m["name"])
        lines.append("    base_path: '%s'" % m["base_path"])
        if m.get("platform", "xgboost") is not None:
            lines.append("    model_platform: '%s'" % m.get("platform", "xgboost"))
        if m.get("policy_text"):
            lines.append("    model_version_policy { %s }" % m["policy_text"])
        for k, v in (m.get("labels") or {}).items():
            lines.append("    version_labels { key: '%s' value: %d }" % (k, v))
        lines.append("  }")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_config_json(path, models):
    """models: list of dicts(name, base_path, policy=None (a JSON object), labels=None)."""
    cfg = []
    for m in models:
        c = {"name": m["name"], "base_path": m["base_path"], "model_platform": "xgboost"}
        if m.get("policy") is not None:
            c["model_version_policy"] = m["policy"]
        if m.get("labels"):
            c["version_labels"] = m["labels"]
        cfg.append(c)
    with open(path, "w") as f:
        json.dump({"model_config_list": {"config": cfg}}, f, indent=1)
    return path


# --------------------------------------------------------------------------------------------
# assertions

def flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(flatten(e))
        return out
    return [x]


def shape_of(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        if not x:
            break
        x = x[0]
    return s


def assert_close(got, expected, tol=1e-6, what="predictions"):
    """got: nested JSON lists (or flat list) of numbers; expected: numpy array. Checks the
    shape (when got is nested) and every value within tol (absolute, plus tol relative)."""
    N = np()
    exp = N.asarray(expected, dtype=N.float64)
    if isinstance(got, list) and shape_of(got) != list(exp.shape):
        if len(flatten(got)) != exp.size or len(shape_of(got)) != 1 or exp.ndim != 1:
            raise AssertionError("%s: shape %s, expected %s; got %s" % (what, shape_of(got), list(exp.shape),
                                                                       str(got)[:300]))
    flat = flatten(got)
    for v in flat:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise AssertionError("%s: non-number %r in %s" % (what, v, str(got)[:300]))
    g = N.asarray(flat, dtype=N.float64)
    e = exp.reshape(-1)
    if g.size != e.size:
        raise AssertionError("%s: %d values, expected %d" % (what, g.size, e.size))
    bad = N.abs(g - e) > tol + tol * N.abs(e)
    if bad.any():
        i = int(N.argmax(bad))
        raise AssertionError("%s differ from xgboost's predict at flat index %d: got %r, expected %r "
                             "(%d of %d values off by more than %g)" % (what, i, float(g[i]), float(e[i]),
                                                                         int(bad.sum()), g.size, tol))


def assert_error(tc, resp, status, *needles):
    """Error answer: HTTP `status`, body a JSON object with exactly one key `error` holding a
    non-empty string. Each needle is a substring (or tuple of alternatives) that the message
    must contain, case-insensitive."""
    tc.assertEqual(resp.status, status, "expected HTTP %d, got %d, body %r" % (status, resp.status, resp.body[:600]))
    tc.assertIn("application/json", resp.headers.get("content-type", ""),
                "error answers are JSON: Content-Type %r" % resp.headers.get("content-type"))
    try:
        body = resp.json()
    except ValueError:
        tc.fail("HTTP %d error body is not JSON: %r" % (resp.status, resp.body[:600]))
    tc.assertIsInstance(body, dict, "error body is not a JSON object: %r" % resp.body[:600])
    tc.assertEqual(list(body.keys()), ["error"], "error body must have exactly one key 'error': %r" % resp.body[:600])
    msg = body["error"]
    tc.assertIsInstance(msg, str)
    tc.assertTrue(msg.strip(), "empty error message")
    low = msg.lower()
    for n in needles:
        alts = n if isinstance(n, tuple) else (n,)
        tc.assertTrue(any(a.lower() in low for a in alts),
                      "error message %r should mention %s" % (msg, " or ".join(repr(a) for a in alts)))
    return msg


# --------------------------------------------------------------------------------------------
# Prometheus text exposition format

_METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE_RE = re.compile(r"^(%s)(\{(.*)\})?[ \t]+(\S+)([ \t]+-?\d+)?[ \t]*$" % _METRIC_NAME)
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\[\\"n])*)"[ \t]*(,|$)')


def _parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    return float(s)


def _parse_labels(s):
    labels = {}
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _LABEL_RE.match(s, pos)
        if not m:
            raise ValueError("bad label set %r at %d" % (s, pos))
        if m.group(1) in labels:
            raise ValueError("duplicate label %r" % m.group(1))
        labels[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        pos = m.end()
        if m.group(3) == "":
            break
    if pos < len(s) and s[pos:].strip():
        raise ValueError("trailing text in labels %r" % s)
    return labels


def _family(name, types):
    if name in types:
        return name
    for suf in ("_bucket", "_sum", "_count", "_total", "_created"):
        if name.endswith(suf) and name[:-len(suf)] in types:
            return name[:-len(suf)]
    return name


def parse_prometheus(text):
    """Parse Prometheus text format 0.0.4. Returns (samples, types, problems) where samples is
    a list of (name, labels, value), types maps family -> type and problems lists format
    errors (a small promtool-like lint)."""
    samples, types, helps, problems = [], {}, {}, []
    seen = set()
    families_seen = []
    if text and not text.endswith("\n"):
        problems.append("exposition does not end with a newline")
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not re.fullmatch(_METRIC_NAME, parts[2]):
                    problems.append("line %d: bad %s line %r" % (i, parts[1], line))
                    continue
                if parts[1] == "TYPE":
                    t = parts[3].strip() if len(parts) > 3 else ""
                    if t not in ("counter", "gauge", "histogram", "summary", "untyped"):
                        problems.append("line %d: unknown type %r" % (i, t))
                    if parts[2] in types:
                        problems.append("line %d: second TYPE line for %s" % (i, parts[2]))
                    if any(f == parts[2] for f in families_seen):
                        problems.append("line %d: TYPE for %s after its samples" % (i, parts[2]))
                    types[parts[2]] = t
                else:
                    if parts[2] in helps:
                        problems.append("line %d: second HELP line for %s" % (i, parts[2]))
                    helps[parts[2]] = parts[3] if len(parts) > 3 else ""
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (i, line))
            continue
        name = m.group(1)
        try:
            labels = _parse_labels(m.group(3) or "")
            value = _parse_value(m.group(4))
        except ValueError as e:
            problems.append("line %d: %s" % (i, e))
            continue
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append("line %d: duplicate sample %s%s" % (i, name, labels))
        seen.add(key)
        fam = _family(name, types)
        families_seen.append(fam)
        t = types.get(fam)
        if t == "counter" and not (name.endswith("_total") or name.endswith("_created") or name == fam):
            problems.append("line %d: sample %s does not belong to counter %s" % (i, name, fam))
        if t == "counter" and value < 0:
            problems.append("line %d: negative counter" % i)
        samples.append((name, labels, value))
    # histograms: cumulative buckets ending in +Inf, equal to _count, with a _sum
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, value in samples:
            if name == fam + "_bucket":
                rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                if "le" not in labels:
                    problems.append("%s_bucket sample without le label" % fam)
                    continue
                groups.setdefault(rest, []).append((_parse_value(labels["le"]), value))
        counts = {tuple(sorted(l.items())): v for n, l, v in samples if n == fam + "_count"}
        sums = {tuple(sorted(l.items())): v for n, l, v in samples if n == fam + "_sum"}
        for rest, buckets in groups.items():
            buckets.sort()
            if not buckets or buckets[-1][0] != math.inf:
                problems.append("histogram %s%s has no le=\"+Inf\" bucket" % (fam, dict(rest)))
                continue
            vals = [v for _, v in buckets]
            if any(b < a for a, b in zip(vals, vals[1:])):
                problems.append("histogram %s%s buckets are not cumulative: %s" % (fam, dict(rest), vals))
            if rest not in counts:
                problems.append("histogram %s%s has no _count" % (fam, dict(rest)))
            elif counts[rest] != vals[-1]:
                problems.append("histogram %s%s: _count %s != +Inf bucket %s" % (fam, dict(rest), counts[rest], vals[-1]))
            if rest not in sums:
                problems.append("histogram %s%s has no _sum" % (fam, dict(rest)))
    return samples, types, problems


# --------------------------------------------------------------------------------------------
# test case base

class ServerCase(unittest.TestCase):
    """Base for test classes sharing servers: setUpClass calls cls.setup_tmp(tag) and
    cls.start_server(args); tearDownClass stops them (SIGTERM, exit 0, clean log)."""

    tmp = None
    _servers = None
    _clients = None

    @classmethod
    def setup_tmp(cls, tag):
        cls.tmp = tempdir(tag)
        cls._servers = []
        cls._clients = []
        return cls.tmp

    @classmethod
    def start_server(cls, args, name="berth", **kw):
        s = Server(args, cls.tmp, name=name, **kw)
        cls._servers.append(s)
        s.start()
        return s

    @classmethod
    def client_for(cls, server, timeout=10.0):
        c = server.client(timeout)
        cls._clients.append(c)
        return c

    @classmethod
    def tearDownClass(cls):
        problems = []
        for c in cls._clients or ():
            c.close()
        for s in cls._servers or ():
            try:
                s.stop()
            except AssertionError as e:
                problems.append(str(e))
        if problems:
            raise AssertionError("\n".join(problems) + "\n(files kept in %s)" % cls.tmp)
        rmtree(cls.tmp)

    def own_server(self, args, name="own", **kw):
        """A server for one test: stopped (unchecked) at cleanup unless the test stops it."""
        s = Server(args, self.tmp, name=name, **kw)
        self.addCleanup(s.kill)
        s.start()
        return s


# --------------------------------------------------------------------------------------------
# Log lines

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug) [a-z]+ \S")


def assert_log_lines(tc, text, forged):
    """Every line of a berthd or berth-serve log `text` is one whole event (timestamp, level,
    subsystem), holds no CR or ESC, and none starts with the `forged` line a test tried to
    inject through a logged value."""
    lines = text.split("\n")
    tc.assertEqual(lines[-1], "", "the log ends with a newline")
    bad = [ln for ln in lines[:-1] if not LOG_LINE.match(ln) or "\r" in ln or "\x1b" in ln]
    tc.assertEqual(bad, [], "lines that are not one whole log event:\n%s" % text[-4000:])
    tc.assertFalse(any(ln.startswith(forged) for ln in lines), "a forged line made it into the log")
