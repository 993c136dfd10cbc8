// quickstart.js - docs/quickstart.md with Tencent Cloud's Node.js SDK: import two versions of
// a model, deploy both in one service group, split traffic 80/20, call it through the gateway.
//
//   npm ci
//   BERTH_ENDPOINT=127.0.0.1:7700 BERTH_CREDENTIALS=var/credentials \
//     node quickstart.js MODEL_DIR_V1 MODEL_DIR_V2
//
// BERTH_ENDPOINT is berthd's API (host:port); BERTH_PROTOCOL is "http://" (the default here)
// or "https://" when berthd has TLS on; BERTH_CREDENTIALS is the credentials file berthd wrote
// (TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY work too). Prints one JSON line per step.
"use strict";
const fs = require("fs");
const { CommonClient } = require("tencentcloud-sdk-nodejs-common");

function credential() {
  if (process.env.TENCENTCLOUD_SECRET_ID)
    return { secretId: process.env.TENCENTCLOUD_SECRET_ID, secretKey: process.env.TENCENTCLOUD_SECRET_KEY };
  const c = JSON.parse(fs.readFileSync(process.env.BERTH_CREDENTIALS || "var/credentials", "utf8"));
  return { secretId: c.secretId, secretKey: c.secretKey };
}

// The SDK's client for any action of a product: TI-ONE's, version 2021-11-11, at Berth.
const tione = new CommonClient("tione.tencentcloudapi.com", "2021-11-11", {
  credential: credential(),
  region: process.env.BERTH_REGION || "ap-guangzhou",
  profile: {
    httpProfile: {
      endpoint: process.env.BERTH_ENDPOINT || "127.0.0.1:7700",
      protocol: process.env.BERTH_PROTOCOL || "http://",
    },
  },
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const say = (step, what) => console.log(JSON.stringify({ step, ...what }));

async function until(what, seconds, check) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`${what}: not within ${seconds} s`);
    await sleep(250);
  }
}

// Import a directory of model files, as a new model or as the next version of one.
async function importModel(dir, modelId) {
  const r = await tione.request("CreateTrainingModel", {
    ImportMethod: modelId ? "VERSION" : "MODEL",
    ...(modelId ? { TrainingModelId: modelId } : { TrainingModelName: "quickstart" }),
    ReasoningEnvironmentSource: "SYSTEM",
    ModelFormat: "XGBOOST",
    TrainingModelCosPath: { Bucket: "", Region: "", Paths: [dir] },
  });
  await until("the import", 60, async () => {
    const v = (await tione.request("DescribeTrainingModelVersion", { TrainingModelVersionId: r.TrainingModelVersionId }))
      .TrainingModelVersion;
    if (v.TrainingModelStatus === "STATUS_FAILED") throw new Error(`import failed: ${JSON.stringify(v)}`);
    return v.TrainingModelStatus === "STATUS_SUCCESS";
  });
  return { modelId: r.Id, versionId: r.TrainingModelVersionId };
}

async function normal(serviceId) {
  return until(`${serviceId} Normal`, 120, async () => {
    const s = (await tione.request("DescribeModelService", { ServiceId: serviceId })).Service;
    if (s.Status === "Abnormal" || s.Status === "CREATE_FAILED") throw new Error(`${serviceId}: ${s.Status}`);
    return s.Status === "Normal" && s;
  });
}

async function main() {
  const [dir1, dir2] = process.argv.slice(2);
  if (!dir1 || !dir2) throw new Error("usage: node quickstart.js MODEL_DIR_V1 MODEL_DIR_V2");
  const v1 = await importModel(dir1);
  const v2 = await importModel(dir2, v1.modelId);
  say("imported", { model: v1.modelId, versions: [v1.versionId, v2.versionId] });

  const base = { ChargeType: "POSTPAID_BY_HOUR", InstanceType: "TI.S.MEDIUM.POST", Replicas: 1 };
  const s1 = (await tione.request("CreateModelService", {
    ...base, ServiceGroupName: `quickstart-${Date.now() % 1e6}`, ModelInfo: { ModelVersionId: v1.versionId },
  })).Service;
  const group = s1.ServiceGroupId;
  const s2 = (await tione.request("CreateModelService", {
    ...base, ServiceGroupId: group, NewVersion: true, ModelInfo: { ModelVersionId: v2.versionId },
  })).Service;
  await normal(s1.ServiceId);
  await normal(s2.ServiceId);
  say("deployed", { group, services: [s1.ServiceId, s2.ServiceId] });

  const w = (await tione.request("ModifyServiceGroupWeights", {
    ServiceGroupId: group,
    Weights: [{ ServiceId: s1.ServiceId, Weight: 80 }, { ServiceId: s2.ServiceId, Weight: 20 }],
  })).ServiceGroup;
  say("weights", { weights: w.Services.map((s) => [s.ServiceId, s.Weight]) });

  // Where to call it: the gateway's address for the group, from the API.
  const info = await tione.request("DescribeModelServiceCallInfo", { ServiceGroupId: group });
  const url = `${info.ServiceCallInfoV2.InternetEndpoint}/v1/models/m:predict`;
  const answers = {};
  for (let i = 0; i < 50; i++) {
    const r = await fetch(url, { method: "POST", body: JSON.stringify({ instances: [[0.1, 0.5, 0.9, 0.3]] }) });
    if (!r.ok) throw new Error(`predict: HTTP ${r.status} ${await r.text()}`);
    const p = (await r.json()).predictions[0];
    answers[p] = (answers[p] || 0) + 1;
  }
  say("called", { url, answers });
}

main().catch((e) => {
  console.error(`quickstart: ${e.code ? e.code + ": " : ""}${e.message}`);
  process.exit(1);
});
