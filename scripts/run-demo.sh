#!/bin/bash
# run-demo.sh - what `make run` starts: berthd on ./var in the foreground, with
# the demo XGBoost model imported and deployed as the service group "demo".
# Ctrl-C stops berthd, which stops the service's instances.
set -eu
BUILD=${BUILD:-build}
API=${BERTH_API:-127.0.0.1:7700}
GATEWAY=${BERTH_GATEWAY:-127.0.0.1:8501}
DATA=${BERTH_DATA:-var}
IMPORT_ROOT=${BERTH_IMPORT_ROOT:-$PWD} # where models may be imported from (README: import roots)
PY=${PYTHON:-/usr/bin/python3}
export BERTH_ENDPOINT="http://$API" BERTH_CREDENTIALS="$DATA/credentials"
berth() { "$BUILD/berth" "$@"; }
json_get() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }

"$BUILD/berthd" --data-dir "$DATA" --api-listen "$API" --gateway-listen "$GATEWAY" \
    --import-root "$IMPORT_ROOT" --import-root "$BUILD/demo" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
for _ in $(seq 100); do
    [ -f "$DATA/credentials" ] && berth --json call DescribeModelServiceGroups >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { echo "berthd did not start" >&2; exit 1; }
    sleep 0.1
done

group=$(berth --json call DescribeModelServiceGroups \
    '{"Filters": [{"Name": "ServiceGroupName", "Values": ["demo"], "Fuzzy": false}]}' |
    json_get '["ServiceGroups"][0]["ServiceGroupId"] if d["ServiceGroups"] else ""')
if [ -z "$group" ]; then
    version=$(berth --json model import --name demo --path "$BUILD/demo/model/1" --wait |
        json_get '["TrainingModelVersionId"]')
    group=$(berth --json service create --name demo --model-version "$version" --wait |
        json_get '["Service"]["ServiceGroupId"]')
fi
echo
echo "Berth is running (data in ./$DATA; credentials in ./$DATA/credentials; instances work in ./$DATA-instances)."
echo "  management API  http://$API   (TI-ONE 2021-11-11, TC3-signed; try: $BUILD/berth service list)"
echo "  gateway         http://$GATEWAY/$group/"
echo "  web console     http://$API/console/   (sign in with the SecretId and SecretKey in ./$DATA/credentials)"
echo
echo "Predict through the gateway:"
echo "  curl -s -d '{\"instances\": [[1.0, 0.5, -0.2, 0.1], [-1.0, 0.0, 1.0, 0.3]]}' \\"
echo "      http://$GATEWAY/$group/v1/models/m:predict"
echo "or: $BUILD/berth predict $group '{\"instances\": [[1.0, 0.5, -0.2, 0.1]]}'"
echo
echo "Ctrl-C stops Berth."
wait $pid
