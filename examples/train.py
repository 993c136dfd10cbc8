#!/usr/bin/python3
"""train.py - the quickstart's models: two small XGBoost classifiers on 4 features (two
versions that answer differently), saved as TF Serving-style directories DIR/v1 and DIR/v2.

    /usr/bin/python3 examples/train.py DIR
"""
import os
import sys

import numpy as np
import xgboost as xgb


def train(seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (400, 4))
    y = (X[:, 0] + X[:, 1] * rng.uniform(0.5, 1.5) > 1.0).astype(int)
    return xgb.train({"objective": "binary:logistic", "max_depth": 3, "seed": seed},
                     xgb.DMatrix(X, label=y), num_boost_round=8)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: train.py DIR")
    for name, seed in (("v1", 1), ("v2", 7)):
        d = os.path.join(sys.argv[1], name)
        os.makedirs(d, exist_ok=True)
        train(seed).save_model(os.path.join(d, "model.json"))
        print(d)


if __name__ == "__main__":
    main()
