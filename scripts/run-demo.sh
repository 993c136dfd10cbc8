#!/bin/bash
# run-demo.sh - what `make run` starts: berth-serve on the demo model, in the
# foreground, until Ctrl-C. (Once berthd exists, this becomes berthd on ./var.)
set -eu
BUILD=${BUILD:-build}
PORT=${PORT:-8501}
model="$PWD/$BUILD/demo/model"
cat <<MSG

berth-serve is starting on http://127.0.0.1:$PORT with the demo model 'demo'.
Try, in another terminal:

  curl -s -d '{"instances": [[1.0, 0.5, -0.2, 0.1], [-1.0, 0.0, 1.0, 0.3]]}' \\
      http://127.0.0.1:$PORT/v1/models/demo:predict
  curl -s -d '{"examples": [{"sepal_length": 1.0, "petal_length": -0.2}]}' \\
      http://127.0.0.1:$PORT/v1/models/demo:classify
  curl -s http://127.0.0.1:$PORT/v2/models/demo
  curl -s http://127.0.0.1:$PORT/metrics

Add a version by copying a model into $model/2/ : it serves within a second.
Ctrl-C stops it.

MSG
exec "$BUILD/berth-serve" --rest_api_port="$PORT" --model_name=demo --model_base_path="$model"
