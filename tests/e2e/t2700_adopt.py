"""Instances outlive berthd: under load through the gateway, berthd is restarted in place
(SIGUSR2) and upgraded to a new binary installed at its path (SIGUSR2): no request fails and
the instances' pids stay the same; what they print keeps reaching the log store with no line
lost. A plain stop and start leaves the instances serving direct traffic and adopts them. kill
-9 of berthd: direct traffic goes on, an instance that died meanwhile is replaced and the rest
adopted, an adopted instance that exits later is restarted. At the end nothing is left."""

import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import api
import harness

PRINTER = r'''
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen(64)  # ready (a TCP probe) once it listens; never answers
n = 0
while True:
    sys.stdout.write("tick %d\n" % n)
    sys.stdout.flush()
    n += 1
    time.sleep(0.05)
'''


def cos(path):
    return {"Bucket": "", "Region": "", "Paths": [path]}


def proc_state(pid):
    """The state letter of pid, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid):
    return proc_state(pid) not in (None, "Z", "X")


def processes_mentioning(text):
    """Pids of running processes whose command line contains text."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and alive(int(pid)):
            found.append(int(pid))
    return found


class Load:
    """A bounded loop of requests from a thread, each on a new connection (so that no
    kept-alive connection closed by a stopping server can be mistaken for a failure)."""

    def __init__(self, port, path, body):
        self.port, self.path, self.body = port, path, body
        self.ok = 0
        self.failed = []
        self.max_s = 0.0
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        deadline = time.monotonic() + 60
        while not self.stop_ev.is_set() and time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                c.request("POST", self.path, body=self.body, headers={"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                c.close()
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failed.append((r.status, data[:200]))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failed.append(repr(e))
            self.max_s = max(self.max_s, time.monotonic() - t0)
            time.sleep(0.01)

    def stop(self):
        self.stop_ev.set()
        self.t.join(20)
        return self


class Daemon:
    """berthd run from a binary of the test's, on fixed ports, followed across handovers
    through the pid in its lock file."""

    def __init__(self, tmp, binary):
        self.tmp = tmp
        self.binary = binary
        self.data_dir = os.path.join(tmp, "data")
        self.port = harness.free_port()
        self.gateway_port = harness.free_port()
        self.log_path = os.path.join(tmp, "berthd.log")
        self.proc = None
        self.pid = None

    def argv(self):
        return [self.binary, "--data-dir", self.data_dir, "--api-listen", "127.0.0.1:%d" % self.port,
                "--gateway-listen", "127.0.0.1:%d" % self.gateway_port, "--import-root", self.tmp,
                "--instances-on-exit", "keep", "--log-level", "info"]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def listening(self):
        return self.log().count("management API listening")

    def start(self, sockets=None):
        """Start berthd; with 'sockets' (the API's and the gateway's listeners) as systemd's
        socket activation would: descriptors 3 and 4, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES."""
        before = self.listening() if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "ab")
        argv, fds = self.argv(), ()
        if sockets:
            fds = tuple(fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 10) for s in sockets)
            script = ("exec 3<&%d 4<&%d %d<&- %d<&-; export LISTEN_PID=$$ LISTEN_FDS=2 "
                      "LISTEN_FDNAMES=api:gateway; exec \"$@\"" % (fds + fds))
            argv = ["/bin/bash", "-c", script, "bash"] + argv  # dash takes fds 0-9 only
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.tmp, pass_fds=fds)
        log.close()
        for fd in fds:
            os.close(fd)
        self.pid = self.proc.pid
        harness.wait_until(lambda: self.listening() > before or self.proc.poll() is not None, 20,
                           what="berthd to listen")
        if self.proc.poll() is not None:
            raise AssertionError("berthd exited with %d\n%s" % (self.proc.returncode, self.log()[-3000:]))

    def lock_pid(self):
        with open(os.path.join(self.data_dir, "berthd.lock")) as f:
            text = f.read().strip()
        return int(text) if text else None

    def wait_gone(self, pid, timeout=15):
        if self.proc and self.proc.pid == pid:
            self.proc.wait(timeout)
        harness.wait_until(lambda: not alive(pid), timeout, what="berthd %d to exit" % pid)

    def upgrade(self):
        """SIGUSR2; returns once the successor listens and the predecessor has gone."""
        old, before = self.pid, self.listening()
        os.kill(old, signal.SIGUSR2)
        harness.wait_until(lambda: self.listening() > before, 30, what="the successor to listen")
        self.wait_gone(old)
        self.pid = self.lock_pid()
        if self.proc and self.proc.pid == old:
            if self.proc.returncode != 0:
                raise AssertionError("the old berthd exited %d\n%s" % (self.proc.returncode, self.log()[-3000:]))
            self.proc = None
        assert self.pid != old and alive(self.pid), (old, self.pid)

    def term(self):
        pid = self.pid
        os.kill(pid, signal.SIGTERM)
        self.wait_gone(pid)
        if self.proc and self.proc.pid == pid and self.proc.returncode != 0:
            raise AssertionError("berthd exited %d\n%s" % (self.proc.returncode, self.log()[-3000:]))
        self.proc = None

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self.wait_gone(self.pid)
        self.proc = None

    def client(self):
        with open(os.path.join(self.data_dir, "credentials")) as f:
            cred = json.load(f)
        return api.ApiClient(self.port, cred["secretId"], cred["secretKey"], "ap-guangzhou")


class Adopt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2700")
        cls.bindir = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bindir)
        shutil.copy2(api.berthd_path(), os.path.join(cls.bindir, "berthd"))
        os.symlink(os.path.abspath(harness.bin_path()), os.path.join(cls.bindir, "berth-serve"))
        cls.d = Daemon(cls.tmp, os.path.join(cls.bindir, "berthd"))
        cls.d.start()
        c = cls.d.client()
        cls.booster = harness.train("reg:squarederror", n_features=3)
        src = os.path.join(cls.tmp, "model")
        os.makedirs(src)
        harness.save_model(cls.booster, os.path.join(src, "model.json"), "json")
        r = c.ok("CreateTrainingModel", {"ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM",
                                         "TrainingModelName": "reg", "ModelFormat": "XGBOOST",
                                         "TrainingModelCosPath": cos(src)})
        mv = r["TrainingModelVersionId"]
        harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": mv})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 10)
        s = c.ok("CreateModelService", {"ServiceGroupName": "adopted", "InstanceType": "TI.S.MEDIUM.POST",
                                        "ModelInfo": {"ModelVersionId": mv}, "Replicas": 2})["Service"]
        cls.sid, cls.gid = s["ServiceId"], s["ServiceGroupId"]
        script = os.path.join(cls.tmp, "printer.py")
        with open(script, "w") as f:
            f.write(PRINTER)
        p = c.ok("CreateModelService", {"ServiceGroupName": "printer", "InstanceType": "TI.S.MEDIUM.POST",
                                        "Command": "exec %s %s" % (sys.executable, script),
                                        "Replicas": 1})["Service"]
        cls.printer = p["ServiceId"]
        cls.X = harness.rows(4, 3)
        cls.body = json.dumps({"instances": cls.X.tolist()})
        cls.wait_ready(cls.sid, 2)
        cls.wait_ready(cls.printer, 1)

    @classmethod
    def tearDownClass(cls):
        d = vars(cls).get("d")
        try:
            if d and d.pid and alive(d.pid):
                d.term()
        finally:
            ended = api.end_instances(d.data_dir) if d else []
            left = processes_mentioning(cls.tmp)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            if left:
                raise AssertionError("left running after the test: %s (keepers ended: %s)" % (left, ended))
            problems = [m for m in harness.SANITIZER_MARKERS if d and m in d.log()]
            if problems:
                raise AssertionError("berthd's log: %s\n%s" % (problems, d.log()[-5000:]))
            harness.rmtree(cls.tmp)

    @classmethod
    def service(cls, sid):
        return cls.d.client().ok("DescribeModelService", {"ServiceId": sid})["Service"]["ServiceInfo"]

    @classmethod
    def wait_ready(cls, sid, n, timeout=30):
        harness.wait_until(lambda: cls.service(sid)["Status"]["ReadyReplicas"] == n and
                           cls.service(sid)["Status"]["Replicas"] == n, timeout, 0.1,
                           what="%s to have %d ready replicas" % (sid, n))

    def instance_pids(self, sid):
        """{pod name: pid} of the processes serving the service's instances."""
        pods = self.service(sid)["PodInfos"]
        ports = {int(p["IP"].split(":")[1]): p["Name"] for p in pods if p.get("IP")}
        by_port = harness.listeners_on_ports(set(ports))
        return {ports[port]: pid for port, pid in by_port.items()}

    def predict_path(self):
        return "/%s/v1/models/m:predict" % self.gid

    def check_predictions(self, port, path):
        c = harness.Client(port)
        r = c.post_json(path, {"instances": self.X.tolist()})
        harness.assert_close(r["predictions"], harness.predict(self.booster, self.X))
        c.close()

    def ticks(self):
        lines = self.d.client().ok("DescribeLogs", {"Service": "INFER", "Limit": 1000, "PodName": self.printer + "-0",
                                                    "Filters": [{"Name": "Key", "Values": ["tick"]}]})["Content"]
        return sorted(int(l["Message"].split()[1]) for l in lines if l["Message"].startswith("tick "))

    def assert_ticks_contiguous(self, since):
        """The printer's lines reached the store across the handovers: none lost, none twice,
        and some printed after 'since'."""
        def enough():
            t = self.ticks()
            return t and t[-1] > since + 5
        harness.wait_until(enough, 10, what="lines printed after the restart")
        t = self.ticks()
        self.assertEqual(t, list(range(t[0], t[-1] + 1)), "a gap or a duplicate in the printer's lines")

    def handover_under_load(self, how):
        pids = self.instance_pids(self.sid)
        self.assertEqual(len(pids), 2, pids)
        last_tick = self.ticks()[-1]
        load = Load(self.d.gateway_port, self.predict_path(), self.body)
        time.sleep(0.5)
        how()
        time.sleep(1.0)
        load.stop()
        self.assertEqual(load.failed, [], "failed requests during the handover")
        self.assertGreater(load.ok, 20)
        self.wait_ready(self.sid, 2)
        self.assertEqual(self.instance_pids(self.sid), pids, "the instances were replaced")
        self.check_predictions(self.d.gateway_port, self.predict_path())
        self.assert_ticks_contiguous(last_tick)
        return load

    def test_1_restart_in_place_under_load(self):
        load = self.handover_under_load(self.d.upgrade)
        self.assertIn("adopted 3 running instances", self.d.log())
        print("restart: %d requests, 0 failed, slowest %.3f s" % (load.ok, load.max_s), file=sys.stderr)

    def test_2_upgrade_to_a_new_binary(self):
        path = os.path.join(self.bindir, "berthd")
        shutil.copy2(api.berthd_path(), path + ".new")
        os.rename(path + ".new", path)  # as install(1) does: a new file at the same path
        new_ino = os.stat(path).st_ino
        old_pid = self.d.pid
        self.assertNotEqual(os.stat("/proc/%d/exe" % old_pid).st_ino, new_ino)
        load = self.handover_under_load(self.d.upgrade)
        self.assertEqual(os.stat("/proc/%d/exe" % self.d.pid).st_ino, new_ino, "not the new binary")
        print("upgrade: %d requests, 0 failed, slowest %.3f s" % (load.ok, load.max_s), file=sys.stderr)

    def test_3_failed_successor_leaves_the_old_one_serving(self):
        path = os.path.join(self.bindir, "berthd")
        keep = path + ".good"
        os.rename(path, keep)
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod(path, 0o755)
        try:
            old = self.d.pid
            os.kill(old, signal.SIGUSR2)
            harness.wait_until(lambda: "did not start: carrying on" in self.d.log(), 10,
                               what="the old berthd to notice")
            self.assertTrue(alive(old))
            self.assertEqual(self.d.lock_pid(), old)
            self.check_predictions(self.d.gateway_port, self.predict_path())
        finally:
            os.rename(keep, path)

    def test_4_stop_then_start_keeps_instances_serving(self):
        pids = self.instance_pids(self.sid)
        ports = {int(p["IP"].split(":")[1]) for p in self.service(self.sid)["PodInfos"]}
        last_tick = self.ticks()[-1]
        self.d.term()
        self.assertTrue(all(alive(p) for p in pids.values()), "instances stopped with berthd")
        for port in ports:  # direct traffic, while no berthd runs
            self.check_predictions(port, "/v1/models/m:predict")
        time.sleep(0.5)
        self.d.start()
        self.wait_ready(self.sid, 2)
        self.assertEqual(self.instance_pids(self.sid), pids)
        self.check_predictions(self.d.gateway_port, self.predict_path())
        self.assert_ticks_contiguous(last_tick)

    def test_5_kill9_direct_traffic_then_adopt_and_replace(self):
        pids = self.instance_pids(self.sid)
        pods = {p["Name"]: int(p["IP"].split(":")[1]) for p in self.service(self.sid)["PodInfos"]}
        self.d.kill9()
        # Direct traffic to the instances goes on without berthd.
        direct = Load(pods[self.sid + "-0"], "/v1/models/m:predict", self.body)
        time.sleep(1.0)
        # One instance dies while no berthd watches: the next one replaces it.
        victim = pids[self.sid + "-1"]
        os.kill(victim, signal.SIGKILL)
        harness.wait_until(lambda: not alive(victim), 5)
        self.d.start()
        time.sleep(0.5)
        direct.stop()
        self.assertEqual(direct.failed, [])
        self.assertGreater(direct.ok, 20)
        self.wait_ready(self.sid, 2)
        now = self.instance_pids(self.sid)
        self.assertEqual(len(now), 2, "no duplicates")
        self.assertEqual(now[self.sid + "-0"], pids[self.sid + "-0"], "the live one was adopted")
        self.assertNotEqual(now[self.sid + "-1"], victim, "the dead one was replaced")
        self.check_predictions(self.d.gateway_port, self.predict_path())
        # An adopted instance (not berthd's child) that exits is noticed and restarted.
        adopted = list(self.instance_pids(self.printer).values())
        self.assertEqual(len(adopted), 1, adopted)
        os.kill(adopted[0], signal.SIGKILL)
        harness.wait_until(lambda: self.service(self.printer)["PodInfos"][0]["ContainerInfos"][0]["Status"]["RestartCount"] >= 1, 10,
                           what="the adopted printer's exit to be noticed")
        harness.wait_until(lambda: [p for p in processes_mentioning("printer.py") if p != adopted[0]], 10,
                           what="the printer to be restarted")
        self.wait_ready(self.printer, 1)
        # Nothing duplicated: one process per instance.
        self.assertEqual(len(processes_mentioning("printer.py")), 1)
        self.assertEqual(len(processes_mentioning(os.path.join(self.tmp, "data-instances"))), 2)

    def test_6_socket_activation_plain_restart_under_load(self):
        # As systemd would: the sockets outlive berthd, so a plain stop and start under load
        # fails no request either (they wait in the listen queue).
        pids = self.instance_pids(self.sid)
        self.d.term()
        socks = []
        for port in (self.d.port, self.d.gateway_port):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(1024)
            socks.append(s)
        try:
            self.d.start(socks)
            self.wait_ready(self.sid, 2)
            load = Load(self.d.gateway_port, self.predict_path(), self.body)
            time.sleep(0.5)
            self.d.term()
            time.sleep(0.3)
            self.d.start(socks)
            time.sleep(1.0)
            load.stop()
            self.assertEqual(load.failed, [], "failed requests across a plain restart")
            self.assertGreater(load.ok, 20)
            self.assertEqual(self.instance_pids(self.sid), pids)
            print("socket activation restart: %d requests, 0 failed, slowest %.3f s"
                  % (load.ok, load.max_s), file=sys.stderr)
        finally:
            for s in socks:
                s.close()

    def test_7_unwanted_ended_outdated_replaced(self):
        # While no berthd runs, the store changes under it (as a restored backup would): the
        # printer's service is gone and one instance's recorded spec is not the service's.
        pids = self.instance_pids(self.sid)
        printer = list(self.instance_pids(self.printer).values())
        self.assertEqual(len(printer), 1)
        self.d.term()
        import sqlite3
        con = sqlite3.connect(os.path.join(self.d.data_dir, "berth.db"))
        with con:
            con.execute("DELETE FROM services WHERE id = ?", (self.printer,))
            con.execute("UPDATE instances SET spec = '{}' WHERE id = ?", (self.sid + "-0",))
        con.close()
        self.assertTrue(alive(printer[0]))
        self.d.start()
        harness.wait_until(lambda: not alive(printer[0]), 10, what="the unwanted instance to end")
        self.assertIn("left by a previous berthd (its service is gone)", self.d.log())
        self.assertEqual(processes_mentioning("printer.py"), [])
        # The outdated one is rolled out: a new one first, then the old one goes.
        harness.wait_until(lambda: self.instance_pids(self.sid).get(self.sid + "-1") == pids[self.sid + "-1"] and
                           pids[self.sid + "-0"] not in self.instance_pids(self.sid).values() and
                           len(self.instance_pids(self.sid)) == 2, 30, 0.2,
                           what="the outdated instance to be replaced, the other kept")
        self.wait_ready(self.sid, 2)
        self.check_predictions(self.d.gateway_port, self.predict_path())


if __name__ == "__main__":
    unittest.main()
