#!/usr/bin/python3
"""gateway_kill.py - kill -9 one of two instances under load and count what it cost.

    bench/gateway_kill.py [--rounds N] [--clients N] [--before S] [--after S] [--work-ms MS]

Starts berthd ($BERTHD, default build/berthd) on free loopback ports with a fresh data dir,
creates a Command service with 2 replicas of a small Python HTTP server (each request sleeps
--work-ms, then answers with the instance's pid), and per round: drives it through the gateway
with --clients threads (one keep-alive connection each, one request at a time) for --before
seconds, kills one instance with SIGKILL, goes on for --after seconds, then waits until the
reconciler has restarted it (Status "Normal") before the next round.

Each request carries an X-Req-Id; every instance appends "S id" to its log when it has read a
request and "E id" when it has answered it. So after a kill, the requests *in flight on the victim*
are those it logged S but not E, plus those the gateway had written to it that it had not read yet
(they fail with "the upstream closed the connection"); every failed request is either one of
them (allowed: the instance died holding it) or one that had not reached it (refused: the
gateway's fault). The goal of
issue 6: failed <= in flight on the victim, and 0 failures among the requests that had not
reached it. Prints a Markdown table and one JSON line. Uses only 127.0.0.1, bounded in time;
stops only the berthd it started (by pid), which stops its instances.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from gateway import Api, wait_port  # noqa: E402  (bench/gateway.py: TC3-signed API client)
from harness import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

UPSTREAM = r'''
import http.server, os, sys, time
WORK = float(sys.argv[1]) / 1000
LOG = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "recv", "%d.log" % os.getpid()), "a")
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        rid = self.headers.get("X-Req-Id")
        if rid:
            LOG.write("S %s\n" % rid)
            LOG.flush()
        time.sleep(WORK)
        out = b'{"pid": %d}' % os.getpid()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
        self.wfile.flush()
        if rid:
            LOG.write("E %s\n" % rid)
            LOG.flush()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def get(conn_box, port, path, rid=None, timeout=10):
    """(status or None, body or error); reuses the connection in conn_box[0]."""
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn_box[0].request("GET", path, headers={"X-Req-Id": rid} if rid else {})
        r = conn_box[0].getresponse()
        body = r.read()
        if r.will_close:
            conn_box[0].close()
            conn_box[0] = None
        return r.status, body
    except (OSError, http.client.HTTPException) as e:
        if conn_box[0] is not None:
            conn_box[0].close()
        conn_box[0] = None
        return None, repr(e)


def wait_normal(api, sid, secs=30):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if api.call("DescribeModelService", {"ServiceId": sid})["Service"]["Status"] == "Normal":
            return
        time.sleep(0.05)
    raise SystemExit("service %s not Normal after %d s" % (sid, secs))


def instance_pids(port, gid):
    box, pids = [None], set()
    end = time.monotonic() + 10
    while len(pids) < 2 and time.monotonic() < end:
        st, body = get(box, port, "/%s/who" % gid)
        if st == 200:
            pids.add(json.loads(body)["pid"])
    if box[0]:
        box[0].close()
    if len(pids) < 2:
        raise SystemExit("saw only %s through the gateway" % pids)
    return sorted(pids)


def one_round(tmp, gw_port, gid, n, args):
    victim, _ = instance_pids(gw_port, gid)
    results, lock = [], threading.Lock()
    stop_at = [time.monotonic() + 60]

    def client(k):
        box, i = [None], 0
        while time.monotonic() < stop_at[0]:
            rid = "r%d-c%d-%d" % (n, k, i)
            i += 1
            t = time.monotonic()
            st, body = get(box, gw_port, "/%s/work" % gid, rid)
            with lock:
                results.append((t, rid, st == 200, body if st != 200 else st))
        if box[0]:
            box[0].close()

    ts = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in ts:
        t.start()
    time.sleep(args.before)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    stop_at[0] = killed + args.after
    for t in ts:
        t.join(30)
    started, ended = set(), set()
    with open(os.path.join(tmp, "recv", "%d.log" % victim)) as f:
        for line in f:
            kind, _, rid = line.strip().partition(" ")
            (started if kind == "S" else ended).add(rid)
    in_flight = started - ended
    failed = {r[1]: str(r[3]) for r in results if not r[2]}
    # A failure the victim had not logged either reached its socket unread (the gateway wrote
    # it and got a reset: still in flight on it) or never reached it (refused: the gateway's
    # fault, and what failover is for).
    unread = {k for k, v in failed.items() if k not in in_flight and "closed the connection" in v}
    return {
        "round": n,
        "requests": len(results),
        "after_kill": sum(1 for r in results if r[0] >= killed),
        "in_flight_on_victim": len(in_flight | unread),
        "failed": len(failed),
        "failed_in_flight_on_victim": sum(1 for k in failed if k in in_flight or k in unread),
        "failed_not_reached_victim": sum(1 for k in failed if k not in in_flight and k not in unread),
        "failures": sorted(set(v[:160] for v in failed.values())),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--before", type=float, default=1.0)
    ap.add_argument("--after", type=float, default=1.5)
    ap.add_argument("--work-ms", type=float, default=5.0)
    args = ap.parse_args()
    berthd = os.path.abspath(os.environ.get("BERTHD", os.path.join(ROOT, "build", "berthd")))
    tmp = tempfile.mkdtemp(prefix="berth-gwkill-")
    script = os.path.join(tmp, "upstream.py")
    with open(script, "w") as f:
        f.write(UPSTREAM)
    # Instances run as the unprivileged instance user: let it reach the script and write its log.
    os.chmod(tmp, 0o711)
    os.chmod(script, 0o644)
    os.mkdir(os.path.join(tmp, "recv"))
    os.chmod(os.path.join(tmp, "recv"), 0o777)
    api_port, gw_port = free_port(), free_port()
    log = open(os.path.join(tmp, "berthd.log"), "wb")
    proc = subprocess.Popen([berthd, "--data-dir", os.path.join(tmp, "data"), "--api-listen",
                             "127.0.0.1:%d" % api_port, "--gateway-listen", "127.0.0.1:%d" % gw_port],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    rounds = []
    try:
        if wait_port(api_port, proc.pid, 20) or wait_port(gw_port, proc.pid, 20):
            raise SystemExit("berthd did not start")
        api = Api("http://127.0.0.1:%d" % api_port, os.path.join(tmp, "data", "credentials"))
        s = api.call("CreateModelService", {
            "ServiceGroupName": "gwkill", "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 2,
            "Command": "exec %s %s %s" % (sys.executable, script, args.work_ms)})["Service"]
        wait_normal(api, s["ServiceId"])
        for n in range(args.rounds):
            r = one_round(tmp, gw_port, s["ServiceGroupId"], n, args)
            rounds.append(r)
            print("gateway-kill: round %d: %s" % (n, json.dumps(r)), file=sys.stderr)
            wait_normal(api, s["ServiceId"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
        if os.environ.get("BENCH_KEEP") == "1":
            print("gateway-kill: kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("| round | requests | after the kill | in flight on the victim | failed | of them in flight on it | of them not |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        print("| %d | %d | %d | %d | %d | %d | %d |" % (
            r["round"], r["requests"], r["after_kill"], r["in_flight_on_victim"], r["failed"],
            r["failed_in_flight_on_victim"], r["failed_not_reached_victim"]))
    print("BENCH_RESULT " + json.dumps({"berthd": berthd, "berthd_exit": rc, "clients": args.clients,
                                        "work_ms": args.work_ms, "rounds": rounds}))
    ok = rc == 0 and all(r["failed_not_reached_victim"] == 0 for r in rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
