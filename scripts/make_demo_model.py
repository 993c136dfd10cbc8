#!/usr/bin/python3
"""Train the small demo model that `make run` serves: a binary classifier on
synthetic data, written as version 1 of a TF Serving-style base path."""
import json
import os
import sys

import numpy as np
import xgboost as xgb

base = sys.argv[1]
os.makedirs(os.path.join(base, "1"), exist_ok=True)
rng = np.random.default_rng(7)
X = rng.normal(size=(500, 4)).astype(np.float32)
y = ((X[:, 0] + 0.5 * X[:, 1] - X[:, 2]) > 0).astype(int)
names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                    xgb.DMatrix(X, label=y, feature_names=names), num_boost_round=20)
booster.save_model(os.path.join(base, "1", "model.json"))
with open(os.path.join(base, "1", "berth.json"), "w") as f:
    json.dump({"class_labels": ["no", "yes"]}, f)
