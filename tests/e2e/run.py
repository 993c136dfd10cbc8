#!/usr/bin/python3
"""End-to-end test runner for berth-serve.

    /usr/bin/python3 tests/e2e/run.py [FILTER ...]

Discovers tests/e2e/t*.py and runs every test method of the unittest.TestCase classes they
define, in definition order, sharing the class fixtures (setUpClass/tearDownClass). Each file
runs in its own child process, in its own process group, under a time limit. Output: one line
per test, `ok NAME`, `FAIL NAME` (details follow, indented) or `skip NAME (reason)`, with its
time when it took a second or more (`# ...` lines give slow class fixtures), then the line
`RESULT passed=N failed=N skipped=N` last. Exit status 1 if any test failed.

Classes with `abstract = True` in their body are not run themselves (only their subclasses).

A FILTER selects files whose name contains it (`t0100`, `reload`); `FILE:TEST` also selects
tests in those files whose name contains TEST (`t0400:pipelin`).

Environment: BERTH_BIN_DIR (default `build`, relative to the repository root) holds
berth-serve; BERTH_E2E_FILE_TIMEOUT (default 150) bounds each file, in seconds. TSAN_OPTIONS
gets tests/tsan.supp when it names no suppressions, as under `make test SANITIZE=thread`.
"""

import glob
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEBIAN_PY = "/usr/bin/python3"


def ensure_interpreter():
    """The tests need Debian's python3 (xgboost, numpy). Re-exec under it if needed."""
    try:
        import numpy  # noqa: F401
        import xgboost  # noqa: F401
        return
    except ImportError:
        pass
    if (os.path.exists(DEBIAN_PY) and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PY)
            and not os.environ.get("BERTH_E2E_REEXEC")):
        os.environ["BERTH_E2E_REEXEC"] = "1"
        os.execv(DEBIAN_PY, [DEBIAN_PY] + sys.argv)


def split_filters(args):
    files, tests = [], {}
    for a in args:
        f, _, t = a.partition(":")
        files.append(f)
        if t:
            tests.setdefault(f, []).append(t)
    return files, tests


def discover(filters):
    paths = sorted(glob.glob(os.path.join(HERE, "t[0-9]*.py")))
    if not filters:
        return paths
    return [p for p in paths if any(f in os.path.basename(p)[:-3] or f == os.path.basename(p) for f in filters)]


# ---------------------------------------------------------------------------------------------
# child: runs one file

def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def detail(text):
    for ln in text.rstrip("\n").split("\n"):
        emit("    | " + ln)


def run_file(path, test_filters):
    sys.path.insert(0, HERE)
    import harness
    stem = os.path.basename(path)[:-3]
    try:
        spec = importlib.util.spec_from_file_location(stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[stem] = mod
        spec.loader.exec_module(mod)
    except BaseException:
        emit("FAIL %s (import failed)" % stem)
        detail(traceback.format_exc())
        return
    classes = [c for c in vars(mod).values()
               if isinstance(c, type) and issubclass(c, unittest.TestCase) and c.__module__ == stem
               and not vars(c).get("abstract", False)]
    # vars() keeps insertion order: classes and their methods run in source order.
    for cls in classes:
        names = []
        for klass in reversed(cls.__mro__):      # inherited tests first, each in source order
            for n, v in vars(klass).items():
                if n.startswith("test") and callable(v) and n not in names:
                    names.append(n)
        if test_filters:
            names = [n for n in names if any(t in n for t in test_filters)]
        if names:
            run_class(stem, cls, names, harness)
    harness.cleanup_servers()


def dump_logs(harness, first):
    with harness._SERVERS_LOCK:
        servers = list(harness.SERVERS[first:])
    for s in servers:
        if s.log_path:
            detail(s.log_tail(60))


def run_class(stem, cls, names, harness):
    full = lambda n: "%s.%s.%s" % (stem, cls.__name__, n)
    first = len(harness.SERVERS)
    t0 = time.monotonic()
    try:
        cls.setUpClass()
    except unittest.SkipTest as e:
        for n in names:
            emit("skip %s (%s)" % (full(n), e))
        return
    except BaseException:
        tb = traceback.format_exc()
        for n in names:
            emit("FAIL %s (setUpClass failed)" % full(n))
        detail(tb)
        dump_logs(harness, first)
        try:
            cls.tearDownClass()
        except BaseException:
            pass
        harness.cleanup_servers()
        return
    setup_s = time.monotonic() - t0
    if setup_s >= 1:
        emit("# %s set up in %.1fs" % (full("setUpClass"), setup_s))
    for n in names:
        tc = cls(n)
        t0 = time.monotonic()
        outcome, info = "ok", ""
        try:
            tc.setUp()
            try:
                getattr(tc, n)()
            finally:
                try:
                    tc.tearDown()
                finally:
                    tc.doCleanups()
        except unittest.SkipTest as e:
            outcome, info = "skip", str(e)
        except KeyboardInterrupt:
            raise
        except BaseException:
            outcome, info = "FAIL", traceback.format_exc()
        dt = time.monotonic() - t0
        if outcome == "ok":
            emit("ok %s (%.1fs)" % (full(n), dt) if dt >= 1 else "ok %s" % full(n))
        elif outcome == "skip":
            emit("skip %s (%s)" % (full(n), info))
        else:
            emit("FAIL %s (%.1fs)" % (full(n), dt))
            detail(info)
            dump_logs(harness, first)
    try:
        cls.tearDownClass()
    except unittest.SkipTest:
        pass
    except BaseException:
        emit("FAIL %s" % full("tearDownClass"))
        detail(traceback.format_exc())
    harness.cleanup_servers()


# ---------------------------------------------------------------------------------------------
# parent

def become_subreaper():
    """Orphans of the tests (instances' keepers left by a berthd killed with -9 or a timed-out
    file, a berthd that took over from another) come to this process instead of init, so that
    end_orphans() can end them after each file."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def end_orphans():
    """End and reap every child left once a file is done: keepers with SIGHUP (they end their
    instance and all under it), anything else with SIGKILL. Bounded in rounds and time."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = []
        for task in os.listdir("/proc/self/task"):
            try:
                with open("/proc/self/task/%s/children" % task) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        if not kids:
            return
        for pid in kids:
            try:
                with open("/proc/%d/comm" % pid) as f:
                    keeper = f.read().strip() == "berthd-keeper"
                os.kill(pid, signal.SIGHUP if keeper else signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        time.sleep(0.05)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


def run_child(path, test_filters, limit):
    argv = [sys.executable, os.path.abspath(__file__), "--child", path] + ["--test=" + t for t in test_filters]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    lines = queue.Queue()

    def reader():
        for raw in p.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        lines.put(None)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    deadline = time.monotonic() + limit
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        try:
            ln = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if ln is None:
            break
        print(ln, flush=True)
        word = ln.split(" ", 1)[0]
        if word in counts:
            counts[word] += 1
    stem = os.path.basename(path)[:-3]
    if timed_out:
        # the child and the servers it started share its process group
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(10)
        end_orphans()
        print("FAIL %s (file timed out after %ds; tests after the last line above did not run)" % (stem, limit),
              flush=True)
        counts["FAIL"] += 1
        return counts
    rc = p.wait(30)
    try:
        os.killpg(p.pid, signal.SIGKILL)   # leftovers of this child's group, if any
    except (ProcessLookupError, PermissionError):
        pass
    end_orphans()
    if rc != 0:
        print("FAIL %s (test process exited with code %d)" % (stem, rc), flush=True)
        counts["FAIL"] += 1
    return counts


def main(argv):
    if argv and argv[0] == "--child":
        run_file(argv[1], [a[len("--test="):] for a in argv[2:] if a.startswith("--test=")])
        return 0
    files, tests = split_filters(argv)
    paths = discover(files)
    become_subreaper()
    limit = int(os.environ.get("BERTH_E2E_FILE_TIMEOUT", "150"))
    t0 = time.monotonic()
    total = {"ok": 0, "FAIL": 0, "skip": 0}
    took = []
    if not paths:
        print("no test files match %s" % " ".join(argv), flush=True)
    for p in paths:
        stem = os.path.basename(p)[:-3]
        tf = []
        for f, ts in tests.items():
            if f in stem:
                tf += ts
        t1 = time.monotonic()
        c = run_child(p, tf, limit)
        took.append((time.monotonic() - t1, stem))
        for k in total:
            total[k] += c[k]
    # Where the time goes, for whoever keeps make test within its budget.
    if len(took) > 1:
        print("# slowest files: %s" % ", ".join("%s %.0fs" % (s, t) for t, s in sorted(took, reverse=True)[:8]),
              flush=True)
    print("# e2e suite took %.1fs (berth-serve: %s)" % (time.monotonic() - t0, _bin()), flush=True)
    print("RESULT passed=%d failed=%d skipped=%d" % (total["ok"], total["FAIL"], total["skip"]), flush=True)
    return 1 if total["FAIL"] else 0


def _bin():
    sys.path.insert(0, HERE)
    import harness
    return harness.bin_path()


def tsan_suppressions():
    """A TSan build run directly reads the same suppressions as scripts/test.sh gives it."""
    opts = os.environ.get("TSAN_OPTIONS", "")
    if "suppressions=" not in opts:
        supp = os.path.join(os.path.dirname(HERE), "tsan.supp")
        os.environ["TSAN_OPTIONS"] = ("suppressions=%s %s" % (supp, opts)).strip()


if __name__ == "__main__":
    ensure_interpreter()
    tsan_suppressions()
    sys.exit(main(sys.argv[1:]))
