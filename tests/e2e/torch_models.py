"""Makes the TorchScript test models with python3-torch, in one process (importing torch takes
seconds): `torch_models.py OUT` writes OUT/<name>/<version>/model.pt (+ berth.json), files that
are not TorchScript, and OUT/expected.json with each model's test inputs and what
model(*inputs) returns for them (the model as torch.jit.load reads it back)."""

import json
import os
import sys
from typing import Dict, Tuple

import torch


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 16)
        self.b = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


class Two(torch.nn.Module):
    """Two inputs of two dtypes, a tuple of two outputs of two dtypes."""

    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(3, 2)

    def forward(self, x, w) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.l(x) * w.to(torch.float32), (w * w).sum(1)


class Dict2(torch.nn.Module):
    def forward(self, x) -> Dict[str, torch.Tensor]:
        return {"sum": x.sum(1), "double": x.to(torch.float64) * 2.0}


class Emb(torch.nn.Module):
    """INT64 ids, a BOOL mask and an INT32 offset."""

    def __init__(self):
        super().__init__()
        self.e = torch.nn.Embedding(10, 4)

    def forward(self, ids, mask, offset):
        v = (self.e(ids) * mask.unsqueeze(-1).to(torch.float32)).sum(1)
        return v + offset.to(torch.float32).unsqueeze(1)


def save(module, base, version, berth=None):
    d = os.path.join(base, str(version))
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.pt")
    torch.jit.save(torch.jit.script(module), path)
    if berth is not None:
        with open(os.path.join(d, "berth.json"), "w") as f:
            json.dump(berth, f)
    return torch.jit.load(path)


def tolist(t):
    return t.tolist()


def main(out):
    torch.manual_seed(0)
    expected = {}
    g = torch.Generator().manual_seed(1)

    def case(model, inputs, names):
        with torch.no_grad():
            r = model(*inputs)
        if isinstance(r, torch.Tensor):
            r = [r]
        elif isinstance(r, dict):
            r = [r[k] for k in names]
        return {"inputs": [tolist(t) for t in inputs], "outputs": [tolist(t) for t in r]}

    mlp_sig = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]}
    x = torch.randn(7, 4, generator=g)
    for v in (1, 2):
        torch.manual_seed(v)
        m = save(MLP(), os.path.join(out, "mlp"), v, mlp_sig)
        expected["mlp%d" % v] = case(m, [x], None)
        expected["mlp%d_one" % v] = case(m, [x[:1]], None)
    two_sig = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]},
                          {"name": "w", "datatype": "FP64", "shape": [-1, 2]}],
               "outputs": ["score", "norm"]}
    m = save(Two(), os.path.join(out, "two"), 1, two_sig)
    expected["two"] = case(m, [torch.randn(5, 3, generator=g), torch.randn(5, 2, generator=g).double()],
                           None)
    # No inputs declared: the example names nothing, so forward's own argument name 'x' is used.
    m = save(Dict2(), os.path.join(out, "dict"), 1, {"example": [{"datatype": "FP32", "shape": [2, 5]}]})
    expected["dict"] = case(m, [torch.randn(3, 5, generator=g)], ["sum", "double"])
    emb_sig = {"inputs": [{"name": "ids", "datatype": "INT64", "shape": [-1, 3]},
                          {"name": "mask", "datatype": "BOOL", "shape": [-1, 3]},
                          {"name": "offset", "datatype": "INT32", "shape": [-1]}]}
    m = save(Emb(), os.path.join(out, "emb"), 1, emb_sig)
    ids = torch.randint(0, 10, (4, 3), generator=g)
    mask = torch.rand(4, 3, generator=g) > 0.4
    offset = torch.tensor([0, -3, 7, 100000], dtype=torch.int32)
    expected["emb"] = case(m, [ids, mask, offset], None)
    # Files that are not TorchScript, each in a version directory of its own.
    bad = os.path.join(out, "bad")
    for v, how in ((1, "eager"), (2, "state_dict"), (3, "legacy")):
        d = os.path.join(bad, str(v))
        os.makedirs(d)
        p = os.path.join(d, "model.pt")
        if how == "eager":
            torch.save(MLP(), p)
        elif how == "state_dict":
            torch.save(MLP().state_dict(), p)
        else:
            torch.save(MLP().state_dict(), p, _use_new_zipfile_serialization=False)
        with open(os.path.join(d, "berth.json"), "w") as f:
            json.dump(mlp_sig, f)
    # TorchScript with a berth.json that cannot work: none, XGBoost's fields, a wrong count
    for v, berth in ((4, None), (5, {"input_name": "x"}),
                     (6, {"inputs": mlp_sig["inputs"] + [{"name": "y", "datatype": "FP32", "shape": [-1]}]}),
                     (7, {"inputs": mlp_sig["inputs"], "outputs": ["a", "b"]})):
        save(MLP(), bad, v, berth)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main(sys.argv[1])
