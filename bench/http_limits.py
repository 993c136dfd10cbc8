#!/usr/bin/python3
"""http_limits.py - berthd's memory with many idle and slow-body clients (issue 6, item 3).

    bench/http_limits.py [BUILD_DIR] [IDLE] [SLOW]      (defaults: build 1000 100)

Starts berthd with its default limits on free loopback ports and a temporary data directory,
then, against the gateway port:
  1. opens IDLE connections that send nothing;
  2. opens SLOW connections that each announce a 64 MiB body (the gateway's largest) and send
     as much of it as berthd takes for 10 s, without ever finishing;
and prints berthd's VmRSS (/proc/PID/status) after each step, how many slow clients were
answered 503 (the body budget) and whether the API and the gateway still answer other clients.
Everything goes to 127.0.0.1; loops are bounded in count and time.
"""
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


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


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build")
    n_idle = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    n_slow = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="berth-limits-")
    api_port, gw_port = free_port(), free_port()
    log = open(os.path.join(tmp, "berthd.log"), "wb")
    proc = subprocess.Popen([os.path.join(build, "berthd"), "--data-dir", os.path.join(tmp, "data"),
                             "--api-listen", "127.0.0.1:%d" % api_port,
                             "--gateway-listen", "127.0.0.1:%d" % gw_port],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    socks = []
    try:
        deadline = time.monotonic() + 15
        while not answers(api_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 "):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("berthd did not start")
            time.sleep(0.1)
        base = rss_mib(proc.pid)
        print("berthd started: VmRSS %.1f MiB" % base)
        for _ in range(n_idle):
            socks.append(socket.create_connection(("127.0.0.1", gw_port), timeout=5))
        time.sleep(0.5)
        print("%d idle connections: VmRSS %.1f MiB" % (n_idle, rss_mib(proc.pid)))
        slow = []
        for _ in range(n_slow):
            s = socket.create_connection(("127.0.0.1", gw_port), timeout=5)
            s.sendall(b"POST /ms-nothing/p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 << 20))
            s.setblocking(False)
            slow.append(s)
        socks += slow
        chunk = b"x" * (256 << 10)
        sent = dict((s, 0) for s in slow)
        refused = set()
        peak = 0.0
        end = time.monotonic() + 10
        while time.monotonic() < end:
            live = [s for s in slow if s not in refused and sent[s] < (63 << 20)]
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
                    sent[s] += s.send(chunk)
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
        api_ok = answers(api_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200")
        gw_ok = answers(gw_port, b"GET /ms-nothing/x HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 404")
        print("+ %d slow-body connections (%.0f MiB sent in all, %d answered 503): "
              "VmRSS %.1f MiB now, %.1f MiB at peak" % (n_slow, total, len(refused), now, peak))
        print("other clients answered: API %s, gateway %s" % ("yes" if api_ok else "NO",
                                                              "yes" if gw_ok else "NO"))
        return 0 if api_ok and gw_ok else 1
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
