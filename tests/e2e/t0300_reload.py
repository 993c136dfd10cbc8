"""Hot reload: versions appear while clients keep predicting; broken versions fail alone.

The tests in this file run in order on one server and build on each other:
version 1 -> add 2 under load -> broken 3 -> fix 3 -> broken 4 (two model files)."""

import json
import os
import socket
import struct
import threading
import time

import harness
from harness import assert_close

POLL = 1            # --file_system_poll_wait_seconds
APPEAR_TIMEOUT = 6  # seconds allowed for a new version to show up in the status


def close_to(got, expected, tol=1e-6):
    try:
        assert_close(got, expected, tol)
        return True
    except AssertionError:
        return False


class HotReload(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0300")
        cls.base = os.path.join(tmp, "hot")
        cls.boosters = {v: harness.train("binary:logistic", n_features=5, seed=300 + v, rounds=4 + v)
                        for v in (1, 2, 3, 4)}
        cls.models = {1: harness.load_model(harness.write_version(cls.base, 1, cls.boosters[1], "json"))}
        cls.srv = cls.start_server(["--model_name=hot", "--model_base_path=%s" % cls.base,
                                    "--file_system_poll_wait_seconds=%d" % POLL])
        cls.c = cls.client_for(cls.srv)
        cls.X = harness.rows(8, 5, seed=61)
        cls.expected = {1: harness.predict(cls.models[1], cls.X)}

    def status(self):
        st = self.c.get_json("/v1/models/hot")["model_version_status"]
        return {e["version"]: e for e in st}

    def wait_state(self, version, state, timeout=APPEAR_TIMEOUT):
        def check():
            e = self.status().get(str(version))
            return e if e and e["state"] == state else None
        try:
            return harness.wait_until(check, timeout, 0.1, what="version %s in state %s" % (version, state))
        except AssertionError as e:
            raise AssertionError("%s; status now %r" % (e, self.c.get("/v1/models/hot").body[:600]))

    def predict_default(self):
        return self.c.post_json("/v1/models/hot:predict", {"instances": self.X.tolist()})["predictions"]

    def test_1_serves_version_1(self):
        st = self.status()
        self.assertEqual(list(st), ["1"], st)
        self.assertEqual(st["1"]["state"], "AVAILABLE")
        assert_close(self.predict_default(), self.expected[1])

    def test_2_new_version_under_load(self):
        """Clients predict continuously while version 2 is added: no request fails, and once
        version 2 is available every new request gets its predictions."""
        cls = type(self)
        X = self.X
        body = {"instances": X.tolist()}
        v2body = {"inputs": [{"name": "input", "shape": list(X.shape), "datatype": "FP32", "data": X.tolist()}]}
        results = []          # (t_start, t_end, status, predictions or error, V2 model_version or None)
        lock = threading.Lock()
        stop = threading.Event()
        t_begin = time.monotonic()
        hard_stop = t_begin + 12.0

        def client_loop(k):
            c = harness.Client(self.srv.port, timeout=5)
            try:
                for _ in range(5000):
                    if stop.is_set() or time.monotonic() > hard_stop:
                        break
                    t0 = time.monotonic()
                    try:
                        if k == 2:      # one client on the V2 API
                            r = c.post("/v2/models/hot/infer", v2body, retry=False)
                            j = r.json() if r.status == 200 else None
                            res = (t0, time.monotonic(), r.status,
                                   j["outputs"][0]["data"] if j else r.body[:300], j and j.get("model_version"))
                        else:
                            r = c.post("/v1/models/hot:predict", body, retry=False)
                            res = (t0, time.monotonic(), r.status,
                                   r.json().get("predictions") if r.status == 200 else r.body[:300], None)
                    except Exception as e:       # a failed request, recorded
                        res = (t0, time.monotonic(), None, repr(e), None)
                        c.close()
                    with lock:
                        results.append(res)
            finally:
                c.close()

        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            cls.models[2] = harness.load_model(harness.write_version(self.base, 2, self.boosters[2], "ubj"))
            cls.expected[2] = harness.predict(cls.models[2], X)
            t_written = time.monotonic()
            self.wait_state(2, "AVAILABLE")
            t_avail = time.monotonic()
            # keep the load on a while after the switch (about 3 s in all)
            time.sleep(max(1.0, 3.0 - (t_avail - t_begin)))
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads did not stop")
        failed = [r for r in results if r[2] != 200]
        self.assertEqual(failed[:5], [], "%d of %d requests failed during the reload" % (len(failed), len(results)))
        self.assertGreater(len(results), 20, "too few requests were sent to mean anything")
        before = [r for r in results if r[1] < t_written]
        after = [r for r in results if r[0] > t_avail + 0.2]
        self.assertTrue(before, "no request completed before version 2 was written")
        self.assertTrue(after, "no request started after version 2 became available")
        for r in results:
            self.assertTrue(close_to(r[3], self.expected[1]) or close_to(r[3], self.expected[2]),
                            "predictions match neither version: %r" % (r[3],))
            if r[4] is not None:    # V2 names the version that answered: values must be its own
                self.assertIn(r[4], ("1", "2"), r)
                self.assertTrue(close_to(r[3], self.expected[int(r[4])]),
                                "V2 answer says model_version %s but has other values: %r" % (r[4], r[3]))
        self.assertTrue(any(r[4] for r in results), "no V2 answer recorded")
        for r in before:
            self.assertTrue(close_to(r[3], self.expected[1]), "before version 2 appeared: %r" % (r[3],))
        stale = [r for r in after if not close_to(r[3], self.expected[2])]
        self.assertEqual(len(stale), 0, "%d of %d requests sent after version 2 became available got "
                                        "version 1's predictions" % (len(stale), len(after)))

    def test_3_old_version_retired(self):
        # default policy: latest 1, so version 1 goes once version 2 serves
        def gone():
            r = self.c.post("/v1/models/hot/versions/1:predict", {"instances": self.X.tolist()})
            return r if r.status == 404 else None
        r = harness.wait_until(gone, APPEAR_TIMEOUT, 0.1, what="version 1 retired (predict -> 404)")
        harness.assert_error(self, r, 404)
        st = self.status()
        self.assertEqual(st["2"]["state"], "AVAILABLE")
        if "1" in st:
            self.assertNotEqual(st["1"]["state"], "AVAILABLE", st)
        assert_close(self.predict_default(), self.expected[2])

    def test_4_broken_version_keeps_old_serving(self):
        d = os.path.join(self.base, ".stage-3")
        os.makedirs(d)
        with open(os.path.join(d, "model.json"), "w") as f:
            f.write('{"learner": {"gradient_booster": {"name": "gbtree", "model": {"trees": [ {"broken":')
        os.rename(d, os.path.join(self.base, "3"))
        e = self.wait_state(3, "END")
        self.assertTrue(e["status"].get("error_message"), "a failed version needs its error message: %r" % e)
        st = self.status()
        self.assertEqual(st["2"]["state"], "AVAILABLE", st)
        assert_close(self.predict_default(), self.expected[2])
        time.sleep(POLL * 1.5)    # another scan: still version 2, still serving
        assert_close(self.predict_default(), self.expected[2])
        self.assertEqual(self.c.get("/v2/health/ready").status, 200, "model `hot` still has an available version")

    def test_5_fixed_version_loads(self):
        cls = type(self)
        d = os.path.join(self.base, "3")
        os.remove(os.path.join(d, "model.json"))
        path = os.path.join(d, "model.json")
        harness.save_model(self.boosters[3], path, "json")
        cls.models[3] = harness.load_model(path)
        cls.expected[3] = harness.predict(cls.models[3], self.X)
        self.wait_state(3, "AVAILABLE")
        e = self.status()["3"]
        self.assertEqual(e["status"].get("error_code", "OK"), "OK", e)
        self.assertEqual(e["status"].get("error_message", ""), "", e)
        harness.wait_until(lambda: close_to(self.predict_default(), self.expected[3]), 3, 0.1,
                           what="latest predictions from version 3")

    def test_6_two_model_files_is_an_error(self):
        d = os.path.join(self.base, ".stage-4")
        os.makedirs(d)
        harness.save_model(self.boosters[4], os.path.join(d, "a.json"), "json")
        harness.save_model(self.boosters[4], os.path.join(d, "b.ubj"), "ubj")
        os.rename(d, os.path.join(self.base, "4"))
        e = self.wait_state(4, "END")
        self.assertTrue(e["status"].get("error_message"), e)
        assert_close(self.predict_default(), self.expected[3])


class ScanOnce(harness.ServerCase):
    """--file_system_poll_wait_seconds=0 scans the base path once, at start."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0300once")
        cls.base = os.path.join(tmp, "once")
        cls.m1 = harness.load_model(harness.write_version(
            cls.base, 1, harness.train("reg:squarederror", n_features=3, seed=310), "json"))
        cls.srv = cls.start_server(["--model_name=once", "--model_base_path=%s" % cls.base,
                                    "--file_system_poll_wait_seconds=0"])
        cls.c = cls.client_for(cls.srv)

    def test_new_version_not_picked_up(self):
        harness.write_version(self.base, 2, harness.train("reg:squarederror", n_features=3, seed=311), "json")
        X = harness.rows(3, 3, seed=62)
        time.sleep(2.5)
        st = self.c.get_json("/v1/models/once")["model_version_status"]
        self.assertEqual([(e["version"], e["state"]) for e in st], [("1", "AVAILABLE")])
        body = self.c.post_json("/v1/models/once:predict", {"instances": X.tolist()})
        assert_close(body["predictions"], harness.predict(self.m1, X))


DEPTH = 50000       # the nesting of the hostile model files (the limit is 64)


def deep_binary(kind):
    """A real legacy binary model whose "objective" attribute, the one string in that format
    the library parses as JSON, nests DEPTH levels."""
    booster = harness.train("binary:logistic", n_features=4, seed=321, rounds=2)
    tmp = harness.tempdir("t0300bin")
    try:
        with open(harness.save_model(booster, os.path.join(tmp, "m.bin"), "bin"), "rb") as f:
            data = f.read()
    finally:
        harness.rmtree(tmp)
    key = struct.pack("<Q", 9) + b"objective"
    at = data.rindex(key) + len(key)
    (n,) = struct.unpack("<Q", data[at:at + 8])
    deep = (b"[" * DEPTH + b"]" * DEPTH) if kind == "[" else (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH)
    return data[:at] + struct.pack("<Q", len(deep)) + deep + data[at + 8 + n:]


def write_deep(base, version, fmt, kind="["):
    """Write <base>/<version>/model.<fmt>: a model file whose "learner" holds DEPTH nested
    arrays (kind '[') or objects (kind '{'), in JSON or, as XGBoost writes it, UBJSON; in the
    legacy binary format ('bin') the nesting is in the objective attribute."""
    if fmt == "bin":
        data = deep_binary(kind)
    elif fmt == "json":
        inner = (b"[" * DEPTH + b"]" * DEPTH) if kind == "[" else (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH)
        data = b'{"learner":' + inner + b"}"
    else:
        def key(k):
            return b"L" + struct.pack(">q", len(k)) + k
        inner = (b"[" * DEPTH + b"Z" + b"]" * DEPTH) if kind == "[" else \
            ((b"{" + key(b"a")) * DEPTH + b"Z" + b"}" * DEPTH)
        data = b"{" + key(b"learner") + inner + b"}"
    stage = os.path.join(base, ".stage-deep-%s" % version)
    os.makedirs(stage)
    with open(os.path.join(stage, "model." + fmt), "wb") as f:
        f.write(data)
    os.rename(stage, os.path.join(base, str(version)))


class DeepNesting(harness.ServerCase):
    """A model file nested 50 000 deep reaches berth-serve during a hot reload: it is refused
    before XGBoost's recursive parser sees it (which would overflow the loading thread's
    stack), the version ends in END with an error naming the nesting limit, and version 1
    keeps answering every request."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0300deep")
        cls.base = os.path.join(tmp, "deep")
        cls.m1 = harness.load_model(harness.write_version(
            cls.base, 1, harness.train("binary:logistic", n_features=4, seed=320), "json"))
        cls.srv = cls.start_server(["--model_name=deep", "--model_base_path=%s" % cls.base,
                                    "--file_system_poll_wait_seconds=%d" % POLL])
        cls.c = cls.client_for(cls.srv)
        cls.X = harness.rows(6, 4, seed=63)
        cls.expected = harness.predict(cls.m1, cls.X)

    def status(self):
        return {e["version"]: e for e in self.c.get_json("/v1/models/deep")["model_version_status"]}

    def deep_version_refused(self, version, fmt, kind):
        """Write a deep version while a client predicts; check it ends in END and nothing fails."""
        results = []
        stop = threading.Event()
        body = {"instances": self.X.tolist()}

        def client_loop():
            c = harness.Client(self.srv.port, timeout=5)
            deadline = time.monotonic() + 15
            try:
                for _ in range(3000):
                    if stop.is_set() or time.monotonic() > deadline:
                        break
                    try:
                        r = c.post("/v1/models/deep:predict", body, retry=False)
                        results.append((r.status, r.json().get("predictions") if r.status == 200 else r.body[:200]))
                    except Exception as e:      # a refused or reset connection: the server died
                        results.append((None, repr(e)))
                        c.close()
                    time.sleep(0.01)
            finally:
                c.close()

        t = threading.Thread(target=client_loop)
        t.start()
        try:
            time.sleep(0.3)
            write_deep(self.base, version, fmt, kind)
            def ended():
                e = self.status().get(str(version))
                return e if e and e["state"] == "END" else None
            e = harness.wait_until(ended, APPEAR_TIMEOUT, 0.1, what="version %d in state END" % version)
            time.sleep(POLL * 1.5)      # another scan: the failed version is not retried unchanged
        finally:
            stop.set()
            t.join(20)
        self.assertTrue(self.srv.alive(), "berth-serve died:\n%s" % self.srv.log_tail(20))
        msg = e["status"].get("error_message", "")
        self.assertIn("nesting limit of 64 levels", msg, e)
        self.assertIn("model.%s" % fmt, msg, e)
        self.assertEqual(e["status"].get("error_code"), "UNKNOWN", e)
        self.assertEqual(self.status()["1"]["state"], "AVAILABLE")
        failed = [r for r in results if r[0] != 200]
        self.assertEqual(failed[:3], [], "%d of %d predictions failed" % (len(failed), len(results)))
        self.assertGreater(len(results), 10)
        for r in results:
            assert_close(r[1], self.expected)
        assert_close(self.c.post_json("/v1/models/deep:predict", body)["predictions"], self.expected)

    def test_1_deep_json_arrays(self):
        self.deep_version_refused(2, "json", "[")

    def test_2_deep_json_objects(self):
        self.deep_version_refused(3, "json", "{")

    def test_3_deep_ubjson_arrays(self):
        self.deep_version_refused(4, "ubj", "[")

    def test_4_deep_ubjson_objects(self):
        self.deep_version_refused(5, "ubj", "{")

    def test_5_deep_objective_in_binary_format(self):
        self.deep_version_refused(6, "bin", "{")
        self.assertEqual(self.c.get("/v2/health/ready").status, 200)
        v2 = self.c.get_json("/v2/models/deep")
        self.assertEqual(v2.get("versions"), ["1"], v2)


class DeepNestingAtStart(harness.ServerCase):
    """A fresh start with only a 50 000-deep model: the server comes up, says why the version
    is END, is not ready, and answers predictions with 404 instead of crashing."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0300deepstart")
        cls.base = os.path.join(tmp, "only")
        os.makedirs(cls.base)
        write_deep(cls.base, 1, "ubj", "{")
        cls.srv = cls.start_server(["--model_name=only", "--model_base_path=%s" % cls.base,
                                    "--file_system_poll_wait_seconds=0"])
        cls.c = cls.client_for(cls.srv)

    def test_deep_model_only(self):
        st = self.c.get_json("/v1/models/only")["model_version_status"]
        self.assertEqual([(e["version"], e["state"]) for e in st], [("1", "END")], st)
        self.assertIn("nesting limit of 64 levels", st[0]["status"]["error_message"], st)
        self.assertEqual(self.c.get("/v2/health/live").status, 200)
        self.assertEqual(self.c.get("/v2/health/ready").status, 503)
        r = self.c.post("/v1/models/only:predict", {"instances": [[0.1, 0.2]]})
        harness.assert_error(self, r, 404)
        self.assertTrue(self.srv.alive())


FORGED = "2026-12-02T00:00:00.000Z info repo version available model=evil version=9"


class LogLines(harness.ServerCase):
    """Every event berth-serve logs is one line, whatever the values in it hold: a berth.json
    whose field name carries CR LF and a forged log line, a model file the library refuses with
    a multi-line stack trace, and request paths with control bytes, logged at debug."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0300log")
        cls.base = os.path.join(tmp, "logm")
        cls.b1 = harness.train("reg:squarederror", n_features=3, seed=330)
        harness.write_version(cls.base, 1, cls.b1, "json")
        cls.srv = cls.start_server(["--model_name=logm", "--model_base_path=%s" % cls.base,
                                    "--file_system_poll_wait_seconds=%d" % POLL, "--log_level=debug"])
        cls.c = cls.client_for(cls.srv)

    def status(self):
        return {e["version"]: e for e in self.c.get_json("/v1/models/logm")["model_version_status"]}

    def wait_end(self, version):
        def ended():
            e = self.status().get(str(version))
            return e if e and e["state"] == "END" else None
        return harness.wait_until(ended, APPEAR_TIMEOUT, 0.1, what="version %d in state END" % version)

    def assert_one_line_each(self):
        harness.assert_log_lines(self, self.srv.log(), FORGED)

    def test_1_berth_json_field_with_crlf(self):
        stage = os.path.join(self.base, ".stage-2")
        harness.write_version(self.base, ".stage-2", self.b1, "json", atomic=False)
        with open(os.path.join(stage, "berth.json"), "w") as f:
            json.dump({"x\r\n" + FORGED + " \x1b[2J": 1}, f)
        os.rename(stage, os.path.join(self.base, "2"))
        e = self.wait_end(2)
        self.assertIn("unknown field", e["status"]["error_message"], e)
        harness.wait_until(lambda: "cannot load version model=logm version=2" in self.srv.log(), 3,
                           what="the load error in the log")
        self.assertIn("unknown field 'x\\r\\n" + FORGED + " \\x1b[2J'", self.srv.log())
        self.assert_one_line_each()

    def test_2_library_error_with_stack_trace(self):
        stage = os.path.join(self.base, ".stage-3")
        os.makedirs(stage)
        with open(os.path.join(stage, "model.json"), "w") as f:
            f.write('{"learner": 5}')       # XGBoost: "Invalid cast", then a stack trace
        os.rename(stage, os.path.join(self.base, "3"))
        e = self.wait_end(3)
        msg = e["status"]["error_message"]
        self.assertIn("XGBoost cannot load", msg, e)
        self.assertNotIn("\n", msg, "the status names the error, not the library's stack trace")
        self.assertNotIn("Stack trace", msg, e)
        self.assert_one_line_each()

    def test_3_request_paths_with_control_bytes(self):
        for path in (b"/v1/models/a%0D%0A" + FORGED.replace(" ", "%20").encode(),
                     b"/v1/models/\x1b[2Jx", b"/v1/models/a\x7fb\x01"):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=5)
            try:
                s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                status = harness.read_http_response(s)[0]
                self.assertIn(status, (400, 404), path)
            finally:
                s.close()
        self.assertEqual(self.c.get("/v2/health/live").status, 200)
        self.assert_one_line_each()
