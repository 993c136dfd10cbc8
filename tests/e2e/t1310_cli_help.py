"""berth's help from its command table: `berth help` lists every command, and each command's and
subcommand's --help (and -h, and `berth help CMD [SUB]`) exits 0 without credentials and without
sending anything, and names every option its usage line shows; --version; usage errors exit 2
naming what was wrong. The commands are enumerated from `berth help`, so new ones are covered."""

import http.server
import os
import re
import subprocess
import threading
import unittest

import api
import harness

# Commands that change what runs must offer --wait and --timeout.
WAITERS = ("model import", "service create", "service update", "service scale", "service stop",
           "service resume")


class Recorder(http.server.BaseHTTPRequestHandler):
    """A stand-in endpoint that counts what reaches it: help must reach nothing."""
    seen = []

    def do_POST(self):
        Recorder.seen.append((self.path, dict(self.headers)))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


class CliHelp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.exe = os.path.join(os.path.dirname(api.berthd_path()), "berth")
        if not os.access(cls.exe, os.X_OK):
            raise unittest.SkipTest("berth is not built")
        cls.tmp = harness.tempdir("t1310")
        os.makedirs(os.path.join(cls.tmp, "home"))
        cls.srv = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
        cls.thread = threading.Thread(target=cls.srv.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        srv = vars(cls).get("srv")
        if srv is not None:
            srv.shutdown()
            srv.server_close()
            cls.thread.join(5)
        harness.rmtree(vars(cls).get("tmp"))

    def berth(self, *args):
        # No credential anywhere: not in the environment, the work directory or the home.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TENCENTCLOUD_") and k not in ("BERTH_CREDENTIALS", "XDG_CONFIG_HOME")}
        env["HOME"] = os.path.join(self.tmp, "home")
        env["BERTH_ENDPOINT"] = "http://127.0.0.1:%d" % self.srv.server_port
        p = subprocess.run([self.exe] + list(args), capture_output=True, text=True, timeout=20,
                           env=env, cwd=self.tmp)
        for marker in harness.SANITIZER_MARKERS:
            self.assertNotIn(marker, p.stderr, args)
        return p.returncode, p.stdout, p.stderr

    def commands(self):
        rc, out, err = self.berth("help")
        self.assertEqual(rc, 0, err)
        lines = out.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        return [re.split(r"\s{2,}", l.strip())[0] for l in lines]

    def test_1_help_lists_the_commands(self):
        paths = self.commands()
        for want in ("call", "model import", "model versions", "model delete", "service create",
                     "service show", "service scale", "service autoscale", "token create", "predict",
                     "events", "logs", "help"):
            self.assertIn(want, paths)
        self.assertEqual(len(paths), len(set(paths)), paths)
        rc, out, err = self.berth("--help")
        self.assertEqual((rc, out), (0, self.berth("help")[1]))
        self.assertEqual(self.berth("-h")[1], out)
        self.assertIn("--version", out)

    def test_2_every_command_help(self):
        paths = self.commands()
        for path in paths:
            words = path.split()
            rc, out, err = self.berth(*words, "--help")
            self.assertEqual(rc, 0, "%s --help: %s" % (path, err))
            self.assertTrue(out.startswith("usage: berth %s" % path), out)
            self.assertEqual(err, "")
            usage, rest = out.split("\n", 1)
            self.assertIn("\noptions:\n", rest, path)
            listed = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", rest.split("\noptions:\n", 1)[1], re.M))
            self.assertIn("--help", listed, path)
            for opt in re.findall(r"--[\w-]+", usage):
                self.assertIn(opt, listed, "%s: the usage line shows %s, the options do not" % (path, opt))
            if path in WAITERS:
                self.assertTrue({"--wait", "--timeout"} <= listed, (path, listed))
            self.assertEqual(self.berth(*words, "-h")[:2], (0, out), path)
            self.assertEqual(self.berth("help", *words)[:2], (0, out), path)
            # Anywhere on the line, with other arguments: help, not a call.
            self.assertEqual(self.berth(*words, "ms-abcdefgh-1", "--help")[:2], (0, out), path)
        families = {p.split()[0] for p in paths if " " in p}
        for fam in families:
            rc, out, err = self.berth(fam, "--help")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith("usage: berth %s COMMAND" % fam), out)
            for p in paths:
                if p.startswith(fam + " "):
                    self.assertRegex(out, r"\n  %s +\S" % p.split()[1])
            self.assertEqual(self.berth("help", fam)[:2], (0, out))
            rc, out, err = self.berth(fam)
            self.assertEqual(rc, 2)
            self.assertIn("usage: berth %s COMMAND" % fam, err)
        self.assertEqual(Recorder.seen, [], "help sent a request")

    def test_2b_reference_is_current(self):
        # docs/cli.md's reference is the help itself (scripts/cli-reference.sh writes it).
        with open(os.path.join(harness.REPO, "docs", "cli.md")) as f:
            doc = f.read()
        fix = "; run scripts/cli-reference.sh after make"
        for path in self.commands():
            rc, out, err = self.berth("help", *path.split())
            self.assertIn("\n### berth %s\n\n```\n%s```\n" % (path, out), doc,
                          "docs/cli.md: berth %s is missing or out of date%s" % (path, fix))

    def test_3_version(self):
        rc, out, err = self.berth("--version")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^berth [0-9A-Za-z][\w.+-]*\n$")
        self.assertEqual(self.berth("-V")[:2], (0, out))

    def test_4_usage_errors(self):
        for args, needle in [(("service", "create", "--bogus"), "unknown option '--bogus'"),
                             (("service", "create", "--name"), "--name needs a value"),
                             (("service", "scale", "ms-abcdefgh-1"), "too few arguments"),
                             (("service", "scale", "ms-abcdefgh-1", "2", "3"), "unexpected argument '3'"),
                             (("service", "scale", "ms-abcdefgh-1", "two"), "REPLICAS must be a number"),
                             (("service", "stop", "ms-abcdefgh-1", "--timeout", "soon"), "--timeout"),
                             (("service", "frobnicate"), "unknown command 'frobnicate'"),
                             (("events", "ms-abcdefgh", "--limit", "0"), "--limit must be a number"),
                             (("service", "limit", "ms-abcdefgh-1", "--rps", "-3"), "--rps takes a number"),
                             (("service", "limit", "ms-abcdefgh-1"), "give --rps or --concurrency"),
                             (("help", "service", "nosuch"), "no command 'service nosuch'"),
                             (("--nosuch",), "unknown option '--nosuch'"),
                             (("nosuch",), "unknown command 'nosuch'")]:
            rc, out, err = self.berth(*args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn(needle, err, args)
        # A usage error names the command's usage line.
        rc, out, err = self.berth("service", "scale", "ms-abcdefgh-1")
        self.assertIn("usage: berth service scale ms-ID-N REPLICAS", err)
        self.assertEqual(Recorder.seen, [], "a usage error sent a request")
        # Past the parser, with no credential: said so, exit 2, still nothing sent.
        rc, out, err = self.berth("service", "list")
        self.assertEqual(rc, 2)
        self.assertIn("no credentials", err)
        self.assertEqual(Recorder.seen, [])


if __name__ == "__main__":
    unittest.main()
