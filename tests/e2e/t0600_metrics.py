"""Prometheus metrics at /metrics and /monitoring/prometheus/metrics: well-formed text, request
counts by model and version that grow with requests, latency histograms."""

import os
import subprocess

import harness

MODEL = "mtrx"          # distinctive label values, so they cannot be confused with others
VERSIONS = (3, 7)
PATHS = ("/metrics", "/monitoring/prometheus/metrics")
PROMTOOL = "/usr/bin/promtool"


def labelled(labels, model, version=None):
    """Whether a sample's labels name `model` (whatever the label's key: model, model_name...)
    and, if given, `version` (in another label)."""
    vals = list(labels.values())
    if model not in vals:
        return False
    return version is None or str(version) in [v for v in vals if v != model]


class Metrics(harness.ServerCase):

    @classmethod
    def setUpClass(cls):
        harness.require_binary()
        tmp = cls.setup_tmp("t0600")
        base = os.path.join(tmp, MODEL)
        cls.m = {}
        for v in VERSIONS:
            b = harness.train("binary:logistic", n_features=4, seed=600 + v)
            cls.m[v] = harness.load_model(harness.write_version(base, v, b, "json"))
        cfg = harness.write_config_text(os.path.join(tmp, "models.config"), [
            {"name": MODEL, "base_path": base, "policy_text": "all {}"}])
        cls.srv = cls.start_server(["--model_config_file=%s" % cfg])
        cls.c = cls.client_for(cls.srv)
        cls.X = harness.rows(2, 4, seed=91)

    def scrape(self, path=PATHS[0]):
        r = self.c.get(path)
        self.assertEqual(r.status, 200, "%s: %r" % (path, r))
        self.assertIn("text/plain", r.headers.get("content-type", ""), r.headers)
        samples, types, problems = harness.parse_prometheus(r.text())
        self.assertEqual(problems, [], "%s is not well-formed Prometheus text:\n%s" % (path, r.text()[:3000]))
        return r.text(), samples, types

    def request_counts(self, samples, types, version):
        """Sum of the counter samples of request-count families labelled with MODEL and version."""
        total, names = 0.0, set()
        for name, labels, value in samples:
            fam = harness._family(name, types)
            if types.get(fam) != "counter" or "request" not in name:
                continue
            if name.endswith("_created"):
                continue
            if labelled(labels, MODEL, version):
                total += value
                names.add(fam)
        return total, names

    def latency_counts(self, samples, types, version):
        """_count of the histogram families labelled with MODEL and version."""
        out = {}
        for name, labels, value in samples:
            fam = harness._family(name, types)
            if types.get(fam) != "histogram" or name != fam + "_count":
                continue
            if labelled(labels, MODEL, version):
                out[fam] = out.get(fam, 0.0) + value
        return out

    def send(self, version, n_tfs, n_v2):
        for _ in range(n_tfs):
            self.c.post_json("/v1/models/%s/versions/%d:predict" % (MODEL, version), {"instances": self.X.tolist()})
        req = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": self.X.tolist()}]}
        for _ in range(n_v2):
            self.c.post_json("/v2/models/%s/versions/%d/infer" % (MODEL, version), req)

    def test_both_paths_well_formed(self):
        self.send(3, 1, 1)
        fams = []
        for p in PATHS:
            text, samples, types = self.scrape(p)
            self.assertTrue(samples, "%s has no samples" % p)
            fams.append(set(types))
        self.assertEqual(fams[0], fams[1], "both paths expose the same metrics")

    def test_request_counter_by_model_and_version(self):
        self.send(3, 1, 0)
        self.send(7, 1, 0)
        _, samples, types = self.scrape()
        before3, names = self.request_counts(samples, types, 3)
        self.assertTrue(names, "no counter with 'request' in its name labelled model=%s version=3:\n%s"
                        % (MODEL, "\n".join("%s%s %s" % s for s in samples[:60])))
        before7, _ = self.request_counts(samples, types, 7)
        self.send(3, 4, 3)
        _, samples, types = self.scrape(PATHS[1])
        after3, _ = self.request_counts(samples, types, 3)
        after7, _ = self.request_counts(samples, types, 7)
        self.assertGreaterEqual(after3 - before3, 7, "7 requests to version 3 (counters %s)" % sorted(names))
        self.assertEqual(after7, before7, "no request went to version 7")

    def test_latency_histogram(self):
        self.send(7, 2, 1)
        text, samples, types = self.scrape()
        before = self.latency_counts(samples, types, 7)
        self.assertTrue(before, "no histogram labelled model=%s version=7:\n%s" % (MODEL, text[:3000]))
        self.assertTrue(any(n.endswith("_bucket") and labelled(l, MODEL, 7) and l.get("le") == "+Inf"
                            for n, l, v in samples), "histogram needs an le=\"+Inf\" bucket")
        self.send(7, 3, 2)
        _, samples, types = self.scrape()
        after = self.latency_counts(samples, types, 7)
        grown = {f: after.get(f, 0) - c for f, c in before.items()}
        self.assertTrue(any(d >= 5 for d in grown.values()), "histogram counts grew by %r after 5 requests" % grown)
        for name, labels, value in samples:
            if name.endswith("_sum") and types.get(name[:-4]) == "histogram" and labelled(labels, MODEL, 7):
                self.assertGreater(value, 0, "latency sum should grow: %s%s" % (name, labels))

    def test_promtool_check(self):
        if not os.path.exists(PROMTOOL):
            self.skipTest("%s not installed" % PROMTOOL)
        self.send(3, 1, 1)
        for p in PATHS:
            text, _, _ = self.scrape(p)
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 0, "promtool check metrics %s:\n%s%s" % (p, r.stdout.decode(), r.stderr.decode()))
