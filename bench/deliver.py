#!/usr/bin/python3
"""bench/deliver.py - log delivery (issue 9): how fast berthd delivers a chatty instance's lines
to a real rsyslog, against the same rsyslog taking the same number of frames straight from one
TCP client in the same run (the reference: what the receiver itself takes). Prints lines/s of
both and their ratio, and the sink's counters.

    /usr/bin/python3 bench/deliver.py [LINES]     (default 200000; needs build/berthd, rsyslogd)

Everything stays on 127.0.0.1; rsyslogd and berthd are started here and stopped by pid. The
instance prints LINES lines of ~100 bytes as fast as it can, so the figure covers capture, the
log store, the spool and the TCP path together."""

import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import api  # noqa: E402
import harness  # noqa: E402
from t1910_log_delivery import Rsyslog  # noqa: E402

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
TEXT = "bench line %07d " + "x" * 80


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


def wait_count(path, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_lines(path) >= n:
            return time.monotonic()
        time.sleep(0.02)
    raise SystemExit("only %d of %d lines reached rsyslog in %ds" % (count_lines(path), n, timeout))


def direct(tmp):
    """The reference: the frames berthd would send, written by one client."""
    rs = Rsyslog(tmp, harness.free_port()).start()
    try:
        frames = []
        for i in range(LINES):
            msg = ('<14>1 2026-12-02T00:00:00.000000Z host ms-bench-1 ms-bench-1-0 stdout '
                   '[berth@32473 service="ms-bench-1" group="ms-bench" pod="ms-bench-1-0" '
                   'stream="stdout"] ' + TEXT % i).encode()
            frames.append(b"%d %s" % (len(msg), msg))
        data = b"".join(frames)
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", rs.port)) as s:
            s.sendall(data)
            t1 = wait_count(rs.out, LINES, 120)
        return LINES / (t1 - t0)
    finally:
        rs.stop()


def through_berthd(tmp):
    rs = Rsyslog(tmp, harness.free_port()).start()
    d = api.Berthd(os.path.join(tmp, "data"), tmp, extra=[
        "--log-sink", "ls-bench/tp-bench syslog+tcp://127.0.0.1:%d" % rs.port])
    try:
        d.start()
        c = d.client()
        script = os.path.join(tmp, "chatty.py")
        with open(script, "w") as f:
            f.write("import sys, time\nw = sys.stdout.write\n"
                    "for i in range(%d):\n    w(%r %% i + '\\n')\n"
                    "sys.stdout.flush()\ntime.sleep(3600)\n" % (LINES, TEXT))
        os.chmod(script, 0o644)
        t0 = time.monotonic()
        c.ok("CreateModelService", {
            "ServiceGroupName": "bench", "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec %s %s" % (sys.executable, script),
            "LogEnable": True, "LogConfig": {"LogsetId": "ls-bench", "TopicId": "tp-bench"}})
        # From the first line rsyslog has, so the instance's start is not counted.
        wait_count(rs.out, 1, 30)
        t_first = time.monotonic()
        try:
            t1 = wait_count(rs.out, LINES, 60)
        except SystemExit:
            print("\n".join(l for l in d.log().splitlines() if " deliver " in l or " logs " in l))
            spool = os.path.join(tmp, "data", "log-spool", "ls-bench+tp-bench")
            for name in sorted(os.listdir(spool)):
                print(name, os.path.getsize(os.path.join(spool, name)))
            print(open(os.path.join(spool, "commit")).read(), rs.log()[-2000:])
            raise
        # The spool alone: rsyslog down while a second service prints as many lines, then
        # up again; from the first of them to reach it until the last.
        rs.stop()
        c.ok("CreateModelService", {
            "ServiceGroupName": "bench2", "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec %s %s" % (sys.executable, script),
            "LogEnable": True, "LogConfig": {"LogsetId": "ls-bench", "TopicId": "tp-bench"}})
        spool = os.path.join(tmp, "data", "log-spool", "ls-bench+tp-bench")

        def spool_end():
            last = sorted(n for n in os.listdir(spool) if n.endswith(".seg"))[-1]
            return int(last[:-4]) + os.path.getsize(os.path.join(spool, last))
        before = spool_end()  # the first service's frames, all of them
        harness.wait_until(lambda: spool_end() >= 2 * before, 300,
                           what="the second service's lines in the spool")
        time.sleep(1)
        rs.start()
        wait_count(rs.out, LINES + 1, 30)
        t2 = time.monotonic()
        t3 = wait_count(rs.out, 2 * LINES, 120)
        return LINES / (t1 - t_first), t_first - t0, d.log(), LINES / (t3 - t2)
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()
            rs.stop()


def main():
    tmp = harness.tempdir("bench-deliver")
    ok = False
    try:
        ref = direct(tmp)
        got, first_s, log, replay = through_berthd(tmp)
        print("load: %s" % open("/proc/loadavg").read().strip())
        print("lines: %d of %d bytes of text" % (LINES, len(TEXT % 0)))
        print("rsyslog from one client (reference): %.0f lines/s" % ref)
        print("rsyslog through berthd's delivery:   %.0f lines/s (ratio %.2f)" % (got, got / ref))
        print("rsyslog from berthd's spool (replay):  %.0f lines/s (ratio %.2f)" % (replay,
                                                                                 replay / ref))
        print("first line in rsyslog %.2f s after CreateModelService" % first_s)
        print("dropping lines logged: %s" % ("dropping lines" in log))
        ok = True
    finally:
        if ok:
            harness.rmtree(tmp)
        else:
            print("kept", tmp)


if __name__ == "__main__":
    main()
