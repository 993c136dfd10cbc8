#!/usr/bin/python3
"""http_limits.py - berthd's memory under clients that hold what they can (issue 6, item 3).

    bench/http_limits.py [BUILD_DIR] [IDLE] [SLOW] [SCENARIO...]    (defaults: build 1000 100)

Starts berthd with its default limits on free loopback ports and a temporary data directory,
then, against the gateway port:
  1. opens IDLE connections that send nothing;
  2. opens SLOW connections that each announce a large body and send as much of it as berthd
     takes for 10 s, without ever finishing: half to the management API (9 MiB, under its 10 MiB
     limit: buffered, against the API's body budget), half through the gateway to a service of
     2 instances that read what comes (64 MiB: streamed, against the gateway's body budget);
and prints berthd's VmRSS (/proc/PID/status) after each step, how many slow clients were
answered 503 (the body budgets) and whether the API and the gateway still answer other clients.

Each SCENARIO then runs on a berthd of its own, with N connections (default: the gateway's
connection cap less 24), and prints the same figures:
  headers[=N]    each sends a 16 KiB target and 60 header fields of 1 KiB, and never ends the head
  readers[=N]    each asks an instance for an 8 MiB answer, pipelines 1 MiB more behind it and
                 reads nothing
  stalled[=N]    each announces a 64 MiB upload to an instance that is SIGSTOPped once ready, and
                 sends for 10 s what berthd takes
Instances are a small Python HTTP server (a Command service, 4 replicas) that the script writes.
Everything goes to 127.0.0.1; loops are bounded in count and time.
"""
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import gateway  # noqa: E402  (the TC3-signed API client)
from harness import free_port  # noqa: E402

INSTANCE = r'''
import http.server, os, sys
with open(os.path.join(sys.argv[1], "%d.pid" % os.getpid()), "w") as f:
    f.write(str(os.getpid()))
BIG = b"b" * (8 << 20)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = BIG if self.path.startswith("/big") else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            n -= len(self.rfile.read(min(n, 1 << 16)) or b"x" * n)
        self.do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.request_queue_size = 4096
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1]) / 1024.0


def answers(port, raw, want):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(raw)
        got = s.recv(4096)
        s.close()
        return got.startswith(want)
    except OSError:
        return False


class Berthd:
    """berthd with its default limits on free loopback ports, in a temp dir of its own."""

    def __init__(self, build):
        self.tmp = tempfile.mkdtemp(prefix="berth-limits-")
        os.chmod(self.tmp, 0o755)  # instances run as the instance user and read their script
        self.api_port, self.gw_port = free_port(), free_port()
        self.log = open(os.environ.get("BLOG", os.path.join(self.tmp, "berthd.log")), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(build, "berthd"), "--data-dir", os.path.join(self.tmp, "data"),
             "--api-listen", "127.0.0.1:%d" % self.api_port, "--gateway-listen", "127.0.0.1:%d" % self.gw_port,
             "--import-root", self.tmp],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not answers(self.api_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 "):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("berthd did not start")
            time.sleep(0.1)

    def rss(self):
        return rss_mib(self.proc.pid)

    def service(self, replicas=4):
        """A Command service of the INSTANCE script; returns (group id, instance pids)."""
        pids = os.path.join(self.tmp, "pids")
        os.mkdir(pids)
        os.chmod(pids, 0o777)
        script = os.path.join(self.tmp, "instance.py")
        with open(script, "w") as f:
            f.write(INSTANCE)
        os.chmod(script, 0o644)
        api = gateway.Api("http://127.0.0.1:%d" % self.api_port, os.path.join(self.tmp, "data", "credentials"))
        svc = api.call("CreateModelService", {
            "ServiceGroupName": "limits", "InstanceType": "TI.S.MEDIUM.POST", "Replicas": replicas,
            "Command": "exec /usr/bin/python3 %s %s" % (script, pids)})["Service"]
        gid, sid = svc["ServiceGroupId"], svc["ServiceId"]
        deadline = time.monotonic() + 30
        while api.call("DescribeModelService", {"ServiceId": sid})["Service"]["Status"] != "Normal":
            if time.monotonic() > deadline:
                raise SystemExit("the service did not become Normal")
            time.sleep(0.2)
        while len(os.listdir(pids)) < replicas and time.monotonic() < deadline:
            time.sleep(0.1)
        return gid, [int(n.split(".")[0]) for n in os.listdir(pids)]

    def others_answered(self, gid=None):
        api_ok = answers(self.api_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200")
        if gid:  # a prediction-sized call through the service
            gw_ok = answers(self.gw_port, b"GET /%s/x HTTP/1.1\r\nHost: x\r\n\r\n" % gid.encode(), b"HTTP/1.1 200")
        else:
            gw_ok = answers(self.gw_port, b"GET /ms-nothing/x HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 404")
        return "other clients answered: API %s, gateway %s" % ("yes" if api_ok else "NO",
                                                               "yes" if gw_ok else "NO"), api_ok and gw_ok

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def connect_many(port, n):
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return socks


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def count_503(socks):
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(64).startswith(b"HTTP/1.1 503"):
                n += 1
        except OSError:
            pass
    return n


def scenario_headers(b, n):
    socks = connect_many(b.gw_port, n)
    head = b"GET /" + b"p" * 16000 + b" HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"v" * 1000) for i in range(60))
    for s in socks:
        try:
            s.sendall(head)
        except OSError:
            pass
    time.sleep(1.0)
    return socks, "%d connections with a 76 KiB head that never ends" % len(socks)


def scenario_readers(b, n):
    gid, _ = b.service()
    socks = connect_many(b.gw_port, n)
    junk = b"GET /%s/x HTTP/1.1\r\nHost: x\r\n\r\n" % gid.encode()
    junk = junk * ((1 << 20) // len(junk))
    for s in socks:
        s.setblocking(False)
        try:
            s.send(b"GET /%s/big HTTP/1.1\r\nHost: x\r\n\r\n" % gid.encode())
            s.send(junk)  # as much as the socket takes now
        except OSError:
            pass
    peak, end = 0.0, time.monotonic() + 8
    while time.monotonic() < end:
        for s in socks:
            try:
                s.send(junk[:65536])
            except OSError:
                pass
        peak = max(peak, b.rss())
        time.sleep(0.2)
    return socks, ("%d clients asking for 8 MiB answers with 1 MiB pipelined behind, reading nothing "
                   "(peak %.1f MiB)" % (len(socks), peak))


def scenario_stalled(b, n):
    gid, pids = b.service()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    socks = connect_many(b.gw_port, n)
    for s in socks:
        try:
            s.sendall(b"POST /%s/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (gid.encode(), 64 << 20))
        except OSError:
            pass
        s.setblocking(False)
    chunk = b"x" * (256 << 10)
    peak, sent, end = 0.0, 0, time.monotonic() + 10
    while time.monotonic() < end:
        progress = 0
        for s in socks:
            try:
                progress += s.send(chunk)
            except OSError:
                pass
        sent += progress
        peak = max(peak, b.rss())
        if not progress:
            time.sleep(0.1)
    refused = count_503(socks)
    for pid in pids:
        os.kill(pid, signal.SIGCONT)
    return socks, ("%d uploads to SIGSTOPped instances (%.0f MiB sent in all, %d answered 503; peak %.1f MiB)"
                   % (len(socks), sent / float(1 << 20), refused, peak))


SCENARIOS = {"headers": scenario_headers, "readers": scenario_readers, "stalled": scenario_stalled}


def run_scenario(build, spec):
    name, _, n = spec.partition("=")
    b = Berthd(build)
    socks = []
    try:
        base = b.rss()
        socks, what = SCENARIOS[name](b, int(n) if n else 1536 - 24)
        now = b.rss()
        line, ok = b.others_answered()
        print("%s: started at %.1f MiB; %s: VmRSS %.1f MiB now; %s" % (name, base, what, now, line))
        return ok
    finally:
        close_all(socks)
        b.stop()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build")
    n_idle = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    n_slow = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ok = True
    for spec in sys.argv[4:]:
        if spec.partition("=")[0] not in SCENARIOS:
            raise SystemExit("unknown scenario '%s' (%s)" % (spec, ", ".join(SCENARIOS)))
        ok = run_scenario(build, spec) and ok
    if sys.argv[4:] and n_idle == 0 and n_slow == 0:
        return 0 if ok else 1
    b = Berthd(build)
    proc, gw_port, api_port = b.proc, b.gw_port, b.api_port
    socks = []
    try:
        gid, _ = b.service(replicas=2)
        base = rss_mib(proc.pid)
        print("berthd started: VmRSS %.1f MiB" % base)
        for _ in range(n_idle):
            socks.append(socket.create_connection(("127.0.0.1", gw_port), timeout=5))
        time.sleep(0.5)
        print("%d idle connections: VmRSS %.1f MiB" % (n_idle, rss_mib(proc.pid)))
        slow = []
        limit = {}
        for i in range(n_slow):
            if i % 2:
                s = socket.create_connection(("127.0.0.1", gw_port), timeout=5)
                s.sendall(b"POST /%s/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % (gid.encode(), 64 << 20))
                limit[s] = 63 << 20
            else:
                s = socket.create_connection(("127.0.0.1", api_port), timeout=5)
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % (9 << 20))
                limit[s] = (9 << 20) - (256 << 10)
            s.setblocking(False)
            slow.append(s)
        socks += slow
        chunk = b"x" * (256 << 10)
        sent = dict((s, 0) for s in slow)
        refused = set()
        peak = 0.0
        end = time.monotonic() + 10
        while time.monotonic() < end:
            live = [s for s in slow if s not in refused and sent[s] < limit[s]]
            if not live:
                break
            poller = select.poll()
            for s in live:
                poller.register(s, select.POLLOUT)
            ready = dict(poller.poll(200))
            for s in live:
                if not ready.get(s.fileno(), 0) & select.POLLOUT:
                    continue
                try:
                    sent[s] += s.send(chunk[:limit[s] - sent[s]])
                except OSError:
                    refused.add(s)
            for s in live:
                try:
                    if s.recv(64).startswith(b"HTTP/1.1 503"):
                        refused.add(s)
                except BlockingIOError:
                    pass
                except OSError:
                    refused.add(s)
            peak = max(peak, rss_mib(proc.pid))
        total = sum(sent.values()) / float(1 << 20)
        now = rss_mib(proc.pid)
        print("+ %d slow-body connections (%.0f MiB sent in all, %d answered 503): "
              "VmRSS %.1f MiB now, %.1f MiB at peak" % (n_slow, total, len(refused), now, peak))
        line, base_ok = b.others_answered(gid)
        print(line)
        return 0 if ok and base_ok else 1
    finally:
        close_all(socks)
        b.stop()


if __name__ == "__main__":
    sys.exit(main())
