"""The optional tier of issue 15: a model service that berthd deploys to a single-node cluster
whose pods run for real (scripts/k8s-node.sh: kube-controller-manager, kube-scheduler and a
kubelet on dockerd, next to the API server of scripts/k8s-cluster.sh) answers a prediction
through berthd's gateway. Nothing here writes what a kubelet or a controller would: the
ReplicaSet, the Pod, its status and the EndpointSlice are the cluster's own. It changes host
state, so make test never runs it: `make test-k8s-node` starts the node and names its env file
in BERTH_K8S_NODE_ENV (with BERTH_K8S_ENV); without them it is skipped."""

import json
import os
import subprocess
import time
import unittest

import api
import harness
from t2900_kubernetes import NS, Kube, bed_env


def node_env():
    path = os.environ.get("BERTH_K8S_NODE_ENV")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return dict(line.strip().partition("=")[::2] for line in f if "=" in line)


def say(msg):
    print("t2910: %s" % msg, flush=True)


class RealPods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env, cls.node = bed_env(), node_env()
        if cls.env is None or cls.node is None:
            raise unittest.SkipTest("needs the test bed and its node: make test-k8s-node")
        cls.k = Kube(cls.env)
        # The runtime image into the node's dockerd (nothing can be pulled here).
        serve = harness.bin_path()
        version = subprocess.run([serve, "--version"], capture_output=True, text=True).stdout.split()[1]
        cls.image = "localhost/berth-serve:" + version
        tarball = os.path.join(os.path.dirname(harness.bin_path()), "runtime", "rootfs.tar")
        if not os.path.exists(tarball):
            raise AssertionError("no %s: make runtime-image PODMAN=" % tarball)
        bed = os.path.dirname(cls.env["_path"])
        subprocess.run([os.path.join(harness.REPO, "scripts", "k8s-node.sh"), "load", bed, tarball, cls.image],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        cls.tmp = harness.tempdir("t2910")
        # The pods fetch the model files from berthd's API listener: its port is known first.
        port, real = harness.free_port(), harness.free_port
        ports = [port]
        harness.free_port = lambda: ports.pop() if ports else real()
        try:
            api.start_berthd(cls, extra=["--kubeconfig", cls.env["BERTH_K8S_KUBECONFIG"],
                                         "--kube-namespace", NS, "--model-runtime", "kubernetes",
                                         "--model-runtime-image", cls.image,
                                         "--kube-model-url", "http://127.0.0.1:%d" % port,
                                         "--kube-pod-network", "host"])
        finally:
            harness.free_port = real
        assert cls.d.port == port

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def pods(self, sid):
        got = self.k.get("/api/v1/namespaces/%s/pods?labelSelector=berth.io/service%%3D%s" % (NS, sid))
        return got["items"] if got else []

    def test_model_service_runs_in_real_pods_and_answers_through_the_gateway(self):
        from t1200_api_services import import_model
        booster = harness.train("binary:logistic", n_features=4)
        src = os.path.join(self.tmp, "kn")
        harness.model_dir(src, booster, "ubj")
        _mid, mv = import_model(self.c, "kn", src)
        t0 = time.monotonic()
        s = self.c.ok("CreateModelService", {
            "ServiceGroupName": "kn", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": mv}})["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        say("CreateModelService: %s (group %s)" % (sid, gid))

        # The scheduler binds the ReplicaSet's pod to the node; the kubelet runs it.
        def running():
            for p in self.pods(sid):
                st = p.get("status", {})
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
                if st.get("phase") == "Running" and ready:
                    return p
            return None
        pod = harness.wait_until(running, 180, 0.5, what="a Running, Ready pod of %s (saw %s)" % (
            sid, [(p["metadata"]["name"], p.get("status", {}).get("phase")) for p in self.pods(sid)]))
        name = pod["metadata"]["name"]
        say("pod %s Running and Ready on node %s, IP %s, %.1f s after CreateModelService" % (
            name, pod["spec"]["nodeName"], pod["status"]["podIP"], time.monotonic() - t0))
        self.assertEqual(pod["spec"]["nodeName"], self.node["BERTH_K8S_NODE"])
        self.assertTrue(pod["spec"]["hostNetwork"])
        self.assertEqual(pod["status"]["podIP"], "127.0.0.1")
        (init,) = pod["status"]["initContainerStatuses"]
        self.assertEqual(init["state"]["terminated"]["exitCode"], 0)  # berth-serve fetch
        (serve,) = pod["status"]["containerStatuses"]
        self.assertTrue(serve["containerID"].startswith("docker://"), serve)
        owners = pod["metadata"]["ownerReferences"]
        self.assertEqual([o["kind"] for o in owners], ["ReplicaSet"])
        # The container is dockerd's.
        ps = subprocess.run(["/usr/bin/docker", "-H", self.node["DOCKER_HOST"], "ps", "--no-trunc", "--format",
                             "{{.ID}} {{.Image}} {{.Names}}"], capture_output=True, text=True, check=True).stdout
        say("docker ps:\n" + ps.rstrip())
        self.assertIn(serve["containerID"][len("docker://"):], ps)

        # On the node's network, berth-serve listens on the node's IP only.
        ss = subprocess.run(["ss", "-Hltn", "sport = :8501"], capture_output=True, text=True).stdout
        say("listening on 8501: %s" % " ".join(l.split()[3] for l in ss.splitlines()))
        self.assertEqual([l.split()[3] for l in ss.splitlines()], ["127.0.0.1:8501"])

        # berthd's view of it: Normal, with the real pod in PodInfos.
        def normal():
            d = self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
            infos = d["ServiceInfo"].get("PodInfos") or []
            return d if d["Status"] == "Normal" and [i["Name"] for i in infos] == [name] else None
        d = harness.wait_until(normal, 30, 0.2, what="%s Normal with pod %s" % (sid, name))
        (info,) = d["ServiceInfo"]["PodInfos"]
        say("DescribeModelService: Status %s, PodInfos %s" % (d["Status"], json.dumps(info)))
        self.assertEqual(info["IP"], "127.0.0.1:8501")

        # Through the gateway, routed by the cluster's EndpointSlice to the pod.
        X = harness.rows(8, 4)

        def predict():
            gw = harness.Client(self.d.gateway_port)
            try:
                r = gw.request("POST", "/%s/v1/models/kn:predict" % gid, json.dumps({"instances": X.tolist()}).encode(),
                               {"Content-Type": "application/json"})
                return json.loads(r.body)["predictions"] if r.status == 200 else None
            finally:
                gw.close()
        got = harness.wait_until(predict, 30, 0.2, what="a prediction through the gateway")
        harness.assert_close(got, harness.predict(booster, X))
        say("prediction through the gateway, %.1f s after CreateModelService: %s" % (
            time.monotonic() - t0, json.dumps([round(v, 6) for v in got])))

        # The kubelet's and the scheduler's own events of the pod, in DescribeEvents.
        def started():
            rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
            mine = [e for e in rows if e.get("ResourceName") == name]
            return mine if any(e["Message"] == "Started container serve" for e in mine) else None
        for e in harness.wait_until(started, 20, 0.2, what="the kubelet's events in DescribeEvents"):
            say("DescribeEvents: %s %s %s: %s" % (e["ResourceKind"], e["ResourceName"], e["Type"], e["Message"]))

        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        t1 = time.monotonic()
        harness.wait_until(lambda: not self.pods(sid), 60, 0.5, what="the pod to go")
        say("DeleteModelServiceGroup: pod gone in %.1f s" % (time.monotonic() - t1))


if __name__ == "__main__":
    unittest.main()
