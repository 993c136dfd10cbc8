"""berthd's metrics with a real Prometheus (issue 9): Prometheus scrapes berthd's /metrics (behind
--metrics-token-file) and, through the /sd/instances HTTP service discovery, every ready instance
(berth-serve's own /metrics); gateway requests answered 200, 404, 401 and 403 show up in a PromQL
query with their exact counts; promtool check metrics passes on a scrape; /healthz and /readyz
answer; services' desired and ready instances, instances' CPU and memory (in /metrics and in
DescribeModelService), API requests by action and error code; a deleted version's series go."""

import json
import os
import shutil
import signal
import subprocess
import time
import unittest
import urllib.parse

import api
import harness

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
TOKEN = "t1930-scrape-token-0123456789abcdef"


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def samples(text):
    got, _types, problems = harness.parse_prometheus(text)
    return got, problems


def value(got, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`, or None."""
    found = [v for n, l, v in got if n == name and all(l.get(k) == w for k, w in labels.items())]
    if len(found) > 1:
        raise AssertionError("several samples of %s %r: %r" % (name, labels, found))
    return found[0] if found else None


@unittest.skipUnless(os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK),
                     "prometheus and promtool are not installed (scripts/deps.sh)")
class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t1930")
        cls.token_file = os.path.join(cls.tmp, "token")
        with open(cls.token_file, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(cls.token_file, 0o600)
        cls.prom = None
        api.start_berthd(cls, extra=["--metrics-token-file", cls.token_file])
        try:
            booster = harness.train("binary:logistic", n_features=4)
            src = harness.model_dir(os.path.join(cls.tmp, "model"), booster, "json")
            r = cls.c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                                 "TrainingModelName": "mtr", "ModelFormat": "XGBOOST",
                                                 "TrainingModelCosPath": cos(src)})
            cls.mv = r["TrainingModelVersionId"]
            harness.wait_until(lambda: cls.c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": cls.mv})
                               ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
            cls.open_sid, cls.open_gid = cls.create("mtr-open")
            cls.auth_sid, cls.auth_gid = cls.create("mtr-auth", AuthorizationEnable=True)
            for sid in (cls.open_sid, cls.auth_sid):
                cls.wait_ready(sid)
            cls.start_prometheus()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.gw = harness.Client(cls.d.gateway_port)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "gw", None):
            cls.gw.close()
        if cls.prom and cls.prom.poll() is None:
            cls.prom.send_signal(signal.SIGTERM)
            try:
                cls.prom.wait(10)
            except subprocess.TimeoutExpired:
                cls.prom.kill()
                cls.prom.wait()
        if cls.prom:
            cls.prom_log.close()
        api.stop_berthd(cls)

    @classmethod
    def create(cls, name, **kw):
        p = {"ServiceGroupName": name, "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "ModelInfo": {"ModelVersionId": cls.mv}, "Replicas": 1}
        p.update(kw)
        s = cls.c.ok("CreateModelService", p)["Service"]
        return s["ServiceId"], s["ServiceGroupId"]

    @classmethod
    def describe(cls, sid):
        return cls.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]

    @classmethod
    def wait_ready(cls, sid):
        harness.wait_until(lambda: cls.describe(sid)["Status"]["ReadyReplicas"] == 1, 30,
                           what="a ready instance of %s" % sid)

    @classmethod
    def start_prometheus(cls):
        cls.prom_port = harness.free_port()
        api_url = "127.0.0.1:%d" % cls.d.port
        cfg = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: berthd
    authorization: {type: Bearer, credentials_file: %(token)s}
    static_configs:
      - targets: ['%(api)s']
  - job_name: instances
    http_sd_configs:
      - url: http://%(api)s/sd/instances
        refresh_interval: 1s
        authorization: {type: Bearer, credentials_file: %(token)s}
""" % {"api": api_url, "token": cls.token_file}
        cls.prom_cfg = os.path.join(cls.tmp, "prometheus.yml")
        with open(cls.prom_cfg, "w") as f:
            f.write(cfg)
        check = subprocess.run([PROMTOOL, "check", "config", cls.prom_cfg], capture_output=True, text=True,
                               timeout=30)
        if check.returncode != 0:
            raise AssertionError("promtool check config:\n%s%s\n%s" % (check.stdout, check.stderr, cfg))
        cls.prom_log = open(os.path.join(cls.tmp, "prometheus.log"), "wb")
        cls.prom = subprocess.Popen([PROMETHEUS, "--config.file=" + cls.prom_cfg,
                                     "--storage.tsdb.path=" + os.path.join(cls.tmp, "tsdb"),
                                     "--web.listen-address=127.0.0.1:%d" % cls.prom_port,
                                     "--log.level=warn"],
                                    stdin=subprocess.DEVNULL, stdout=cls.prom_log, stderr=subprocess.STDOUT,
                                    cwd=cls.tmp)
        pc = harness.Client(cls.prom_port, timeout=5)

        def ready():
            if cls.prom.poll() is not None:
                raise AssertionError("prometheus exited: %s" % cls.prom_logtext())
            try:
                return pc.get("/-/ready", retry=False).status == 200
            except OSError:
                return False
        try:
            harness.wait_until(ready, 30, what="prometheus ready")
        finally:
            pc.close()

    @classmethod
    def prom_logtext(cls):
        with open(os.path.join(cls.tmp, "prometheus.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    # ------------------------------------------------------------------ helpers

    def api_get(self, path, token=TOKEN):
        c = harness.Client(self.d.port)
        try:
            return c.get(path, headers={"Authorization": "Bearer " + token} if token else {})
        finally:
            c.close()

    def scrape(self):
        r = self.api_get("/metrics")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        got, problems = samples(r.text())
        self.assertEqual(problems, [], r.text()[:3000])
        return r.text(), got

    def query(self, promql):
        c = harness.Client(self.prom_port, timeout=5)
        try:
            r = c.get("/api/v1/query?query=" + urllib.parse.quote(promql))
        finally:
            c.close()
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["status"], "success", body)
        return body["data"]["result"]

    def wait_query(self, promql, want, timeout=20):
        """Wait until the PromQL query's single result is `want`; fail with what it said last."""
        last = [None]

        def check():
            res = self.query(promql)
            last[0] = res
            return len(res) == 1 and float(res[0]["value"][1]) == want
        try:
            harness.wait_until(check, timeout, interval=0.25, what="%s == %s" % (promql, want))
        except AssertionError:
            raise AssertionError("%s: want %s, Prometheus says %r\n%s" % (promql, want, last[0],
                                                                          self.prom_logtext()))

    def predict(self, gid, headers=None):
        body = json.dumps({"instances": [[0.1, 0.2, 0.3, 0.4]]})
        return self.gw.request("POST", "/%s/v1/models/m:predict" % gid, body,
                               headers=dict({"Content-Type": "application/json"}, **(headers or {})))

    # ------------------------------------------------------------------ tests

    def test_healthz_and_readyz(self):
        for path in ("/healthz", "/readyz"):
            r = self.api_get(path, token=None)  # no token needed
            self.assertEqual(r.status, 200, (path, r))
        text = self.api_get("/readyz", token=None).text()
        self.assertIn("store: ok", text)
        self.assertIn("gateway: listening", text)
        self.assertIn("reconciler: ok", text)
        # HEAD is GET without the body; POST /metrics is the API's (no such endpoint)
        c = harness.Client(self.d.port)
        try:
            self.assertEqual(c.request("HEAD", "/healthz").status, 200)
            r = c.post("/metrics", "{}", headers={"Content-Type": "application/json"})
        finally:
            c.close()
        self.assertEqual(r.json()["Response"]["Error"]["Code"], "UnsupportedProtocol")

    def test_token_and_promtool(self):
        self.assertEqual(self.api_get("/metrics", token=None).status, 401)
        r = self.api_get("/metrics", token="x" * len(TOKEN))
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers.get("www-authenticate"), 'Bearer realm="berthd"')
        self.assertEqual(self.api_get("/sd/instances", token=None).status, 401)
        text, _got = self.scrape()
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""), text[:3000])

    def test_an_empty_or_missing_token_file_is_refused(self):
        # an empty first line must not leave /metrics open by mistake
        empty = os.path.join(self.tmp, "empty-token")
        with open(empty, "w") as f:
            f.write("\nsecond line\n")
        for path, needle in ((empty, "its first line is empty"), (empty + ".missing", "empty-token.missing")):
            rc, out = api.run_exit([api.berthd_path(), "--data-dir", os.path.join(self.tmp, "unused"),
                                    "--api-listen", "127.0.0.1:%d" % harness.free_port(), "--gateway-listen",
                                    "127.0.0.1:%d" % harness.free_port(), "--metrics-token-file", path])
            self.assertEqual(rc, 1, out)
            self.assertIn("--metrics-token-file", out)
            self.assertIn(needle, out)

    def test_gateway_counts_in_prometheus(self):
        for _ in range(5):
            r = self.predict(self.open_gid)
            self.assertEqual(r.status, 200, r)
        for _ in range(3):
            self.assertEqual(self.gw.get("/ms-nosuchgroup/v1/models/m").status, 404)
        for _ in range(2):
            self.assertEqual(self.predict(self.auth_gid).status, 401)
        self.assertEqual(self.predict(self.auth_gid, {"Authorization": "Bearer " + "y" * 32}).status, 403)
        g = self.open_gid
        self.wait_query('berth_gateway_requests_total{job="berthd",group="%s",version="%s",code="200"}'
                        % (g, self.open_sid), 5)
        self.wait_query('berth_gateway_requests_total{job="berthd",group="",code="404"}', 3)
        self.wait_query('sum(berth_gateway_requests_total{job="berthd",group="%s",code="401"})' % self.auth_gid, 2)
        self.wait_query('sum(berth_gateway_requests_total{job="berthd",group="%s",code="403"})' % self.auth_gid, 1)
        # both histograms count the five forwarded requests; in flight is back to 0
        self.wait_query('berth_gateway_upstream_seconds_count{job="berthd",group="%s"}' % g, 5)
        self.wait_query('berth_gateway_overhead_seconds_count{job="berthd",group="%s"}' % g, 5)
        self.wait_query('berth_gateway_requests_in_flight{job="berthd",group="%s"}' % g, 0)
        # the gateway's own time is well under the model's plus the gateway's
        _text, got = self.scrape()
        over = value(got, "berth_gateway_overhead_seconds_sum", group=g)
        up = value(got, "berth_gateway_upstream_seconds_sum", group=g)
        self.assertGreater(up, 0)
        self.assertGreaterEqual(over, 0)
        self.assertLess(over / 5, 0.05, "50 ms of gateway overhead per request")

    def test_instances_through_service_discovery(self):
        r = self.api_get("/sd/instances")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        targets = r.json()
        pods = {}
        for t in targets:
            self.assertEqual(set(t), {"targets", "labels"}, t)
            self.assertEqual(len(t["targets"]), 1)
            self.assertRegex(t["targets"][0], r"^127\.0\.0\.1:\d+$")
            pods[t["labels"]["version"]] = t
        self.assertEqual(set(pods), {self.open_sid, self.auth_sid}, targets)
        info = self.describe(self.open_sid)["PodInfos"][0]
        self.assertEqual(pods[self.open_sid]["targets"], [info["IP"]])
        self.assertEqual(pods[self.open_sid]["labels"], {"group": self.open_gid, "version": self.open_sid,
                                                          "pod": info["Name"]})
        # Prometheus found both and scrapes berth-serve's own /metrics there
        self.wait_query('count(up{job="instances"} == 1)', 2)
        self.wait_query('count(berth_serve_model_versions_available{job="instances",model="m",version="%s",pod="%s"})'
                        % (self.open_sid, info["Name"]), 1)

    def test_services_and_instance_usage(self):
        def sampled():
            _t, got = self.scrape()
            return value(got, "berth_instance_memory_bytes", version=self.open_sid) is not None
        harness.wait_until(sampled, 10, what="an instance usage sample")
        _text, got = self.scrape()
        sid, gid = self.open_sid, self.open_gid
        self.assertEqual(value(got, "berth_service_replicas_desired", group=gid, version=sid), 1)
        self.assertEqual(value(got, "berth_service_replicas_ready", group=gid, version=sid), 1)
        self.assertEqual(value(got, "berth_service_replicas", group=gid, version=sid), 1)
        self.assertEqual(value(got, "berth_service_restarts_total", group=gid, version=sid), 0)
        pod = self.describe(sid)["PodInfos"][0]
        self.assertEqual(value(got, "berth_instance_ready", version=sid, pod=pod["Name"]), 1)
        # berth-serve with an XGBoost model loaded holds megabytes, and has used some CPU
        mem = value(got, "berth_instance_memory_bytes", version=sid, pod=pod["Name"])
        self.assertGreater(mem, 5 << 20)
        self.assertGreater(value(got, "berth_instance_cpu_seconds_total", version=sid), 0)
        self.assertGreaterEqual(value(got, "berth_instance_cpu_cores", version=sid), 0)
        # the same figures in DescribeModelService (Memory in MB, Cpu in 1/1000 core)
        ri = pod["ResourceInfo"]
        self.assertIsNotNone(ri, pod)
        self.assertGreater(ri["Memory"], 5)
        self.assertLess(abs(ri["Memory"] - mem / 2**20), max(8, mem / 2**20 / 4), (ri, mem))
        self.assertGreaterEqual(ri["Cpu"], 0)
        # berthd's own process metrics
        self.assertGreater(value(got, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(got, "process_open_fds"), 3)
        start = value(got, "process_start_time_seconds")
        self.assertLess(abs(start - os.stat("/proc/%d" % self.d.proc.pid).st_mtime), 600)
        self.assertLessEqual(start, time.time())

    def test_api_requests_by_action_and_code(self):
        def count(got, action, code):
            return value(got, "berth_api_requests_total", action=action, code=code) or 0
        _t, before = self.scrape()
        self.c.error("DescribeModelService", {"ServiceId": "ms-nosuchsv-1"})
        self.c.ok("DescribeModelService", {"ServiceId": self.open_sid})
        self.c.error("NoSuchActionAtAll", {})
        _t, after = self.scrape()
        err = [l["code"] for n, l, v in after if n == "berth_api_requests_total"
               and l["action"] == "DescribeModelService" and l["code"] != "OK"
               and v > count(before, "DescribeModelService", l["code"])]
        self.assertEqual(len(err), 1, after)
        self.assertEqual(count(after, "DescribeModelService", "OK") - count(before, "DescribeModelService", "OK"), 1)
        self.assertEqual(count(after, "other", "InvalidAction") - count(before, "other", "InvalidAction"), 1)
        # the unknown action's name is not a label value
        self.assertFalse([l for n, l, v in after if l.get("action") == "NoSuchActionAtAll"])

    def test_deleted_version_disappears(self):
        sid, gid = self.create("mtr-gone")
        self.wait_ready(sid)
        self.assertEqual(self.predict(gid).status, 200)
        # A request counts at its end, which the client can see the answer of
        # a moment before (docs/observability.md).
        harness.wait_until(lambda: value(self.scrape()[1], "berth_gateway_requests_total", group=gid,
                                         version=sid, code="200") == 1, 5, interval=0.05,
                           what="the request counted")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})

        def gone():
            t, _g = self.scrape()
            sd = self.api_get("/sd/instances").text()
            return gid not in t and gid not in sd
        harness.wait_until(gone, 15, what="the series of %s gone" % gid)


if __name__ == "__main__":
    unittest.main()
