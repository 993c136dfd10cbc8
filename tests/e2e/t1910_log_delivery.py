"""Delivery of a service's lines to a log system: berthd's log-sink delivers, for services with
LogEnable and a LogConfig naming the sink, every line its instances print to a real rsyslog
(started here on 127.0.0.1 with a config of its own, imtcp on a free port, writing to a file) as
RFC 5424 over TCP with octet-counting framing, and over TLS against rsyslog's ossl driver with a
certificate made by openssl here. Lines reach rsyslog within a second with their structured data;
with rsyslog stopped for 10 s and started again none is lost and each pod's order is kept;
LogEnable false stops delivery without restarting the instances; bad sinks stop berthd at
start."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

import api
import harness

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

# Prints "seq N t=UNIXTIME" every 50 ms on stdout (and every tenth one on stderr too), answers
# HTTP on PORT so it turns ready. Flushes each line.
TICKER = r'''
import http.server, os, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
tag = os.environ.get("TAG", "x")
print('start %s quote" bracket] backslash\\ end' % tag, flush=True)
n = 0
while True:
    print("seq %s %d t=%.6f pid=%d" % (tag, n, time.time(), os.getpid()), flush=True)
    if n % 10 == 0:
        print("err %s %d" % (tag, n), file=sys.stderr, flush=True)
    n += 1
    time.sleep(0.05)
'''

# One line per message: PRI|TIMESTAMP|HOSTNAME|APP-NAME|PROCID|MSGID|STRUCTURED-DATA|MSG, the
# fields as rsyslog's RFC 5424 parser read them.
RSYSLOG_CONF = r'''
global(workDirectory="{dir}" maxMessageSize="64k"{tls_global})
module(load="imtcp"{tls_module})
template(name="fields" type="list") {{
  property(name="pri") constant(value="|")
  property(name="timereported" dateFormat="rfc3339") constant(value="|")
  property(name="hostname") constant(value="|")
  property(name="app-name") constant(value="|")
  property(name="procid") constant(value="|")
  property(name="msgid") constant(value="|")
  property(name="structured-data") constant(value="|")
  property(name="msg" droplastlf="on") constant(value="\n")
}}
input(type="imtcp" port="{port}" address="127.0.0.1")
action(type="omfile" file="{out}" template="fields")
'''


class Rsyslog:
    """rsyslogd in the foreground (-n) with its own config and pid file, stopped by its pid."""

    def __init__(self, workdir, port, tls=None):
        self.dir = os.path.join(workdir, "rsyslog-%d" % port)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.out = os.path.join(self.dir, "out.log")
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        tls_global = tls_module = ""
        if tls:
            tls_global = (' defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="%s"'
                          ' defaultNetstreamDriverCertFile="%s" defaultNetstreamDriverKeyFile="%s"'
                          % (tls["ca"], tls["cert"], tls["key"]))
            tls_module = ' StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"'
        with open(self.conf, "w") as f:
            f.write(RSYSLOG_CONF.format(dir=self.dir, port=port, out=self.out, tls_global=tls_global,
                                        tls_module=tls_module))
        self.proc = None
        self.log_path = os.path.join(self.dir, "rsyslogd.log")

    def start(self):
        pidfile = os.path.join(self.dir, "rsyslogd.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", pidfile],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        harness.wait_until(self.listening, 10, what="rsyslogd listening on %d" % self.port)
        return self

    def listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("rsyslogd exited %d: %s" % (self.proc.returncode, self.log()))
        with open("/proc/net/tcp") as f:
            return any(":%04X 00000000:0000 0A" % self.port in line for line in f)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def messages(self):
        """The messages rsyslog wrote, each as a dict of its fields."""
        try:
            with open(self.out, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.split("|", 7)
            if len(parts) == 8:
                out.append(dict(zip(("pri", "time", "host", "app", "procid", "msgid", "sd", "msg"),
                                    parts)))
        return out


def sd_params(sd):
    """The params of [berth@32473 k="v" ...], unescaped."""
    m = re.match(r'^\[berth@32473((?: [a-z]+="(?:[^"\\\]]|\\.)*")*)\]$', sd)
    if not m:
        return None
    return {k: re.sub(r'\\(.)', r'\1', v)
            for k, v in re.findall(r' ([a-z]+)="((?:[^"\\\]]|\\.)*)"', m.group(1))}


def make_tls_files(d):
    """A CA and a certificate for 127.0.0.1 signed by it, made with openssl."""
    def run(*args):
        subprocess.run([OPENSSL] + list(args), cwd=d, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=berth-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {k: os.path.join(d, v) for k, v in
            (("ca", "ca.pem"), ("cert", "server.pem"), ("key", "server.key"))}


@unittest.skipUnless(os.access(RSYSLOGD, os.X_OK), "rsyslogd is not installed (scripts/deps.sh)")
class LogDelivery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1910")
        cls.rs = Rsyslog(cls.tmp, harness.free_port()).start()
        cls.tls_files = make_tls_files(cls.tmp)
        cls.rs_tls = Rsyslog(cls.tmp, harness.free_port(), tls=cls.tls_files).start()
        cls.script = os.path.join(cls.tmp, "ticker.py")
        with open(cls.script, "w") as f:
            f.write(TICKER)
        os.chmod(cls.script, 0o644)
        api.start_berthd(cls, extra=[
            "--log-sink", "ls-e2e/tp-e2e syslog+tcp://127.0.0.1:%d" % cls.rs.port,
            "--log-sink", "ls-e2e/tp-tls syslog+tls://127.0.0.1:%d ca=%s facility=local0"
            % (cls.rs_tls.port, cls.tls_files["ca"])])

    @classmethod
    def tearDownClass(cls):
        try:
            api.stop_berthd(cls)
        finally:
            for rs in (vars(cls).get("rs"), vars(cls).get("rs_tls")):
                if rs:
                    rs.stop()

    def create(self, tag, replicas=1, **kw):
        p = {"ServiceGroupName": "logs-%s-%d" % (tag, int(time.time() * 1000) % 100000),
             "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "Replicas": replicas, "Command": "exec %s %s" % (sys.executable, self.script),
             "Env": [{"Name": "TAG", "Value": tag}]}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def seqs(self, rs, tag):
        """Per pod, the seq numbers rsyslog got from instances of 'tag', in arrival order."""
        by_pod = {}
        for m in rs.messages():
            parts = m["msg"].split()
            if len(parts) >= 3 and parts[0] == "seq" and parts[1] == tag:
                by_pod.setdefault(m["procid"], []).append(int(parts[2]))
        return by_pod

    def test_log_enable_needs_a_configured_sink(self):
        base = {"ServiceGroupName": "logs-bad", "ChargeType": "POSTPAID_BY_HOUR",
                "InstanceType": "TI.S.MEDIUM.POST", "Command": "sleep 60"}
        cases = [
            ({"LogEnable": True}, "MissingParameter", "LogConfig.LogsetId and LogConfig.TopicId"),
            ({"LogEnable": True, "LogConfig": {"LogsetId": "", "TopicId": ""}}, "MissingParameter",
             "LogEnable is true"),
            ({"LogEnable": True, "LogConfig": {"LogsetId": "ls-e2e", "TopicId": "nope"}},
             "InvalidParameterValue", "LogConfig ls-e2e/nope"),
            ({"LogEnable": True, "LogConfig": {"LogsetId": "ls-e2e", "TopicId": "tp-e2e", "X": 1}},
             "UnknownParameter", "LogConfig.X"),
            ({"LogEnable": "yes"}, "InvalidParameter", "LogEnable"),
            ({"LogConfig": {"LogsetId": 5, "TopicId": "tp-e2e"}}, "InvalidParameter",
             "LogConfig.LogsetId"),
        ]
        for extra, code, words in cases:
            e = self.c.error("CreateModelService", dict(base, **extra))
            self.assertEqual(e["Code"], code, (extra, e))
            self.assertIn(words, e["Message"], (extra, e))
        groups = self.c.ok("DescribeModelServiceGroups", {})["ServiceGroups"]
        self.assertFalse([g for g in groups if g["ServiceGroupName"] == "logs-bad"])
        # LogConfig alone is kept and shown, and delivers nothing until LogEnable.
        s = self.create("kept", LogConfig={"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        info = self.c.ok("DescribeModelService", {"ServiceId": s["ServiceId"]})["Service"]["ServiceInfo"]
        self.assertIs(info["LogEnable"], False)
        self.assertEqual(info["LogConfig"], {"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        time.sleep(1.0)
        self.assertEqual(self.seqs(self.rs, "kept"), {})
        self.c.ok("DeleteModelService", {"ServiceId": s["ServiceId"]})

    def test_lines_reach_rsyslog_within_a_second_with_structured_data(self):
        s = self.create("fast", LogEnable=True, LogConfig={"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.assertIs(s["ServiceInfo"]["LogEnable"], True)
        self.assertEqual(s["ServiceInfo"]["LogConfig"], {"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        described = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertIs(described["LogEnable"], True)
        group = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": gid})["ServiceGroup"]
        self.assertIs(group["Services"][0]["ServiceInfo"]["LogEnable"], True)
        harness.wait_until(lambda: len(self.seqs(self.rs, "fast").get(sid + "-0", [])) >= 20, 20,
                           what="20 lines of %s in rsyslog\n%s" % (sid, self.d.log()))
        # Each line printed from now on shows up in rsyslog's file within a second of the
        # instance printing it (its text carries the time it was printed).
        seen = {m["msg"] for m in self.rs.messages()}
        late = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            now = time.time()
            for m in self.rs.messages():
                parts = m["msg"].split()
                if m["app"] == sid and parts[0] == "seq" and m["msg"] not in seen:
                    seen.add(m["msg"])
                    late.append(now - float(parts[3][2:]))
            time.sleep(0.05)
        self.assertGreaterEqual(len(late), 30, late)
        self.assertLess(max(late), 1.0, sorted(late)[-5:])
        msgs = [m for m in self.rs.messages() if m["app"] == sid]
        out = [m for m in msgs if m["msg"].startswith("seq ")][0]
        self.assertEqual(out["pri"], "14")  # user.info
        self.assertEqual(out["procid"], sid + "-0")
        self.assertEqual(out["msgid"], "stdout")
        self.assertEqual(sd_params(out["sd"]),
                         {"service": sid, "group": gid, "pod": sid + "-0", "stream": "stdout"})
        self.assertRegex(out["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)$")
        err = [m for m in msgs if m["msg"].startswith("err ")][0]
        self.assertEqual(err["pri"], "12")  # user.warning
        self.assertEqual(err["msgid"], "stderr")
        self.assertEqual(sd_params(err["sd"])["stream"], "stderr")
        start = [m for m in msgs if m["msg"].startswith("start ")][0]
        self.assertEqual(start["msg"], 'start fast quote" bracket] backslash\\ end')
        self.c.ok("DeleteModelService", {"ServiceId": sid})

    def test_rsyslog_down_10s_loses_nothing_and_keeps_order(self):
        s = self.create("down", replicas=2, LogEnable=True,
                        LogConfig={"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        sid = s["ServiceId"]
        pods = [sid + "-0", sid + "-1"]
        harness.wait_until(lambda: all(len(self.seqs(self.rs, "down").get(p, [])) >= 5
                                       for p in pods), 20, what="both pods in rsyslog")
        self.rs.stop()
        stopped_at = time.time()
        time.sleep(10)
        self.rs.start()
        # Both pods printed 20 lines a second meanwhile; all of them come, then new ones.
        def caught_up():
            seqs = self.seqs(self.rs, "down")
            return all(p in seqs and max(seqs[p]) >= 20 * 12 for p in pods)
        harness.wait_until(caught_up, 20, what="the lines of the outage in rsyslog\n%s"
                           % self.d.log()[-3000:])
        seqs = self.seqs(self.rs, "down")
        for p in pods:
            got = seqs[p]
            # Every number from the first on, first times in order: no gap, no reordering; a
            # number seen again is only the resent tail of a broken connection.
            nxt, dups = got[0], 0
            self.assertLessEqual(got[0], 1, (p, got[:5]))  # from the instance's first lines
            for n in got:
                if n == nxt:
                    nxt += 1
                elif n < nxt:
                    dups += 1
                else:
                    self.fail("%s: %d missing, got %d next (around %r)" % (p, nxt, n, got[:50]))
            self.assertLessEqual(dups, 60, "%s: %d lines twice" % (p, dups))
        self.assertLess(time.time() - stopped_at, 40)
        self.c.ok("DeleteModelService", {"ServiceId": sid})

    def test_log_enable_false_stops_delivery_without_a_restart(self):
        cfg = {"LogsetId": "ls-e2e", "TopicId": "tp-e2e"}
        s = self.create("toggle", LogEnable=True, LogConfig=cfg)
        sid = s["ServiceId"]
        pod = sid + "-0"
        harness.wait_until(lambda: len(self.seqs(self.rs, "toggle").get(pod, [])) >= 5, 20,
                           what="lines of %s" % sid)
        before = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "LogEnable": False})
        info = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertIs(info["LogEnable"], False)
        self.assertEqual(info["LogConfig"], cfg)  # kept for the next LogEnable
        time.sleep(1.0)  # the reconciler's tick and the lines in flight
        n = len(self.seqs(self.rs, "toggle")[pod])
        time.sleep(1.5)
        self.assertEqual(len(self.seqs(self.rs, "toggle")[pod]), n)
        # The same instance kept running: only delivery changed.
        after = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]
        self.assertEqual([p["CreateTime"] for p in after["PodInfos"]],
                         [p["CreateTime"] for p in before["PodInfos"]])
        # Modify refuses LogEnable naming no sink, and turns it back on.
        e = self.c.error("ModifyModelService", {"ServiceId": sid, "LogEnable": True,
                                                "LogConfig": {"LogsetId": "x", "TopicId": "y"}})
        self.assertEqual(e["Code"], "InvalidParameterValue", e)
        self.assertIn("LogConfig x/y", e["Message"])
        self.c.ok("ModifyModelService", {"ServiceId": sid, "LogEnable": True})
        harness.wait_until(lambda: len(self.seqs(self.rs, "toggle")[pod]) > n + 5, 10,
                           what="lines again after LogEnable")
        self.c.ok("DeleteModelService", {"ServiceId": sid})

    def test_tls_sink_delivers_to_rsyslog_ossl(self):
        s = self.create("tls", LogEnable=True, LogConfig={"LogsetId": "ls-e2e", "TopicId": "tp-tls"})
        sid = s["ServiceId"]
        harness.wait_until(lambda: len(self.seqs(self.rs_tls, "tls").get(sid + "-0", [])) >= 10,
                           20, what="lines over TLS\n%s\n%s" % (self.d.log()[-2000:],
                                                                self.rs_tls.log()[-2000:]))
        m = [m for m in self.rs_tls.messages() if m["app"] == sid and m["msgid"] == "stdout"][0]
        self.assertEqual(m["pri"], "134")  # local0.info
        self.assertEqual(sd_params(m["sd"])["pod"], sid + "-0")
        # Not sent to the plain sink.
        self.assertEqual(self.seqs(self.rs, "tls"), {})
        self.c.ok("DeleteModelService", {"ServiceId": sid})


    def test_berthd_restart_sends_what_it_spooled(self):
        s = self.create("restart", LogEnable=True,
                        LogConfig={"LogsetId": "ls-e2e", "TopicId": "tp-e2e"})
        sid = s["ServiceId"]
        pod = sid + "-0"

        def runs():
            """Per instance process (pid), the seq numbers rsyslog got, in arrival order."""
            out = {}
            for m in self.rs.messages():
                parts = m["msg"].split()
                if m["procid"] == pod and parts[:2] == ["seq", "restart"]:
                    out.setdefault(parts[4], []).append(int(parts[2]))
            return out
        harness.wait_until(lambda: len(runs()) == 1 and len(list(runs().values())[0]) >= 5, 20,
                           what="lines of %s" % sid)
        first_pid = list(runs())[0]
        self.rs.stop()
        seen_before = max(runs()[first_pid])
        time.sleep(1.5)  # ~30 lines into the spool
        self.d.stop()    # SIGTERM: the instance stops, its last lines are spooled
        self.d.start()
        type(self).c = self.d.client()
        self.rs.start()
        harness.wait_until(lambda: len(runs()) == 2, 20,
                           what="the restarted instance's lines\n%s" % self.d.log()[-2000:])
        self.assertIn("spooled by an earlier run to send", self.d.log())
        got = runs()[first_pid]
        self.assertGreater(max(got), seen_before + 20, got[-5:])
        nxt = 0
        for n in got:
            if n == nxt:
                nxt += 1
            elif n > nxt:
                self.fail("%d missing before %d: %r" % (nxt, n, got))
        self.assertEqual(nxt, max(got) + 1)
        self.c.ok("DeleteModelService", {"ServiceId": sid})


class BadSinks(unittest.TestCase):
    def test_bad_log_sink_is_a_clear_start_error(self):
        tmp = harness.tempdir("t1910-bad")
        try:
            conf = os.path.join(tmp, "berthd.conf")
            cases = [
                (["--log-sink", "nope syslog+tcp://127.0.0.1:1"], "LOGSET/TOPIC"),
                (["--log-sink", "a/b http://127.0.0.1:1"], "syslog+tcp://"),
                (["--log-sink", "a/b syslog+tcp://127.0.0.1:99999"], "port"),
                (["--log-sink", "a/b syslog+tcp://127.0.0.1:1", "--log-sink",
                  "a/b syslog+tcp://127.0.0.1:2"], "defined twice"),
                (["--log-sink", "a/b syslog+tls://127.0.0.1:1 ca=%s/missing.pem" % tmp],
                 "missing.pem"),
                (["--config", conf], "facility"),
            ]
            with open(conf, "w") as f:
                f.write("log-sink = a/b syslog+tcp://127.0.0.1:1 facility=mail\n")
            for extra, words in cases:
                rc, out = api.run_exit([api.berthd_path(), "--data-dir", os.path.join(tmp, "data"),
                                        "--api-listen", "127.0.0.1:0", "--gateway-listen",
                                        "127.0.0.1:0"] + extra)
                self.assertNotEqual(rc, 0, (extra, out))
                self.assertIn("log-sink", out, (extra, out))
                self.assertIn(words, out, (extra, out))
        finally:
            harness.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
