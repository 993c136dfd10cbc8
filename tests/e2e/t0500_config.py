"""Flags, model config files (TF Serving text format and JSON), version policies, labels,
config errors and config reload."""

import os
import re
import time

import harness
from harness import assert_close, assert_error

FLAGS = ["--rest_api_port", "--rest_api_host", "--model_name", "--model_base_path", "--model_config_file",
         "--model_config_file_poll_wait_seconds", "--file_system_poll_wait_seconds", "--rest_api_num_threads",
         "--rest_api_timeout_in_ms", "--max_request_bytes", "--log_level"]


def make_three_versions(base, n_features=4):
    out = {}
    for v, fmt in ((1, "json"), (2, "bin"), (3, "ubj")):
        b = harness.train("binary:logistic", n_features=n_features, seed=500 + v, rounds=3 + v)
        out[v] = harness.load_model(harness.write_version(base, v, b, fmt))
    return out


class PolicyBase(harness.ServerCase):
    abstract = True        # run through PolicyText and PolicyJson
    FORMAT = None

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0500" + cls.FORMAT)
        base = os.path.join(tmp, "models", "iris")
        cls.m = make_three_versions(base)
        cls.X = harness.rows(5, 4, seed=81)
        cls.exp = {v: harness.predict(b, cls.X) for v, b in cls.m.items()}
        if cls.FORMAT == "text":
            cfg = harness.write_config_text(os.path.join(tmp, "models.config"), [
                {"name": "latest2", "base_path": base, "policy_text": "latest { num_versions: 2 }"},
                {"name": "every", "base_path": base, "policy_text": "all {}"},
                {"name": "pinned", "base_path": base, "policy_text": "specific { versions: 1 versions: 3 }",
                 "labels": {"stable": 1, "canary": 3}},
                {"name": "plain", "base_path": base, "platform": None},
            ])
        else:
            cfg = harness.write_config_json(os.path.join(tmp, "models.json"), [
                {"name": "latest2", "base_path": base, "policy": {"latest": {"num_versions": 2}}},
                {"name": "every", "base_path": base, "policy": {"all": {}}},
                {"name": "pinned", "base_path": base, "policy": {"specific": {"versions": [1, 3]}},
                 "labels": {"stable": 1, "canary": 3}},
                {"name": "plain", "base_path": base},
            ])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg])
        cls.c = cls.client_for(cls.srv)

    def available(self, model):
        st = self.c.get_json("/v1/models/%s" % model)["model_version_status"]
        return sorted((e["version"] for e in st if e["state"] == "AVAILABLE"), key=int)

    def predict(self, path):
        return self.c.post_json("/v1/models/%s:predict" % path, {"instances": self.X.tolist()})["predictions"]

    def test_policies_in_status(self):
        self.assertEqual(self.available("latest2"), ["2", "3"])
        self.assertEqual(self.available("every"), ["1", "2", "3"])
        self.assertEqual(self.available("pinned"), ["1", "3"])
        self.assertEqual(self.available("plain"), ["3"], "default policy is latest 1")

    def test_default_version_is_latest_served(self):
        for m in ("latest2", "every", "pinned", "plain"):
            assert_close(self.predict(m), self.exp[3], what=m)

    def test_versions_in_policy_serve(self):
        for m, v in (("latest2", 2), ("every", 1), ("every", 2), ("pinned", 1), ("pinned", 3)):
            assert_close(self.predict("%s/versions/%d" % (m, v)), self.exp[v], what="%s v%d" % (m, v))
            st = self.c.get_json("/v1/models/%s/versions/%d" % (m, v))["model_version_status"]
            self.assertEqual([(e["version"], e["state"]) for e in st], [(str(v), "AVAILABLE")])

    def test_versions_outside_policy_404(self):
        for m, v in (("latest2", 1), ("pinned", 2), ("plain", 1), ("plain", 2)):
            r = self.c.post("/v1/models/%s/versions/%d:predict" % (m, v), {"instances": self.X.tolist()})
            assert_error(self, r, 404, str(v))
            r = self.c.get("/v2/models/%s/versions/%d" % (m, v))
            self.assertEqual(r.status, 404, r)

    def test_labels(self):
        st = self.c.get_json("/v1/models/pinned/labels/stable")["model_version_status"]
        self.assertEqual([(e["version"], e["state"]) for e in st], [("1", "AVAILABLE")])
        st = self.c.get_json("/v1/models/pinned/labels/canary")["model_version_status"]
        self.assertEqual([e["version"] for e in st], ["3"])
        assert_close(self.predict("pinned/labels/stable"), self.exp[1])
        assert_close(self.predict("pinned/labels/canary"), self.exp[3])
        md = self.c.get_json("/v1/models/pinned/labels/stable/metadata")
        self.assertEqual(md["model_spec"]["version"], "1")
        examples = [{"f%d" % i: v for i, v in enumerate(r)} for r in self.X.tolist()]
        res = self.c.post_json("/v1/models/pinned/labels/stable:classify", {"examples": examples})["results"]
        assert_close([pairs[1][1] for pairs in res], self.exp[1])

    def test_v2_versions(self):
        body = self.c.get_json("/v2/models/pinned")
        if "versions" in body:
            self.assertEqual(sorted(body["versions"], key=int), ["1", "3"], body)
        req = {"inputs": [{"name": "input", "shape": [5, 4], "datatype": "FP32", "data": self.X.tolist()}]}
        out = self.c.post_json("/v2/models/every/versions/2/infer", req)
        self.assertEqual(out["model_version"], "2")
        assert_close(out["outputs"][0]["data"], self.exp[2])
        out = self.c.post_json("/v2/models/pinned/infer", req)
        self.assertEqual(out["model_version"], "3")


class PolicyText(PolicyBase):
    FORMAT = "text"


class PolicyJson(PolicyBase):
    FORMAT = "json"


class Flags(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0500f")
        cls.base = os.path.join(tmp, "single")
        b = harness.train("reg:squarederror", n_features=3, seed=510)
        cls.m = harness.load_model(harness.write_version(cls.base, 4, b, "json"))
        cls.X = harness.rows(4, 3, seed=82)

    def test_default_model_name(self):
        s = self.own_server(["--model_base_path=%s" % self.base])
        c = s.client()
        try:
            st = c.get_json("/v1/models/default")["model_version_status"]
            self.assertEqual([(e["version"], e["state"]) for e in st], [("4", "AVAILABLE")])
            body = c.post_json("/v1/models/default:predict", {"instances": self.X.tolist()})
            assert_close(body["predictions"], harness.predict(self.m, self.X))
            self.assertEqual(c.get_json("/v2/models/default")["name"], "default")
        finally:
            c.close()
        s.stop()

    def test_space_separated_flags_and_listening_line(self):
        port = harness.free_port()
        s = harness.Server(["--model_name", "iris", "--model_base_path", self.base,
                            "--file_system_poll_wait_seconds", "0", "--log_level", "debug",
                            "--rest_api_num_threads", "3", "--max_request_bytes", "100000"],
                           self.tmp, name="spaced", port=port, spaced_flags=True)
        self.addCleanup(s.kill)
        s.start()
        c = s.client()
        try:
            body = c.post_json("/v1/models/iris:predict", {"instances": self.X.tolist()})
            assert_close(body["predictions"], harness.predict(self.m, self.X))
        finally:
            c.close()
        self.assertIn("listening on 127.0.0.1:%d" % port, s.log())
        s.stop()

    def test_port_zero_picks_a_free_port(self):
        s = harness.Server(["--model_base_path=%s" % self.base], self.tmp, name="port0", port=0)
        self.addCleanup(s.kill)
        s.start()
        self.assertNotEqual(s.port, 0)
        c = s.client()
        try:
            self.assertEqual(c.get("/v2/health/ready").status, 200)
        finally:
            c.close()
        s.stop()

    def test_help_lists_flags(self):
        rc, out = harness.run_to_exit(["--help"], self.tmp, timeout=10, name="help")
        self.assertEqual(rc, 0, out[-2000:])
        missing = [f for f in FLAGS if f not in out]
        self.assertEqual(missing, [], out[-3000:])


# ---------------------------------------------------------------------------------------------
# malformed config files: the server stops at start with `file:line: reason`

GOOD_HEAD = """model_config_list {
  config {
    name: 'iris'
    base_path: '%s'
"""

BAD_TEXT = {
    # name: (text, line that is wrong)
    "unknown_field": (GOOD_HEAD + "    bogus_field: 7\n    model_platform: 'xgboost'\n  }\n}\n", 5),
    "bad_number": (GOOD_HEAD + "    model_version_policy {\n      latest { num_versions: many }\n    }\n  }\n}\n", 6),
    "missing_colon": (GOOD_HEAD + "    model_platform 'xgboost'\n  }\n}\n", 5),
    "wrong_platform": (GOOD_HEAD + "    model_platform: 'tensorflow'\n  }\n}\n", 5),
    "unknown_policy": (GOOD_HEAD + "    model_version_policy { newest { num_versions: 1 } }\n  }\n}\n", 5),
}

BAD_JSON = {
    "unknown_field": ('{\n "model_config_list": {\n  "config": [\n   {\n    "name": "iris",\n'
                      '    "base_path": "%s",\n    "bogus_field": 7\n   }\n  ]\n }\n}\n', 7),
    "syntax": ('{\n "model_config_list": {\n  "config": [\n   {\n    "name": "iris",\n'
               '    "base_path": "%s"\n    "model_platform": "xgboost"\n   }\n  ]\n }\n}\n', 7),
    "bad_versions": ('{\n "model_config_list": {\n  "config": [\n   {\n    "name": "iris",\n'
                     '    "base_path": "%s",\n    "model_version_policy": {"specific": {"versions": ["x"]}}\n'
                     '   }\n  ]\n }\n}\n', 7),
}


class ConfigErrors(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0500e")
        cls.base = os.path.join(tmp, "iris")
        b = harness.train("binary:logistic", n_features=3, seed=520)
        harness.write_version(cls.base, 1, b, "json")

    def check_bad(self, name, text, line, ext):
        path = os.path.join(self.tmp, "bad_%s.%s" % (name, ext))
        with open(path, "w") as f:
            f.write(text % self.base)
        rc, out = harness.run_to_exit(["--model_config_file=%s" % path], self.tmp, timeout=10, name="bad-" + name)
        problems = []
        if rc is None:
            problems.append("%s: still running after 10 s" % name)
        elif rc == 0:
            problems.append("%s: exit code 0, want non-zero" % name)
        want = "%s:%d" % (os.path.basename(path), line)
        if not re.search(re.escape(want) + r"\b", out):
            problems.append("%s: stderr does not name %s: %r" % (name, want, out[-500:]))
        for m in harness.SANITIZER_MARKERS:
            if m in out:
                problems.append("%s: %s in output" % (name, m))
        return problems

    def test_bad_text_configs(self):
        problems = []
        for name, (text, line) in BAD_TEXT.items():
            problems += self.check_bad(name, text, line, "config")
        self.assertEqual(problems, [])

    def test_bad_json_configs(self):
        problems = []
        for name, (text, line) in BAD_JSON.items():
            problems += self.check_bad(name, text, line, "json")
        self.assertEqual(problems, [])

    def test_missing_config_file(self):
        rc, out = harness.run_to_exit(["--model_config_file=%s" % os.path.join(self.tmp, "nope.config")],
                                      self.tmp, timeout=10, name="missing")
        self.assertIsNotNone(rc, "still running")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("nope.config", out)


class ConfigReload(harness.ServerCase):
    """--model_config_file_poll_wait_seconds: models come and go with the file; a broken file
    is logged and the running config stays."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0500r")
        cls.a_base = os.path.join(tmp, "a")
        cls.b_base = os.path.join(tmp, "b")
        cls.a = harness.load_model(harness.write_version(cls.a_base, 1, harness.train("binary:logistic", 3, seed=530), "json"))
        cls.b = harness.load_model(harness.write_version(cls.b_base, 1, harness.train("reg:squarederror", 3, seed=531), "json"))
        cls.cfg = os.path.join(tmp, "models.config")
        cls.write([{"name": "a", "base_path": cls.a_base}])
        cls.srv = cls.start_server(["--model_config_file=%s" % cls.cfg, "--model_config_file_poll_wait_seconds=1"])
        cls.c = cls.client_for(cls.srv)
        cls.X = harness.rows(3, 3, seed=83)

    @classmethod
    def write(cls, models=None, raw=None):
        tmpf = cls.cfg + ".tmp"
        if raw is not None:
            with open(tmpf, "w") as f:
                f.write(raw)
        else:
            harness.write_config_text(tmpf, models)
        os.replace(tmpf, cls.cfg)

    def predicts(self, name, booster):
        r = self.c.post("/v1/models/%s:predict" % name, {"instances": self.X.tolist()})
        if r.status != 200:
            return False
        assert_close(r.json()["predictions"], harness.predict(booster, self.X))
        return True

    def test_1_model_added(self):
        """The file is rewritten right after start (within the same second): the server
        re-reads it every poll, so the change must not be missed."""
        self.assertTrue(self.predicts("a", self.a))
        self.assertEqual(self.c.get("/v1/models/b").status, 404)
        self.write([{"name": "a", "base_path": self.a_base}, {"name": "b", "base_path": self.b_base}])
        try:
            harness.wait_until(lambda: self.predicts("b", self.b), 6, 0.1, what="model b served after config reload")
        except AssertionError:
            # let the next tests start from the state they expect, then fail this one
            time.sleep(1.1)
            self.write([{"name": "a", "base_path": self.a_base}, {"name": "b", "base_path": self.b_base}])
            late = harness.wait_until(lambda: self.predicts("b", self.b), 6, 0.1, what="model b after rewrite")
            self.fail("config rewritten right after start was not picked up in 6 s (%s when rewritten a second later)"
                      % ("but it was" if late else "nor"))
        self.assertTrue(self.predicts("a", self.a))

    def test_2_broken_config_keeps_running(self):
        lines = ("model_config_list {\n  config {\n    name: 'a'\n    base_path: '%s'\n    bogus: 1\n  }\n}\n"
                 % self.a_base)
        self.write(raw=lines)
        want = "%s:5" % os.path.basename(self.cfg)
        harness.wait_until(lambda: want in self.srv.log(), 6, 0.1, what="%r logged" % want)
        self.assertTrue(self.srv.alive(), "server exited on a broken config reload")
        time.sleep(1.2)
        self.assertTrue(self.predicts("a", self.a))
        self.assertTrue(self.predicts("b", self.b), "running config (with b) must stay")

    def test_3_model_removed(self):
        self.write([{"name": "b", "base_path": self.b_base}])
        harness.wait_until(lambda: self.c.get("/v1/models/a").status == 404, 6, 0.1,
                           what="model a unloaded after config reload")
        r = self.c.post("/v1/models/a:predict", {"instances": self.X.tolist()})
        assert_error(self, r, 404, "a")
        self.assertTrue(self.predicts("b", self.b))
