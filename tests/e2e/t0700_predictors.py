"""Which code predicts: the native tree evaluator where it handles the model and agrees with the
library at load, the library otherwise; --xgboost_predictor and berth.json "predictor" force
either; best_iteration and multi-output models on both paths. Every answer is checked against
the library's own predictions."""

import math
import os
import re

import harness
from harness import assert_close


def train_with(params, data, label, rounds, **kw):
    X = harness.xgb()
    p = {"max_depth": 4, "eta": 0.3, "seed": 3, "nthread": 1, "verbosity": 0}
    p.update(params)
    return X.train(p, X.DMatrix(data, label=label, **kw.pop("dm", {})), rounds, **kw)


class Predictors(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        N = harness.np()
        X = harness.xgb()
        tmp = cls.setup_tmp("t0700")
        models = os.path.join(tmp, "models")
        rng = N.random.default_rng(7)
        data = rng.random((400, 6)).astype(N.float32)
        data[rng.random(data.shape) < 0.1] = N.nan
        score = N.nan_to_num(data) @ rng.normal(size=6)
        binary = (score > N.median(score)).astype(N.float32)
        cls.models = {}

        def add(name, booster, berth=None, fmt="json"):
            path = harness.write_version(os.path.join(models, name), 1, booster, fmt, berth=berth)
            cls.models[name] = harness.load_model(path)

        plain = train_with({"objective": "binary:logistic"}, data, binary, 20)
        add("plain", plain)
        add("plain_library", plain, berth={"predictor": "library"})
        add("logitraw", train_with({"objective": "binary:logitraw"}, data, binary, 12))
        add("poisson", train_with({"objective": "count:poisson"}, data,
                                  N.floor(N.abs(score) * 3).astype(N.float32), 15))
        add("softmax", train_with({"objective": "multi:softmax", "num_class": 4}, data,
                                  N.digitize(score, N.quantile(score, [0.25, 0.5, 0.75])).astype(N.float32), 6),
            fmt="ubj")
        add("forest", train_with({"objective": "reg:squarederror", "num_parallel_tree": 4,
                                  "subsample": 0.7, "colsample_bynode": 0.7}, data, score, 5))
        # what the evaluator does not take: the library answers, the log says why
        add("dart", train_with({"objective": "binary:logistic", "booster": "dart", "rate_drop": 0.3}, data,
                               binary, 10))
        add("linear", train_with({"objective": "reg:squarederror", "booster": "gblinear"},
                                 N.nan_to_num(data), score, 10))
        cat = data.copy()
        cat[:, 0] = N.floor(N.nan_to_num(data[:, 0]) * 5)
        cls.cat_rows = cat[:16]
        add("categorical", train_with({"objective": "reg:squarederror", "tree_method": "hist",
                                       "max_cat_to_onehot": 1}, cat, score + cat[:, 0], 8,
                                      dm={"feature_types": ["c", "q", "q", "q", "q", "q"],
                                          "enable_categorical": True}))
        # forcing the native evaluator on a model it does not take fails that version's load
        add("dart_native", train_with({"objective": "binary:logistic", "booster": "dart"}, data, binary, 4),
            berth={"predictor": "native"})
        add("bad_predictor", plain, berth={"predictor": "fastest"})
        # early stopping: best_iteration well before the last round
        train, valid = data[:300], data[300:]
        noisy = score + rng.normal(size=400) * 2
        es = train_with({"objective": "reg:squarederror", "max_depth": 6, "eta": 0.6}, train, noisy[:300], 60,
                        evals=[(X.DMatrix(valid, label=noisy[300:]), "valid")], early_stopping_rounds=3,
                        verbose_eval=False)
        assert es.best_iteration < 40, es.best_iteration
        cls.best_iteration = es.best_iteration
        add("early", es)
        add("early_library", es, berth={"predictor": "library"})
        # multi-output regression: one value per target
        targets = N.stack([score, -score, score * score], axis=1).astype(N.float32)
        mo = train_with({"objective": "reg:squarederror", "tree_method": "hist"}, data, targets, 8)
        add("multiout", mo)
        add("multiout_library", mo, berth={"predictor": "library"})

        cfg = harness.write_config_json(os.path.join(tmp, "models.json"), [
            {"name": n, "base_path": os.path.join(models, n)} for n in cls.models])
        cls.srv = cls.start_server(["--model_config_file", cfg, "--file_system_poll_wait_seconds", "0"])
        cls.c = cls.client_for(cls.srv)
        cls.rows = data[:32]

    def predictor_of(self, name):
        m = re.search(r"version available model=%s version=1 .*predictor=(.*) ms=" % re.escape(name),
                      self.srv.log())
        self.assertIsNotNone(m, "no load line for %s in:\n%s" % (name, self.srv.log_tail()))
        return m.group(1)

    def predict(self, name, rows):
        # a missing value as null, which berth-serve reads as XGBoost's NaN
        inst = [[None if math.isnan(v) else float(v) for v in r] for r in rows]
        r = self.c.post("/v1/models/%s:predict" % name, harness.dumps({"instances": inst}))
        self.assertEqual(r.status, 200, r.text)
        return r.json()["predictions"]

    def test_auto_uses_native_and_answers_as_the_library(self):
        for name in ("plain", "logitraw", "poisson", "softmax", "forest", "multiout"):
            with self.subTest(model=name):
                self.assertTrue(self.predictor_of(name).startswith("native ("), self.predictor_of(name))
                assert_close(self.predict(name, self.rows), harness.predict(self.models[name], self.rows),
                             what=name)

    def test_library_as_asked(self):
        for name in ("plain_library", "multiout_library"):
            with self.subTest(model=name):
                self.assertTrue(self.predictor_of(name).startswith("library (as asked)"),
                                self.predictor_of(name))
                assert_close(self.predict(name, self.rows), harness.predict(self.models[name], self.rows),
                             what=name)

    def test_unsupported_models_fall_back_with_the_reason(self):
        for name, why in (("dart", "dart"), ("linear", "gblinear"), ("categorical", "categorical")):
            with self.subTest(model=name):
                p = self.predictor_of(name)
                self.assertTrue(p.startswith("library (native evaluator not used: "), p)
                self.assertIn(why, p)
                rows = self.cls_rows(name)
                assert_close(self.predict(name, rows), harness.predict(self.models[name], rows), what=name)

    def cls_rows(self, name):
        if name == "categorical":
            return self.cat_rows
        if name == "linear":
            return harness.np().nan_to_num(self.rows)
        return self.rows

    def test_forced_native_on_unsupported_model_fails_its_load(self):
        st = self.c.get_json("/v1/models/dart_native")["model_version_status"][0]
        self.assertEqual(st["state"], "END", st)
        self.assertIn("the native predictor was asked for but cannot be used", st["status"]["error_message"])
        self.assertIn("dart", st["status"]["error_message"])

    def test_bad_predictor_names_the_field(self):
        st = self.c.get_json("/v1/models/bad_predictor")["model_version_status"][0]
        self.assertEqual(st["state"], "END", st)
        self.assertIn("'predictor' must be \"auto\", \"native\" or \"library\"", st["status"]["error_message"])

    def test_best_iteration_limits_both_paths(self):
        b = self.models["early"]
        N = harness.np()
        dm = harness.xgb().DMatrix(N.asarray(self.rows, dtype=N.float32))
        best = b.predict(dm, iteration_range=(0, self.best_iteration + 1))
        every = b.predict(dm)
        self.assertGreater(float(N.max(N.abs(best - every))), 1e-3, "the test needs rounds past the best")
        for name in ("early", "early_library"):
            with self.subTest(model=name):
                self.assertIn("%d rounds (best_iteration)" % (self.best_iteration + 1), self.predictor_of(name))
                assert_close(self.predict(name, self.rows), best, what=name)

    def test_multi_output_shape_both_protocols(self):
        N = harness.np()
        exp = harness.predict(self.models["multiout"], self.rows)
        self.assertEqual(exp.shape, (32, 3))
        for name in ("multiout", "multiout_library"):
            with self.subTest(model=name):
                got = self.predict(name, self.rows)
                self.assertEqual(harness.shape_of(got), [32, 3])
                assert_close(got, exp, what=name)
                rows = N.nan_to_num(self.rows[:4])
                r = self.c.post_json("/v2/models/%s/infer" % name, {"inputs": [{
                    "name": "input", "shape": [4, 6], "datatype": "FP32",
                    "data": [float(v) for v in rows.reshape(-1)]}]})
                out = r["outputs"][0]
                self.assertEqual(out["shape"], [4, 3], out)
                assert_close(out["data"], harness.predict(self.models["multiout"], rows).reshape(-1), what=name)

    def test_classify_from_margins(self):
        """:classify on logitraw and softmax models turns margins into probabilities."""
        N = harness.np()
        X = harness.xgb()
        rows = N.nan_to_num(self.rows[:8])
        dm = X.DMatrix(rows)
        ex = [{"f%d" % i: float(v) for i, v in enumerate(r)} for r in rows]
        for name, width in (("logitraw", 2), ("softmax", 4)):
            with self.subTest(model=name):
                margins = self.models[name].predict(dm, output_margin=True).reshape(len(rows), -1)
                if width == 2:
                    p = 1 / (1 + N.exp(-margins[:, 0]))
                    want = N.stack([1 - p, p], axis=1)
                else:
                    e = N.exp(margins - margins.max(axis=1, keepdims=True))
                    want = e / e.sum(axis=1, keepdims=True)
                r = self.c.post_json("/v1/models/%s:classify" % name, {"examples": ex})
                got = [[score for _, score in res] for res in r["results"]]
                assert_close(got, want, tol=1e-5, what=name)
