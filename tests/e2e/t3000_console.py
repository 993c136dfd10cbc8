"""The web console (web/, served at /console/) in a real browser: tests/browser/console.mjs,
playwright-core driving Debian's chromium headless, goes through what a user does against this
berthd (sign in, switch language, import a model, a refused field, create a service through the
form and watch it reach Running, call information, charts, logs, weights by slider, the list's
filters, stop and delete), and the page logs no error. Each of its checks is one test here.
Then the API's CORS: the console's own origin is answered, another origin gets nothing."""

import http.client
import json
import os
import re
import shutil
import subprocess
import unittest

import api
import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CHROMIUM = "/usr/bin/chromium"


# CreateModelService fields the form does not offer, and why (docs/console.md lists them).
NOT_IN_FORM = {
    "CreateSource": "a record of what made the service; the console leaves the default",
    "CommandBase64": "the form sends Command as text",
    "DeployType": "only STANDARD is served",
    "InstancePerReplicas": "only 1 is served",
    "SchedulingStrategy": "only binpack is served",
    "VolumeMounts": "the form mounts one file system (VolumeMount)",
    "ModelInfo.ModelId": "ModelVersionId names the version",
    "ModelInfo.ModelName": "ModelVersionId names the version",
    "ModelInfo.ModelVersion": "ModelVersionId names the version",
    "ModelInfo.ModelSource": "ModelVersionId names the version",
    "ModelInfo.ModelFormat": "ModelVersionId names the version",
    "ModelInfo.AlgorithmFramework": "ModelVersionId names the version",
    "ModelInfo.ModelType": "ModelVersionId names the version",
    "ImageInfo.ImageName": "ImageUrl names the image",
    "Resources.GpuType": "GPU models and disks: the CLI or an SDK",
    "Resources.RealGpu": "GPU models and disks: the CLI or an SDK",
    "Resources.RealGpuDetailSet": "GPU models and disks: the CLI or an SDK",
    "Resources.EnableRDMA": "GPU models and disks: the CLI or an SDK",
    "Resources.RootDisk": "GPU models and disks: the CLI or an SDK",
    "Resources.DataDisk": "GPU models and disks: the CLI or an SDK",
}


def leaf_paths(obj, prefix=""):
    """Every path a JSON value fills, as the API reference writes them: 'A', 'A.B', 'A[]',
    'A[].B' (the containers too)."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = prefix + "." + k if prefix else k
            out.add(p)
            out |= leaf_paths(v, p)
    elif isinstance(obj, list):
        for v in obj:
            out |= leaf_paths(v, prefix + "[]")
    return out


def run_browser(env):
    """Run tests/browser/console.mjs; (its output, its checks by name, its last line)."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/deps.sh test installs it)"
    assert os.path.exists(CHROMIUM), "chromium is not installed (scripts/deps.sh test installs it)"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "tests/browser has no node_modules (scripts/deps.sh test installs them)"
    p = subprocess.run([node, "console.mjs"], cwd=BROWSER_DIR, env=dict(env, CHROMIUM=CHROMIUM),
                       capture_output=True, text=True, timeout=300)
    checks, last = {}, {}
    for line in p.stdout.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if "check" in o:
            checks[o["check"]] = o
        else:
            last = o
    return p.stdout + p.stderr, checks, last


def check_of(tc, checks, output, name):
    tc.assertIn(name, checks, "the browser run did not get to %s:\n%s" % (name, output[-3000:]))
    c = checks[name]
    tc.assertTrue(c["ok"], "%s: %s" % (name, c["detail"]))
    return c["detail"]


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t3000")
        cls.booster = harness.train("binary:logistic", n_features=4, rounds=4)
        cls.model = harness.model_dir(os.path.join(cls.tmp, "model", "1"), cls.booster)
        # Eleven stopped groups in another region, for the list's pages.
        for i in range(11):
            sid = cls.c.ok("CreateModelService", {
                "ServiceGroupName": "page-%02d" % i, "ChargeType": "POSTPAID_BY_HOUR",
                "InstanceType": "TI.S.MEDIUM.POST", "Command": "sleep 600", "ScaleMode": "MANUAL",
                "Replicas": 1}, region="ap-beijing")["Service"]["ServiceId"]
            cls.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"}, region="ap-beijing")
        # BERTH_CONSOLE_SCREENSHOTS=docs/console makes the README's pictures.
        shots = os.environ.get("BERTH_CONSOLE_SCREENSHOTS") or os.path.join(cls.tmp, "shots")
        os.makedirs(shots, exist_ok=True)
        with open(os.path.join(cls.d.data_dir, "credentials")) as f:
            cred = json.load(f)
        env = dict(os.environ, BERTH_URL="http://127.0.0.1:%d" % cls.d.port,
                   BERTH_GATEWAY="http://127.0.0.1:%d" % cls.d.gateway_port,
                   BERTH_SECRET_ID=cred["secretId"], BERTH_SECRET_KEY=cred["secretKey"],
                   BERTH_MODEL_DIR=cls.model, BERTH_SCREENSHOTS=shots,
                   BERTH_CHARTS_S="25" if os.environ.get("BERTH_CONSOLE_SCREENSHOTS") else "0")
        cls.output, cls.checks, last = run_browser(env)
        cls.group, cls.created = last.get("group"), last.get("created", [])
        cls.shots = shots

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def check(self, name):
        return check_of(self, self.checks, self.output, name)

    def test_00_without_a_secure_context_no_key_is_asked_for(self):
        self.assertIn("https", self.check("insecure_context_says_so"))

    def test_01_a_wrong_key_is_refused_with_the_apis_words(self):
        self.assertTrue(self.check("login_refuses_a_wrong_key").startswith("AuthFailure.SignatureFailure: "))

    def test_02_the_key_stays_in_the_tab(self):
        # sessionStorage only, no cookie
        self.assertEqual(self.check("login"), '["berth.console.session"]""')

    def test_03_language_switch(self):
        self.assertEqual(self.check("language_switch"), {"zh": "在线服务", "en": "Online services"})

    def test_04_import_from_the_repository_page(self):
        self.check("import_model")

    def test_04_billing_accounts_top_up_ledger_and_keys(self):
        d = self.check("billing_accounts_and_ledger")
        self.assertTrue(d["refused"].startswith("InvalidParameterValue: AccountName"), d["refused"])
        # two TOPUP rows, newest first: 25.50 then the initial 50.00
        self.assertEqual(len(d["ledger"]), 2)
        self.assertIn("TOPUP", d["ledger"][0])
        self.assertIn("¥25.50", d["ledger"][0])
        self.assertIn("¥50.00", d["ledger"][1])
        # the API agrees, in fen, and the key the page showed is the account's
        acc = [a for a in self.c.ok("DescribeAccounts", {})["AccountSet"] if a["AccountName"] == "team-web"][0]
        self.assertEqual((acc["Balance"], acc["LedgerCheck"]["Consistent"]), (7550, True))
        # signed with the key the page showed, the API answers as that account
        mine = self.c.ok("DescribeAccounts", {}, secret_id=d["secretId"], key=d["secretKey"])["AccountSet"]
        self.assertEqual([a["AccountName"] for a in mine], ["team-web"])
        self.assertEqual(d["total"], "合计 ¥0.00，实例 0.00 小时")
        self.assertEqual(d["specs"], len(self.c.ok("DescribeBillingSpecs", {"ChargeType": "POSTPAID_BY_HOUR"})["Specs"]))

    def test_04_an_access_key_with_a_policy(self):
        d = self.check("access_key_with_a_policy")
        self.assertIn("Policy", d["refused"])
        # the key the page made, with the policy the page gave it last: describe and import
        kw = {"secret_id": d["secretId"], "key": d["secretKey"]}
        self.c.ok("DescribeModelServiceGroups", {}, **kw)
        err = self.c.error("DeleteTrainingModel", {"TrainingModelId": "m-1"}, **kw)
        self.assertEqual(err["Code"], "UnauthorizedOperation")
        err = self.c.error("CreateTrainingModel", {}, **kw)  # allowed, so refused only for what it lacks
        self.assertNotEqual(err["Code"], "UnauthorizedOperation")

    def test_05_a_bad_field_shows_the_apis_message_next_to_it(self):
        shown = self.check("bad_field_shows_the_api_message")
        # the same refusal, asked of the API directly
        model = [m for m in self.c.ok("DescribeTrainingModels", {})["TrainingModels"]
                 if m["TrainingModelName"] == "console-model"][0]
        mv = self.c.ok("DescribeTrainingModelVersions", {"TrainingModelId": model["TrainingModelId"]})
        err = self.c.error("CreateModelService", {
            "ServiceGroupName": "bad name!", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": mv["TrainingModelVersions"][0]["TrainingModelVersionId"]},
            "ScaleMode": "MANUAL", "Replicas": 1})
        self.assertEqual(shown, err["Message"])

    def test_06_create_through_the_form_reaches_running(self):
        d = self.check("create_through_the_form")
        self.assertEqual(d["text"], "运行中")
        self.assertEqual(d["model"], "console-model")

    def test_07_call_information_and_a_copyable_curl(self):
        d = self.check("service_page_instances_and_call_info")
        self.assertEqual(d["addr"], "http://127.0.0.1:%d/%s" % (self.d.gateway_port, self.group))
        # a token made, then reset on the page: the page shows a new value
        first, reset = d["tokens"]
        self.assertNotEqual(first, reset)
        self.assertRegex(reset, r"^\S{8,}$")
        # the copied curl, run as it is, got the model's own predictions
        harness.assert_close(d["answer"]["predictions"],
                             harness.predict(self.booster, [[1.0, 0.5, -0.2, 0.1]]))

    def test_08_charts_show_the_gateways_requests(self):
        d = self.check("charts_follow_the_metrics")
        self.assertGreater(float(d["shown"].split()[0]), 0)
        self.assertEqual(d["ready"].strip(), "1.00")

    def test_09_events_and_warnings(self):
        d = self.check("events_and_their_filter")
        self.assertGreaterEqual(d["all"], 2)  # started, ready
        self.assertEqual(d["warnings"], 0)  # a healthy instance warned of nothing

    def test_09_logs_search(self):
        self.assertGreaterEqual(self.check("logs_search_and_follow")["lines"], 1)

    def test_10_update_sends_only_what_changed(self):
        d = self.check("update_a_version")
        self.assertEqual(d["before"], {"env": "hello", "type": "TI.S.MEDIUM.POST", "replicas": "1",
                                       "desc": "made in the browser"})
        self.assertEqual(d["sent"], ["Env", "ServiceDescription", "ServiceId"])
        self.assertEqual(d["env"], [{"Name": "GREETING", "Value": "hello again"}])
        self.assertEqual((d["desc"], d["replicas"], d["type"]), ("changed in the browser", 1, "TI.S.MEDIUM.POST"))

    def test_10_weights_by_slider(self):
        self.assertEqual(self.check("weights_by_slider"), {"w1": "30", "w2": "70"})

    def test_11_list_filters(self):
        self.assertIn("console-demo", self.check("list_row"))

    def test_11_region_switch(self):
        self.assertIn("0", self.check("region_switch"))

    def test_12_stop_and_delete_from_the_list(self):
        self.check("stop_from_the_list")
        self.check("delete_from_the_list")
        # and the API agrees: the group is gone
        self.assertIsNotNone(self.group)
        err = self.c.error("DescribeModelServiceGroup", {"ServiceGroupId": self.group})
        self.assertEqual(err["Code"], "ResourceNotFound")

    def test_13_the_form_offers_every_field_the_api_takes(self):
        # CreateModelService's fields (docs/api-reference.md, from the code's tables) less
        # those the form leaves out on purpose must each have been sent by the form at least
        # once: a field added to the API fails this until the form (or this list) has it.
        answers = self.check("form_sends_every_field")["answers"]
        self.assertEqual(len(answers), 3)
        for a in answers:
            self.assertTrue(a, answers)  # each refused, next to a field...
        # ... so nothing was made
        groups = self.c.ok("DescribeModelServiceGroups", {"Filters": [
            {"Name": "ServiceGroupName", "Values": ["every-field"]}]})
        self.assertEqual(groups["TotalCount"], 0)
        with open(os.path.join(ROOT, "docs", "api-reference.md")) as f:
            section = f.read().split("## CreateModelService\n")[1].split("\n## ")[0]
        used = re.findall(r"^\| `([^`]+)` \| used \|", section, re.M)
        sent = set()
        for body in self.created:
            sent |= leaf_paths(body)
        want = {u for u in used if u not in NOT_IN_FORM}
        missing = sorted(u for u in want
                         if not any(re.fullmatch(re.escape(u).replace(r"\*", "[A-Za-z]+"), s) for s in sent))
        self.assertEqual(missing, [], "fields the form never sent")
        # and what it leaves out is what the docs say it leaves out
        with open(os.path.join(ROOT, "docs", "console.md")) as f:
            doc = f.read()
        for name in NOT_IN_FORM:
            self.assertTrue("`%s`" % name in doc, "docs/console.md does not name %s" % name)

    def test_13_no_console_errors(self):
        self.assertEqual(self.check("no_console_errors"), [])

    def test_14_screenshots(self):
        for name in ("list.png", "form.png", "service.png", "charts.png"):
            path = os.path.join(self.shots, name)
            self.assertTrue(os.path.getsize(path) > 10000, path)


class Tls(unittest.TestCase):
    """The console over berthd's own TLS listener (--api-tls-cert), at a name that is not the
    machine's own: https makes it a secure context, so the page signs and lists."""

    @classmethod
    def setUpClass(cls):
        import ssl
        import t2600_tls
        cls.tmp = harness.tempdir("t3000-tls")
        pki = os.path.join(cls.tmp, "pki")
        os.makedirs(pki)
        with open(os.path.join(pki, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:berth.test\nextendedKeyUsage=serverAuth\n")
        t2600_tls.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Berth t3000 CA", cwd=pki)
        t2600_tls.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                          "server.key", "-out", "server.csr", "-subj", "/CN=berth.test", cwd=pki)
        t2600_tls.openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                          "-set_serial", "0x3000", "-days", "1", "-extfile", "ext.cnf", "-out", "server.pem", cwd=pki)
        api.start_berthd(cls, extra=["--api-tls-cert", os.path.join(pki, "server.pem"),
                                     "--api-tls-key", os.path.join(pki, "server.key")], name="berthd-tls")
        cls.c.ssl_context = ssl.create_default_context(cafile=os.path.join(pki, "ca.pem"))
        cls.c.ok("CreateModelService", {"ServiceGroupName": "over-tls", "ChargeType": "POSTPAID_BY_HOUR",
                                        "InstanceType": "TI.S.MEDIUM.POST", "Command": "sleep 600",
                                        "ScaleMode": "MANUAL", "Replicas": 1})
        with open(os.path.join(cls.d.data_dir, "credentials")) as f:
            cred = json.load(f)
        cls.output, cls.checks, _ = run_browser(dict(
            os.environ, BERTH_STEPS="tls", BERTH_URL="https://127.0.0.1:%d" % cls.d.port,
            BERTH_SECRET_ID=cred["secretId"], BERTH_SECRET_KEY=cred["secretKey"]))

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_sign_in_and_list_over_https(self):
        d = check_of(self, self.checks, self.output, "tls_sign_in_and_list")
        self.assertEqual(d["url"], "https://berth.test:%d/console/" % self.d.port)
        self.assertTrue(d["secure"])
        self.assertEqual(d["rows"], ["over-tls"])
        self.assertEqual(check_of(self, self.checks, self.output, "no_console_errors"), [])


class Cors(unittest.TestCase):
    """Only the console's own origin (the listener's scheme and Host) is answered."""

    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t3000-cors")
        cls.own = "http://127.0.0.1:%d" % cls.d.port

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def request(self, method, path, headers, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        try:
            c.request(method, path, body, headers)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def preflight(self, origin):
        return self.request("OPTIONS", "/", {"Origin": origin, "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "authorization,content-type,x-tc-action"})

    def test_own_origin_preflight_is_answered(self):
        status, h, body = self.preflight(self.own)
        self.assertEqual(status, 204)
        self.assertEqual(h["access-control-allow-origin"], self.own)
        self.assertEqual(h["access-control-allow-methods"], "POST")
        for name in ("Authorization", "Content-Type", "X-TC-Action", "X-TC-Timestamp", "X-TC-Region"):
            self.assertIn(name, h["access-control-allow-headers"])
        self.assertEqual(body, b"")

    def test_other_origins_get_nothing(self):
        for origin in ("http://evil.example", "http://127.0.0.1:%d" % (self.d.port + 1), "null",
                       "http://127.0.0.1", "ftp://127.0.0.1:%d" % self.d.port, self.own + ".evil.example",
                       self.own + "/", "http://localhost:%d" % self.d.port):
            status, h, body = self.preflight(origin)
            self.assertEqual(status, 403, origin)
            self.assertFalse([k for k in h if k.startswith("access-control-")], (origin, h))
            self.assertEqual(body, b"", origin)

    def test_a_signed_call_from_another_origin_does_not_run(self):
        # A valid signature (a page that somehow had the key) from another site: refused, and
        # the action did not happen.
        status, _ct, doc = None, None, None
        try:
            self.c.raw("CreateTrainingModel", {"ImportMethod": "MODEL", "TrainingModelName": "cors-x"},
                       headers={"Origin": "http://evil.example"})
        except ValueError:
            status = 403  # the empty body is not JSON
        self.assertEqual(status, 403)
        listed = self.c.ok("DescribeTrainingModels", {})["TrainingModels"]
        self.assertEqual([m for m in listed if m["TrainingModelName"] == "cors-x"], [])
        status, h, body = self.request("POST", "/", {"Origin": "http://evil.example",
                                                     "Content-Type": "application/json"}, b"{}")
        self.assertEqual((status, body), (403, b""))
        self.assertNotIn("access-control-allow-origin", h)

    def test_the_same_host_over_https_is_its_own(self):
        # the page behind a proxy that ends TLS: https, the same Host
        status, h, _ = self.preflight("https://127.0.0.1:%d" % self.d.port)
        self.assertEqual(status, 204)
        self.assertEqual(h["access-control-allow-origin"], "https://127.0.0.1:%d" % self.d.port)
        # a proxy that sends its own Host: that host's pages are the console's
        status, h, _ = self.request("OPTIONS", "/", {"Origin": "https://berth.example", "Host": "berth.example",
                                                     "Access-Control-Request-Method": "POST"})
        self.assertEqual((status, h.get("access-control-allow-origin")), (204, "https://berth.example"))

    def test_own_origin_call_carries_the_allow_header(self):
        resp = self.c.ok("DescribeModelServiceGroups", {}, headers={"Origin": self.own})
        self.assertIn("ServiceGroups", resp)
        status, h, _ = self.request("GET", "/console/", {"Origin": self.own})
        self.assertEqual(status, 200)
        self.assertEqual(h["access-control-allow-origin"], self.own)

    def test_console_files(self):
        status, h, body = self.request("GET", "/console/", {})
        self.assertEqual(status, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn("script-src 'self'", h["content-security-policy"])
        self.assertIn(b'src="app.js"', body)
        status, h, body = self.request("GET", "/console/tc3.js", {})
        self.assertEqual((status, h["content-type"]), (200, "text/javascript; charset=utf-8"))
        status, h, _ = self.request("GET", "/console", {})
        self.assertEqual((status, h["location"]), (301, "/console/"))
        for path in ("/console/../berth.db", "/console/nosuch.js", "/console/%2e%2e/credentials"):
            status, _h, _b = self.request("GET", path, {})
            self.assertEqual(status, 404, path)
        status, h, _ = self.request("POST", "/console/app.js", {"Content-Type": "application/json"}, b"{}")
        self.assertEqual(status, 405)


if __name__ == "__main__":
    unittest.main()
