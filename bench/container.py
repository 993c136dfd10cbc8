"""bench/container.py - create -> Normal on the container driver against the process driver, in
the same run (bench/container.sh runs it; see docs/benchmarks.md, "Containers").

The same program each time: the static HTTP server of tests/e2e/podman_env.py, as a custom
image (FROM scratch, pushed to a local docker-registry) deployed with ImageInfo through Podman's
Docker-compatible service, and as a Command run by the process driver. Measured from the
CreateModelService call to the first DescribeModelService (polled every 20 ms) that says
Normal, i.e. ready and in the gateway's routes:
  1. process driver (the reference);
  2. container, pull excluded: the image's layers are already in the engine's store (berthd
     still asks the registry whether the tag moved);
  3. container, pull included: the image removed from the engine before each round.
Everything on 127.0.0.1, bounded in time; only what it started is stopped."""

import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import api  # noqa: E402
import harness  # noqa: E402
import podman_env  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


class Bench:
    def __init__(self):
        self.env = podman_env.get("bench-container")
        self.tmp = harness.tempdir("bench-container")
        self.d = api.Berthd(os.path.join(self.tmp, "data"), self.tmp,
                            extra=["--engine-socket", self.env.socket])
        self.d.start()
        self.c = self.d.client()
        self.image = self.env.image("bench/srv", "v1")
        # The process driver runs the same binary, from the root fs the image was made of.
        self.binary = os.path.join(self.tmp, "srv")
        import shutil
        shutil.copy(os.path.join(self.env.tmp, "rootfs", "srv"), self.binary)
        os.chmod(self.binary, 0o755)

    def deploy(self, **what):
        p = {"ServiceGroupName": "b%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": "TI.S.MEDIUM.POST", "Replicas": 1}
        p.update(what)
        t0 = time.monotonic()
        sid = self.c.ok("CreateModelService", p)["Service"]["ServiceId"]
        while time.monotonic() - t0 < 60:
            if self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["Status"] == "Normal":
                dt = time.monotonic() - t0
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("%s did not become Normal" % sid)
        self.c.ok("DeleteModelService", {"ServiceId": sid})
        harness.wait_until(lambda: not [x for x in self.env.containers()
                                        if x["Labels"].get("berth.service") == sid], 30, 0.05,
                           what="its container gone")
        return dt

    def run(self):
        out = {"process": [], "container_cached": [], "container_pull": []}
        img = {"ImageInfo": {"ImageType": "CUSTOM", "ImageUrl": self.image}}
        self.deploy(**img)  # warm: the first pull, the engine's first container
        for _ in range(ROUNDS):
            out["process"].append(self.deploy(Command="exec %s" % self.binary))
            out["container_cached"].append(self.deploy(**img))
            self.env.podman("rmi", "-f", self.image)
            out["container_pull"].append(self.deploy(**img))
        return out

    def close(self):
        self.d.stop()
        self.d.cleanup()
        harness.rmtree(self.tmp)


def main():
    b = Bench()
    try:
        r = b.run()
    finally:
        b.close()
    ref = statistics.median(r["process"])
    rows = [("process driver (Command), the reference", "process"),
            ("container, pull excluded (layers cached)", "container_cached"),
            ("container, pull included", "container_pull")]
    print("| create -> Normal | median | runs | ÷ process driver |")
    print("| --- | ---: | --- | ---: |")
    for label, key in rows:
        med = statistics.median(r[key])
        print("| %s | %.3f s | %s | %.1f |" % (label, med, ", ".join("%.3f" % x for x in r[key]),
                                              med / ref))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "container.json"), "w") as f:
        json.dump(r, f, indent=1)


if __name__ == "__main__":
    main()
