"""TorchScript models (made with python3-torch by torch_models.py): TF Serving REST and V2
(JSON and binary) give what model(*inputs) gives in Python, within 1e-6; the metadata
endpoints report the signature; wrong shapes and dtypes are 400 naming the input; files that
are not TorchScript fail their version with what to do; a new version hot-reloads under load
with no failed request; a berth-serve built without libtorch still serves XGBoost."""

import json
import os
import shutil
import struct
import subprocess
import threading
import time
import unittest

import harness
from harness import assert_close, assert_error

HERE = os.path.dirname(os.path.abspath(__file__))
FMT = {"FP32": "f", "FP64": "d", "INT64": "q", "INT32": "i", "BOOL": "?"}


def make_models(out):
    """Run torch_models.py once; skip when python3-torch is not installed."""
    r = subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True)
    if r.returncode != 0:
        raise unittest.SkipTest("python3-torch is not installed")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "torch_models.py"), out], check=True,
                   timeout=120)
    with open(os.path.join(out, "expected.json")) as f:
        return json.load(f)


def pack(dtype, values):
    flat = harness.flatten(values)
    return struct.pack("<%d%s" % (len(flat), FMT[dtype]), *flat)


def unpack(dtype, raw):
    n = len(raw) // struct.calcsize(FMT[dtype])
    return list(struct.unpack("<%d%s" % (n, FMT[dtype]), raw))


def binary_request(header, payload):
    h = json.dumps(header).encode()
    return h + payload, {"Inference-Header-Content-Length": str(len(h)),
                         "Content-Type": "application/octet-stream"}


# the models' signatures: (name, datatype, shape) of each input, then of each output
SIGS = {
    "mlp": ([("x", "FP32", [-1, 4])], [("output_0", "FP32", [-1, 3])]),
    "two": ([("x", "FP32", [-1, 3]), ("w", "FP64", [-1, 2])],
            [("score", "FP32", [-1, 2]), ("norm", "FP64", [-1])]),
    "dict": ([("x", "FP32", [-1, 5])], [("sum", "FP32", [-1]), ("double", "FP64", [-1, 5])]),
    "emb": ([("ids", "INT64", [-1, 3]), ("mask", "BOOL", [-1, 3]), ("offset", "INT32", [-1])],
            [("output_0", "FP32", [-1, 4])]),
}
CASE = {"mlp": "mlp2", "two": "two", "dict": "dict", "emb": "emb"}


class TorchServe(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0800")
        cls.models = os.path.join(tmp, "models")
        cls.exp = make_models(cls.models)
        # hot: version 1 of the MLP now, version 2 moved in by the reload test
        cls.hot = os.path.join(tmp, "hot")
        os.makedirs(cls.hot)
        shutil.copytree(os.path.join(cls.models, "mlp", "1"), os.path.join(cls.hot, "1"))
        entries = [{"name": n, "base_path": os.path.join(cls.models, n), "platform": None}
                   for n in ("mlp", "two", "dict", "emb", "bad")]
        entries[1]["platform"] = "pytorch"
        entries[4]["policy_text"] = "all {}"
        entries.append({"name": "hot", "base_path": cls.hot, "platform": "pytorch_torchscript"})
        cfg = harness.write_config_text(os.path.join(tmp, "models.config"), entries)
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg, "--file_system_poll_wait_seconds=1"])
        cls.c = cls.client_for(cls.srv)

    # ---- helpers

    def check_outputs(self, model, outputs, case, by_name=True):
        """V2 outputs (JSON data) against the case's expected outputs."""
        names = [o[0] for o in SIGS[model][1]]
        self.assertEqual([o["name"] for o in outputs], names, outputs)
        for o, (name, dtype, _), want in zip(outputs, SIGS[model][1], self.exp[case]["outputs"]):
            self.assertEqual(o["datatype"], dtype, o)
            self.assertEqual(o["shape"], harness.shape_of(want), o)
            assert_close(o["data"], harness.flatten(want), what="output %s of %s" % (name, model))

    def v2_json(self, model, case):
        ins = []
        for (name, dtype, _), v in zip(SIGS[model][0], self.exp[case]["inputs"]):
            ins.append({"name": name, "datatype": dtype, "shape": harness.shape_of(v), "data": v})
        return {"inputs": ins}

    # ---- the module

    def test_backend_module_loaded_once(self):
        module = os.path.join(os.path.dirname(harness.require_binary()), "berth-serve-torch.so")
        self.assertEqual(self.srv.log().count("TorchScript backend loaded from %s" % module), 1,
                         self.srv.log_tail())

    def test_installed_layout_finds_the_module(self):
        """make install puts berth-serve in BINDIR and the module in BINDIR/../lib/berth/."""
        root = os.path.join(self.tmp, "installed")
        os.makedirs(os.path.join(root, "bin"))
        os.makedirs(os.path.join(root, "lib", "berth"))
        serve = os.path.join(root, "bin", "berth-serve")
        shutil.copy2(harness.require_binary(), serve)
        shutil.copy2(os.path.join(os.path.dirname(harness.require_binary()), "berth-serve-torch.so"),
                     os.path.join(root, "lib", "berth"))
        srv = self.start_server(["--model_name=mlp", "--model_base_path=%s" % os.path.join(self.models, "mlp")],
                                name="installed", binary=serve)
        c = self.client_for(srv)
        got = c.post_json("/v2/models/mlp/infer", self.v2_json("mlp", CASE["mlp"]))
        self.check_outputs("mlp", got["outputs"], CASE["mlp"])
        self.assertIn("TorchScript backend loaded from %s/bin/../lib/berth/berth-serve-torch.so" % root,
                      srv.log())

    # ---- metadata

    def test_metadata_v2(self):
        for model, (ins, outs) in SIGS.items():
            body = self.c.get_json("/v2/models/%s" % model)
            self.assertEqual(body["platform"], "pytorch_torchscript", body)
            self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in body["inputs"]],
                             [tuple(t) for t in ins], body)
            self.assertEqual([(t["name"], t["datatype"], t["shape"]) for t in body["outputs"]],
                             [tuple(t) for t in outs], body)

    def test_metadata_tf(self):
        tf = {"FP32": "DT_FLOAT", "FP64": "DT_DOUBLE", "INT64": "DT_INT64", "INT32": "DT_INT32",
              "BOOL": "DT_BOOL"}
        for model, (ins, outs) in SIGS.items():
            sd = self.c.get_json("/v1/models/%s/metadata" % model)["metadata"]["signature_def"]
            sig = sd["signature_def"]["serving_default"]
            for key, want in (("inputs", ins), ("outputs", outs)):
                self.assertEqual(list(sig[key].keys()), [t[0] for t in want], sig)
                for name, dtype, shape in want:
                    t = sig[key][name]
                    self.assertEqual(t["dtype"], tf[dtype], t)
                    self.assertEqual([int(d["size"]) for d in t["tensor_shape"]["dim"]], shape, t)

    # ---- predictions

    def test_tf_instances(self):
        for model in SIGS:
            case = self.exp[CASE[model]]
            names = [t[0] for t in SIGS[model][0]]
            n = len(case["inputs"][0])
            if len(names) == 1:
                inst = case["inputs"][0]
            else:
                inst = [{nm: case["inputs"][k][i] for k, nm in enumerate(names)} for i in range(n)]
            preds = self.c.post_json("/v1/models/%s:predict" % model, {"instances": inst})["predictions"]
            self.assertEqual(len(preds), n, preds)
            outs = SIGS[model][1]
            for k, (name, _, _) in enumerate(outs):
                got = [p[name] for p in preds] if len(outs) > 1 else preds
                assert_close(got, case["outputs"][k], what="%s output %s" % (model, name))

    def test_tf_instances_named_single_input(self):
        case = self.exp["mlp2"]
        inst = [{"x": row} for row in case["inputs"][0]]
        preds = self.c.post_json("/v1/models/mlp:predict", {"instances": inst})["predictions"]
        assert_close(preds, case["outputs"][0])

    def test_tf_columnar(self):
        for model in SIGS:
            case = self.exp[CASE[model]]
            names = [t[0] for t in SIGS[model][0]]
            cols = case["inputs"][0] if len(names) == 1 else dict(zip(names, case["inputs"]))
            outs = self.c.post_json("/v1/models/%s:predict" % model, {"inputs": cols})["outputs"]
            onames = [t[0] for t in SIGS[model][1]]
            if len(onames) == 1:
                assert_close(outs, case["outputs"][0], what=model)
            else:
                self.assertEqual(list(outs.keys()), onames, outs)
                for k, name in enumerate(onames):
                    assert_close(outs[name], case["outputs"][k], what="%s output %s" % (model, name))

    def test_v2_json(self):
        for model in SIGS:
            body = self.c.post_json("/v2/models/%s/infer" % model, self.v2_json(model, CASE[model]))
            self.assertEqual(body["model_name"], model)
            self.check_outputs(model, body["outputs"], CASE[model])

    def test_v2_binary(self):
        for model in SIGS:
            case = self.exp[CASE[model]]
            ins, payload = [], b""
            for (name, dtype, _), v in zip(SIGS[model][0], case["inputs"]):
                raw = pack(dtype, v)
                ins.append({"name": name, "datatype": dtype, "shape": harness.shape_of(v),
                            "parameters": {"binary_data_size": len(raw)}})
                payload += raw
            body, hdrs = binary_request({"inputs": ins, "parameters": {"binary_data_output": True}},
                                        payload)
            r = self.c.post("/v2/models/%s/infer" % model, body, headers=hdrs)
            self.assertEqual(r.status, 200, r)
            n = int(r.headers["inference-header-content-length"])
            head, raw = json.loads(r.body[:n]), r.body[n:]
            off = 0
            for o, (name, dtype, _), want in zip(head["outputs"], SIGS[model][1], case["outputs"]):
                self.assertEqual((o["name"], o["datatype"]), (name, dtype), o)
                size = o["parameters"]["binary_data_size"]
                assert_close(unpack(dtype, raw[off:off + size]), harness.flatten(want),
                             what="%s output %s" % (model, name))
                off += size
            self.assertEqual(off, len(raw))

    def test_v2_some_outputs_some_binary(self):
        """'outputs' picks which go back; binary_data per output."""
        req = self.v2_json("dict", "dict")
        req["outputs"] = [{"name": "double", "parameters": {"binary_data": True}}]
        body, hdrs = binary_request(req, b"")
        r = self.c.post("/v2/models/dict/infer", body, headers=hdrs)
        self.assertEqual(r.status, 200, r)
        n = int(r.headers["inference-header-content-length"])
        head = json.loads(r.body[:n])
        self.assertEqual([o["name"] for o in head["outputs"]], ["double"], head)
        assert_close(unpack("FP64", r.body[n:]), harness.flatten(self.exp["dict"]["outputs"][1]))

    def test_batch_one(self):
        case = self.exp["mlp2_one"]
        body = self.c.post_json("/v2/models/mlp/infer", self.v2_json("mlp", "mlp2_one"))
        assert_close(body["outputs"][0]["data"], harness.flatten(case["outputs"][0]))

    # ---- errors

    def test_bad_shape_is_400_naming_the_input(self):
        c = self.c
        assert_error(self, c.post("/v1/models/mlp:predict", {"instances": [[1, 2, 3]]}), 400, "'x'", "shape")
        assert_error(self, c.post("/v1/models/mlp:predict", {"inputs": [[1, 2, 3, 4], [1, 2]]}), 400, "'x'")
        assert_error(self, c.post("/v1/models/two:predict", {"instances": [{"x": [1, 2, 3], "w": [1]}]}),
                     400, "'w'", "shape")
        req = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 5], "data": [1, 2, 3, 4, 5]}]}
        assert_error(self, c.post("/v2/models/mlp/infer", req), 400, "'x'", "shape [1, 5]", "[-1, 4]")
        req = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [1, 2, 3, 4]}]}
        assert_error(self, c.post("/v2/models/mlp/infer", req), 400, "'x'", "elements")

    def test_bad_dtype_is_400_naming_the_input(self):
        c = self.c
        req = self.v2_json("two", "two")
        req["inputs"][1]["datatype"] = "FP32"
        assert_error(self, c.post("/v2/models/two/infer", req), 400, "'w'", "FP32", "FP64")
        req = self.v2_json("emb", "emb")
        req["inputs"][0]["datatype"] = "INT32"
        assert_error(self, c.post("/v2/models/emb/infer", req), 400, "'ids'", "INT32", "INT64")
        inst = [{"ids": [1, 2, 3.5], "mask": [True, False, True], "offset": 1}]
        assert_error(self, c.post("/v1/models/emb:predict", {"instances": inst}), 400, "'ids'", "INT64")
        inst = [{"ids": [1, 2, 3], "mask": [1, 0, 1], "offset": 1}]
        assert_error(self, c.post("/v1/models/emb:predict", {"instances": inst}), 400, "'mask'", "BOOL")
        inst = [{"ids": [1, 2, 3], "mask": [True, False, True], "offset": 2 ** 40}]
        assert_error(self, c.post("/v1/models/emb:predict", {"instances": inst}), 400, "'offset'", "INT32")
        assert_error(self, c.post("/v1/models/mlp:predict", {"instances": [[1, 2, "a", 4]]}), 400, "'x'")

    def test_missing_and_unknown_inputs(self):
        c = self.c
        assert_error(self, c.post("/v1/models/two:predict", {"instances": [{"x": [1, 2, 3]}]}), 400,
                     "'w'", "missing")
        assert_error(self, c.post("/v1/models/two:predict", {"inputs": {"x": [[1, 2, 3]], "w": [[1, 2]],
                                                                         "z": [1]}}), 400, "'z'")
        req = self.v2_json("two", "two")
        del req["inputs"][0]
        assert_error(self, c.post("/v2/models/two/infer", req), 400, "'x'", "missing")
        req = self.v2_json("mlp", "mlp2")
        req["inputs"][0]["name"] = "y"
        assert_error(self, c.post("/v2/models/mlp/infer", req), 400, "'y'")
        req = self.v2_json("mlp", "mlp2")
        req["outputs"] = [{"name": "nope"}]
        assert_error(self, c.post("/v2/models/mlp/infer", req), 400, "'nope'")

    def test_classify_is_400(self):
        assert_error(self, self.c.post("/v1/models/mlp:classify", {"examples": [{"x": 1}]}), 400, ":predict")

    def test_not_torchscript_fails_its_version(self):
        st = {e["version"]: e for e in self.c.get_json("/v1/models/bad")["model_version_status"]}
        self.assertEqual(sorted(st), ["1", "2", "3", "4", "5", "6", "7"], st)
        for v, what in (("1", "eager-mode"), ("2", "eager-mode"), ("3", "pickle")):
            self.assertEqual(st[v]["state"], "END", st[v])
            msg = st[v]["status"]["error_message"]
            self.assertIn(what, msg)
            self.assertIn("torch.jit.script or torch.jit.trace", msg)

    def test_berth_json_that_cannot_work_fails_its_version(self):
        st = {e["version"]: e for e in self.c.get_json("/v1/models/bad")["model_version_status"]}
        for v, what in (("4", 'must declare the model\'s "inputs" or give an "example"'),
                        ("5", "unknown field 'input_name' for a TorchScript model"),
                        ("6", "gives 2 inputs but forward() takes 1"),
                        ("7", "names 2 outputs but forward() returns 1 tensors")):
            self.assertEqual(st[v]["state"], "END", st[v])
            self.assertIn(what, st[v]["status"]["error_message"])

    # ---- hot reload

    def test_reload_under_load(self):
        """Version 2 moves in while 2 clients predict: every answer is version 1's or 2's, and
        once version 2 answers, version 1 no longer does."""
        x = self.exp["mlp1"]["inputs"][0]
        want = {1: self.exp["mlp1"]["outputs"][0], 2: self.exp["mlp2"]["outputs"][0]}
        stop = threading.Event()
        failures, seen = [], []

        def load():
            c = self.srv.client()
            try:
                while not stop.is_set():
                    r = c.post("/v1/models/hot:predict", {"instances": x})
                    if r.status != 200:
                        failures.append(r)
                        continue
                    got = r.json()["predictions"]
                    v = next((v for v in (1, 2) if close(got, want[v])), None)
                    if v is None:
                        failures.append(got)
                    seen.append(v)
            finally:
                c.close()

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            stage = os.path.join(self.hot, ".stage")
            shutil.copytree(os.path.join(self.models, "mlp", "2"), stage)
            os.rename(stage, os.path.join(self.hot, "2"))
            harness.wait_until(lambda: seen and seen[-1] == 2, 8, 0.05, what="version 2 answering")
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(failures, [], "failed requests during the reload")
        self.assertIn(1, seen)
        last1 = max(i for i, v in enumerate(seen) if v == 1)
        first2 = seen.index(2)
        # with two clients one answer of version 1 may finish after the first of version 2
        self.assertLessEqual(last1 - first2, 2, "version 1 kept answering after version 2")
        st = self.c.get_json("/v1/models/hot")["model_version_status"]
        self.assertEqual([(e["version"], e["state"]) for e in st], [("2", "AVAILABLE")], st)


def close(got, want):
    try:
        assert_close(got, want)
        return True
    except AssertionError:
        return False


class TorchNotBuilt(harness.ServerCase):
    """berth-serve without its torch module (TORCH=0, or a copy of the binary on its own): XGBoost
    models serve, TorchScript versions fail to load saying why, and libtorch is not linked."""

    @classmethod
    def setUpClass(cls):
        tmp = cls.setup_tmp("t0800n")
        alone = os.path.join(tmp, "bin", "berth-serve")
        os.makedirs(os.path.dirname(alone))
        shutil.copy2(harness.require_binary(), alone)
        cls.binary = alone
        base = os.path.join(tmp, "models")
        b = harness.train("reg:squarederror", n_features=4, seed=8)
        cls.xgb = harness.load_model(harness.write_version(os.path.join(base, "xgb"), 1, b, "json"))
        d = os.path.join(base, "pt", "1")
        os.makedirs(d)
        with open(os.path.join(d, "model.pt"), "wb") as f:
            f.write(b"PK\5\6" + b"\0" * 18)  # an empty zip: never read, since nothing loads it
        cfg = harness.write_config_text(os.path.join(tmp, "models.config"), [
            {"name": "xgb", "base_path": os.path.join(base, "xgb")},
            {"name": "pt", "base_path": os.path.join(base, "pt"), "platform": None}])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg, "--file_system_poll_wait_seconds=0"],
                                   binary=alone)
        cls.c = cls.client_for(cls.srv)

    def test_libtorch_is_not_linked(self):
        """Only the module links libtorch: a process that serves XGBoost never maps it."""
        with open("/proc/%d/maps" % self.srv.proc.pid) as f:
            maps = f.read()
        self.assertNotIn("libtorch", maps)
        self.assertNotIn("libtorch", subprocess.run(["ldd", self.binary], capture_output=True,
                                                    text=True).stdout)

    def test_xgboost_serves(self):
        X = harness.rows(5, 4, seed=3)
        got = self.c.post_json("/v1/models/xgb:predict", {"instances": X.tolist()})["predictions"]
        assert_close(got, harness.predict(self.xgb, X))

    def test_torchscript_version_says_why(self):
        st = self.c.get_json("/v1/models/pt")["model_version_status"]
        self.assertEqual(st[0]["state"], "END", st)
        self.assertIn("this berth-serve has no TorchScript backend (berth-serve-torch.so, next to it or "
                      "in ../lib/berth/", st[0]["status"]["error_message"])


if __name__ == "__main__":
    unittest.main()
