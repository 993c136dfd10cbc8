"""Specs and their limits: the catalogue behind DescribeBillingSpecs and DescribeBillingSpecsPrice
(the built-in TI.S.* specs, specs the operator defines with --spec, a built-in repriced), its
errors, and the limits enforced in cgroups: a 1-CPU instance spinning 2 threads, with a child that
forked and left its process group spinning 2 more, uses at most 1.05 CPU in all, measured from
/proc; an instance that allocates past its memory is killed and reported (event and status
reason); a host without cgroups refuses to start instances, saying why; groups go with their
instances."""

import os
import subprocess
import tempfile
import time
import unittest

import api
import harness

SPIN_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void *spin(void *arg) { volatile unsigned long x = 0; (void)arg; for (;;) x++; return 0; }
static void run(int n) {
    pthread_t t;
    for (int i = 1; i < n; i++) pthread_create(&t, 0, spin, 0);
    spin(0);
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    if (argc > 3 && strcmp(argv[2], "--daemon") == 0) {
        pid_t p = fork();
        if (p == 0) {
            setsid();  /* out of the instance's process group and session */
            if (fork() == 0) {
                FILE *f = fopen(argv[3], "w");
                fprintf(f, "%d\n", (int)getpid());
                fclose(f);
                run(n);
            }
            _exit(0);
        }
        waitpid(p, 0, 0);
        return 0;
    }
    run(n);
    return 0;
}
"""

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def stat_field(pid, n):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[n - 3])


def cgroup_dirs(pid):
    """The cpu and memory group directories of a process (v1 or v2)."""
    out = {}
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else ["unified"]:
                out[c] = path
    return out


def read_pid(path, timeout=15):
    harness.wait_until(lambda: os.path.exists(path) and open(path).read().strip(), timeout, 0.05,
                       what=path)
    return int(open(path).read().strip())


class Base(unittest.TestCase):
    def create(self, itype, command, **kw):
        p = {"ServiceGroupName": "sp%d" % int(time.time() * 1000 % 1e9), "ChargeType": "POSTPAID_BY_HOUR",
             "InstanceType": itype, "Command": command, "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def fails(self, action, params, code, needle):
        e = self.c.error(action, params)
        self.assertEqual(e["Code"], code, e)
        self.assertIn(needle, e["Message"])
        return e

    def info(self, sid):
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]

    def events(self, sid):
        return self.c.ok("DescribeEvents", {"Service": "INFER", "ServiceId": sid})["Events"]

    def home(self, sid):
        return os.path.join(self.d.data_dir + "-instances", sid, "0", "home")


class Catalogue(Base):
    @classmethod
    def setUpClass(cls):
        api.start_berthd(cls, "t2300", extra=[
            "--spec", "BERTH.GPU.T4Q cpu=4 memory=20480 price=5000 gpu=0.25 gpu-type=T4",
            "--spec", "BERTH.HALF cpu=0.5 memory=512 price=9 currency=USD alias=half-core",
            "--spec", "TI.S.LARGE.POST cpu=4 memory=8192 price=150"])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_describe_billing_specs(self):
        specs = self.c.ok("DescribeBillingSpecs", {"ChargeType": "POSTPAID_BY_HOUR"})["Specs"]
        by = {s["SpecName"]: s for s in specs}
        names = [s["SpecName"] for s in specs]
        # Built-ins first, in their order, then the operator's.
        self.assertEqual(names[:2], ["TI.S.MEDIUM.POST", "TI.S.LARGE.POST"])
        self.assertEqual(names[-2:], ["BERTH.GPU.T4Q", "BERTH.HALF"])
        self.assertEqual(len([n for n in names if n.startswith("TI.S.")]), 10)
        m = by["TI.S.MEDIUM.POST"]
        self.assertEqual((m["SpecAlias"], m["SpecType"], m["Available"], m["GpuType"]),
                         ("2C4G", "CPU", True, ""))
        self.assertEqual(m["AvailableRegion"], [])
        self.assertEqual(m["SpecFeatures"], [])
        self.assertEqual(m["Resources"], {"Cpu": 2000, "Memory": 4096, "Gpu": 0, "RealGpu": 0, "GpuType": ""})
        self.assertEqual((m["PricePerHour"], m["Currency"]), (70, "CNY"))
        g = by["BERTH.GPU.T4Q"]
        self.assertEqual((g["SpecType"], g["GpuType"], g["SpecAlias"]), ("GPU", "T4", "4C20G T4*0.25"))
        self.assertEqual(g["Resources"], {"Cpu": 4000, "Memory": 20480, "Gpu": 100, "RealGpu": 25, "GpuType": "T4"})
        h = by["BERTH.HALF"]
        self.assertEqual((h["SpecAlias"], h["Resources"]["Cpu"], h["Currency"]), ("half-core", 500, "USD"))
        self.assertEqual(len(set(s["SpecId"] for s in specs)), len(specs))
        # Filters.
        cpu = self.c.ok("DescribeBillingSpecs", {"ChargeType": "POSTPAID_BY_HOUR", "ResourceType": "CPU"})["Specs"]
        self.assertNotIn("BERTH.GPU.T4Q", [s["SpecName"] for s in cpu])
        self.assertEqual(len(cpu), len(specs) - 1)
        gpu = self.c.ok("DescribeBillingSpecs", {"ChargeType": "POSTPAID_BY_HOUR", "ResourceType": "GPU",
                                                 "TaskType": "INFERENCE"})["Specs"]
        self.assertEqual([s["SpecName"] for s in gpu], ["BERTH.GPU.T4Q"])
        for p in ({"ChargeType": "PREPAID"}, {"ChargeType": "POSTPAID_BY_HOUR", "TaskType": "TRAIN"},
                  {"ChargeType": "POSTPAID_BY_HOUR", "ResourceType": "GPU-SW"}):
            self.assertEqual(self.c.ok("DescribeBillingSpecs", p)["Specs"], [], p)
        self.assertEqual(self.c.ok("DescribeBillingSpecs", {"ChargeType": "POSTPAID_BY_HOUR", "TiProjectId": "1"})
                         ["Specs"], specs)

    def test_describe_billing_specs_errors(self):
        self.fails("DescribeBillingSpecs", {}, "MissingParameter", "ChargeType")
        self.fails("DescribeBillingSpecs", {"ChargeType": "MONTHLY"}, "InvalidParameterValue", "ChargeType")
        self.fails("DescribeBillingSpecs", {"ChargeType": "PREPAID", "TaskType": "X"},
                     "InvalidParameterValue", "TaskType")
        self.fails("DescribeBillingSpecs", {"ChargeType": "PREPAID", "ResourceType": "TPU"},
                     "InvalidParameterValue", "ResourceType")
        self.fails("DescribeBillingSpecs", {"ChargeType": "PREPAID", "Zone": "x"}, "UnknownParameter", "Zone")

    def test_prices(self):
        r = self.c.ok("DescribeBillingSpecsPrice", {"SpecsParam": [
            {"SpecName": "TI.S.MEDIUM.POST", "SpecCount": 1},
            {"SpecName": "TI.S.LARGE.POST", "SpecCount": 3},
            {"SpecName": "BERTH.HALF", "SpecCount": 1000000},
            {"SpecName": "TI.S.8XLARGE128.POST", "SpecCount": 1000000},
            {"SpecName": "BERTH.GPU.T4Q", "SpecCount": 858994}]})
        self.assertEqual(r["SpecsPrice"], [
            {"SpecName": "TI.S.MEDIUM.POST", "SpecCount": 1, "TotalCost": 70, "RealTotalCost": 70, "Currency": "CNY"},
            # The operator repriced the built-in LARGE.
            {"SpecName": "TI.S.LARGE.POST", "SpecCount": 3, "TotalCost": 450, "RealTotalCost": 450, "Currency": "CNY"},
            {"SpecName": "BERTH.HALF", "SpecCount": 1000000, "TotalCost": 9000000, "RealTotalCost": 9000000,
             "Currency": "USD"},
            {"SpecName": "TI.S.8XLARGE128.POST", "SpecCount": 1000000, "TotalCost": 1680000000,
             "RealTotalCost": 1680000000, "Currency": "CNY"},
            # 5000 fen x 858994 is past 2^32 - 1: 0, as the reference says.
            {"SpecName": "BERTH.GPU.T4Q", "SpecCount": 858994, "TotalCost": 0, "RealTotalCost": 0,
             "Currency": "CNY"}])
        self.assertEqual(self.c.ok("DescribeBillingSpecsPrice", {"SpecsParam": [
            {"SpecName": "BERTH.GPU.T4Q", "SpecCount": 858993}]})["SpecsPrice"][0]["TotalCost"], 4294965000)
        self.fails("DescribeBillingSpecsPrice", {}, "MissingParameter", "SpecsParam")
        self.fails("DescribeBillingSpecsPrice", {"SpecsParam": []}, "InvalidParameterValue", "SpecsParam")
        self.fails("DescribeBillingSpecsPrice", {"SpecsParam": [{"SpecName": "TI.S.MEDIUM.POST", "SpecCount": 1},
                                                                  {"SpecName": "NOPE", "SpecCount": 1}]},
                     "InvalidParameterValue", "SpecsParam[1].SpecName 'NOPE'")
        self.fails("DescribeBillingSpecsPrice", {"SpecsParam": [{"SpecName": "TI.S.MEDIUM.POST", "SpecCount": 0}]},
                     "InvalidParameterValue", "SpecsParam[0].SpecCount")
        self.fails("DescribeBillingSpecsPrice", {"SpecsParam": [{"SpecName": "TI.S.MEDIUM.POST"}]},
                     "MissingParameter", "SpecsParam[0].SpecCount")
        self.fails("DescribeBillingSpecsPrice", {"SpecsParam": [{"SpecName": "TI.S.MEDIUM.POST", "SpecCount": 1,
                                                                   "Zone": 1}]},
                     "UnknownParameter", "SpecsParam[0].Zone")

    def test_services_take_operator_specs(self):
        s = self.create("BERTH.HALF", "exec sleep 600")
        info = self.info(s["ServiceId"])
        self.assertEqual(info["InstanceType"], "BERTH.HALF")
        self.assertEqual(info["InstanceAlias"], "half-core")
        self.assertEqual(info["Resources"], {"Cpu": 500, "Memory": 512, "Gpu": 0, "GpuType": ""})
        self.assertEqual(info["ResourceTotal"], {"Cpu": 500, "Memory": 512, "Gpu": 0})
        self.fails("CreateModelService", {"ServiceGroupName": "nope", "ChargeType": "POSTPAID_BY_HOUR",
                                            "InstanceType": "TI.S.NOPE.POST", "Command": "true"},
                     "InvalidParameterValue", "InstanceType 'TI.S.NOPE.POST'")
        # Resources is the prepaid way; a postpaid service takes its InstanceType's.
        self.fails("CreateModelService", {"ServiceGroupName": "nope", "ChargeType": "POSTPAID_BY_HOUR",
                                            "Resources": {"Cpu": 1000, "Memory": 1024}, "Command": "true"},
                     "InvalidParameterValue", "Resources is for ChargeType PREPAID")
        self.fails("ModifyModelService", {"ServiceId": s["ServiceId"], "Resources": {"Cpu": 1000, "Memory": 64}},
                     "InvalidParameterValue", "Resources is for ChargeType PREPAID")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def berth(self, *args):
        return api.run_berth(self.d, self.tmp, *args)

    def test_cli(self):
        rc, out, err = self.berth("specs", "list")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "ALIAS", "CPU", "MEMORY", "GPU", "PRICE/HOUR", "CURRENCY"])
        self.assertEqual(lines[1].split(), ["TI.S.MEDIUM.POST", "2C4G", "2.000", "4096", "MiB", "-", "0.70", "CNY"])
        self.assertEqual(lines[-1].split(), ["BERTH.HALF", "half-core", "0.500", "512", "MiB", "-", "0.09", "USD"])
        self.assertIn("T4*0.25", out)
        rc, out, err = self.berth("specs", "list", "--type", "GPU")
        self.assertEqual((rc, len(out.splitlines())), (0, 2), out + err)
        rc, out, err = self.berth("specs", "price", "TI.S.MEDIUM.POST=3", "BERTH.HALF")
        self.assertEqual(rc, 0, err)
        self.assertEqual([ln.split() for ln in out.splitlines()[1:]],
                         [["TI.S.MEDIUM.POST", "3", "2.10", "CNY"], ["BERTH.HALF", "1", "0.09", "USD"]])
        rc, out, err = self.berth("--json", "specs", "price", "TI.S.LARGE.POST")
        self.assertEqual(rc, 0, err)
        self.assertIn('"TotalCost": 150', out)
        rc, out, err = self.berth("specs", "price", "NOPE")
        self.assertEqual(rc, 1)
        self.assertIn("InvalidParameterValue", err)
        rc, out, err = self.berth("specs", "price", "X=a")
        self.assertEqual(rc, 2)

    def test_spec_option_errors(self):
        for spec, needle in (("X cpu=1 memory=64", "needs price=FEN"),
                             ("X cpu=0.0001 memory=64 price=1", "cpu '0.0001'"),
                             ("X cpu=1 memory=8 price=1", "memory '8'"),
                             ("X cpu=1 memory=64 price=1 gpu=1.5", "gpu '1.5'"),
                             ("X cpu=1 memory=64 price=1 color=red", "unknown key 'color'"),
                             ("X/Y cpu=1 memory=64 price=1", "spec name 'X/Y'"),
                             ("X cpu=1 memory=64 price=-1", "price '-1'"),
                             ("X cpu=1 memory=64 price=1 currency=yuan", "currency 'yuan'")):
            rc, out = api.run_exit([api.berthd_path(), "--data-dir", os.path.join(self.tmp, "bad"),
                                    "--spec", spec])
            self.assertEqual(rc, 2, out)
            self.assertIn("spec '%s'" % spec, out)
            self.assertIn(needle, out)


class Enforce(Base):
    @classmethod
    def setUpClass(cls):
        cls.bin = tempfile.mkdtemp(prefix="berth-e2e-t2300-bin-")
        os.chmod(cls.bin, 0o755)
        src = os.path.join(cls.bin, "spin.c")
        with open(src, "w") as f:
            f.write(SPIN_C)
        cls.spin = os.path.join(cls.bin, "spin")
        subprocess.run(["cc", "-O1", "-pthread", "-o", cls.spin, src], check=True)
        api.start_berthd(cls, "t2300e", extra=["--spec", "T.1C cpu=1 memory=256 price=10",
                                               "--spec", "T.64M cpu=0.5 memory=64 price=5"])

    @classmethod
    def tearDownClass(cls):
        try:
            api.stop_berthd(cls)
        finally:
            harness.rmtree(cls.bin)

    def test_cpu_limit_holds_threads_and_forked_children(self):
        s = self.create("T.1C", "echo $$ > main.pid; %s 2 --daemon child.pid; exec %s 2" % (self.spin, self.spin))
        sid = s["ServiceId"]
        home = self.home(sid)
        main = read_pid(os.path.join(home, "main.pid"))
        child = read_pid(os.path.join(home, "child.pid"))
        harness.wait_until(lambda: open("/proc/%d/cmdline" % main).read().startswith(self.spin), 10, 0.05,
                           what="the instance to exec spin")
        # The child left the instance's process group and session, and is still inside its group.
        self.assertNotEqual(stat_field(main, 5), stat_field(child, 5))
        self.assertNotEqual(stat_field(main, 6), stat_field(child, 6))
        groups = cgroup_dirs(main)
        self.assertEqual(cgroup_dirs(child)["cpu" if "cpu" in groups else "unified"],
                         groups["cpu" if "cpu" in groups else "unified"])
        cpu_group = groups["cpu" if "cpu" in groups else "unified"]
        self.assertTrue(cpu_group.endswith("/%s-0" % sid), groups)
        time.sleep(0.5)  # past the first period
        t0 = time.monotonic()
        a0, b0 = cpu_ticks(main), cpu_ticks(child)
        time.sleep(4)
        a1, b1 = cpu_ticks(main), cpu_ticks(child)
        dt = time.monotonic() - t0
        main_cpu = (a1 - a0) / CLK_TCK / dt
        child_cpu = (b1 - b0) / CLK_TCK / dt
        total = main_cpu + child_cpu
        print("cpu used: instance %.3f + forked child %.3f = %.3f CPU (limit 1)" % (main_cpu, child_cpu, total))
        self.assertLessEqual(total, 1.05)
        # Both spun (how much depends on how busy the host is: 2 shared cores here).
        self.assertGreater(main_cpu, 0.01)
        self.assertGreater(child_cpu, 0.01)
        # Stopping ends the child too and removes the group.
        mount = "/sys/fs/cgroup/cpu" if "cpu" in groups else "/sys/fs/cgroup"
        if not os.path.isdir(mount + cpu_group):
            mount = [m for m in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified",
                                 "/sys/fs/cgroup") if os.path.isdir(m + cpu_group)][0]
        self.assertTrue(os.path.isdir(mount + cpu_group))
        # The kernel's own account: the quota is one CPU.
        d = mount + cpu_group
        if os.path.exists(d + "/cpu.max"):
            self.assertEqual(open(d + "/cpu.max").read().split(), ["100000", "100000"])
        else:
            self.assertEqual(int(open(d + "/cpu.cfs_quota_us").read()), 100000)
            self.assertEqual(int(open(d + "/cpu.cfs_period_us").read()), 100000)
        st = dict(line.split() for line in open(d + "/cpu.stat"))
        print("cpu.stat: %s" % st)
        self.assertIn("nr_throttled", st)  # how often it was held back; 0 when the host is too busy
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        harness.wait_until(lambda: not os.path.exists("/proc/%d" % child) and not os.path.isdir(mount + cpu_group),
                           10, 0.05, what="the child and the group to go")

    def test_memory_limit_kill_is_reported(self):
        hog = ("exec python3 -c \"import time\nx=[]\nwhile True:\n x.append(b'x'*(1<<20))\n"
               " time.sleep(0.002)\"")
        s = self.create("T.64M", hog)
        sid = s["ServiceId"]

        def oom_event():
            return [e for e in self.events(sid) if "memory limit" in e["Message"]]
        harness.wait_until(oom_event, 30, 0.2, what="an OOM event in %r" % (self.events(sid),))
        e = oom_event()[0]
        self.assertEqual(e["Type"], "Warning")
        self.assertEqual(e["ResourceName"], sid + "-0")
        self.assertEqual(e["Message"], "The instance was killed for using more than its memory limit, 64 MiB")

        def reason():
            return self.info(sid)["Status"]["Reason"]
        harness.wait_until(lambda: reason().startswith("OOMKilled"), 10, 0.1, what="the reason, got %r" % reason())
        self.assertIn("memory limit, 64 MiB", reason())
        # It restarts, and is killed again: the limit holds each time.
        harness.wait_until(lambda: oom_event()[0]["Count"] >= 2, 30, 0.2, what="a second OOM kill")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_forked_child_is_held_to_the_memory_limit(self):
        # The child leaves the session and allocates; the instance itself stays small.
        hog = ("import os, time\nos.setsid()\nopen('hog.pid', 'w').write(str(os.getpid()))\nx = []\n"
               "while True:\n x.append(b'x' * (1 << 20))\n time.sleep(0.002)\n")
        with open(os.path.join(self.bin, "hog.py"), "w") as f:
            f.write(hog)
        os.chmod(os.path.join(self.bin, "hog.py"), 0o644)
        s = self.create("T.64M", "python3 %s & exec sleep 600" % os.path.join(self.bin, "hog.py"))
        sid = s["ServiceId"]
        hog_pid = read_pid(os.path.join(self.home(sid), "hog.pid"))

        def oom_event():
            return [e for e in self.events(sid) if "memory limit, 64 MiB" in e["Message"]]
        harness.wait_until(oom_event, 30, 0.2, what="an OOM event in %r" % (self.events(sid),))
        self.assertFalse(os.path.exists("/proc/%d" % hog_pid) and
                         open("/proc/%d/stat" % hog_pid).read().rsplit(")", 1)[1].split()[0] != "Z")
        e = oom_event()[0]
        print("event: %s" % e["Message"])
        self.assertEqual((e["Type"], e["ResourceName"]), ("Warning", sid + "-0"))
        # cgroup v1 kills the hog alone (the instance lives on), v2 the whole instance.
        self.assertIn(e["Message"], ["A process of the instance was killed for using more than its memory "
                                     "limit, 64 MiB",
                                     "The instance was killed for using more than its memory limit, 64 MiB"])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_ordinary_exit_is_not_oom(self):
        s = self.create("T.64M", "exec python3 -c 'import os; os.kill(os.getpid(), 9)'")
        sid = s["ServiceId"]
        harness.wait_until(lambda: any("killed by signal 9" in e["Message"] for e in self.events(sid)), 20, 0.2,
                           what="the exit event")
        self.assertFalse([e for e in self.events(sid) if "memory limit" in e["Message"]])
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})


class NoCgroups(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2300n")
        mi = os.path.join(cls.tmp, "mountinfo")
        with open(mi, "w") as f:
            f.write("22 1 0:21 / /proc rw,relatime - proc proc rw\n")
        api.start_berthd(cls, extra=["--test-cgroup-mountinfo", mi])

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def test_instances_are_refused_with_the_reason(self):
        self.assertIn("instances cannot be limited, so none will start", self.d.log())
        s = self.create("TI.S.MEDIUM.POST", "exec sleep 600")
        sid = s["ServiceId"]
        harness.wait_until(lambda: any("Could not start" in e["Message"] for e in self.events(sid)), 15, 0.1,
                           what="a Failed event")
        e = [e for e in self.events(sid) if "Could not start" in e["Message"]][0]
        self.assertIn("cannot enforce the instance's CPU and memory", e["Message"])
        self.assertIn("no cgroup v1 cpu and memory controllers and no cgroup v2 hierarchy", e["Message"])
        info = self.info(sid)
        self.assertEqual(info["Status"]["ReadyReplicas"], 0)
        self.assertIn("cannot enforce", info["Status"]["Reason"])
        self.assertFalse(os.path.exists(os.path.join(self.home(sid), "..", "output.log")) and
                         open(os.path.join(self.home(sid), "..", "output.log")).read())


if __name__ == "__main__":
    unittest.main()
