"""docs/quickstart.md as a user runs it, with a real client: Tencent Cloud's Node.js SDK
(tencentcloud-sdk-nodejs-common, from examples/node's lock file) drives berthd through
examples/node/quickstart.js on models examples/train.py makes: two imported versions, both
deployed in one group, weights 80/20, and calls through the gateway that split that way."""

import json
import os
import shutil
import subprocess
import unittest

import api
import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_DIR = os.path.join(ROOT, "examples", "node")


class Quickstart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2810")

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_node_sdk_quickstart(self):
        node = shutil.which("node")
        self.assertIsNotNone(node, "node is not installed (scripts/deps.sh test installs it)")
        self.assertTrue(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "tencentcloud-sdk-nodejs-common")),
                        "examples/node has no node_modules (scripts/deps.sh test installs them)")
        models = os.path.join(self.tmp, "models")
        p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "examples", "train.py"), models],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        env = dict(os.environ, BERTH_ENDPOINT="127.0.0.1:%d" % self.d.port,
                   BERTH_CREDENTIALS=os.path.join(self.d.data_dir, "credentials"))
        env.pop("TENCENTCLOUD_SECRET_ID", None)
        p = subprocess.run([node, "quickstart.js", os.path.join(models, "v1"), os.path.join(models, "v2")],
                           cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=240)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        steps = {o["step"]: o for o in map(json.loads, p.stdout.splitlines())}
        self.assertEqual(list(steps), ["imported", "deployed", "weights", "called"])
        group = steps["deployed"]["group"]
        self.assertEqual(steps["weights"]["weights"], [[group + "-1", 80], [group + "-2", 20]])
        # The SDK's calls landed: the group is there as the API tells it.
        g = self.c.ok("DescribeModelServiceGroup", {"ServiceGroupId": group})["ServiceGroup"]
        self.assertEqual(sorted(s["Weight"] for s in g["Services"]), [20, 80])
        # 50 calls, two versions that answer differently, split 80/20.
        answers = sorted(steps["called"]["answers"].values())
        self.assertEqual(sum(answers), 50)
        self.assertEqual(len(answers), 2, answers)
        self.assertTrue(5 <= answers[0] <= 15, answers)
        self.assertTrue(steps["called"]["url"].startswith("http://127.0.0.1:%d/%s/" % (self.d.gateway_port, group)))


if __name__ == "__main__":
    unittest.main()
