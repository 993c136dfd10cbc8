"""berthd with the kubernetes driver (issue 15) against a real kube-apiserver with etcd
(scripts/k8s-cluster.sh; `make test-k8s` starts it and names its env file in BERTH_K8S_ENV:
without it these tests are skipped). berthd runs as user berth, who holds only
deploy/kubernetes/rbac.yaml's Role. No controller-manager, scheduler or kubelet runs, so the
test writes what they would (Pods and their status, the Deployment's status, EndpointSlices,
Kubernetes events) as the cluster's admin, and checks what berthd makes of it: the status and
PodInfos, DescribeEvents, and the gateway's routes to the slices' ready endpoints."""

import http.client
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
import unittest

import api
import harness

NS = "berth-a"


def bed_env():
    path = os.environ.get("BERTH_K8S_ENV")
    if not path or not os.path.exists(path):
        return None
    env = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    env["_path"] = path
    return env


class Kube:
    """The cluster as its admin sees it: what a kubelet and controllers would write."""

    def __init__(self, env):
        self.server = env["BERTH_K8S_SERVER"]
        self.token = env["BERTH_K8S_ADMIN_TOKEN"]
        self.ctx = ssl.create_default_context(cafile=env["BERTH_K8S_CA"])
        host, port = self.server[len("https://"):].rsplit(":", 1)
        self.host, self.port = host, int(port)

    def call(self, method, path, body=None, ctype="application/json"):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        try:
            headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = ctype
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
            return r.status, json.loads(text) if text else None
        finally:
            c.close()

    def get(self, path):
        status, obj = self.call("GET", path)
        return obj if status == 200 else None

    def ok(self, method, path, body=None, ctype="application/json"):
        status, obj = self.call(method, path, body, ctype)
        assert 200 <= status < 300, (method, path, status, obj)
        return obj

    def merge(self, path, body):
        return self.ok("PATCH", path, body, "application/merge-patch+json")


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Pod(http.server.BaseHTTPRequestHandler):
    """What a pod of the image would answer: its name, so the test sees who served."""

    def do_GET(self):
        body = json.dumps({"served_by": self.server.name, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def pod_server(name):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pod)
    srv.name = name
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class KubeBase(unittest.TestCase):
    extra = []

    @classmethod
    def setUpClass(cls):
        cls.env = bed_env()
        if cls.env is None:
            raise unittest.SkipTest("needs the Kubernetes test bed: make test-k8s")
        cls.k = Kube(cls.env)
        cls.tmp = harness.tempdir("t2900")
        cls.model_url = model_url = "http://127.0.0.1:%d" % harness.free_port()
        api.start_berthd(cls, extra=["--kubeconfig", cls.env["BERTH_K8S_KUBECONFIG"],
                                     "--kube-namespace", NS, "--model-runtime", "kubernetes",
                                     "--model-runtime-image", "registry.test/berth-serve:1",
                                     "--kube-model-url", model_url,
                                     # user berth has no rights in default: a region that fails
                                     "--kube-namespace", "ap-shanghai=default"] + cls.extra)
        cls.servers = []

    @classmethod
    def tearDownClass(cls):
        for s in vars(cls).get("servers", []):
            s.shutdown()
        api.stop_berthd(cls)

    def create(self, **kw):
        p = {"ServiceGroupName": "k%d" % int(time.time() * 1000 % 1e9),
             "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
             "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "registry.test/demo:1"},
             "Replicas": 1, "Env": [{"Name": "GREETING", "Value": "hi"}]}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def describe(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def wait_status(self, sid, want, timeout=20):
        seen = []

        def check():
            s = self.describe(sid)
            seen.append((s["Status"], s["ServiceInfo"]["Status"]["Reason"]))
            return s if s["Status"] == want else None
        return harness.wait_until(check, timeout, 0.1, what="%s to be %s (saw %s)" % (sid, want, seen[-3:]))

    def deployment(self, sid, ns=NS):
        return self.k.get("/apis/apps/v1/namespaces/%s/deployments/berth-%s" % (ns, sid))

    def wait_deployment(self, sid, pred=lambda d: True, timeout=15, ns=NS):
        return harness.wait_until(lambda: (lambda d: d if d and pred(d) else None)(self.deployment(sid, ns)),
                                  timeout, 0.1, what="the Deployment of %s" % sid)

    def run_pod(self, sid, name, ready=True, ip="127.0.0.1"):
        """A pod of the Deployment's template, as the ReplicaSet controller makes it and the
        kubelet reports it."""
        d = self.deployment(sid)
        tmpl = d["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": tmpl["metadata"]["labels"]},
               "spec": tmpl["spec"]}
        self.k.ok("POST", "/api/v1/namespaces/%s/pods" % NS, pod)
        self.pod_status(name, ready, ip)

    def pod_status(self, name, ready, ip="127.0.0.1", restarts=0, waiting=None):
        state = {"waiting": {"reason": waiting, "message": "image pull failed"}} if waiting else \
            {"running": {"startedAt": now_rfc3339()}}
        self.k.merge("/api/v1/namespaces/%s/pods/%s/status" % (NS, name), {"status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now_rfc3339(),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "serve", "ready": ready, "restartCount": restarts,
                                   "image": "registry.test/demo:1", "imageID": "", "state": state}]}})

    def slice(self, sid, endpoints, name=None):
        """The EndpointSlice the controller keeps for the version's Service."""
        api_v = "discovery.k8s.io/v1beta1"
        if self.k.get("/apis/discovery.k8s.io/v1"):
            api_v = "discovery.k8s.io/v1"
        name = name or "berth-%s-x1" % sid
        body = {"apiVersion": api_v, "kind": "EndpointSlice",
                "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "berth-" + sid}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": endpoints[0][1] if endpoints else 1, "protocol": "TCP"}],
                "endpoints": [{"addresses": [h], "conditions": {"ready": r}} for h, _, r in endpoints]}
        path = "/apis/%s/namespaces/%s/endpointslices" % (api_v, NS)
        if self.k.get(path + "/" + name):
            self.k.ok("DELETE", path + "/" + name)
        self.k.ok("POST", path, body)

    def gateway(self, gid, path="/"):
        c = harness.Client(self.d.gateway_port)
        try:
            return c.get("/%s%s" % (gid, path))
        finally:
            c.close()


class Deploy(KubeBase):
    def test_a_create_makes_the_objects_with_the_fields(self):
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        d = self.wait_deployment(sid)
        meta = d["metadata"]
        self.assertEqual(meta["labels"]["berth.io/service"], sid)
        self.assertEqual(meta["labels"]["berth.io/service-group"], gid)
        self.assertEqual(meta["labels"]["app.kubernetes.io/managed-by"], "berth")
        self.assertTrue(meta["labels"]["berth.io/owner"])
        self.assertEqual(d["spec"]["replicas"], 1)
        self.assertEqual(d["spec"]["strategy"]["rollingUpdate"], {"maxSurge": 1, "maxUnavailable": 0})
        (ct,) = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual(ct["image"], "registry.test/demo:1")
        env = {e["name"]: e.get("value") for e in ct["env"]}
        self.assertEqual(env["GREETING"], "hi")
        self.assertEqual(ct["resources"]["limits"], {"cpu": "2", "memory": "4Gi"})
        self.assertEqual(ct["resources"]["requests"], ct["resources"]["limits"])
        svc = harness.wait_until(lambda: self.k.get("/api/v1/namespaces/%s/services/berth-%s" % (NS, sid)), 10)
        self.assertEqual(svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"])
        # Nothing runs yet: no pod.
        st = self.wait_status(sid, "Pending")
        self.assertEqual(st["ServiceInfo"]["PodInfos"] or [], [])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.deployment(sid) is None, 15, 0.1, what="the Deployment to go")

    def test_b_status_pods_events_and_routes_follow_the_cluster(self):
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_deployment(sid)
        pod = "berth-%s-5d9c-a1" % sid
        self.run_pod(sid, pod, ready=False)
        st = self.wait_status(sid, "Waiting")
        (info,) = st["ServiceInfo"]["PodInfos"]
        self.assertEqual(info["Name"], pod)
        self.pod_status(pod, ready=True)
        st = self.wait_status(sid, "Normal")
        (info,) = st["ServiceInfo"]["PodInfos"]
        self.assertEqual(info["IP"], "127.0.0.1:8501")
        # The gateway routes to the slice's ready endpoints, and only those.
        a, b = pod_server("a"), pod_server("b")
        self.servers += [a, b]
        self.slice(sid, [("127.0.0.1", a.server_address[1], True)])

        def served_by():
            r = self.gateway(gid, "/v1/ping")
            return json.loads(r.body)["served_by"] if r.status == 200 else None
        self.assertEqual(harness.wait_until(served_by, 10, 0.1, what="the gateway to route"), "a")
        self.slice(sid, [("127.0.0.1", b.server_address[1], True), ("127.0.0.2", 9, False)])
        harness.wait_until(lambda: served_by() == "b", 10, 0.1, what="the route to follow the slice")
        for _ in range(5):
            self.assertEqual(served_by(), "b")
        # A container that cannot start: Abnormal with the kubelet's reason.
        self.pod_status(pod, ready=False, waiting="ImagePullBackOff")
        st = self.wait_status(sid, "Abnormal")
        self.assertIn("ImagePullBackOff", st["ServiceInfo"]["Status"]["Reason"])
        # The cluster's events of the pod, in DescribeEvents.
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": "%s.1" % pod, "namespace": NS},
              "involvedObject": {"kind": "Pod", "name": pod, "namespace": NS, "apiVersion": "v1"},
              "reason": "BackOff", "message": "Back-off pulling image \"registry.test/demo:1\"",
              "type": "Warning", "count": 1, "firstTimestamp": now_rfc3339(),
              "lastTimestamp": now_rfc3339(), "source": {"component": "kubelet"}}
        self.k.ok("POST", "/api/v1/namespaces/%s/events" % NS, ev)

        def backoff():
            rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]
            return [e for e in rows if e["Message"].startswith("Back-off pulling")]
        (row,) = harness.wait_until(backoff, 10, 0.1, what="the cluster's event in DescribeEvents")
        self.assertEqual((row["ResourceKind"], row["ResourceName"], row["Type"], row["Count"]),
                         ("Pod", pod, "Warning", 1))
        # It happens twice more: the count follows.
        self.k.merge("/api/v1/namespaces/%s/events/%s.1" % (NS, pod), {"count": 3, "lastTimestamp": now_rfc3339()})
        harness.wait_until(lambda: backoff()[0]["Count"] == 3, 10, 0.1, what="the count to follow")
        rows = self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid,
                                            "Filters": [{"Name": "ResourceKind", "Values": ["Pod"]}]})
        self.assertIn(row["Id"], [e["Id"] for e in rows["Events"]])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.deployment(sid) is None, 15, 0.1, what="the Deployment to go")
        self.assertIsNone(self.k.get("/api/v1/namespaces/%s/services/berth-%s" % (NS, sid)))
        self.k.ok("DELETE", "/api/v1/namespaces/%s/pods/%s" % (NS, pod))

    def test_c_modify_scale_stop_resume(self):
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        d = self.wait_deployment(sid)
        hash1 = d["metadata"]["annotations"]["berth.io/spec-hash"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 3})
        d = self.wait_deployment(sid, lambda d: d["spec"]["replicas"] == 3)
        self.assertEqual(d["metadata"]["annotations"]["berth.io/spec-hash"], hash1)  # no roll
        gen = d["metadata"]["generation"]
        self.c.ok("ModifyModelService", {"ServiceId": sid, "Env": [{"Name": "GREETING", "Value": "hello"}],
                                         "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "registry.test/demo:2"}})
        d = self.wait_deployment(sid, lambda d: d["metadata"]["annotations"]["berth.io/spec-hash"] != hash1)
        (ct,) = d["spec"]["template"]["spec"]["containers"]
        self.assertEqual(ct["image"], "registry.test/demo:2")
        self.assertIn({"name": "GREETING", "value": "hello"}, ct["env"])
        self.assertGreater(d["metadata"]["generation"], gen)
        self.assertEqual(d["spec"]["replicas"], 3)
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_deployment(sid, lambda d: d["spec"]["replicas"] == 0)
        self.wait_status(sid, "Stopped")
        self.assertIsNotNone(self.k.get("/api/v1/namespaces/%s/services/berth-%s" % (NS, sid)))  # kept
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.wait_deployment(sid, lambda d: d["spec"]["replicas"] == 3)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.deployment(sid) is None, 15, 0.1, what="the Deployment to go")

    def test_d_forbidden_shows_as_the_reason(self):
        c = self.d.client("ap-shanghai")
        s = c.ok("CreateModelService", {
            "ServiceGroupName": "denied", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "registry.test/demo:1"}, "Replicas": 1})["Service"]
        sid = s["ServiceId"]

        def failed():
            st = c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
            return st if st["Status"] == "CREATE_FAILED" else None
        st = harness.wait_until(failed, 15, 0.1, what="CREATE_FAILED")
        reason = st["ServiceInfo"]["Status"]["Reason"]
        self.assertIn("forbidden", reason.lower())
        self.assertIn('"berth"', reason)  # the server's own words name the user
        self.assertIsNone(self.deployment(sid, ns="default"))
        c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_e_server_down_mid_change_then_back(self):
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_deployment(sid)
        bed = os.path.dirname(self.env["_path"])
        script = os.path.join(harness.REPO, "scripts", "k8s-cluster.sh")
        subprocess.run([script, "stop-apiserver", bed], check=True, timeout=30)
        try:
            self.c.ok("ModifyModelService", {"ServiceId": sid, "Env": [{"Name": "GREETING", "Value": "later"}],
                                             "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "registry.test/demo:3"}})
            self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "SCALE", "Replicas": 2})

            def says_unreachable():
                st = self.describe(sid)
                return st if "127.0.0.1" in st["ServiceInfo"]["Status"]["Reason"] else None
            st = harness.wait_until(says_unreachable, 20, 0.2, what="the reason to name the server")
            self.assertNotEqual(st["Status"], "CREATE_FAILED")
        finally:
            subprocess.run([script, "start-apiserver", bed], check=True, timeout=90)
        d = self.wait_deployment(sid, lambda d: d["spec"]["replicas"] == 2 and
                                 d["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.test/demo:3",
                                 timeout=60)
        self.assertIn({"name": "GREETING", "value": "later"}, d["spec"]["template"]["spec"]["containers"][0]["env"])
        # Whole: the Service is there, and the status comes back from the watches.
        self.assertIsNotNone(self.k.get("/api/v1/namespaces/%s/services/berth-%s" % (NS, sid)))
        harness.wait_until(lambda: self.describe(sid)["ServiceInfo"]["Status"]["Reason"] == "", 60, 0.2,
                           what="the reason to clear")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.deployment(sid) is None, 15, 0.1, what="the Deployment to go")

    def test_f_own_leftovers_go_others_stay_restart_changes_nothing(self):
        s = self.create()
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        d = self.wait_deployment(sid)
        owner = d["metadata"]["labels"]["berth.io/owner"]

        def leftover(name, owner_label):
            labels = {"berth.io/service": name[len("berth-"):], "berth.io/owner": owner_label, "app": name}
            return {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"containers": [{"name": "c", "image": "registry.test/x:1"}]}}}}
        path = "/apis/apps/v1/namespaces/%s/deployments" % NS
        for name in ("berth-ms-gone-1", "berth-ms-other-1"):  # a failed run's
            self.k.call("DELETE", path + "/" + name)
        self.k.ok("POST", path, leftover("berth-ms-gone-1", owner))          # this berthd's, no version
        self.k.ok("POST", path, leftover("berth-ms-other-1", "0123456789abcdef"))  # another berthd's
        try:
            harness.wait_until(lambda: self.k.get(path + "/berth-ms-gone-1") is None, 20, 0.2,
                               what="berthd to remove its leftover")
            self.assertIsNotNone(self.k.get(path + "/berth-ms-other-1"))
            gen = self.deployment(sid)["metadata"]["generation"]
            self.d.stop()
            self.d.start()
            self.__class__.c = self.c = self.d.client()
            self.wait_status(sid, "Pending")
            time.sleep(1)
            self.assertEqual(self.deployment(sid)["metadata"]["generation"], gen)
            self.assertIsNotNone(self.k.get(path + "/berth-ms-other-1"))
        finally:
            self.k.call("DELETE", path + "/berth-ms-other-1")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.deployment(sid) is None, 15, 0.1, what="the Deployment to go")

    def test_g_cpu_hpa_is_the_clusters_autoscaler(self):
        hpa = {"MinReplicas": 1, "MaxReplicas": 4, "HpaMetrics": [{"Name": "cpu-util", "Value": 60}]}
        s = self.create(ScaleMode="AUTO", ScaleStrategy="HPA", HorizontalPodAutoscaler=hpa)
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        self.wait_deployment(sid)
        api_v = "autoscaling/v2" if self.k.get("/apis/autoscaling/v2") else "autoscaling/v2beta2"
        path = "/apis/%s/namespaces/%s/horizontalpodautoscalers/berth-%s" % (api_v, NS, sid)
        h = harness.wait_until(lambda: self.k.get(path), 10, 0.1, what="the HorizontalPodAutoscaler")
        spec = h["spec"]
        self.assertEqual((spec["minReplicas"], spec["maxReplicas"]), (1, 4))
        self.assertEqual(spec["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment",
                                                  "name": "berth-" + sid})
        (m,) = spec["metrics"]
        self.assertEqual((m["resource"]["name"], m["resource"]["target"]["averageUtilization"]), ("cpu", 60))
        # The cluster's autoscaler owns the count: it scales to 3, and berthd leaves it there.
        self.k.merge("/apis/apps/v1/namespaces/%s/deployments/berth-%s/scale" % (NS, sid), {"spec": {"replicas": 3}})
        time.sleep(2)
        self.assertEqual(self.deployment(sid)["spec"]["replicas"], 3)
        # What the cluster cannot run is refused before it is stored.
        for bad in ({"MinReplicas": 1, "MaxReplicas": 4,
                     "HpaMetrics": [{"Name": "cpu-util", "Value": 60}, {"Name": "service-qps", "Value": 5}]},
                    {"MinReplicas": 0, "MaxReplicas": 4, "HpaMetrics": [{"Name": "cpu-util", "Value": 60}]}):
            e = self.c.error("CreateModelService", {
                "ServiceGroupName": "badhpa", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
                "ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": "registry.test/demo:1"},
                "ScaleMode": "AUTO", "ScaleStrategy": "HPA", "HorizontalPodAutoscaler": bad})
            self.assertEqual(e["Code"], "UnsupportedOperation", e)
            self.assertIn("HorizontalPodAutoscaler", e["Message"])
        self.assertEqual([g for g in self.c.ok("DescribeModelServiceGroups", {})["ServiceGroups"]
                          if g["ServiceGroupName"] == "badhpa"], [])
        # STOP: no autoscaler is left to bring it back; RESUME starts it from its own count.
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "STOP"})
        self.wait_deployment(sid, lambda d: d["spec"]["replicas"] == 0)
        harness.wait_until(lambda: self.k.get(path) is None, 15, 0.1, what="the HPA to go on STOP")
        self.wait_status(sid, "Stopped")
        self.c.ok("ModifyModelService", {"ServiceId": sid, "ServiceAction": "RESUME"})
        self.wait_deployment(sid, lambda d: d["spec"]["replicas"] >= 1)
        harness.wait_until(lambda: self.k.get(path), 15, 0.1, what="the HPA to come back")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.k.get(path) is None, 15, 0.1, what="the HPA to go")

    def test_h_model_service_pods_fetch_their_files_and_answer(self):
        from t1200_api_services import import_model
        booster = harness.train("binary:logistic", n_features=4)
        src = os.path.join(self.tmp, "km")
        harness.model_dir(src, booster, "ubj")
        _mid, mv = import_model(self.c, "km", src)
        s = self.c.ok("CreateModelService", {
            "ServiceGroupName": "km", "ChargeType": "POSTPAID_BY_HOUR", "InstanceType": "TI.S.MEDIUM.POST",
            "ModelInfo": {"ModelVersionId": mv}})["Service"]
        sid, gid = s["ServiceId"], s["ServiceGroupId"]
        d = self.wait_deployment(sid)
        pod = d["spec"]["template"]["spec"]
        (serve,) = pod["containers"]
        self.assertEqual(serve["image"], "registry.test/berth-serve:1")
        self.assertIn("--model_config_file=/etc/berth/models.config", serve["args"])
        (fetch,) = pod["initContainers"]
        self.assertEqual(fetch["image"], "registry.test/berth-serve:1")
        self.assertEqual(fetch["args"][:3], ["fetch", "--from", "%s/model-files/v1/%s/" % (self.model_url, sid)])
        self.assertEqual(fetch["args"][3:], ["--into", "/data/model"])
        (env,) = fetch["env"]
        self.assertEqual(env["valueFrom"]["secretKeyRef"], {"name": "berth-%s-model" % sid, "key": "token"})
        import base64
        secret = self.k.get("/api/v1/namespaces/%s/secrets/berth-%s-model" % (NS, sid))
        token = base64.b64decode(secret["data"]["token"]).decode()
        config = base64.b64decode(secret["data"]["models.config"]).decode()
        self.assertIn("base_path: '/srv/base'", config)
        # What the init container does, against this berthd, with the Secret's token.
        into = os.path.join(self.tmp, "pod-model")
        url = "http://127.0.0.1:%d/model-files/v1/%s/" % (self.d.port, sid)
        run = lambda tok: subprocess.run([harness.bin_path(), "fetch", "--from", url, "--into", into],
                                         env=dict(os.environ, BERTH_MODEL_TOKEN=tok), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        bad = run("0" * 64)
        self.assertNotEqual(bad.returncode, 0, bad.stdout)
        p = run(token)
        self.assertEqual(p.returncode, 0, p.stdout)
        # What the serve container does with the Secret's config (its /srv/base/1 is that
        # directory), routed to by the gateway through the version's EndpointSlice.
        base = os.path.join(self.tmp, "pod-base")
        os.makedirs(base)
        os.symlink(into, os.path.join(base, "1"))
        cfg = os.path.join(self.tmp, "pod-models.config")
        with open(cfg, "w") as f:
            f.write(config.replace("/srv/base", base))
        port = harness.free_port()
        srv = subprocess.Popen([harness.bin_path(), "--rest_api_host=127.0.0.1", "--rest_api_port=%d" % port,
                                "--model_config_file=" + cfg], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.slice(sid, [("127.0.0.1", port, True)])
            X = harness.rows(8, 4)

            def predict():
                gw = harness.Client(self.d.gateway_port)
                try:
                    r = gw.request("POST", "/%s/v1/models/km:predict" % gid,
                                   json.dumps({"instances": X.tolist()}).encode(),
                                   {"Content-Type": "application/json"})
                    return json.loads(r.body)["predictions"] if r.status == 200 else None
                finally:
                    gw.close()
            got = harness.wait_until(predict, 20, 0.2, what="a prediction through the gateway")
            harness.assert_close(got, harness.predict(booster, X))
        finally:
            srv.terminate()
            srv.wait(10)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": gid})
        harness.wait_until(lambda: self.k.get("/api/v1/namespaces/%s/secrets/berth-%s-model" % (NS, sid)) is None,
                           15, 0.1, what="the Secret to go")


class Manifests(unittest.TestCase):
    """deploy/kubernetes/ as the API server validates it (server-side dry run of every object),
    and berthd's arguments as berthd itself reads them."""

    def test_every_object_is_valid_and_berthd_takes_its_args(self):
        env = bed_env()
        if env is None:
            raise unittest.SkipTest("needs the Kubernetes test bed: make test-k8s")
        import yaml
        k = Kube(env)
        docs = []
        for name in ("berthd.yaml", "rbac.yaml"):
            with open(os.path.join(harness.REPO, "deploy", "kubernetes", name)) as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
        plural = {"Namespace": "namespaces", "PersistentVolumeClaim": "persistentvolumeclaims",
                  "Deployment": "deployments", "Service": "services", "ServiceAccount": "serviceaccounts",
                  "Role": "roles", "RoleBinding": "rolebindings"}
        # For real (the bed is thrown away; without a controller-manager a namespace never ends).
        k.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "berth"}})
        for d in docs:
            group = "/api/v1" if d["apiVersion"] == "v1" else "/apis/" + d["apiVersion"]
            ns = d["metadata"].get("namespace")
            path = "%s%s/%s?dryRun=All" % (group, "/namespaces/" + ns if ns else "", plural[d["kind"]])
            status, body = k.call("POST", path, d)
            ok = (200, 201, 409) if d["kind"] == "Namespace" else (200, 201)
            self.assertIn(status, ok, (d["kind"], body))
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
        self.assertEqual(dep["spec"]["template"]["spec"]["serviceAccountName"], sa["metadata"]["name"])
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        # berthd reads them all: it gets as far as the cluster, which this is not.
        tmp = harness.tempdir("t2900m")
        try:
            args = [a.replace("/var/lib/berth", os.path.join(tmp, "data")) for a in args]
            p = subprocess.run([api.berthd_path()] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30, env=dict(os.environ, KUBERNETES_SERVICE_HOST=""))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"--kubeconfig: not in a cluster", p.stdout)
        finally:
            harness.rmtree(tmp)
