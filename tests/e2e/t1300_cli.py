"""berth, the CLI, against a real berthd: credentials found like tccli (flags, environment,
credentials file), `berth call`, the model and service verbs with tables and --json, predict
through the gateway, and exit codes with the API's error code and message."""

import json
import os
import subprocess
import unittest

import api
import harness


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1300")
        cls.booster = harness.train("binary:logistic", n_features=4)
        cls.src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster)
        cls.cred = os.path.join(cls.d.data_dir, "credentials")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def berth(self, *args, env=None, creds=True):
        argv = [os.path.join(os.path.dirname(api.berthd_path()), "berth"),
                "--endpoint", "http://127.0.0.1:%d" % self.d.port]
        if creds:
            argv += ["--credentials", self.cred]
        e = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
        e.update(env or {})
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=120, env=e,
                           cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def test_call_and_credentials(self):
        rc, out, err = self.berth("call", "DescribeTrainingModels", '{"Limit": 5}')
        self.assertEqual(rc, 0, err)
        self.assertIn("TotalCount", json.loads(out))
        # From the environment, like tccli.
        cred = self.d.credentials()
        rc, out, err = self.berth("call", "DescribeTrainingModels", creds=False,
                                  env={"TENCENTCLOUD_SECRET_ID": cred["secretId"],
                                       "TENCENTCLOUD_SECRET_KEY": cred["secretKey"]})
        self.assertEqual(rc, 0, err)
        # A wrong key: the API's code and message, exit 1.
        rc, out, err = self.berth("--secret-id", cred["secretId"], "--secret-key", "wrong" * 6,
                                  "call", "DescribeTrainingModels", creds=False)
        self.assertEqual(rc, 1)
        self.assertIn("AuthFailure.SignatureFailure", err)
        rc, out, err = self.berth("call", "NoSuchAction")
        self.assertEqual(rc, 1)
        self.assertIn("InvalidAction", err)
        rc, out, err = self.berth("call", "DescribeTrainingModels", "{not json")
        self.assertEqual(rc, 2)
        rc, out, err = self.berth("frobnicate")
        self.assertEqual(rc, 2)
        # Nothing listening: a network error, exit 3.
        p = subprocess.run([os.path.join(os.path.dirname(api.berthd_path()), "berth"), "--endpoint",
                            "http://127.0.0.1:%d" % harness.free_port(), "--credentials", self.cred,
                            "call", "DescribeTrainingModels"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)

    def test_cli_signs_the_action(self):
        # A stand-in endpoint records what berth sends; berthd itself only answers.
        import http.server
        import threading
        seen = {}

        class Recorder(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                seen["headers"] = dict(self.headers)
                seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
                out = b'{"Response":{"TotalCount":0,"RequestId":"00000000-0000-4000-8000-000000000000"}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
        t = threading.Thread(target=srv.handle_request)
        t.start()
        try:
            p = subprocess.run([os.path.join(os.path.dirname(api.berthd_path()), "berth"), "--endpoint",
                                "http://127.0.0.1:%d" % srv.server_port, "--credentials", self.cred,
                                "call", "DescribeTrainingModels"], capture_output=True, text=True, timeout=30)
            t.join(10)
        finally:
            srv.server_close()
        self.assertEqual(p.returncode, 0, p.stderr)
        h = seen["headers"]
        self.assertIn("SignedHeaders=content-type;host;x-tc-action,", h["Authorization"])
        cred = self.d.credentials()
        want = api.sign(cred["secretId"], cred["secretKey"], seen["body"], int(h["X-TC-Timestamp"]), h["Host"],
                        extra_signed={"x-tc-action": "DescribeTrainingModels"})
        self.assertEqual(h["Authorization"], want)
        # berthd verifies the header it lists (the other tests here go through it).
        rc, out, err = self.berth("call", "DescribeTrainingModels")
        self.assertEqual(rc, 0, err)

    def test_model_and_service_verbs(self):
        rc, out, err = self.berth("--json", "model", "import", "--name", "cli-model", "--path", self.src, "--wait")
        self.assertEqual(rc, 0, err)
        mv = json.loads(out)["TrainingModelVersionId"]
        rc, out, err = self.berth("model", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("cli-model", out)
        self.assertIn("STATUS_SUCCESS", out)
        rc, out, err = self.berth("--json", "service", "create", "--name", "cli-svc", "--model-version", mv,
                                  "--replicas", "1", "--wait")
        self.assertEqual(rc, 0, err)
        svc = json.loads(out)["Service"]
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        rc, out, err = self.berth("service", "list")
        self.assertEqual(rc, 0, err)
        row = [l for l in out.splitlines() if l.startswith(sid)]
        self.assertEqual(len(row), 1, out)
        self.assertIn("Normal", row[0])
        self.assertIn("1/1", row[0])
        X = harness.rows(2, 4, seed=3)
        rc, out, err = self.berth("predict", gid, json.dumps({"instances": X.tolist()}))
        self.assertEqual(rc, 0, err)
        harness.assert_close(json.loads(out)["predictions"], harness.predict(self.booster, X))
        body = os.path.join(self.tmp, "body.json")
        with open(body, "w") as f:
            json.dump({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                   "data": X.ravel().tolist()}]}, f)
        rc, out, err = self.berth("predict", sid, "@" + body, "--path", "/v2/models/m/infer")
        self.assertEqual(rc, 0, err)
        harness.assert_close(json.loads(out)["outputs"][0]["data"], harness.predict(self.booster, X))
        # A second version, then weights and an in-place update from the CLI.
        rc, out, err = self.berth("--json", "service", "create", "--group", gid, "--command",
                                  "exec python3 -m http.server $PORT --bind 127.0.0.1", "--wait")
        self.assertEqual(rc, 0, err)
        sid2 = json.loads(out)["Service"]["ServiceId"]
        rc, out, err = self.berth("service", "weights", gid, "%s=30" % sid, "%s=70" % sid2)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"%s .* 30 " % sid)
        self.assertRegex(out, r"%s .* 70 " % sid2)
        rc, out, err = self.berth("service", "weights", gid, "%s=x" % sid)
        self.assertEqual(rc, 2)
        rc, out, err = self.berth("--json", "service", "update", sid2, "--env", "A=1", "--replicas", "2", "--wait")
        self.assertEqual(rc, 0, err)
        info = json.loads(out)["Service"]["ServiceInfo"]
        self.assertEqual(info["Env"], [{"Name": "A", "Value": "1"}])
        self.assertEqual(info["Replicas"], 2)
        rc, out, err = self.berth("service", "update", sid2, "--instance-type", "TI.S.NOPE.POST")
        self.assertEqual(rc, 1)
        self.assertIn("InvalidParameterValue", err)
        rc, out, err = self.berth("service", "delete", sid2)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("service", "scale", sid, "2")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("service", "stop", sid)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("--json", "service", "show", sid)
        self.assertEqual(json.loads(out)["ServiceInfo"]["OldReplicas"], 2)
        rc, out, err = self.berth("service", "resume", sid)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("service", "scale", sid, "many")
        self.assertEqual(rc, 2)
        rc, out, err = self.berth("service", "delete", gid)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("service", "show", sid)
        self.assertEqual(rc, 1)
        self.assertIn("ResourceNotFound", err)

    def test_auth_tokens_limits_and_a_protected_predict(self):
        rc, out, err = self.berth("--json", "model", "import", "--name", "cli-auth", "--path", self.src, "--wait")
        self.assertEqual(rc, 0, err)
        mv = json.loads(out)["TrainingModelVersionId"]
        rc, out, err = self.berth("--json", "service", "create", "--name", "cli-auth-svc", "--model-version", mv,
                                  "--wait")
        self.assertEqual(rc, 0, err)
        svc = json.loads(out)["Service"]
        sid, gid = svc["ServiceId"], svc["ServiceGroupId"]
        body = json.dumps({"instances": harness.rows(1, 4, seed=5).tolist()})
        rc, out, err = self.berth("service", "auth", gid, "on")
        self.assertEqual(rc, 0, err)
        self.assertIn("call authentication of %s is on" % gid, out)
        default = [l for l in out.splitlines() if l.startswith("token: ")][0][7:]
        # without a token the gateway says 401; with one, the answer
        rc, out, err = self.berth("predict", gid, body)
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 401", err)
        rc, out, err = self.berth("predict", gid, body, "--token", default)
        self.assertEqual(rc, 0, err)
        self.assertIn("predictions", out)
        rc, out, err = self.berth("predict", gid, body, env={"BERTH_TOKEN": default})
        self.assertEqual(rc, 0, err)
        # tokens: create with a quota, list, update, reset, delete
        rc, out, err = self.berth("--json", "token", "create", gid, "--name", "ci", "--per-minute", "600")
        self.assertEqual(rc, 0, err)
        made = json.loads(out)
        self.assertEqual(made["Base"]["Name"], "ci")
        self.assertEqual(made["Limits"], [{"Strategy": "PerMinute", "Max": 600}])
        ci = made["Base"]["Value"]
        rc, out, err = self.berth("token", "list", gid)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"%s +ci .* 600/min" % ci)
        self.assertIn(default, out)
        rc, out, err = self.berth("--json", "token", "update", gid, ci, "--per-day", "5000", "--per-minute", "off")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["Limits"], [{"Strategy": "PerDay", "Max": 5000}])
        rc, out, err = self.berth("--json", "token", "reset", gid, ci)
        self.assertEqual(rc, 0, err)
        fresh = json.loads(out)["Base"]["Value"]
        self.assertNotEqual(fresh, ci)
        rc, out, err = self.berth("predict", gid, body, "--token", ci)
        self.assertEqual(rc, 1)
        self.assertIn("HTTP 403", err)
        rc, out, err = self.berth("predict", gid, body, "--token", fresh)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("token", "delete", gid, fresh)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("token", "delete", gid, fresh)
        self.assertEqual(rc, 1)
        self.assertIn("ResourceNotFound", err)
        # limits of a version
        rc, out, err = self.berth("service", "limit", sid, "--rps", "50", "--concurrency", "8")
        self.assertEqual(rc, 0, err)
        self.assertIn("50 requests/s, 8 in flight per ready instance", out)
        rc, out, err = self.berth("service", "limit", sid, "--rps", "off")
        self.assertEqual(rc, 0, err)
        self.assertIn("no rate limit, 8 in flight", out)
        rc, out, err = self.berth("service", "limit", sid, "--rps", "-3")
        self.assertEqual(rc, 2)
        rc, out, err = self.berth("service", "auth", gid, "off")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("predict", gid, body)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth("service", "delete", gid)
        self.assertEqual(rc, 0, err)
