"""berthd's management API envelope: TC3 signatures, the common headers, regions, and the
TI-ONE answer format (HTTP 200, Content-Type exactly application/json, RequestId, Error)."""

import json
import os
import stat
import time
import unittest

import api
import harness


class Signer(unittest.TestCase):
    """Our test signer against the reference's vector B1, so the tests below mean something."""

    def test_reference_vector_b1(self):
        body = ('{"ServiceGroupName":"demo-hpa","ChargeType":"POSTPAID_BY_HOUR","InstanceType":'
                '"TI.S.MEDIUM.POST","ImageInfo":{"ImageType":"CUSTOM","ImageUrl":"registry.local/ti/'
                'tfserving:2.11"},"ModelInfo":{"ModelVersionId":"mv-v1-0001"},"ScaleMode":"AUTO",'
                '"ScaleStrategy":"HPA","HorizontalPodAutoscaler":{"MinReplicas":1,"MaxReplicas":3,'
                '"HpaMetrics":[{"Name":"cpu-util","Value":60}]}}').encode()
        self.assertEqual(len(body), 369)
        auth = api.sign("AKIDLOCALTEST0000000000000000000000", "LocalTestSecretKey00000000000000",
                        body, 1767284100, "127.0.0.1:7700")
        self.assertTrue(auth.endswith("Signature=b46d096e913d497fce0242aca87fc004bb7227f9f129e994c34fe801cb8ff132"), auth)


class Envelope(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t1000")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_credentials_file(self):
        path = os.path.join(self.d.data_dir, "credentials")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        cred = self.d.credentials()
        self.assertEqual(sorted(cred), ["secretId", "secretKey"])
        self.assertTrue(cred["secretId"].startswith("AKID"))
        self.assertGreaterEqual(len(cred["secretKey"]), 32)
        db = os.path.join(self.d.data_dir, "berth.db")
        self.assertEqual(stat.S_IMODE(os.stat(db).st_mode) & 0o077, 0, "the store holds secrets")

    def test_success_envelope(self):
        status, ctype, doc = self.c.raw("DescribeTrainingModels", {})
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "application/json")
        self.assertEqual(list(doc), ["Response"])
        self.assertEqual(doc["Response"]["TotalCount"], 0)
        self.assertIn("RequestId", doc["Response"])

    def test_request_ids_differ(self):
        a = self.c.ok("DescribeTrainingModels")["RequestId"]
        b = self.c.ok("DescribeTrainingModels")["RequestId"]
        self.assertNotEqual(a, b)

    def check_error(self, code, needle, action="DescribeTrainingModels", body=None, **kw):
        status, ctype, doc = self.c.raw(action, {} if body is None else body, **kw)
        self.assertEqual(status, 200, doc)
        self.assertEqual(ctype, "application/json")
        err = doc["Response"].get("Error")
        self.assertIsNotNone(err, doc)
        self.assertEqual(err["Code"], code, err)
        self.assertIn(needle.lower(), err["Message"].lower(), err)
        self.assertIn("RequestId", doc["Response"])
        return err

    def test_bad_signature(self):
        self.check_error("AuthFailure.SignatureFailure", "credentials", key="WrongKey" * 4)

    def test_tampered_body(self):
        # Signed one body, sent another.
        ts = int(time.time())
        host = "127.0.0.1:%d" % self.d.port
        auth = api.sign(self.c.secret_id, self.c.secret_key, b"{}", ts, host)
        self.check_error("AuthFailure.SignatureFailure", "", body={"Limit": 5},
                         headers={"Authorization": auth}, timestamp=ts)

    def test_stale_and_future_timestamps(self):
        self.check_error("AuthFailure.SignatureExpire", "5 minutes", timestamp=int(time.time()) - 400)
        self.check_error("AuthFailure.SignatureExpire", "5 minutes", timestamp=int(time.time()) + 400)

    def test_credential_date_must_be_utc_date(self):
        ts = int(time.time())
        wrong = time.strftime("%Y-%m-%d", time.gmtime(ts + 86400))
        self.check_error("AuthFailure.SignatureFailure", "UTC date", date=wrong, timestamp=ts)

    def test_unknown_secret_id(self):
        self.check_error("AuthFailure.SecretIdNotFound", "AKIDnobody", secret_id="AKIDnobody")

    def test_malformed_authorization(self):
        self.check_error("AuthFailure.InvalidAuthorization", "TC3-HMAC-SHA256",
                         headers={"Authorization": "HMAC-SHA1 whatever"})
        self.check_error("AuthFailure.InvalidAuthorization", "Authorization", drop=("Authorization",))

    def test_common_headers(self):
        self.check_error("MissingParameter", "X-TC-Action", drop=("X-TC-Action",))
        self.check_error("MissingParameter", "X-TC-Region", drop=("X-TC-Region",))
        self.check_error("MissingParameter", "X-TC-Timestamp", drop=("X-TC-Timestamp",))
        self.check_error("NoSuchVersion", "2021-11-11", headers={"X-TC-Version": "2017-03-12"})
        self.check_error("InvalidAction", "NoSuchAction", action="NoSuchAction")

    def test_body_errors(self):
        self.check_error("InvalidParameter", "JSON", body="{not json")
        self.check_error("InvalidParameter", "object", body="[1, 2]")
        self.check_error("UnknownParameter", "Bogus", body={"Bogus": 1})
        self.check_error("InvalidParameter", "Limit", body={"Limit": "ten"})
        self.check_error("InvalidParameterValue", "Limit", body={"Limit": 0})

    def test_node_sdk_host_without_port(self):
        # The Node.js SDK signs the host name alone but sends host:port.
        resp = self.c.ok("DescribeTrainingModels", sign_host="127.0.0.1")
        self.assertEqual(resp["TotalCount"], 0)

    def test_service_from_the_endpoint_name(self):
        # SDKs derive the scope's service from the endpoint host; verify what was signed.
        self.c.ok("DescribeTrainingModels", service="127")

    def test_signed_action_header(self):
        ts = int(time.time())
        host = "127.0.0.1:%d" % self.d.port
        body = b"{}"
        auth = api.sign(self.c.secret_id, self.c.secret_key, body, ts, host,
                        extra_signed={"x-tc-action": "DescribeTrainingModels"})
        status, _, doc = self.c.raw("DescribeTrainingModels", body, timestamp=ts,
                                    headers={"Authorization": auth})
        self.assertNotIn("Error", doc["Response"], doc)
        # The same signature does not cover another action.
        status, _, doc = self.c.raw("DescribeTrainingModelVersions", body, timestamp=ts,
                                    headers={"Authorization": auth})
        self.assertEqual(doc["Response"]["Error"]["Code"], "AuthFailure.SignatureFailure")

    def test_charset_content_type_is_signed_as_sent(self):
        self.c.ok("DescribeTrainingModels", content_type="application/json; charset=utf-8")

    def test_get_is_refused(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
        c.request("GET", "/")
        r = c.getresponse()
        doc = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(doc["Response"]["Error"]["Code"], "UnsupportedProtocol")

    def test_every_answer_is_in_the_envelope(self):
        # Another path, another method, HEAD, a path that is not UTF-8: the TI-ONE envelope with
        # HTTP 200 and a RequestId, never {"error": ...}. (GET /healthz, /readyz, /metrics and
        # /sd/instances are berthd's own: t1930; other methods there are the API's.)
        import http.client
        cases = [("GET", "/nothing", "/nothing"), ("POST", "/healthz", "/healthz"),
                 ("POST", "/v1/models", "/v1/models"),
                 ("DELETE", "/", "DELETE"), ("PUT", "/x", "/x"), ("POST", "/%ff", "/%ff"),
                 ("HEAD", "/nothing", None), ("HEAD", "/", None)]
        for method, path, needle in cases:
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
            c.request(method, path, body=b"{}" if method in ("POST", "PUT") else None)
            r = c.getresponse()
            data = r.read()
            c.close()
            self.assertEqual((r.status, r.getheader("Content-Type")), (200, "application/json"),
                             (method, path, data))
            if method == "HEAD":
                self.assertEqual(data, b"")
                self.assertGreater(int(r.getheader("Content-Length")), 0)
                continue
            doc = json.loads(data)
            self.assertEqual(list(doc), ["Response"], (method, path, doc))
            self.assertEqual(doc["Response"]["Error"]["Code"], "UnsupportedProtocol", doc)
            self.assertIn(needle, doc["Response"]["Error"]["Message"])
            self.assertRegex(doc["Response"]["RequestId"], r"^[0-9a-f-]{36}$")
        # Raw bytes that are not UTF-8 in the path: still JSON, still the envelope.
        import socket
        with socket.create_connection(("127.0.0.1", self.d.port), timeout=10) as s:
            s.sendall(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw, closed = harness.recv_until_close(s, 10)
        self.assertTrue(closed, raw)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), raw)
        self.assertIn("Error", json.loads(body)["Response"], raw)

    def test_bad_region_name(self):
        self.check_error("InvalidParameterValue", "region", region="Not A Region")


class DataDir(unittest.TestCase):
    def test_second_berthd_refuses_and_regions_are_limited(self):
        tmp = harness.tempdir("t1000b")
        d = api.Berthd(os.path.join(tmp, "data"), tmp,
                       extra=["--region", "ap-guangzhou", "--region", "ap-shanghai"]).start()
        try:
            second = api.run_exit([api.berthd_path(), "--data-dir", d.data_dir, "--api-listen",
                                   "127.0.0.1:%d" % harness.free_port(), "--gateway-listen",
                                   "127.0.0.1:%d" % harness.free_port()])
            self.assertNotEqual(second[0], 0)
            self.assertIn("another berthd is running", second[1])
            c = d.client(region="ap-shanghai")
            c.ok("DescribeTrainingModels")
            err = c.error("DescribeTrainingModels", region="ap-beijing")
            self.assertEqual(err["Code"], "InvalidParameterValue")
            self.assertIn("ap-beijing", err["Message"])
            d.stop()
        finally:
            d.cleanup()
        harness.rmtree(tmp)

    def test_help_and_bad_flags(self):
        rc, out = api.run_exit([api.berthd_path(), "--help"])
        self.assertEqual(rc, 0)
        for flag in ("--data-dir", "--api-listen", "--gateway-listen", "--gateway-threads", "--region",
                     "--config"):
            self.assertIn(flag, out)
        rc, out = api.run_exit([api.berthd_path(), "--data-dir", "/tmp/unused", "--gateway-threads", "0"])
        self.assertEqual(rc, 2)
        self.assertIn("--gateway-threads", out)
        rc, out = api.run_exit([api.berthd_path(), "--nope", "1"])
        self.assertEqual(rc, 2)
        self.assertIn("--nope", out.replace("'nope'", "--nope"))
        rc, out = api.run_exit([api.berthd_path()])
        self.assertEqual(rc, 2)
        self.assertIn("--data-dir", out)

    def test_config_file(self):
        tmp = harness.tempdir("t1000c")
        port = harness.free_port()
        cfg = os.path.join(tmp, "berthd.conf")
        with open(cfg, "w") as f:
            f.write("# berthd config\ndata-dir = %s/data\napi-listen = 127.0.0.1:%d\n"
                    "gateway-listen = 127.0.0.1:%d\n" % (tmp, port, harness.free_port()))
        d = api.Berthd(os.path.join(tmp, "data"), tmp)
        import subprocess
        p = subprocess.Popen([api.berthd_path(), "--config", cfg], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            harness.wait_until(lambda: os.path.exists(os.path.join(tmp, "data", "credentials")), 10)
            d.port = port
            harness.wait_until(lambda: self._answers(d), 10, what="berthd from --config answers")
        finally:
            p.terminate()
            self.assertEqual(p.wait(5), 0)
        with open(cfg, "a") as f:
            f.write("bogus-key = 1\n")
        rc, out = api.run_exit([api.berthd_path(), "--config", cfg])
        self.assertEqual(rc, 2)
        self.assertIn("berthd.conf:5", out)
        harness.rmtree(tmp)

    @staticmethod
    def _answers(d):
        try:
            d.client().ok("DescribeTrainingModels")
            return True
        except (OSError, AssertionError):
            return False
