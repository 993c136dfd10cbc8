#!/usr/bin/python3
"""Apply deploy/kubernetes/rbac.yaml's Role to the test bed: for each namespace given, create
it, the Role berth-driver with the manifest's rules, and a RoleBinding of it to the token user
`berth` (the manifest binds the berthd ServiceAccount; the bed's berthd authenticates as a
token user with exactly the same rights).

    k8s-rbac.py ENV_FILE RBAC_YAML NAMESPACE...
"""
import http.client
import json
import ssl
import sys
import urllib.parse

import yaml


def env_of(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                out[k] = v
    return out


def request(env, method, path, body):
    u = urllib.parse.urlsplit(env["BERTH_K8S_SERVER"])
    ctx = ssl.create_default_context(cafile=env["BERTH_K8S_CA"])
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    c.request(method, path, json.dumps(body), {"Authorization": "Bearer " + env["BERTH_K8S_ADMIN_TOKEN"],
                                               "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    if r.status not in (200, 201, 409):
        raise SystemExit("k8s-rbac.py: %s %s: %d %s" % (method, path, r.status, data[:300]))


def main():
    env = env_of(sys.argv[1])
    with open(sys.argv[2]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    role = next(d for d in docs if d["kind"] == "Role")
    for ns in sys.argv[3:]:
        request(env, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": ns}})
        r = dict(role, metadata={"name": role["metadata"]["name"], "namespace": ns})
        request(env, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles" % ns, r)
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "berth-driver", "namespace": ns},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": role["metadata"]["name"]},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                 "name": "berth"}]}
        request(env, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings" % ns,
                binding)


if __name__ == "__main__":
    main()
