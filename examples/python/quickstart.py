#!/usr/bin/env python3
"""quickstart.py - docs/quickstart.md with Tencent Cloud's Python SDK (pip install
tencentcloud-sdk-python-common): the same steps as examples/node/quickstart.js.

    BERTH_ENDPOINT=127.0.0.1:7700 BERTH_CREDENTIALS=var/credentials \\
        python3 quickstart.py MODEL_DIR_V1 MODEL_DIR_V2

BERTH_PROTOCOL is "http" (the default here) or "https" when berthd has TLS on; with a private
CA, BERTH_CA_FILE names its certificate. The Python SDK is not in Debian and this machine reaches
no Python package index, so Berth's tests run the Node.js example, not this one.
"""
import json
import os
import sys
import time
import urllib.request

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile


def client():
    if os.environ.get("TENCENTCLOUD_SECRET_ID"):
        cred = credential.EnvironmentVariableCredential().get_credential()
    else:
        with open(os.environ.get("BERTH_CREDENTIALS", "var/credentials")) as f:
            c = json.load(f)
        cred = credential.Credential(c["secretId"], c["secretKey"])
    http = HttpProfile(protocol=os.environ.get("BERTH_PROTOCOL", "http"),
                       endpoint=os.environ.get("BERTH_ENDPOINT", "127.0.0.1:7700"))
    if os.environ.get("BERTH_CA_FILE"):
        http.certification = os.environ["BERTH_CA_FILE"]
    return CommonClient("tione", "2021-11-11", cred, os.environ.get("BERTH_REGION", "ap-guangzhou"),
                        profile=ClientProfile(httpProfile=http))


tione = client()


def call(action, params):
    return tione.call_json(action, params)["Response"]


def until(what, seconds, check):
    end = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            sys.exit("%s: not within %d s" % (what, seconds))
        time.sleep(0.25)


def import_model(path, model_id=None):
    p = {"ImportMethod": "VERSION" if model_id else "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
         "ModelFormat": "XGBOOST", "TrainingModelCosPath": {"Bucket": "", "Region": "", "Paths": [path]}}
    p.update({"TrainingModelId": model_id} if model_id else {"TrainingModelName": "quickstart"})
    r = call("CreateTrainingModel", p)

    def done():
        v = call("DescribeTrainingModelVersion", {"TrainingModelVersionId": r["TrainingModelVersionId"]})
        status = v["TrainingModelVersion"]["TrainingModelStatus"]
        if status == "STATUS_FAILED":
            sys.exit("import failed: %s" % v)
        return status == "STATUS_SUCCESS"
    until("the import", 60, done)
    return r["Id"], r["TrainingModelVersionId"]


def normal(service_id):
    def check():
        s = call("DescribeModelService", {"ServiceId": service_id})["Service"]
        if s["Status"] in ("Abnormal", "CREATE_FAILED"):
            sys.exit("%s: %s" % (service_id, s["Status"]))
        return s["Status"] == "Normal"
    until(service_id + " Normal", 120, check)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: quickstart.py MODEL_DIR_V1 MODEL_DIR_V2")
    model, v1 = import_model(sys.argv[1])
    _, v2 = import_model(sys.argv[2], model)
    base = {"ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 1}
    s1 = call("CreateModelService", dict(base, ServiceGroupName="quickstart-%d" % (time.time() % 1e6),
                                         ModelInfo={"ModelVersionId": v1}))["Service"]
    group = s1["ServiceGroupId"]
    s2 = call("CreateModelService", dict(base, ServiceGroupId=group, NewVersion=True,
                                         ModelInfo={"ModelVersionId": v2}))["Service"]
    normal(s1["ServiceId"])
    normal(s2["ServiceId"])
    call("ModifyServiceGroupWeights", {"ServiceGroupId": group, "Weights": [
        {"ServiceId": s1["ServiceId"], "Weight": 80}, {"ServiceId": s2["ServiceId"], "Weight": 20}]})
    info = call("DescribeModelServiceCallInfo", {"ServiceGroupId": group})
    url = info["ServiceCallInfoV2"]["InternetEndpoint"] + "/v1/models/m:predict"
    answers = {}
    for _ in range(50):
        body = json.dumps({"instances": [[0.1, 0.5, 0.9, 0.3]]}).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
            p = json.load(r)["predictions"][0]
        answers[p] = answers.get(p, 0) + 1
    print(json.dumps({"group": group, "url": url, "answers": answers}))


if __name__ == "__main__":
    main()
