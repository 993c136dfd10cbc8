"""The log store: what instances print is found by DescribeLogs (keyword, pod wildcard,
stream, time range), pages by Context hold every line once while lines keep coming, long
lines are split and binary output escaped, a last unterminated line is kept, lines survive
a restart of berthd, `berth logs` shows them, and the size cap drops the oldest lines."""

import json
import os
import subprocess
import sys
import time
import unittest
from datetime import datetime, timedelta, timezone

import api
import harness

PRINTER = r"""
import sys, time
pod = sys.argv[1] if len(sys.argv) > 1 else ""
out = sys.stdout.buffer
out.write(b"hello zebraword from stdout\n")
sys.stderr.buffer.write(b"oops quaggaword on stderr\n")
sys.stderr.buffer.flush()
for i in range(250):
    out.write(b"seqline %d\n" % i)
out.write(b"longmarker " + b"x" * 40000 + b"\n")
out.write(b"binmark \x01\x1b[31mred\xff\xc3\xa9t\xc3\xa9\n")
out.flush()
n = 0
while True:
    out.write(b"tickline %d\n" % n)
    out.flush()
    n += 1
    time.sleep(0.01)
"""


def rfc3339(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Logs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1900")
        cls.script = os.path.join(cls.tmp, "printer.py")
        with open(cls.script, "w") as f:
            f.write(PRINTER)
        cls.before = datetime.now(timezone.utc) - timedelta(seconds=1)
        cls.svc = cls.create("printer", "exec %s %s" % (sys.executable, cls.script), 2)
        cls.sid = cls.svc["ServiceId"]
        cls.gid = cls.svc["ServiceGroupId"]
        # A command that ends with an unterminated line.
        cls.short = cls.create("short", "printf 'first\\nfinalpiece'", 1)
        harness.wait_until(lambda: len(cls.find(["tickline"], Limit=1000)) > 20, 20,
                           what="the printers' lines in the store")
        harness.wait_until(lambda: cls.find(["finalpiece"]), 10,
                           what="the unterminated line")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    @classmethod
    def create(self, name, command, replicas):
        return self.c.ok("CreateModelService", {
            "ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": command, "Replicas": replicas})["Service"]

    @classmethod
    def logs(self, **kw):
        p = {"Service": "INFER"}
        p.update(kw)
        return self.c.ok("DescribeLogs", p)

    @classmethod
    def find(self, words, **kw):
        return self.logs(Filters=[{"Name": "Key", "Values": words}], **kw)["Content"]

    def test_keyword_and_pods(self):
        lines = self.find(["zebraword"])
        self.assertEqual(sorted(l["PodName"] for l in lines), [self.sid + "-0", self.sid + "-1"])
        for l in lines:
            self.assertEqual(l["Message"], "hello zebraword from stdout")
            self.assertRegex(l["Timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        # Words are ANDed, whole and case-insensitive.
        self.assertEqual(len(self.find(["ZEBRAWORD", "stdout"])), 2)
        self.assertEqual(self.find(["zebraword", "nosuchword"]), [])
        self.assertEqual(self.find(["zebra"]), [])
        # By version, by pod, by pod wildcard.
        self.assertEqual(len(self.find(["zebraword"], ServiceId=self.sid)), 2)
        one = self.find(["zebraword"], PodName=self.sid + "-1")
        self.assertEqual([l["PodName"] for l in one], [self.sid + "-1"])
        self.assertEqual(len(self.find(["zebraword"], PodName=self.gid + "-*")), 2)
        self.assertEqual(self.find(["zebraword"], PodName=self.short["ServiceId"] + "-*"), [])
        self.assertEqual(self.find(["finalpiece"], ServiceId=self.sid), [])

    def test_stream(self):
        err = self.find(["quaggaword"], LogStream="stderr")
        self.assertEqual(len(err), 2)
        self.assertEqual(err[0]["Message"], "oops quaggaword on stderr")
        self.assertEqual(self.find(["quaggaword"], LogStream="stdout"), [])
        self.assertEqual(self.find(["zebraword"], LogStream="stderr"), [])
        lines = self.logs(ServiceId=self.sid, LogStream="stderr", Limit=1000)["Content"]
        self.assertEqual({l["Message"] for l in lines}, {"oops quaggaword on stderr"})

    def test_time_range(self):
        now = datetime.now(timezone.utc)
        self.assertEqual(len(self.find(["zebraword"], StartTime=rfc3339(self.before),
                                       EndTime=rfc3339(now + timedelta(seconds=5)))), 2)
        self.assertEqual(self.find(["zebraword"], StartTime=rfc3339(self.before - timedelta(hours=2)),
                                   EndTime=rfc3339(self.before)), [])
        # Offsets are honoured, and the line's own timestamp bounds it exactly.
        ts = self.find(["zebraword"])[0]["Timestamp"]
        local = datetime.strptime(ts[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=8)))
        exact = local.isoformat()
        got = self.find(["zebraword"], StartTime=exact, EndTime=exact)
        self.assertIn(ts, [l["Timestamp"] for l in got])
        # The default window is the last hour: the lines are in it.
        self.assertEqual(len(self.find(["zebraword"])), 2)

    def test_context_paging_every_line_once(self):
        # DESC (the default) while tick lines keep arriving: each page continues below the last.
        first = self.find(["tickline"], Limit=1000)
        seen, ctx, pages = [], None, 0
        while pages < 100:
            kw = {"Limit": 7}
            if ctx:
                kw["Context"] = ctx
            r = self.logs(Filters=[{"Name": "Key", "Values": ["tickline"]}], **kw)
            seen += [int(l["Id"]) for l in r["Content"]]
            pages += 1
            if len(r["Content"]) < 7:
                break
            ctx = r["Context"]
            time.sleep(0.01)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(seen, sorted(seen, reverse=True))
        self.assertTrue({int(l["Id"]) for l in first} <= set(seen))
        # ASC over the numbered lines of one pod: 0..249 in order, once each.
        got, ctx = [], None
        for _ in range(100):
            kw = {"Order": "ASC", "Limit": 37, "PodName": self.sid + "-0"}
            if ctx:
                kw["Context"] = ctx
            r = self.logs(Filters=[{"Name": "Key", "Values": ["seqline"]}], **kw)
            got += [l["Message"] for l in r["Content"]]
            ctx = r["Context"]
            if len(r["Content"]) < 37:
                break
        self.assertEqual(got, ["seqline %d" % i for i in range(250)])
        # Offset paging gives the same slices.
        page = self.logs(Filters=[{"Name": "Key", "Values": ["seqline"]}], Order="ASC", Limit=5,
                         Offset=10, PodName=self.sid + "-0")["Content"]
        self.assertEqual([l["Message"] for l in page], ["seqline %d" % i for i in range(10, 15)])

    def test_long_and_binary_lines(self):
        start = self.find(["longmarker"], PodName=self.sid + "-0")
        self.assertEqual(len(start), 1)
        self.assertEqual(len(start[0]["Message"]), 16384)
        rest = self.logs(PodName=self.sid + "-0", Order="ASC", Limit=3, Context=start[0]["Id"],
                         LogStream="stdout")["Content"]
        whole = start[0]["Message"] + rest[0]["Message"] + rest[1]["Message"]
        self.assertEqual(whole, "longmarker " + "x" * 40000)
        self.assertEqual(rest[2]["Message"], "binmark \\x01\\x1b[31mred\\xff\u00e9t\u00e9")
        final = self.find(["finalpiece"])
        self.assertEqual(final[0]["Message"], "finalpiece")

    def test_errors(self):
        cases = [
            ({"Service": "TRAIN"}, "UnsupportedOperation", "INFER"),
            ({"Service": "OTHER"}, "InvalidParameterValue", "Service"),
            ({}, "MissingParameter", "Service"),
            ({"Service": "INFER", "Limit": 1001}, "InvalidParameterValue", "Limit"),
            ({"Service": "INFER", "Limit": 0}, "InvalidParameterValue", "Limit"),
            ({"Service": "INFER", "Order": "UP"}, "InvalidParameterValue", "Order"),
            ({"Service": "INFER", "OrderField": "Id"}, "InvalidParameterValue", "OrderField"),
            ({"Service": "INFER", "LogStream": "stdin"}, "InvalidParameterValue", "LogStream"),
            ({"Service": "INFER", "PodName": "ms-*-1"}, "InvalidParameterValue", "PodName"),
            ({"Service": "INFER", "StartTime": "yesterday"}, "InvalidParameterValue", "StartTime"),
            ({"Service": "INFER", "EndTime": "2022-01-11T04:14:36"}, "InvalidParameterValue", "EndTime"),
            ({"Service": "INFER", "Context": "abc"}, "InvalidParameterValue", "Context"),
            ({"Service": "INFER", "Context": "5", "Offset": 3}, "InvalidParameterValue", "Offset"),
            ({"Service": "INFER", "Filters": [{"Name": "Pod", "Values": ["x"]}]},
             "InvalidParameterValue.InvalidFilter", "Filters[0].Name"),
            ({"Service": "INFER", "Filters": [{"Name": "Key", "Values": ["x"], "Negative": True}]},
             "InvalidParameterValue.InvalidFilter", "Negative"),
            ({"Service": "INFER", "Filters": [{"Name": "Key", "Values": ["!!"]}]},
             "InvalidParameterValue.InvalidFilter", "Values[0]"),
            ({"Service": "INFER", "ServiceId": "ms-nosuch00-1"}, "ResourceNotFound", ""),
            ({"Service": "INFER", "Colour": "red"}, "UnknownParameter", "Colour"),
        ]
        for params, code, word in cases:
            e = self.c.error("DescribeLogs", params)
            self.assertEqual(e["Code"], code, (params, e))
            self.assertIn(word, e["Message"], (params, e))
        # Another region sees none of these lines.
        other = self.d.client("ap-shanghai")
        r = other.ok("DescribeLogs", {"Service": "INFER",
                                      "Filters": [{"Name": "Key", "Values": ["zebraword"]}]})
        self.assertEqual(r["Content"], [])

    def berth(self, *args, timeout=30):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"),
                "--endpoint", "http://127.0.0.1:%d" % self.d.port,
                "--credentials", os.path.join(self.d.data_dir, "credentials")]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout)

    def test_cli(self):
        p = self.berth("logs", self.gid, "--grep", "zebraword")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 2, p.stdout)
        self.assertTrue(all(l.endswith(" hello zebraword from stdout") for l in lines), lines)
        p = self.berth("logs", self.sid, "--grep", "seqline", "--pod", self.sid + "-1",
                       "--since", "10m")
        self.assertEqual([l.split(" ", 2)[2] for l in p.stdout.splitlines()],
                         ["seqline %d" % i for i in range(250)])
        p = self.berth("--json", "logs", self.gid, "--version", self.sid, "--grep", "quaggaword")
        self.assertEqual({json.loads(l)["Message"] for l in p.stdout.splitlines()},
                         {"oops quaggaword on stderr"})
        p = self.berth("logs", self.gid, "--since", "soon")
        self.assertEqual(p.returncode, 1)
        self.assertIn("StartTime", p.stderr)
        # --follow prints lines that arrive after it started.
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"),
                "--endpoint", "http://127.0.0.1:%d" % self.d.port,
                "--credentials", os.path.join(self.d.data_dir, "credentials"),
                "logs", self.sid, "--follow", "--since", "1s", "--grep", "tickline"]
        f = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        try:
            got = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(got) < 150:
                got.append(f.stdout.readline())
        finally:
            f.kill()
            f.wait()
        nums = [int(l.rsplit(" ", 1)[1]) for l in got if l]
        self.assertGreaterEqual(len(nums), 150)

    def test_z_survives_restart(self):
        before = self.find(["zebraword"])
        self.d.stop()
        self.d.start()
        self.c = self.d.client()
        type(self).c = self.c
        after = self.find(["zebraword"])
        self.assertEqual([l["Id"] for l in after[-2:]], [l["Id"] for l in before])
        # The restarted instances print again, after the old lines.
        harness.wait_until(lambda: len(self.find(["zebraword"])) == 4, 20,
                           what="the restarted instances' lines")
        ids = [int(l["Id"]) for l in self.find(["zebraword"])]
        self.assertEqual(ids, sorted(ids, reverse=True))


class Retention(unittest.TestCase):
    """--log-max-mib: past the cap the oldest lines go; the newest stay."""

    @classmethod
    def setUpClass(cls):
        # A small AddressSanitizer quarantine keeps the RSS checks meaningful (see t1400).
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                            "quarantine_size_mb=16"]))
        api.start_berthd(cls, "t1900r", extra=["--log-max-mib", "1"])
        cls.script = os.path.join(cls.tmp, "flood.py")
        with open(cls.script, "w") as f:
            f.write("import sys, time\nout = sys.stdout.buffer\n"
                    "for i in range(40000):\n"
                    "    out.write(b'floodline n%d padding padding padding padding padding "
                    "padding padding padding\\n' % i)\n"
                    "out.write(b'floodend\\n')\nout.flush()\ntime.sleep(60)\n")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def find(self, word):
        return self.c.ok("DescribeLogs", {"Service": "INFER", "Filters": [
            {"Name": "Key", "Values": [word]}]})["Content"]

    def test_size_cap_drops_oldest(self):
        self.c.ok("CreateModelService", {
            "ServiceGroupName": "flood", "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec %s %s" % (sys.executable, self.script),
            "Replicas": 1})
        harness.wait_until(lambda: self.find("floodend"), 30, what="the last line stored")
        harness.wait_until(lambda: not self.find("n0"), 10, what="the first line dropped")
        self.assertTrue(self.find("n39999"))
        # berthd's /metrics counts what the store took and what the cap removed (once the
        # trim that removed the first lines has run to its end).
        def log_metrics():
            c = harness.Client(self.d.port)
            try:
                text = c.get("/metrics").text()
            finally:
                c.close()
            return {n: float(v) for n, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                             if line.startswith("berth_log_"))}
        def trimmed():
            m = log_metrics()
            return m if m.get("berth_log_lines_trimmed_total") else None
        got = harness.wait_until(trimmed, 10, what="berth_log_lines_trimmed_total above 0")
        self.assertGreaterEqual(got.get("berth_log_lines_stored_total", 0), 40001, got)
        self.assertGreater(got.get("berth_log_store_bytes", 0), 0, got)
        self.assertEqual(got.get("berth_log_lines_dropped_total"), 0, got)

    def test_z_chatty_instance_is_held_back(self):
        # `yes` prints as fast as it can: berthd's memory stays put (the output waits in the
        # pipe), the API keeps answering, and the store keeps taking lines.
        before = harness.rss_kib(self.d.proc.pid)
        s = self.c.ok("CreateModelService", {
            "ServiceGroupName": "yes", "ChargeType": "POSTPAID_BY_HOUR",
            "InstanceType": "TI.S.MEDIUM.POST", "Command": "exec yes yesline", "Replicas": 1})["Service"]
        harness.wait_until(lambda: self.find("yesline"), 10, what="the chatty lines")
        worst = 0.0
        warm = None
        start = time.monotonic()
        while time.monotonic() < start + 5:
            if warm is None and time.monotonic() > start + 2:
                warm = harness.rss_kib(self.d.proc.pid)
            t = time.monotonic()
            self.c.ok("DescribeModelService", {"ServiceId": s["ServiceId"]})
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.05)
        self.assertLess(worst, 1.0)
        now = harness.rss_kib(self.d.proc.pid)
        # `yes` writes gigabytes a second when nothing holds it back: what berthd may grow is its
        # caches (SQLite's page cache, at most 16 MiB), not what the instance printed.
        self.assertLess(now - before, harness.rss_allowance_kib(32 << 10), (before, warm, now))
        first = self.c.ok("DescribeLogs", {"Service": "INFER", "ServiceId": s["ServiceId"],
                                           "Limit": 1})["Content"][0]["Id"]
        time.sleep(1)
        last = self.c.ok("DescribeLogs", {"Service": "INFER", "ServiceId": s["ServiceId"],
                                          "Limit": 1})["Content"][0]["Id"]
        self.assertGreater(int(last), int(first) + 1000)
        self.c.ok("DeleteModelService", {"ServiceId": s["ServiceId"]})
