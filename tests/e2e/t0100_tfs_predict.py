"""TF Serving REST API: status, metadata, predict (row and columnar), classify, regress, on
models saved in every format XGBoost writes."""

import math
import os
import threading
import time

import harness
from harness import assert_close

F32_MAX = 3.4028234663852886e38

# versions of model `logistic`: (format, file name or None for model.<ext>)
LOGISTIC_VERSIONS = {
    1: ("json", None),
    2: ("ubj", None),
    3: ("bin", None),
    4: ("bin", "booster"),              # legacy binary under a name without extension
    5: ("ubj", "xgb-model_final"),      # UBJSON, odd name
    6: ("json", "Weights"),             # JSON, odd name
}


class TfsPredict(harness.ServerCase):
    """Every answer checked against the library's own predictions; the native evaluator
    answers here (forced, so a model it cannot take fails the load), the library in
    TfsPredictLibrary."""
    PREDICTOR = "native"

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0100")
        models = os.path.join(tmp, "models")
        cls.expected_models = {}
        # logistic: 6 versions, every format, policy all
        cls.logistic = {}
        for v, (fmt, fname) in LOGISTIC_VERSIONS.items():
            b = harness.train("binary:logistic", n_features=5, seed=v, rounds=3 + v)
            path = harness.write_version(os.path.join(models, "logistic"), v, b, fmt, filename=fname)
            cls.logistic[v] = harness.load_model(path)
        # things in the base path that are not version directories, and dot-files beside models
        lb = os.path.join(models, "logistic")
        junk = harness.train("binary:logistic", n_features=5, seed=99, rounds=2)
        for name in ("0", "abc", "7b", "-8", ".9"):
            os.makedirs(os.path.join(lb, name))
            harness.save_model(junk, os.path.join(lb, name, "model.json"), "json")
        with open(os.path.join(lb, "10"), "w") as f:       # a file, not a directory
            f.write("not a version")
        with open(os.path.join(lb, "README"), "w") as f:
            f.write("notes")
        for v in (1, 5):
            with open(os.path.join(lb, str(v), ".DS_Store"), "wb") as f:
                f.write(b"\0\0\0\1Bud1")
            harness.save_model(junk, os.path.join(lb, str(v), ".old-model.json"), "json")
        # reg: feature names stored in the model
        cls.reg_names = ["age", "height", "weight", "score"]
        b = harness.train("reg:squarederror", n_features=4, seed=11, feature_names=cls.reg_names)
        cls.reg = harness.load_model(harness.write_version(os.path.join(models, "reg"), 1, b, "json"))
        # softprob: berth.json with input name, feature names and class labels; UBJSON
        cls.sp_names = ["sepal_l", "sepal_w", "petal_l", "petal_w", "stem", "leaf"]
        cls.sp_labels = ["setosa", "versicolor", "virginica"]
        b = harness.train("multi:softprob", n_features=6, num_class=3, seed=12)
        cls.softprob = harness.load_model(harness.write_version(
            os.path.join(models, "softprob"), 1, b, "ubj",
            berth={"input_name": "features", "feature_names": cls.sp_names, "class_labels": cls.sp_labels}))
        # softmax: legacy binary
        b = harness.train("multi:softmax", n_features=5, num_class=3, seed=13)
        cls.softmax = harness.load_model(harness.write_version(os.path.join(models, "softmax"), 1, b, "bin"))
        # labeled: binary:logistic with class labels and feature names from berth.json
        cls.lab_names = ["x", "y", "z"]
        b = harness.train("binary:logistic", n_features=3, seed=14)
        cls.labeled = harness.load_model(harness.write_version(
            os.path.join(models, "labeled"), 1, b, "bin",
            berth={"feature_names": cls.lab_names, "class_labels": ["no", "yes"]}))
        # reg with feature names given by berth.json only (model in binary format has none)
        b = harness.train("reg:squarederror", n_features=3, seed=15)
        cls.reg3 = harness.load_model(harness.write_version(
            os.path.join(models, "reg3"), 1, b, "bin", berth={"feature_names": ["p", "q", "r"]}))

        cfg = harness.write_config_text(os.path.join(tmp, "models.config"), [
            {"name": "logistic", "base_path": os.path.join(models, "logistic"), "policy_text": "all {}"},
            {"name": "reg", "base_path": os.path.join(models, "reg")},
            {"name": "softprob", "base_path": os.path.join(models, "softprob")},
            {"name": "softmax", "base_path": os.path.join(models, "softmax")},
            {"name": "labeled", "base_path": os.path.join(models, "labeled")},
            {"name": "reg3", "base_path": os.path.join(models, "reg3")},
        ])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg, "--file_system_poll_wait_seconds=0",
                                    "--xgboost_predictor=" + cls.PREDICTOR])
        cls.c = cls.client_for(cls.srv)
        cls.X5 = harness.rows(16, 5, seed=21)
        cls.X4 = harness.rows(9, 4, seed=22)
        cls.X6 = harness.rows(7, 6, seed=23)
        cls.X3 = harness.rows(8, 3, seed=24)

    # ---- status

    def test_status_lists_all_versions(self):
        body = self.c.get_json("/v1/models/logistic")
        self.assertEqual(list(body.keys()), ["model_version_status"], body)
        st = body["model_version_status"]
        versions = []
        for e in st:
            self.assertIsInstance(e["version"], str, "version must be rendered as a string: %r" % e)
            self.assertEqual(e["state"], "AVAILABLE", e)
            self.assertEqual(e["status"]["error_code"], "OK", e)
            self.assertEqual(e["status"].get("error_message", ""), "", e)
            versions.append(e["version"])
        self.assertEqual(sorted(versions, key=int), [str(v) for v in sorted(LOGISTIC_VERSIONS)])

    def test_status_one_version(self):
        for v in (1, 4, 6):
            st = self.c.get_json("/v1/models/logistic/versions/%d" % v)["model_version_status"]
            self.assertEqual(len(st), 1, st)
            self.assertEqual(st[0]["version"], str(v))
            self.assertEqual(st[0]["state"], "AVAILABLE")
            self.assertEqual(st[0]["status"]["error_code"], "OK")

    def test_status_content_type_json(self):
        r = self.c.get("/v1/models/reg")
        self.assertEqual(r.status, 200)
        self.assertIn("application/json", r.headers.get("content-type", ""))

    # ---- metadata

    def _sig(self, body):
        self.assertIn("metadata", body, body)
        sd = body["metadata"]["signature_def"]
        self.assertIn("signature_def", sd, "metadata.signature_def must hold a second signature_def key: %r" % sd)
        return sd["signature_def"]["serving_default"]

    def _dims(self, tensor):
        dims = tensor["tensor_shape"]["dim"]
        for d in dims:
            self.assertIsInstance(d["size"], str, "dim sizes must be strings: %r" % dims)
        return [d["size"] for d in dims]

    def test_metadata_signature_def(self):
        body = self.c.get_json("/v1/models/logistic/metadata")
        spec = body["model_spec"]
        self.assertEqual(spec["name"], "logistic")
        self.assertEqual(spec["version"], "6", "metadata without version is for the latest one")
        self.assertEqual(spec.get("signature_name", ""), "")
        sig = self._sig(body)
        self.assertEqual(list(sig["inputs"].keys()), ["input"])
        self.assertEqual(sig["inputs"]["input"]["dtype"], "DT_FLOAT")
        self.assertEqual(self._dims(sig["inputs"]["input"]), ["-1", "5"])
        self.assertEqual(list(sig["outputs"].keys()), ["predictions"])
        self.assertEqual(sig["outputs"]["predictions"]["dtype"], "DT_FLOAT")
        self.assertEqual(self._dims(sig["outputs"]["predictions"]), ["-1"])
        self.assertEqual(sig["method_name"], "tensorflow/serving/predict")

    def test_metadata_version_and_multiclass(self):
        body = self.c.get_json("/v1/models/logistic/versions/2/metadata")
        self.assertEqual(body["model_spec"]["version"], "2")
        body = self.c.get_json("/v1/models/softprob/metadata")
        sig = self._sig(body)
        self.assertEqual(list(sig["inputs"].keys()), ["features"], "input_name from berth.json")
        self.assertEqual(self._dims(sig["inputs"]["features"]), ["-1", "6"])
        self.assertEqual(self._dims(sig["outputs"]["predictions"]), ["-1", "3"])
        sig = self._sig(self.c.get_json("/v1/models/softmax/metadata"))
        self.assertEqual(self._dims(sig["outputs"]["predictions"]), ["-1"])

    # ---- predict

    def test_predict_rows_every_format(self):
        X = self.X5
        seen = []
        for v, (fmt, fname) in LOGISTIC_VERSIONS.items():
            body = self.c.post_json("/v1/models/logistic/versions/%d:predict" % v, {"instances": X.tolist()})
            self.assertEqual(list(body.keys()), ["predictions"], body)
            assert_close(body["predictions"], harness.predict(self.logistic[v], X),
                         what="version %d (%s, %s)" % (v, fmt, fname or "model." + fmt))
            seen.append(tuple(round(p, 4) for p in body["predictions"]))
        self.assertEqual(len(set(seen)), len(seen), "the versions should predict differently")

    def test_predict_latest_version(self):
        body = self.c.post_json("/v1/models/logistic:predict", {"instances": self.X5.tolist()})
        assert_close(body["predictions"], harness.predict(self.logistic[6], self.X5))

    def test_predict_signature_name(self):
        body = self.c.post_json("/v1/models/logistic:predict",
                                {"signature_name": "serving_default", "instances": self.X5[:3].tolist()})
        assert_close(body["predictions"], harness.predict(self.logistic[6], self.X5[:3]))

    def test_predict_single_row(self):
        body = self.c.post_json("/v1/models/logistic/versions/3:predict", {"instances": [self.X5[0].tolist()]})
        assert_close(body["predictions"], harness.predict(self.logistic[3], self.X5[:1]))
        self.assertEqual(len(body["predictions"]), 1)

    def test_predict_columnar_inputs(self):
        X = self.X5
        body = self.c.post_json("/v1/models/logistic/versions/1:predict", {"inputs": X.tolist()})
        self.assertEqual(list(body.keys()), ["outputs"], body)
        assert_close(body["outputs"], harness.predict(self.logistic[1], X))
        # named form: {"inputs": {"input": tensor}}
        body = self.c.post_json("/v1/models/logistic/versions/1:predict", {"inputs": {"input": X.tolist()}})
        self.assertEqual(list(body.keys()), ["outputs"], body)
        assert_close(body["outputs"], harness.predict(self.logistic[1], X))
        # custom input name
        body = self.c.post_json("/v1/models/softprob:predict", {"inputs": {"features": self.X6.tolist()}})
        assert_close(body["outputs"], harness.predict(self.softprob, self.X6))

    def test_predict_regression(self):
        body = self.c.post_json("/v1/models/reg:predict", {"instances": self.X4.tolist()})
        assert_close(body["predictions"], harness.predict(self.reg, self.X4))

    def test_predict_softprob_rows(self):
        body = self.c.post_json("/v1/models/softprob:predict", {"instances": self.X6.tolist()})
        exp = harness.predict(self.softprob, self.X6)
        self.assertEqual(exp.shape, (7, 3))
        self.assertEqual(harness.shape_of(body["predictions"]), [7, 3], body)
        assert_close(body["predictions"], exp)

    def test_predict_softmax_classes(self):
        X = harness.rows(30, 5, seed=31)
        body = self.c.post_json("/v1/models/softmax:predict", {"instances": X.tolist()})
        exp = harness.predict(self.softmax, X)
        self.assertEqual(harness.shape_of(body["predictions"]), [30], body)
        assert_close(body["predictions"], exp)
        self.assertGreater(len(set(exp.tolist())), 1, "test data should hit several classes")

    def test_predict_many_rows(self):
        X = harness.rows(600, 5, seed=32)
        body = self.c.post_json("/v1/models/logistic/versions/5:predict", {"instances": X.tolist()})
        assert_close(body["predictions"], harness.predict(self.logistic[5], X))

    def test_instances_as_objects_by_feature_name(self):
        # names stored in the model
        objs = [dict(reversed(list(zip(self.reg_names, r)))) for r in self.X4.tolist()]
        body = self.c.post_json("/v1/models/reg:predict", {"instances": objs})
        assert_close(body["predictions"], harness.predict(self.reg, self.X4))
        # names from berth.json
        objs = [dict(zip(self.sp_names, r)) for r in self.X6.tolist()]
        body = self.c.post_json("/v1/models/softprob:predict", {"instances": objs})
        assert_close(body["predictions"], harness.predict(self.softprob, self.X6))
        # default names f0..f4
        objs = [{"f%d" % i: v for i, v in enumerate(r)} for r in self.X5[:4].tolist()]
        body = self.c.post_json("/v1/models/logistic/versions/2:predict", {"instances": objs})
        assert_close(body["predictions"], harness.predict(self.logistic[2], self.X5[:4]))

    def test_nan_and_infinity_tokens(self):
        X = self.X5[:4].copy()
        rows = X.tolist()
        rows[0][1] = "NaN"
        rows[1][0] = "Infinity"
        rows[2][3] = "-Infinity"
        rows[3][2] = "NaN"
        rows[3][4] = "Infinity"
        parts = []
        for r in rows:
            parts.append("[" + ",".join(v if isinstance(v, str) else repr(v) for v in r) + "]")
        raw = '{"instances": [' + ",".join(parts) + "]}"
        r = self.c.post("/v1/models/logistic/versions/1:predict", raw)
        self.assertEqual(r.status, 200, r)
        # NaN is a missing value; +-Infinity goes the same way as +-FLT_MAX at every split
        # (XGBoost's DMatrix refuses inf, so the reference uses FLT_MAX).
        E = X.copy()
        E[0, 1] = math.nan
        E[1, 0] = F32_MAX
        E[2, 3] = -F32_MAX
        E[3, 2] = math.nan
        E[3, 4] = F32_MAX
        assert_close(r.json()["predictions"], harness.predict(self.logistic[1], E))
        # the same tokens in columnar form
        raw = '{"inputs": [' + ",".join(parts) + "]}"
        r = self.c.post("/v1/models/logistic/versions/1:predict", raw)
        self.assertEqual(r.status, 200, r)
        assert_close(r.json()["outputs"], harness.predict(self.logistic[1], E))

    # ---- classify / regress

    def test_classify_binary_default_labels(self):
        X = self.X5[:6]
        examples = [{"f%d" % i: v for i, v in enumerate(r)} for r in X.tolist()]
        body = self.c.post_json("/v1/models/logistic/versions/4:classify", {"examples": examples})
        self.assertEqual(list(body.keys()), ["results"], body)
        p = harness.predict(self.logistic[4], X)
        res = body["results"]
        self.assertEqual(len(res), len(X))
        for i, pairs in enumerate(res):
            self.assertEqual(len(pairs), 2, pairs)
            self.assertEqual([pairs[0][0], pairs[1][0]], ["0", "1"], pairs)
            assert_close([pairs[0][1], pairs[1][1]], [1.0 - float(p[i]), float(p[i])], what="example %d" % i)

    def test_classify_labels_from_berth_json(self):
        X = self.X3
        examples = [dict(zip(self.lab_names, r)) for r in X.tolist()]
        body = self.c.post_json("/v1/models/labeled:classify", {"examples": examples})
        p = harness.predict(self.labeled, X)
        for i, pairs in enumerate(body["results"]):
            self.assertEqual([q[0] for q in pairs], ["no", "yes"], pairs)
            assert_close([q[1] for q in pairs], [1.0 - float(p[i]), float(p[i])], what="example %d" % i)

    def test_classify_multiclass(self):
        X = self.X6
        examples = [dict(zip(self.sp_names, r)) for r in X.tolist()]
        body = self.c.post_json("/v1/models/softprob:classify", {"examples": examples})
        p = harness.predict(self.softprob, X)
        self.assertEqual(len(body["results"]), len(X))
        for i, pairs in enumerate(body["results"]):
            self.assertEqual([q[0] for q in pairs], self.sp_labels, pairs)
            assert_close([q[1] for q in pairs], p[i], what="example %d" % i)

    def test_classify_missing_feature_is_missing_value(self):
        X = self.X3[:3].copy()
        examples = [dict(zip(self.lab_names, r)) for r in X.tolist()]
        del examples[0]["y"]
        del examples[2]["x"]
        del examples[2]["z"]
        E = X.copy()
        E[0, 1] = math.nan
        E[2, 0] = math.nan
        E[2, 2] = math.nan
        body = self.c.post_json("/v1/models/labeled:classify", {"examples": examples})
        p = harness.predict(self.labeled, E)
        assert_close([pairs[1][1] for pairs in body["results"]], p)

    def test_classify_with_context(self):
        X = self.X3[:4].copy()
        X[:, 2] = X[0, 2]          # z shared by every example, sent once in context
        examples = [{"x": r[0], "y": r[1]} for r in X.tolist()]
        body = self.c.post_json("/v1/models/labeled:classify",
                                {"context": {"z": float(X[0, 2])}, "examples": examples})
        p = harness.predict(self.labeled, X)
        assert_close([pairs[1][1] for pairs in body["results"]], p)

    def test_regress(self):
        X = self.X4
        examples = [dict(zip(self.reg_names, r)) for r in X.tolist()]
        body = self.c.post_json("/v1/models/reg:regress", {"examples": examples})
        self.assertEqual(list(body.keys()), ["results"], body)
        self.assertEqual(harness.shape_of(body["results"]), [len(X)], body)
        assert_close(body["results"], harness.predict(self.reg, X))
        # names from berth.json, one feature missing
        X = self.X3.copy()
        examples = [dict(zip(["p", "q", "r"], r)) for r in X.tolist()]
        del examples[1]["q"]
        X[1, 1] = math.nan
        body = self.c.post_json("/v1/models/reg3/versions/1:regress", {"examples": examples})
        assert_close(body["results"], harness.predict(self.reg3, X))

    # ---- connections

    def test_keep_alive_reuses_connection(self):
        c = harness.Client(self.srv.port)
        try:
            for _ in range(10):
                body = c.post_json("/v1/models/reg:predict", {"instances": self.X4[:2].tolist()})
                self.assertEqual(len(body["predictions"]), 2)
                c.get_json("/v1/models/reg")
            self.assertEqual(c.connections_opened, 1, "HTTP/1.1 keep-alive: all requests on one connection")
        finally:
            c.close()

    def test_concurrent_clients(self):
        X = harness.rows(5, 5, seed=41)
        exp = {v: harness.predict(self.logistic[v], X) for v in LOGISTIC_VERSIONS}
        errors = []
        deadline = time.monotonic() + 20

        def worker(k):
            c = harness.Client(self.srv.port)
            try:
                for i in range(25):
                    if time.monotonic() > deadline:
                        errors.append("worker %d ran out of time" % k)
                        return
                    v = 1 + (k + i) % len(LOGISTIC_VERSIONS)
                    r = c.post("/v1/models/logistic/versions/%d:predict" % v, {"instances": X.tolist()}, retry=False)
                    if r.status != 200:
                        errors.append("HTTP %d %r" % (r.status, r.body[:200]))
                        continue
                    try:
                        assert_close(r.json()["predictions"], exp[v], what="version %d" % v)
                    except AssertionError as e:
                        errors.append(str(e))
            except Exception as e:
                errors.append("worker %d: %r" % (k, e))
            finally:
                c.close()

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(errors, [])


class TfsPredictLibrary(TfsPredict):
    PREDICTOR = "library"
