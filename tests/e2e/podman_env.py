"""Shared systems of the container tests, started once per test file (module level): Podman's
Docker-compatible service on a unix socket of the file's own (runc, cgroupfs, as the brief for
this machine says) and Debian's docker-registry on 127.0.0.1 as the private registry, with
small images built from local files: `podman import` of a root file system holding one static
binary (a tiny HTTP server built here with gcc -static) and pushed to the registry. Everything
ends at exit: the service, the registry, the images. Missing tools mean skip."""

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import unittest
import urllib.parse

import harness

SERVER_C = r"""
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
    const char *p = getenv("PORT"), *ver = getenv("VERSION");
    int port = p ? atoi(p) : 8501;
    if (!ver)
        ver = "v1";
    printf("starting version %s\n", ver);
    fflush(stdout);
    if (getenv("CRASH")) {
        fprintf(stderr, "crashing on purpose\n");
        return 3;
    }
    if (getenv("HOG")) { /* touch more memory than the limit allows */
        size_t n = (size_t)atoll(getenv("HOG")) << 20;
        char *m = malloc(n);
        for (size_t i = 0; m && i < n; i += 4096)
            m[i] = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 128)) {
        perror("bind");
        return 1;
    }
    printf("listening on %d version %s\n", port, ver);
    fflush(stdout);
    for (unsigned long n = 0;; n++) {
        int c = accept(fd, 0, 0);
        if (c < 0)
            continue;
        char buf[8192];
        ssize_t got = read(c, buf, sizeof(buf) - 1);
        buf[got > 0 ? got : 0] = 0;
        if (strncmp(buf, "GET /prestop", 12) == 0) {
            printf("prestop ran\n");
            fflush(stdout);
        }
        /* GET /fail answers 500: a liveness probe that fails. */
        const char *status = strncmp(buf, "GET /fail", 9) == 0 ? "500 Failing" : "200 OK";
        char body[128], out[512];
        int bl = snprintf(body, sizeof(body), "{\"version\":\"%s\"}", ver);
        if (strncmp(buf, "GET /model", 10) == 0) { /* what is mounted at /data/model */
            int files = -1;
            DIR *d = opendir("/data/model");
            for (struct dirent *e; d && (e = readdir(d));)
                files += e->d_name[0] != '.';
            if (d)
                closedir(d), files++;
            bl = snprintf(body, sizeof(body), "{\"model_files\":%d}", files);
        }
        int ol = snprintf(out, sizeof(out),
                          "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\nConnection: close\r\n\r\n%s", status, bl, body);
        if (write(c, out, ol) < 0)
            perror("write");
        close(c);
    }
}
"""

# A second program in the image: the PreStopCommand, which tells the server it ran.
PRESTOP_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
    const char *p = getenv("PORT");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p ? atoi(p) : 8501)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        const char req[] = "GET /prestop HTTP/1.0\r\n\r\n";
        if (write(fd, req, sizeof(req) - 1) < 0)
            return 1;
        char buf[256];
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
    }
    return 0;
}
"""

CONTAINERS_CONF = """[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
# exec sessions (PreStopCommand) end with their call, not 5 minutes later
exit_command_delay = 5
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
"""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Env:
    """The running service and registry: .socket, .registry (host:port), .image(name, tag)."""

    def __init__(self, tag):
        for tool in ("podman", "docker-registry", "runc", "gcc"):
            if not shutil.which(tool) and not os.path.exists("/usr/bin/" + tool):
                raise unittest.SkipTest("%s is not installed (scripts/deps.sh)" % tool)
        if os.geteuid() != 0:
            raise unittest.SkipTest("the Podman service needs root here")
        self.tmp = harness.tempdir(tag + "-podman")
        self.procs = []
        self.images = []
        conf = os.path.join(self.tmp, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        self.registry = "127.0.0.1:%d" % harness.free_port()
        # A second registry that wants a user and a password (htpasswd, bcrypt).
        self.auth_registry = "127.0.0.1:%d" % harness.free_port()
        self.auth_user, self.auth_password = "ann", "s3cret-%d" % os.getpid()
        regconf = os.path.join(self.tmp, "registries.conf")
        with open(regconf, "w") as f:
            for r in (self.registry, self.auth_registry):
                f.write('[[registry]]\nlocation = "%s"\ninsecure = true\n' % r)
        self.env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_REGISTRIES_CONF=regconf)
        self.socket = os.path.join(self.tmp, "podman.sock")
        atexit.register(self.close)
        self._registry("registry", self.registry, None)
        import crypt  # bcrypt, as htpasswd -B writes it
        htpasswd = os.path.join(self.tmp, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write("%s:%s\n" % (self.auth_user,
                                  crypt.crypt(self.auth_password, crypt.mksalt(crypt.METHOD_BLOWFISH))))
        self._registry("auth-registry", self.auth_registry, htpasswd)
        self._spawn(["podman", "system", "service", "--time=0", "unix://" + self.socket],
                    "podman.log")
        harness.wait_until(lambda: os.path.exists(self.socket) and self.engine("GET", "/version")[0] == 200,
                           20, 0.1, what="the Podman service")
        for r in (self.registry, self.auth_registry):
            harness.wait_until(lambda: self._registry_up(r), 20, 0.1, what="the registry " + r)
        self.rootfs = self._build_rootfs()

    def _spawn(self, argv, log):
        f = open(os.path.join(self.tmp, log), "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             env=self.env, cwd=self.tmp)
        f.close()
        self.procs.append(p)
        return p

    def _registry(self, name, addr, htpasswd):
        regdir = os.path.join(self.tmp, name)
        os.mkdir(regdir)
        yml = os.path.join(self.tmp, name + ".yml")
        with open(yml, "w") as f:
            f.write("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s\nhttp:\n  addr: %s\n" % (regdir, addr))
            if htpasswd:
                f.write("auth:\n  htpasswd:\n    realm: berth\n    path: %s\n" % htpasswd)
        self._spawn(["docker-registry", "serve", yml], name + ".log")

    def _registry_up(self, addr):
        c = http.client.HTTPConnection(addr, timeout=2)
        try:
            c.request("GET", "/v2/")
            return c.getresponse().status in (200, 401)
        finally:
            c.close()

    def _build_rootfs(self):
        root = os.path.join(self.tmp, "rootfs")
        os.mkdir(root)
        for name, src in (("srv", SERVER_C), ("prestop", PRESTOP_C)):
            c = os.path.join(self.tmp, name + ".c")
            with open(c, "w") as f:
                f.write(src)
            subprocess.run(["gcc", "-static", "-O1", "-o", os.path.join(root, name), c], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)
        tar = os.path.join(self.tmp, "rootfs.tar")
        with tarfile.open(tar, "w") as t:
            t.add(root, arcname=".")
        return tar

    def podman(self, *args, timeout=60):
        p = subprocess.run(["podman"] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.env, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("podman %s: %s" % (" ".join(args), p.stdout.decode(errors="replace")))
        return p.stdout.decode(errors="replace")

    def image(self, name, tag, env=(), volume=None, push=True, keep_local=False, registry=None):
        """Build an image FROM scratch (the root fs with the static server) and push it."""
        registry = registry or self.registry
        ref = "%s/%s:%s" % (registry, name, tag)
        changes = ['CMD ["/srv"]']
        changes += ["ENV %s=%s" % kv for kv in env]
        if volume:
            changes.append("VOLUME %s" % volume)
        args = ["import"]
        for ch in changes:
            args += ["--change", ch]
        self.podman(*(args + [self.rootfs, ref]))
        self.images.append(ref)
        if push and registry == self.auth_registry:
            self.podman("push", "--creds", "%s:%s" % (self.auth_user, self.auth_password), ref)
        elif push:
            self.podman("push", ref)
        if not keep_local:
            self.podman("rmi", "-f", ref)  # deploying it must pull it
        return ref

    def engine(self, method, path, body=None):
        c = UnixHTTPConnection(self.socket)
        try:
            hdrs = {"Content-Type": "application/json"} if body is not None else {}
            c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
                      headers=hdrs)
            r = c.getresponse()
            data = r.read()
            try:
                return r.status, json.loads(data) if data else None
            except ValueError:
                return r.status, data
        finally:
            c.close()

    def containers(self, owner_label=None):
        """Every container (running or not) with label berth.owner (any value, or that one)."""
        label = "berth.owner" if owner_label is None else "berth.owner=%s" % owner_label
        q = urllib.parse.quote(json.dumps({"label": [label]}))
        status, body = self.engine("GET", "/containers/json?all=1&filters=" + q)
        assert status == 200, (status, body)
        return body

    def close(self):
        for ref in self.images:
            subprocess.run(["podman", "rmi", "-f", ref], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env,
                           timeout=60)
        self.images = []
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        harness.rmtree(self.tmp)


_ENV = None


def get(tag):
    """The file's shared Env, started on first use."""
    global _ENV
    if _ENV is None:
        _ENV = Env(tag)
    return _ENV
