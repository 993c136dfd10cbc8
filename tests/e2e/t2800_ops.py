"""Running berthd as an operator does: `make install` with DESTDIR and PREFIX, the systemd unit
(systemd-analyze verify, and the sd_notify READY/STOPPING handshake), the generated config file,
logs as JSON lines, API reads at debug, the gateway's access log (and its reopen on SIGUSR1), no
credential handed out by a berthd that cannot listen, and the backup and restore procedure of
docs/operations.md (sqlite3 .backup of the live store plus the files)."""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import unittest
import urllib.request

import api
import harness

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_install(*args):
    """`make install` with the build the tests run (BERTH_BIN_DIR), so that nothing rebuilds."""
    bindir = os.path.dirname(api.berthd_path())
    build = os.path.relpath(bindir, ROOT)
    argv = ["make", "-s", "--no-print-directory", "install", "BUILD=" + build]
    if build.startswith("build-"):
        argv.append("SANITIZE=" + build[len("build-"):].replace("-", ","))
    p = subprocess.run(argv + list(args), cwd=ROOT, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("make install failed\n%s%s" % (p.stdout, p.stderr))
    return p.stdout


def unit_settings(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2800-install")

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def test_destdir_lays_out_what_the_unit_expects(self):
        dest = os.path.join(self.tmp, "dest")
        make_install("DESTDIR=" + dest, "PREFIX=/usr")
        for path, mode in (("usr/bin/berthd", 0o755), ("usr/bin/berth", 0o755),
                           ("usr/bin/berth-serve", 0o755),
                           ("usr/lib/systemd/system/berthd.service", 0o644),
                           ("usr/lib/sysusers.d/berth.conf", 0o644),
                           ("etc/berth/berthd.conf", 0o644),
                           ("usr/share/doc/berth/berthd.conf.sample", 0o644),
                           ("usr/share/doc/berth/README.md", 0o644)):
            st = os.stat(os.path.join(dest, path))
            self.assertEqual(st.st_mode & 0o777, mode, path)
        # The torch module where berth-serve looks for it, ../lib/berth/ from its directory.
        if os.path.exists(os.path.join(os.path.dirname(harness.bin_path()), "berth-serve-torch.so")):
            st = os.stat(os.path.join(dest, "usr/bin/../lib/berth/berth-serve-torch.so"))
            self.assertEqual(st.st_mode & 0o777, 0o644)
        with open(os.path.join(dest, "usr/lib/systemd/system/berthd.service")) as f:
            unit = unit_settings(f.read())
        self.assertEqual(unit["Type"], ["notify"])
        self.assertEqual(unit["User"], ["berth"])
        exe, *args = unit["ExecStart"][0].split()
        self.assertEqual(exe, "/usr/bin/berthd")
        self.assertEqual(args, ["--config", "/etc/berth/berthd.conf"])
        self.assertTrue(os.access(dest + exe, os.X_OK))
        # The user the unit names comes from the sysusers.d file.
        with open(os.path.join(dest, "usr/lib/sysusers.d/berth.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u berth - ")
        # The config sits under the unit's StateDirectory and LogsDirectory.
        with open(dest + args[1]) as f:
            conf = f.read()
        self.assertIn("berth", unit["StateDirectory"])
        self.assertIn("data-dir = /var/lib/berth/data\n", conf)
        self.assertIn("access-log = /var/log/berth/access.log\n", conf)
        # Every option --help lists is in the config, at its default.
        p = subprocess.run([dest + exe, "--help"], capture_output=True, text=True, timeout=10)
        names = set(re.findall(r"(?m)^  --([a-z0-9-]+)", p.stdout)) - {"config", "help", "print-config", "version"}
        self.assertGreater(len(names), 20)
        for n in names:
            self.assertRegex(conf, r"(?m)^#?%s =" % re.escape(n), n)
        # A second install keeps an edited config.
        with open(dest + args[1], "a") as f:
            f.write("log-level = debug\n")
        out = make_install("DESTDIR=" + dest, "PREFIX=/usr")
        self.assertIn("kept", out)
        with open(dest + args[1]) as f:
            self.assertTrue(f.read().endswith("log-level = debug\n"))

    def test_installed_config_starts_berthd(self):
        """The generated file parses: berthd starts with it (paths moved into the test's dir)."""
        dest = os.path.join(self.tmp, "run")
        make_install("DESTDIR=" + dest)
        with open(os.path.join(dest, "etc/berth/berthd.conf")) as f:
            conf = f.read().replace("/var/lib/berth", os.path.join(self.tmp, "var"))
            conf = conf.replace("/var/log/berth", self.tmp)
        os.makedirs(os.path.join(self.tmp, "var"), exist_ok=True)
        path = os.path.join(self.tmp, "berthd.conf")
        with open(path, "w") as f:
            f.write(conf)
        d = api.Berthd(os.path.join(self.tmp, "var", "data"), self.tmp, extra=["--config", path])
        try:
            d.start()
            d.client().ok("DescribeModelServiceGroups", {})
            self.assertTrue(os.path.isfile(os.path.join(self.tmp, "access.log")))
            d.stop()
        finally:
            d.cleanup()

    def test_every_binary_says_its_version(self):
        bindir = os.path.dirname(api.berthd_path())
        seen = set()
        for name in ("berthd", "berth", "berth-serve"):
            p = subprocess.run([os.path.join(bindir, name), "--version"], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 0, p.stderr)
            m = re.match(r"^%s (\S+)\n$" % re.escape(name), p.stdout)
            self.assertTrue(m, p.stdout)
            seen.add(m.group(1))
        self.assertEqual(len(seen), 1, seen)  # one build, one version

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_systemd_analyze_verify_accepts_the_unit(self):
        prefix = os.path.join(self.tmp, "prefix")
        make_install("PREFIX=" + prefix + "/usr", "SYSCONFDIR=" + prefix + "/etc")
        unit = os.path.join(prefix, "usr/lib/systemd/system/berthd.service")
        p = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           timeout=60)
        # Unknown or malformed settings are only warnings: none may appear.
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([ln for ln in p.stderr.splitlines() if "berthd.service" in ln], [], p.stderr)


class Daemon(unittest.TestCase):
    """One berthd per test: each checks what it says at start or stop."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("t2800")
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def berthd(self, *extra, env=None):
        type(self).n += 1
        work = os.path.join(self.tmp, "b%d" % self.n)
        os.makedirs(work)
        d = api.Berthd(os.path.join(work, "data"), work, extra=list(extra))
        self.addCleanup(d.cleanup)
        if env:
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                d.start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        else:
            d.start()
        return d

    def test_notify_ready_then_stopping(self):
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        self.addCleanup(s.close)
        s.settimeout(10)
        d = self.berthd(env={"NOTIFY_SOCKET": path})
        msg = s.recv(4096).decode()
        self.assertIn("READY=1", msg.split("\n"))
        # READY comes once the API answers.
        d.client().ok("DescribeModelServiceGroups", {})
        d.stop()
        self.assertIn("STOPPING=1", s.recv(4096).decode().split("\n"))

    def test_json_log_lines_and_reads_at_debug(self):
        d = self.berthd("--log-format", "json")
        c = d.client()
        c.ok("DescribeModelServiceGroups", {})
        c.error("DescribeModelService", {"ServiceId": "ms-nosuch"})
        d.stop()
        lines = [json.loads(ln) for ln in d.log().splitlines() if ln.strip()]
        self.assertGreater(len(lines), 3)
        for o in lines:
            self.assertEqual(set(o), {"ts", "level", "sub", "msg"})
            self.assertRegex(o["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(o["level"], ("error", "warn", "info", "debug"))
        msgs = [o["msg"] for o in lines if o["sub"] == "api"]
        # A successful read is a debug line, not shown at info; a refusal is shown.
        self.assertFalse([m for m in msgs if "action=DescribeModelServiceGroups" in m], msgs)
        self.assertTrue([m for m in msgs if "action=DescribeModelService " in m and "error=" in m], msgs)
        self.assertTrue([o for o in lines if o["msg"] == "received SIGTERM; shutting down"])

        d = self.berthd("--log-level", "debug")
        d.client().ok("DescribeModelServiceGroups", {})
        d.stop()
        self.assertRegex(d.log(), r"(?m) debug api action=DescribeModelServiceGroups .* ok$")
        self.assertEqual(subprocess.run([api.berthd_path(), "--log-format", "yaml", "--data-dir",
                                         self.tmp], capture_output=True, timeout=10).returncode, 2)

    def gateway_get(self, d, path, agent):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (d.gateway_port, path),
                                     headers={"User-Agent": agent, "Referer": "http://r.example/"})
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as e:
            e.read()
            return e.code
        return 200

    def test_access_log_lines_and_reopen(self):
        path = os.path.join(self.tmp, "access.log")
        d = self.berthd("--access-log", path)
        self.assertEqual(self.gateway_get(d, "/nosuch/v1/models/m?x=1", 'ua "quoted" \\ caf\u00e9'), 404)
        with open(path, encoding="latin-1") as f:
            lines = f.read().splitlines()  # urllib sends the header in latin-1
        self.assertEqual(len(lines), 1, lines)
        m = re.match(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                     r'"GET /nosuch/v1/models/m\?x=1 HTTP/1\.1" 404 (\d+) "http://r\.example/" '
                     r'"ua \\x22quoted\\x22 \\\\ caf\u00e9" (\d+\.\d{6}) id=\d+$', lines[0])
        self.assertTrue(m, lines[0])
        self.assertGreater(int(m.group(1)), 0)
        # logrotate: move the file away, SIGUSR1, and lines go to a new one.
        os.rename(path, path + ".1")
        d.proc.send_signal(signal.SIGUSR1)
        harness.wait_until(lambda: os.path.exists(path), 5, what="the reopened access log")
        self.gateway_get(d, "/again", "curl")
        harness.wait_until(lambda: "GET /again " in open(path).read(), 5, what="a line in the new log")
        with open(path + ".1", "rb") as f:
            self.assertEqual(len(f.read().splitlines()), 1)
        d.stop()

        path = os.path.join(self.tmp, "access.json")
        d = self.berthd("--access-log", path, "--log-format", "json")
        self.gateway_get(d, '/x"y', "agent\u00e9")
        d.stop()
        # urllib sends the header's é in latin-1: not UTF-8, so U+FFFD in JSON.
        with open(path, encoding="utf-8") as f:
            o = json.loads(f.read())
        self.assertEqual((o["method"], o["target"], o["status"], o["user_agent"], o["protocol"]),
                         ("GET", '/x"y', 404, "agent\ufffd", "HTTP/1.1"))
        self.assertEqual(o["referer"], "http://r.example/")

    def test_no_credentials_from_a_berthd_that_cannot_listen(self):
        busy = socket.socket()
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        data = os.path.join(self.tmp, "nolisten")
        p = subprocess.run([api.berthd_path(), "--data-dir", data, "--api-listen",
                            "127.0.0.1:%d" % busy.getsockname()[1], "--gateway-listen",
                            "127.0.0.1:%d" % harness.free_port()],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("127.0.0.1", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "credentials")))
        # The next start, on a free port, makes it, and it works.
        d = api.Berthd(data, self.tmp)
        self.addCleanup(d.cleanup)
        d.start()
        d.client().ok("DescribeModelServiceGroups", {})
        d.stop()

    def test_backup_of_the_live_store_restores(self):
        d = self.berthd()
        c = d.client()
        src = harness.model_dir(os.path.join(d.workdir, "m"), harness.train("binary:logistic", n_features=3))
        r = c.ok("CreateTrainingModel", {
            "ImportMethod": "MODEL", "ReasoningEnvironmentSource": "SYSTEM", "TrainingModelName": "kept",
            "ModelFormat": "XGBOOST", "AlgorithmFramework": "XGBOOST",
            "TrainingModelCosPath": {"Bucket": "", "Region": "", "Paths": [src]}})
        vid = r["TrainingModelVersionId"]
        harness.wait_until(lambda: c.ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": vid})
                           ["TrainingModelVersion"]["TrainingModelStatus"] == "STATUS_SUCCESS", 20,
                           what="the import")
        # The procedure: .backup while berthd runs, then the files beside the store.
        backup = os.path.join(self.tmp, "backup")
        os.makedirs(backup)
        p = subprocess.run(["sqlite3", os.path.join(d.data_dir, "berth.db"),
                            ".backup '%s'" % os.path.join(backup, "berth.db")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("secret.key", "credentials"):
            shutil.copy2(os.path.join(d.data_dir, name), backup)
        shutil.copytree(os.path.join(d.data_dir, "models"), os.path.join(backup, "models"))
        d.stop()
        # Restore into a new directory on another berthd: the model and its files are there,
        # the old credential still signs.
        with sqlite3.connect(os.path.join(backup, "berth.db")) as db:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        restored = os.path.join(self.tmp, "restored")
        shutil.copytree(backup, restored)
        os.chmod(restored, 0o700)
        e = api.Berthd(restored, self.tmp)
        self.addCleanup(e.cleanup)
        e.start()
        got = e.client().ok("DescribeTrainingModelVersion", {"TrainingModelVersionId": vid})
        self.assertEqual(got["TrainingModelVersion"]["TrainingModelStatus"], "STATUS_SUCCESS")
        self.assertEqual(e.credentials(), d.credentials())
        e.stop()


class Docs(unittest.TestCase):
    def test_api_reference_is_what_the_code_says(self):
        p = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "api_reference.py"), "--check"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(ROOT, "docs", "api-reference.md")) as f:
            ref = f.read()
        # Spot checks that the tables were read: a field of each kind, a nested one, an id key.
        self.assertIn("| `ServiceGroupName` | used |", ref)
        self.assertIn("| `TiProjectId` | accepted, ignored (cloud-only) |", ref)
        self.assertIn("| `Env[].Name` | used |", ref)
        self.assertRegex(ref, r"## DeleteModelService\n\n\| field .*\n.*\n\| `ServiceId` \| used")

    def test_links_name_files_in_the_repository(self):
        """Every relative link in README.md and docs/ names a file git tracks (or one the docs
        say is generated), and every #anchor a heading of that file."""
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.split()
        tracked = set(files)
        docs = [f for f in files if f == "README.md" or (f.startswith("docs/") and f.endswith(".md"))]
        self.assertIn("docs/operations.md", docs)
        bad = []
        for doc in docs:
            with open(os.path.join(ROOT, doc)) as f:
                text = f.read()
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"^[a-z]+:", target):
                    continue  # http:, https:, mailto:
                path, _, anchor = target.partition("#")
                full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
                if full not in tracked and not any(t.startswith(full + "/") for t in tracked):
                    bad.append("%s: %s" % (doc, target))
                elif anchor and full.endswith(".md"):
                    with open(os.path.join(ROOT, full)) as f:
                        heads = [re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
                                 for h in re.findall(r"(?m)^#+ (.*)$", f.read())]
                    if anchor not in heads:
                        bad.append("%s: %s (no such heading)" % (doc, target))
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
