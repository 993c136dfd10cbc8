"""Instances are kept apart from berthd: they run as the unprivileged instance user in work
directories outside the data directory, cannot read the store or the credentials, and cannot
change the model files they serve; and nothing an instance starts (the children of `sh -c`,
a setsid child) outlives its stop, while all of it outlives a berthd killed with SIGKILL and is
adopted by the next one. Needs root (to switch users)."""

import json
import os
import pwd
import signal
import subprocess
import sys
import time
import unittest

import api
import harness
from t1200_api_services import import_model, pids_on_ports

USER = "berth-instance"

# Run by the instance: try what an attacker would, print one JSON line, then serve.
PROBE = r'''
import errno, json, os, sys
data, version = os.environ["DATA"], os.environ["VERSION"]
def attempt(what, f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def read(p):
    with open(p, "rb") as f:
        f.read(1)
def write(p, mode="ab"):
    with open(p, mode) as f:
        f.write(b"x")
rel = os.path.relpath(data, os.getcwd())
out = {"uid": os.getuid(), "cwd": os.getcwd(), "groups": os.getgroups()}
for name in ("credentials", "berth.db", "berth.db-wal", "berthd.lock"):
    out[name] = attempt(name, lambda: read(os.path.join(data, name)))
    out["rel " + name] = attempt(name, lambda: read(os.path.join(rel, name)))
out["issue path"] = attempt("old", lambda: read("../../../credentials"))
out["list data"] = attempt("list", lambda: os.listdir(data))
out["list models"] = attempt("list", lambda: os.listdir(os.path.join(data, "models")))
model_file = os.path.join(version, sorted(os.listdir(version))[0])
out["read model"] = attempt("read", lambda: read(model_file))
out["write model"] = attempt("write", lambda: write(model_file))
out["add to model dir"] = attempt("add", lambda: write(os.path.join(version, "planted"), "wb"))
out["chmod model"] = attempt("chmod", lambda: os.chmod(model_file, 0o666))
out["write home"] = attempt("home", lambda: write(os.path.join(os.getcwd(), "scratch"), "wb"))
print("PROBE " + json.dumps(out), flush=True)
os.execv(sys.executable, [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", os.environ["PORT"]])
'''


def group_members(pgid):
    """Live (not zombie) processes of process group pgid, from /proc."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat.split("(", 1)[1].rsplit(")", 1)[0]
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            out.append((int(pid), comm))
    return out


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


def require_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root to run instances as another user")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        raise unittest.SkipTest("no user %s (scripts/deps.sh creates it)" % USER)


def forking(token):
    """A command whose shell leaves a child in the instance's group and one in a session of
    its own (`sleep <token>`), then becomes the server."""
    return "sleep 1000 & setsid sleep %d & exec %s -m http.server --bind 127.0.0.1 $PORT" % (
        token, sys.executable)


def escaped(token):
    """Live `sleep <token>` processes, wherever they are."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if cmd[:2] == [b"sleep", str(token).encode()] and state not in "ZX":
            out.append(int(pid))
    return out


class Isolation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pw = require_root()
        api.start_berthd(cls, "t1700")
        cls.booster = harness.train("binary:logistic", n_features=4)
        src = harness.model_dir(os.path.join(cls.tmp, "model"), cls.booster)
        cls.model_id, cls.mv = import_model(cls.c, "iso", src)
        cls.version_dir = os.path.join(cls.d.data_dir, "models", cls.model_id, cls.mv)

    @classmethod
    def tearDownClass(cls):
        api.stop_berthd(cls)

    def create(self, **kw):
        p = {"ServiceGroupName": "iso%d" % int(time.time() * 1000 % 1e9), "InstanceType": "TI.S.MEDIUM.POST",
             "Replicas": 1}
        p.update(kw)
        return self.c.ok("CreateModelService", p)["Service"]

    def wait_normal(self, sid):
        harness.wait_until(lambda: self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]["Status"]
                           == "Normal", 20, 0.1, what="%s to be Normal" % sid)
        return self.c.ok("DescribeModelService", {"ServiceId": sid})["Service"]

    def run_as(self, preexec, code):
        p = subprocess.run([sys.executable, "-c", code], preexec_fn=preexec, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def leader(self, service):
        port = int(service["ServiceInfo"]["PodInfos"][0]["IP"].split(":")[1])
        pids = pids_on_ports({port})
        self.assertEqual(len(pids), 1)
        return pids.pop()

    def test_command_cannot_read_secrets_or_change_models(self):
        # A model service makes its version readable to instances; another instance tries to
        # change those files.
        m = self.wait_normal(self.create(ModelInfo={"ModelVersionId": self.mv})["ServiceId"])
        script = os.path.join(self.tmp, "probe.py")
        with open(script, "w") as f:
            f.write(PROBE)
        s = self.create(Command="exec %s %s" % (sys.executable, script),
                        Env=[{"Name": "DATA", "Value": self.d.data_dir},
                             {"Name": "VERSION", "Value": self.version_dir}])
        def printed(words=None):
            p = {"Service": "INFER", "ServiceId": s["ServiceId"], "Limit": 1000}
            if words:
                p["Filters"] = [{"Name": "Key", "Values": words}]
            return [ln["Message"] for ln in self.c.ok("DescribeLogs", p)["Content"]]
        try:
            s = self.wait_normal(s["ServiceId"])
        except AssertionError:
            raise AssertionError("\n".join(printed()[:50]))
        line = [ln for ln in printed(["PROBE"]) if ln.startswith("PROBE ")][0]
        got = json.loads(line[6:])
        self.assertEqual(got["uid"], self.pw.pw_uid)
        self.assertNotEqual(got["uid"], 0)
        self.assertEqual(got["groups"], [])  # no supplementary groups (root's were dropped)
        self.assertFalse(got["cwd"].startswith(self.d.data_dir + "/"), got["cwd"])
        for name in ("credentials", "berth.db", "berth.db-wal", "berthd.lock"):
            self.assertEqual(got[name], "EACCES", (name, got))
            self.assertEqual(got["rel " + name], "EACCES", (name, got))
        self.assertIn(got["issue path"], ("EACCES", "ENOENT"), got)
        self.assertEqual(got["list data"], "EACCES", got)
        self.assertEqual(got["list models"], "EACCES", got)
        self.assertEqual(got["read model"], "ok", got)
        for what in ("write model", "add to model dir", "chmod model"):
            self.assertIn(got[what], ("EACCES", "EPERM"), (what, got))
        self.assertEqual(got["write home"], "ok", got)
        # The secrets are 0600 and berthd's; the data directory lists nothing to others.
        for name in ("credentials", "berth.db", "berthd.lock"):
            st = os.stat(os.path.join(self.d.data_dir, name))
            self.assertEqual(st.st_mode & 0o777, 0o600, name)
            self.assertEqual(st.st_uid, 0, name)
        st = os.stat(self.d.data_dir)
        self.assertEqual((st.st_mode & 0o777, st.st_gid), (0o710, self.pw.pw_gid))
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": m["ServiceGroupId"]})

    def test_model_service_serves_as_the_instance_user(self):
        s = self.wait_normal(self.create(ModelInfo={"ModelVersionId": self.mv})["ServiceId"])
        self.assertEqual(uid_of(self.leader(s)), self.pw.pw_uid)
        gw = harness.Client(self.d.gateway_port)
        X = harness.rows(3, 4, seed=7)
        r = gw.post_json("/%s/v1/models/m:predict" % s["ServiceGroupId"], {"instances": X.tolist()})
        harness.assert_close(r["predictions"], harness.predict(self.booster, X))
        gw.close()
        model_files = [os.path.join(root, n) for root, _, files in os.walk(self.version_dir) for n in files]
        self.assertTrue(model_files)
        for path in model_files:
            st = os.stat(path)
            self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid), (0o440, 0, self.pw.pw_gid), path)
        # Read-only for the instance user, and nothing at all for other users.
        nobody = pwd.getpwnam("nobody")

        def as_nobody():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        rc, out = self.run_as(as_nobody, "open(%r).read()" % model_files[0])
        self.assertIn("PermissionError", out)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_instance_dies_with_its_keeper(self):
        # Even if its keeper is killed while berthd cannot act (stopped), the instance goes:
        # its parent-death signal survives the switch of user.
        s = self.wait_normal(self.create(Command="exec %s -m http.server --bind 127.0.0.1 $PORT"
                                         % sys.executable)["ServiceId"])
        leader = self.leader(s)
        with open("/proc/%d/stat" % leader) as f:
            keeper = int(f.read().rsplit(")", 1)[1].split()[1])
        with open("/proc/%d/comm" % keeper) as f:
            self.assertEqual(f.read().strip(), "berthd-keeper")
        os.kill(self.d.proc.pid, signal.SIGSTOP)
        try:
            os.kill(keeper, signal.SIGKILL)
            harness.wait_until(lambda: not group_members(leader), 3, what="the instance to die with its keeper")
        finally:
            os.kill(self.d.proc.pid, signal.SIGCONT)
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})

    def test_children_of_a_command_end_with_its_stop(self):
        token = 900000 + os.getpid() % 90000
        s = self.wait_normal(self.create(Command=forking(token))["ServiceId"])
        pgid = os.getpgid(self.leader(s))
        self.assertIn("sleep", [c for _, c in group_members(pgid)])
        harness.wait_until(lambda: escaped(token), 5, what="the setsid child to start")
        self.c.ok("ModifyModelService", {"ServiceId": s["ServiceId"], "ServiceAction": "STOP"})
        harness.wait_until(lambda: not group_members(pgid), 5, what="the group to end: %r" % group_members(pgid))
        harness.wait_until(lambda: not escaped(token), 5, what="the setsid child to end")
        self.c.ok("DeleteModelServiceGroup", {"ServiceGroupId": s["ServiceGroupId"]})


class Lifetime(unittest.TestCase):
    def test_nothing_of_an_instance_outlives_its_stop(self):
        require_root()
        tmp = harness.tempdir("t1700k")
        d = api.Berthd(os.path.join(tmp, "data"), tmp)
        try:
            d.start()
            c = d.client()
            token = 800000 + os.getpid() % 90000
            sid = c.ok("CreateModelService", {"ServiceGroupName": "forks", "InstanceType": "TI.S.MEDIUM.POST",
                                              "Command": forking(token), "Replicas": 1})["Service"]["ServiceId"]

            def pgid_when_normal():
                s = c.ok("DescribeModelService", {"ServiceId": sid})["Service"]
                if s["Status"] != "Normal":
                    return None
                pids = pids_on_ports({int(s["ServiceInfo"]["PodInfos"][0]["IP"].split(":")[1])})
                return os.getpgid(pids.pop()) if pids else None
            pgid = harness.wait_until(pgid_when_normal, 20, 0.1)
            self.assertIn("sleep", [n for _, n in group_members(pgid)])
            harness.wait_until(lambda: escaped(token), 5, what="the setsid child to start")
            # berthd killed (as by a crash): the instance and its children live on, and the
            # next berthd adopts them (docs/operations.md).
            d.kill9()
            time.sleep(0.5)
            members = group_members(pgid)
            self.assertIn("sleep", [n for _, n in members])
            self.assertTrue(escaped(token), "the setsid child died with berthd")
            d.start()
            c = d.client()
            self.assertEqual(harness.wait_until(pgid_when_normal, 20, 0.1), pgid, "not adopted")
            self.assertEqual(group_members(pgid), members)
            # A stop that stops the instances ends all of them, the setsid child too.
            d.stop()
            harness.wait_until(lambda: not group_members(pgid), 5,
                               what="the group to end with berthd's stop: %r" % group_members(pgid))
            self.assertEqual(escaped(token), [])
        finally:
            d.cleanup()
        harness.rmtree(tmp)


class Options(unittest.TestCase):
    def test_instance_user_and_dir_are_checked(self):
        pw = require_root()
        tmp = harness.tempdir("t1700o")
        try:
            base = [api.berthd_path(), "--data-dir", os.path.join(tmp, "data"), "--api-listen", "127.0.0.1:0",
                    "--gateway-listen", "127.0.0.1:0"]
            rc, out = api.run_exit(base + ["--instance-user", "no-such-user-x"])
            self.assertEqual(rc, 1, out)
            self.assertIn("no user 'no-such-user-x'", out)
            rc, out = api.run_exit(base + ["--instance-dir", os.path.join(tmp, "data", "inst")])
            self.assertEqual(rc, 1, out)
            self.assertIn("must be outside the data directory", out)
            # A berthd that is not root cannot switch: a chosen user is refused. (nobody: not
            # the default user, so the default is a user it cannot switch to.)
            pw = pwd.getpwnam("nobody")
            own = os.path.join(tmp, "own")
            os.mkdir(own)
            os.chown(own, pw.pw_uid, pw.pw_gid)

            def drop():
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
            argv = base[:1] + ["--data-dir", os.path.join(own, "data")] + base[3:]
            p = subprocess.run(argv + ["--instance-user", "root"], preexec_fn=drop, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(b"not root, and cannot switch users", p.stdout)
            # The default: a warning, and instances run as berthd's own user.
            p = subprocess.Popen(argv, preexec_fn=drop, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                seen = b""
                deadline = time.monotonic() + 10
                while b"management API listening" not in seen and time.monotonic() < deadline:
                    seen += p.stdout.readline()
                self.assertIn(b"management API listening", seen)
                self.assertIn(b"berthd is not root: instances run as its own user", seen)
            finally:
                p.send_signal(signal.SIGTERM)
                rest = p.communicate(timeout=10)[0]
            self.assertEqual(p.returncode, 0, seen + rest)
        finally:
            harness.rmtree(tmp)
