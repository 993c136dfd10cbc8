"""Open Inference Protocol (KServe V2): health, server and model metadata, readiness,
inference with JSON tensors and with Triton's binary tensor extension."""

import json
import os
import struct

import harness
from harness import assert_close


def binary_request(header, payload):
    """Body and headers of a binary-extension request: JSON header then raw tensors."""
    h = json.dumps(header).encode()
    return h + payload, {"Inference-Header-Content-Length": str(len(h)),
                         "Content-Type": "application/octet-stream"}


class V2Infer(harness.ServerCase):
    """Answers checked against the library's; the native evaluator here, the library in
    V2InferLibrary."""
    PREDICTOR = "native"

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0200")
        models = os.path.join(tmp, "models")
        cls.bin = {}
        for v in (1, 2):
            b = harness.train("binary:logistic", n_features=4, seed=20 + v, rounds=4 + v)
            cls.bin[v] = harness.load_model(harness.write_version(os.path.join(models, "bin"), v, b,
                                                                  "json" if v == 1 else "ubj"))
        b = harness.train("multi:softprob", n_features=5, num_class=3, seed=25)
        cls.multi = harness.load_model(harness.write_version(os.path.join(models, "multi"), 3, b, "bin"))
        b = harness.train("reg:squarederror", n_features=4, seed=26)
        cls.reg = harness.load_model(harness.write_version(os.path.join(models, "reg"), 1, b, "json",
                                                           berth={"input_name": "dense_in"}))
        cfg = harness.write_config_json(os.path.join(tmp, "models.json"), [
            {"name": "bin", "base_path": os.path.join(models, "bin"), "policy": {"all": {}}},
            {"name": "multi", "base_path": os.path.join(models, "multi")},
            {"name": "reg", "base_path": os.path.join(models, "reg")},
        ])
        cls.srv = cls.start_server(["--model_config_file", cfg, "--file_system_poll_wait_seconds", "0",
                                    "--xgboost_predictor", cls.PREDICTOR])
        cls.c = cls.client_for(cls.srv)
        cls.X4 = harness.rows(6, 4, seed=51)
        cls.X5 = harness.rows(5, 5, seed=52)

    def infer(self, path, req, status=200):
        return self.c.post_json(path, req, status)

    def check_output(self, body, model, version, expected, n_out=1):
        self.assertEqual(body["model_name"], model, body)
        self.assertEqual(body["model_version"], str(version), body)
        outs = body["outputs"]
        self.assertEqual(len(outs), n_out, outs)
        o = outs[0]
        self.assertEqual(o["name"], "predictions")
        self.assertEqual(o["datatype"], "FP32")
        self.assertEqual(o["shape"], list(expected.shape))
        self.assertEqual(harness.shape_of(o["data"]), [expected.size], "output data is flat, row-major")
        assert_close(o["data"], expected.reshape(-1))

    # ---- health and metadata

    def test_live(self):
        r = self.c.get("/v2/health/live")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"live": True})

    def test_ready(self):
        r = self.c.get("/v2/health/ready")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"ready": True})

    def test_server_metadata(self):
        body = self.c.get_json("/v2")
        self.assertIsInstance(body.get("name"), str, body)
        self.assertTrue(body["name"], body)
        self.assertIsInstance(body.get("version"), str, body)
        self.assertIsInstance(body.get("extensions"), list, body)
        for e in body["extensions"]:
            self.assertIsInstance(e, str)

    def test_model_metadata(self):
        body = self.c.get_json("/v2/models/bin")
        self.assertEqual(body["name"], "bin")
        self.assertEqual(body["platform"], "xgboost")
        if "versions" in body:
            self.assertEqual(sorted(body["versions"]), ["1", "2"], body)
        self.assertEqual(body["inputs"], [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}])
        self.assertEqual(body["outputs"], [{"name": "predictions", "datatype": "FP32", "shape": [-1]}])
        body = self.c.get_json("/v2/models/multi")
        self.assertEqual(body["inputs"], [{"name": "input", "datatype": "FP32", "shape": [-1, 5]}])
        self.assertEqual(body["outputs"], [{"name": "predictions", "datatype": "FP32", "shape": [-1, 3]}])
        body = self.c.get_json("/v2/models/reg")
        self.assertEqual(body["inputs"][0]["name"], "dense_in", "input_name from berth.json")

    def test_model_version_metadata(self):
        body = self.c.get_json("/v2/models/bin/versions/1")
        self.assertEqual(body["name"], "bin")
        self.assertEqual(body["platform"], "xgboost")
        self.assertEqual(body["inputs"][0]["shape"], [-1, 4])

    def test_model_ready(self):
        for path in ("/v2/models/bin/ready", "/v2/models/bin/versions/1/ready", "/v2/models/multi/versions/3/ready"):
            r = self.c.get(path)
            self.assertEqual(r.status, 200, "%s: %r" % (path, r))
            body = r.json()
            self.assertEqual(body.get("ready"), True, body)
            self.assertEqual(body.get("name"), path.split("/")[3], body)

    def test_unknown_model_v2(self):
        for path in ("/v2/models/nosuch", "/v2/models/nosuch/versions/1"):
            harness.assert_error(self, self.c.get(path), 404, "nosuch")
        r = self.c.get("/v2/models/nosuch/ready")
        self.assertTrue(400 <= r.status < 600 and r.status != 200, r)
        harness.assert_error(self, self.c.post("/v2/models/nosuch/infer", {"inputs": []}), 404, "nosuch")
        harness.assert_error(self, self.c.get("/v2/models/bin/versions/9"), 404, "9")
        r = self.c.get("/v2/models/bin/versions/9/ready")
        self.assertTrue(400 <= r.status < 600, r)

    # ---- JSON tensors

    def test_infer_fp32_nested(self):
        X = self.X4
        req = {"inputs": [{"name": "input", "shape": [6, 4], "datatype": "FP32", "data": X.tolist()}]}
        body = self.infer("/v2/models/bin/infer", req)
        self.check_output(body, "bin", 2, harness.predict(self.bin[2], X))

    def test_infer_fp32_flat_with_id(self):
        X = self.X4
        req = {"id": "req-42", "inputs": [{"name": "input", "shape": [6, 4], "datatype": "FP32",
                                           "data": X.reshape(-1).tolist()}]}
        body = self.infer("/v2/models/bin/versions/1/infer", req)
        self.assertEqual(body.get("id"), "req-42")
        self.check_output(body, "bin", 1, harness.predict(self.bin[1], X))

    def test_infer_fp64(self):
        X = self.X4[:3]
        req = {"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP64", "data": X.astype("float64").tolist()}]}
        body = self.infer("/v2/models/bin/versions/2/infer", req)
        self.check_output(body, "bin", 2, harness.predict(self.bin[2], X))

    def test_infer_int_types(self):
        N = harness.np()
        X = N.array([[0, 1, 2, -1], [3, 0, 0, 1], [1, 1, 1, 1]], dtype=N.float32)
        for dt, data in (("INT32", X.astype(int).reshape(-1).tolist()), ("INT64", X.astype(int).tolist())):
            req = {"inputs": [{"name": "input", "shape": [3, 4], "datatype": dt, "data": data}]}
            body = self.infer("/v2/models/bin/versions/1/infer", req)
            self.check_output(body, "bin", 1, harness.predict(self.bin[1], X))

    def test_infer_int_ranges(self):
        """Values outside an integer type, or with a fraction, are a 400 naming the input and
        the element (KServe and Triton refuse them too); the extremes of each type are fine."""
        N = harness.np()
        cases = (("UINT8", 300, "(0 to 255)"), ("UINT8", -1, "(0 to 255)"),
                 ("INT8", -129, "(-128 to 127)"), ("INT8", 128, "(-128 to 127)"),
                 ("INT16", 32768, "(-32768 to 32767)"), ("UINT16", 65536, "(0 to 65535)"),
                 ("INT32", 2147483648, "(-2147483648 to 2147483647)"),
                 ("UINT32", 4294967296, "(0 to 4294967295)"),
                 ("UINT64", -1, "(0 to 18446744073709551615)"))
        for dt, bad, rng in cases:
            data = [[0, 1, 2, 3], [1, 1, bad, 1]]
            req = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": dt, "data": data}]}
            r = self.c.post("/v2/models/bin/versions/1/infer", req)
            harness.assert_error(self, r, 400, "input 'input'", "data[6] (%d)" % bad,
                                 "out of range for %s %s" % (dt, rng))
        for dt in ("INT8", "UINT8", "INT64"):
            req = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": dt, "data": [1, 1.5, 0, 0]}]}
            r = self.c.post("/v2/models/bin/versions/1/infer", req)
            harness.assert_error(self, r, 400, "input 'input'", "data[1] (1.5)", "not a valid %s" % dt)
        X = N.array([[-128, 127, 0, 1], [255, 0, 65535, -32768]], dtype=N.float32)
        for dt, rows in (("INT8", X[:1]), ("UINT8", N.abs(X[1:2]).clip(0, 255)), ("INT32", X),
                         ("INT16", N.array([[-32768, 32767, 0, 1]], dtype=N.float32))):
            req = {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": dt,
                               "data": rows.astype(int).tolist()}]}
            body = self.infer("/v2/models/bin/versions/1/infer", req)
            self.check_output(body, "bin", 1, harness.predict(self.bin[1], rows))

    def test_binary_int_types(self):
        """The binary extension carries each type's own bytes: every value is in range."""
        N = harness.np()
        X = N.array([[-128, 127, 0, 1], [-1, 5, 100, -100]], dtype=N.float32)
        for dt, np_dt in (("INT8", "<i1"), ("INT16", "<i2"), ("INT64", "<i8")):
            header = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": dt,
                                  "parameters": {"binary_data_size": X.size * N.dtype(np_dt).itemsize}}]}
            body, hdrs = binary_request(header, X.astype(np_dt).tobytes())
            r = self.c.post("/v2/models/bin/versions/1/infer", body, headers=hdrs)
            self.assertEqual(r.status, 200, r)
            self.check_output(r.json(), "bin", 1, harness.predict(self.bin[1], X))
        U = N.array([[255, 0, 200, 1]], dtype=N.float32)
        header = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "UINT8",
                              "parameters": {"binary_data_size": 4}}]}
        body, hdrs = binary_request(header, U.astype("u1").tobytes())
        r = self.c.post("/v2/models/bin/versions/1/infer", body, headers=hdrs)
        self.assertEqual(r.status, 200, r)
        self.check_output(r.json(), "bin", 1, harness.predict(self.bin[1], U))

    def test_infer_outputs_selection(self):
        X = self.X5
        req = {"inputs": [{"name": "input", "shape": [5, 5], "datatype": "FP32", "data": X.tolist()}],
               "outputs": [{"name": "predictions"}]}
        body = self.infer("/v2/models/multi/infer", req)
        self.check_output(body, "multi", 3, harness.predict(self.multi, X))

    def test_infer_multiclass_shape(self):
        X = self.X5
        req = {"inputs": [{"name": "input", "shape": [5, 5], "datatype": "FP32", "data": X.reshape(-1).tolist()}]}
        body = self.infer("/v2/models/multi/versions/3/infer", req)
        exp = harness.predict(self.multi, X)
        self.assertEqual(exp.shape, (5, 3))
        self.check_output(body, "multi", 3, exp)

    def test_infer_custom_input_name(self):
        X = self.X4
        req = {"inputs": [{"name": "dense_in", "shape": [6, 4], "datatype": "FP32", "data": X.tolist()}]}
        body = self.infer("/v2/models/reg/infer", req)
        self.check_output(body, "reg", 1, harness.predict(self.reg, X))

    def test_infer_response_content_type(self):
        req = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": self.X4[0].tolist()}]}
        r = self.c.post("/v2/models/bin/infer", req)
        self.assertEqual(r.status, 200, r)
        self.assertIn("application/json", r.headers.get("content-type", ""))

    # ---- binary tensor extension

    def test_binary_input(self):
        X = self.X4
        header = {"inputs": [{"name": "input", "shape": [6, 4], "datatype": "FP32",
                              "parameters": {"binary_data_size": X.size * 4}}]}
        body, hdrs = binary_request(header, X.astype("<f4").tobytes())
        r = self.c.post("/v2/models/bin/versions/2/infer", body, headers=hdrs)
        self.assertEqual(r.status, 200, r)
        n = int(r.headers.get("inference-header-content-length", len(r.body)))
        resp = json.loads(r.body[:n])
        self.check_output(resp, "bin", 2, harness.predict(self.bin[2], X))

    def test_binary_input_large(self):
        X = harness.rows(20000, 4, seed=54)
        header = {"inputs": [{"name": "input", "shape": [20000, 4], "datatype": "FP32",
                              "parameters": {"binary_data_size": X.size * 4}}],
                  "outputs": [{"name": "predictions", "parameters": {"binary_data": True}}]}
        body, hdrs = binary_request(header, X.astype("<f4").tobytes())
        r = self.c.post("/v2/models/bin/versions/1/infer", body, headers=hdrs)
        h, raw = self._split_binary_response(r)
        self._check_binary_output(h, raw, "bin", 1, harness.predict(self.bin[1], X))

    def test_header_length_without_binary_data(self):
        """Inference-Header-Content-Length equal to the whole body: a JSON-only request."""
        X = self.X4[:2]
        h = json.dumps({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": X.tolist()}]}).encode()
        r = self.c.post("/v2/models/bin/infer", h, headers={"Inference-Header-Content-Length": str(len(h)),
                                                             "Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        n = int(r.headers.get("inference-header-content-length", len(r.body)))
        self.check_output(json.loads(r.body[:n]), "bin", 2, harness.predict(self.bin[2], X))

    def _split_binary_response(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertIn("inference-header-content-length", r.headers,
                      "a binary response must carry Inference-Header-Content-Length: %r" % r.headers)
        n = int(r.headers["inference-header-content-length"])
        self.assertLessEqual(n, len(r.body))
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        return json.loads(r.body[:n].decode()), r.body[n:]

    def _check_binary_output(self, header, raw, model, version, expected):
        self.assertEqual(header["model_name"], model)
        self.assertEqual(header["model_version"], str(version))
        self.assertEqual(len(header["outputs"]), 1, header)
        o = header["outputs"][0]
        self.assertEqual(o["name"], "predictions")
        self.assertEqual(o["datatype"], "FP32")
        self.assertEqual(o["shape"], list(expected.shape))
        self.assertNotIn("data", o, "binary output must not repeat the data in JSON")
        self.assertEqual(o["parameters"]["binary_data_size"], expected.size * 4, o)
        self.assertEqual(len(raw), expected.size * 4, "raw bytes after the JSON header")
        vals = struct.unpack("<%df" % expected.size, raw)
        assert_close(list(vals), expected.reshape(-1), what="binary output")

    def test_binary_output_request_wide(self):
        X = self.X4
        req = {"inputs": [{"name": "input", "shape": [6, 4], "datatype": "FP32", "data": X.tolist()}],
               "parameters": {"binary_data_output": True}}
        r = self.c.post("/v2/models/bin/versions/1/infer", req)
        header, raw = self._split_binary_response(r)
        self._check_binary_output(header, raw, "bin", 1, harness.predict(self.bin[1], X))

    def test_binary_output_per_output(self):
        X = self.X5
        req = {"inputs": [{"name": "input", "shape": [5, 5], "datatype": "FP32", "data": X.tolist()}],
               "outputs": [{"name": "predictions", "parameters": {"binary_data": True}}]}
        r = self.c.post("/v2/models/multi/infer", req)
        header, raw = self._split_binary_response(r)
        self._check_binary_output(header, raw, "multi", 3, harness.predict(self.multi, X))

    def test_binary_input_and_output(self):
        X = harness.rows(40, 5, seed=53)
        header = {"id": "bin-both",
                  "inputs": [{"name": "input", "shape": [40, 5], "datatype": "FP32",
                              "parameters": {"binary_data_size": X.size * 4}}],
                  "parameters": {"binary_data_output": True}}
        body, hdrs = binary_request(header, X.astype("<f4").tobytes())
        r = self.c.post("/v2/models/multi/infer", body, headers=hdrs)
        h, raw = self._split_binary_response(r)
        self.assertEqual(h.get("id"), "bin-both")
        self._check_binary_output(h, raw, "multi", 3, harness.predict(self.multi, X))
        self.assertIn("application/octet-stream", r.headers.get("content-type", ""))


class V2InferLibrary(V2Infer):
    PREDICTOR = "library"


class V2NotReady(harness.ServerCase):
    """A model whose only version fails to load: the server runs, is live, not ready."""

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0200nr")
        good = os.path.join(tmp, "good")
        b = harness.train("binary:logistic", n_features=3, seed=27)
        cls.good = harness.load_model(harness.write_version(good, 1, b, "json"))
        bad = os.path.join(tmp, "bad", "1")
        os.makedirs(bad)
        with open(os.path.join(bad, "model.json"), "w") as f:
            f.write('{"learner": {"this is": "not a model"')
        cfg = harness.write_config_text(os.path.join(tmp, "models.config"), [
            {"name": "good", "base_path": good},
            {"name": "bad", "base_path": os.path.join(tmp, "bad")},
        ])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg])
        cls.c = cls.client_for(cls.srv)

    def test_live_but_not_ready(self):
        self.assertEqual(self.c.get("/v2/health/live").status, 200)
        r = harness.wait_until(lambda: (lambda r: r if r.status == 503 else None)(self.c.get("/v2/health/ready")),
                               5, what="GET /v2/health/ready == 503")
        self.assertEqual(r.status, 503)

    def test_model_ready_states(self):
        r = self.c.get("/v2/models/good/ready")
        self.assertEqual(r.status, 200, r)
        r = harness.wait_until(lambda: (lambda r: r if r.status != 200 else None)(self.c.get("/v2/models/bad/ready")),
                               5, what="GET /v2/models/bad/ready != 200")
        self.assertTrue(400 <= r.status < 600, r)
        if r.body:
            body = r.json()
            if "ready" in body:
                self.assertEqual(body["ready"], False, body)

    def test_failed_version_status(self):
        def failed():
            st = self.c.get_json("/v1/models/bad")["model_version_status"]
            return st if st and st[0]["state"] == "END" else None
        st = harness.wait_until(failed, 5, what="version 1 of `bad` in state END")
        self.assertEqual(st[0]["version"], "1")
        self.assertTrue(st[0]["status"]["error_message"], st)
        X = harness.rows(2, 3, seed=5)
        body = self.c.post_json("/v1/models/good:predict", {"instances": X.tolist()})
        assert_close(body["predictions"], harness.predict(self.good, X))
