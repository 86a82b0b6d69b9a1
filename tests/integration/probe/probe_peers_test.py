#!/usr/bin/env python3
"""`gatehouse probe` run as users run it (the real binary, --json and text) against real
proxies started here on loopback ports picked at run time: Gatehouse itself (no auth, Basic
right and wrong, throttled, a CONNECT port outside connect_ports as its policy denial, the
TLS listener, plain HTTP to the TLS port), Squid (keeping or closing the connection after
407, a deny rule answered as 407, a 403, an upstream failure), tinyproxy (401 for wrong
credentials), Apache mod_proxy, and a small fake proxy for what no real peer shows (no
challenge, NTLM/Negotiate, 401, garbage). Also proxy choice from the environment and from
PAC files. Every process is started in a throw-away directory and stopped at the end; only
127.0.0.1 is contacted.

Usage: probe_peers_test.py GATEHOUSE_BINARY [unittest arguments, e.g. SquidTest]
"""

import base64
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BINARY = None
USER = "alice"
PASSWORD = "s3cret-Pa55"  # must never appear in the probe's output
SQUID_HELPER = "/usr/lib/squid/basic_ncsa_auth"
APACHE_MODULES = "/usr/lib/apache2/modules"


def free_port():
    """A port that was free a moment ago (for daemons that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A port with nothing listening (connections are refused)."""
    return free_port()


def wait_for_port(port, process, seconds=20):
    """Polls until something accepts on port; fails early if the process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % process.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %d after %ds" % (port, seconds))


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def basic_wire(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Origin:
    """A loopback HTTP origin answering 200 "hello" (and serving PAC files)."""

    def __init__(self, files=None):
        files = files or {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = files.get(self.path, b"hello\n")
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeProxy:
    """A scripted proxy: `answer(request_head, has_credentials, index)` returns (bytes, close)
    for the index-th request on a connection; None bytes close without answering."""

    def __init__(self, answer):
        outer = self
        self.requests = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(10)
                buffer = b""
                index = 0
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = self.request.recv(4096)
                        if not data:
                            return
                        buffer += data
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    text = head.decode("latin-1")
                    outer.requests.append(text)
                    has_credentials = "\r\nproxy-authorization:" in text.lower()
                    reply, close = answer(text, has_credentials, index)
                    index += 1
                    if reply is None:
                        return
                    self.request.sendall(reply)
                    if close:
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_probe(*args, env=None, json_output=True):
    """Runs the probe; returns (exit code, parsed JSON or text, stderr)."""
    command = [BINARY, "probe"] + (["--json"] if json_output else []) + list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    full_env.update(env or {})
    result = subprocess.run(command, capture_output=True, timeout=120, env=full_env,
                            stdin=subprocess.DEVNULL)
    out = result.stdout.decode("utf-8", "replace")
    err = result.stderr.decode("utf-8", "replace")
    if PASSWORD in out or PASSWORD in err:
        raise AssertionError("the password appeared in the probe's output")
    encoded = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    if encoded in out:
        raise AssertionError("the encoded credentials appeared in the probe's output")
    if json_output and out.strip():
        return result.returncode, json.loads(out), err
    return result.returncode, out, err


def outcomes(report, index=0):
    return {m["method"]: m["outcome"] for m in report["targets"][index]["methods"]}


def findings(report, index=0):
    return " | ".join(f["text"] for f in report["targets"][index]["findings"])


def evidence(report, index=0):
    return " | ".join(report["targets"][index]["verdict"]["evidence"])


class ProbeTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-probe-")
        os.chmod(self.dir, 0o777)  # daemons that drop privileges write logs here
        self.processes = []
        self.closers = []
        self.origin = Origin()
        self.closers.append(self.origin.close)

    def tearDown(self):
        for process in self.processes:
            stop(process)
        for close in self.closers:
            close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text, mode=0o644):
        with open(self.path(name), "w") as f:
            f.write(text)
        os.chmod(self.path(name), mode)
        return self.path(name)

    def start(self, command, port=None, log_name="out.log"):
        log = open(self.path(log_name), "wb")
        self.closers.append(log.close)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        self.processes.append(process)
        if port is not None:
            wait_for_port(port, process)
        return process

    def htpasswd(self, name, user, password, flags="-bc"):
        subprocess.run(["htpasswd", flags, self.path(name), user, password], check=True,
                       capture_output=True)
        os.chmod(self.path(name), 0o644)
        return self.path(name)

    def assertVerdict(self, report, code, exit_code, rc, index=0):
        verdict = report["targets"][index]["verdict"]
        self.assertEqual(verdict["code"], code, json.dumps(report["targets"][index], indent=1))
        self.assertEqual(verdict["exit_code"], exit_code)
        self.assertEqual(rc, exit_code)


class GatehouseTest(ProbeTestCase):
    """Gatehouse (the real binary) as the proxy."""

    def start_gatehouse(self, *extra, tls=False):
        args = [BINARY, "--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers",
                "127.0.0.1:%d" % closed_port()] + list(extra)
        log = self.path("gatehouse.log")
        process = self.start(args, log_name="gatehouse.log")
        deadline = time.monotonic() + 20
        plain = tls_port = None
        while time.monotonic() < deadline and (plain is None or (tls and tls_port is None)):
            if process.poll() is not None:
                raise RuntimeError("gatehouse exited: " + read_text(log))
            for line in read_text(log).splitlines():
                if "listening for TLS on 127.0.0.1:" in line:
                    tls_port = int(line.split("127.0.0.1:")[1].split()[0])
                elif "listening on 127.0.0.1:" in line:
                    plain = int(line.split("127.0.0.1:")[1].split()[0])
            time.sleep(0.05)
        self.assertIsNotNone(plain, read_text(log))
        return (plain, tls_port) if tls else plain

    def with_auth(self, *extra):
        users = self.htpasswd("users", USER, PASSWORD, "-bcB")
        return self.start_gatehouse("--auth-file", users, "--realm", "Probe Test",
                                    "--connect-ports", "443,%d" % self.origin.port, *extra)

    def make_certificates(self):
        key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        commands = [
            "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj '/CN=Probe Test CA'"
            % key,
            "openssl req %s -keyout proxy.key -out proxy.csr -subj /CN=localhost" % key,
            "openssl x509 -req -in proxy.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out proxy.pem -days 2 -extfile san.ext",
        ]
        self.write("san.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for command in commands:
            subprocess.run(command, shell=True, cwd=self.dir, check=True, capture_output=True)

    def test_no_auth(self):
        port = self.start_gatehouse("--connect-ports", str(self.origin.port))
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--connect-check",
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "no_auth_required", 0, rc)
        self.assertEqual(outcomes(report), {"GET": "no_auth_required",
                                            "CONNECT": "no_auth_required"})
        target = report["targets"][0]
        self.assertEqual([s["name"] for s in target["methods"][0]["steps"]],
                         ["resolve", "connect"])
        self.assertEqual(target["proxy"]["decided_by"], "--proxy")
        self.assertIsNone(report["credentials"])

        # A destination that refuses: Gatehouse's 502 with Proxy-Status, read and explained.
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port,
                                  "http://127.0.0.1:%d/" % closed_port())
        self.assertVerdict(report, "upstream_failure", 8, rc)
        self.assertIn("connection_refused (the destination refused the proxy's connection)",
                      evidence(report))

    def test_basic_right_credentials(self):
        port = self.with_auth()
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                  "%s:%s" % (USER, PASSWORD), "--connect-check",
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        for method in report["targets"][0]["methods"]:
            first, second = method["exchanges"]
            self.assertEqual(first["response"]["status"], 407)
            self.assertFalse(first["response"]["close_after"])
            self.assertTrue(second["with_credentials"])
            self.assertFalse(second["new_connection"], "Gatehouse keeps the connection after 407")
            self.assertIn("masked", second["request"])
            challenges = first["response"]["proxy_authenticate"]
            self.assertEqual(challenges[0]["scheme"], "Basic")
            self.assertEqual({p["name"]: p["value"] for p in challenges[0]["params"]},
                             {"realm": "Probe Test", "charset": "UTF-8"})
        self.assertEqual(report["credentials"]["user"], USER)
        self.assertIn("password: 11 bytes", report["credentials"]["checks"])

    def test_basic_wrong_credentials_in_text(self):
        port = self.with_auth()
        rc, text, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                "%s:%s" % (USER, PASSWORD + "x"),
                                "http://127.0.0.1:%d/" % self.origin.port, json_output=False)
        self.assertEqual(rc, 4)
        self.assertTrue(text.startswith("PROBLEM: Wrong credentials"), text)
        self.assertNotIn("\033[", text, "no colour when stdout is not a terminal")
        self.assertIn("Proxy-Authorization: Basic <alice:12-byte password, base64, masked>", text)
        self.assertIn("jdk.http.auth", text)
        rc, text, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--color", "always",
                                "http://127.0.0.1:%d/" % self.origin.port, json_output=False)
        self.assertEqual(rc, 3)
        self.assertTrue(text.startswith("\033[1m\033[31mPROBLEM: The proxy requires credentials"),
                        text[:80])

    def test_throttled(self):
        port = self.with_auth("--auth-max-failures", "2")
        verdicts = []
        for _ in range(5):
            rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                      "%s:wrong" % USER, "http://127.0.0.1:%d/" % self.origin.port)
            verdicts.append(report["targets"][0]["verdict"]["code"])
            if verdicts[-1] == "throttled":
                break
        self.assertEqual(verdicts[0], "wrong_credentials")
        self.assertEqual(verdicts[-1], "throttled", verdicts)
        self.assertVerdict(report, "throttled", 7, rc)
        self.assertIn("Retry-After", evidence(report))

    def test_policy_denial_is_a_connect_port_outside_connect_ports(self):
        # Gatehouse has no policy engine yet; its one refusal by rule is a CONNECT to a port
        # outside connect_ports: 403 with Proxy-Status error=http_request_denied.
        port = self.with_auth()
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                  "%s:%s" % (USER, PASSWORD), "https://127.0.0.1:%d/" % closed_port())
        self.assertVerdict(report, "policy_denied", 5, rc)
        self.assertIn("http_request_denied", evidence(report))
        exchanges = report["targets"][0]["methods"][0]["exchanges"]
        self.assertEqual([e["response"]["status"] for e in exchanges], [407, 403])

        # Several targets: each gets its verdict; the first one that is not OK sets the code.
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                  "%s:%s" % (USER, PASSWORD),
                                  "http://127.0.0.1:%d/" % self.origin.port,
                                  "https://127.0.0.1:%d/" % closed_port())
        self.assertEqual([t["verdict"]["code"] for t in report["targets"]],
                         ["credentials_accepted", "policy_denied"])
        self.assertEqual(rc, 5)
        self.assertEqual(report["exit_code"], 5)

    def test_tls_listener(self):
        self.make_certificates()
        plain, tls = self.start_gatehouse("--tls-listen", "127.0.0.1:0", "--tls-cert",
                                          self.path("proxy.pem"), "--tls-key",
                                          self.path("proxy.key"), "--connect-ports",
                                          str(self.origin.port), tls=True)
        url = "http://127.0.0.1:%d/" % self.origin.port
        rc, report, _ = run_probe("--proxy", "https://localhost:%d" % tls, "--proxy-cacert",
                                  self.path("ca.pem"), "--connect-check", url)
        self.assertVerdict(report, "no_auth_required", 0, rc)
        steps = {s["name"]: s for s in report["targets"][0]["methods"][0]["steps"]}
        self.assertTrue(steps["tls"]["ok"])
        self.assertIn("ALPN http/1.1", steps["tls"]["detail"])
        self.assertIn("Probe Test CA", steps["tls"]["detail"])
        self.assertIn("verification ok", steps["tls"]["detail"])

        # Untrusted: described, refused; --insecure goes on and says so.
        rc, report, _ = run_probe("--proxy", "https://localhost:%d" % tls, url)
        self.assertVerdict(report, "proxy_unreachable", 9, rc)
        self.assertIn("certificate not trusted", evidence(report))
        rc, report, _ = run_probe("--proxy", "https://localhost:%d" % tls, "--insecure", url)
        self.assertVerdict(report, "no_auth_required", 0, rc)
        self.assertIn("ignored: --insecure", json.dumps(report))

        # TLS to the plain port: no ServerHello.
        rc, report, _ = run_probe("--proxy", "https://127.0.0.1:%d" % plain, "--timeout", "3", url)
        self.assertVerdict(report, "proxy_unreachable", 9, rc)
        self.assertIn("tls failed", evidence(report))

    def test_tls_listener_with_basic_auth(self):
        # 407 and the retry with credentials over one TLS connection, GET and CONNECT.
        self.make_certificates()
        _, tls = self.with_auth_tls()
        rc, report, _ = run_probe("--proxy", "https://127.0.0.1:%d" % tls, "--proxy-cacert",
                                  self.path("ca.pem"), "--proxy-user", "%s:%s" % (USER, PASSWORD),
                                  "--connect-check", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        for method in report["targets"][0]["methods"]:
            self.assertEqual([s["name"] for s in method["steps"]], ["resolve", "connect", "tls"])
            self.assertFalse(method["exchanges"][1]["new_connection"])
        self.assertNotIn("Basic over a plain-HTTP proxy", findings(report))

    def with_auth_tls(self):
        users = self.htpasswd("users", USER, PASSWORD, "-bcB")
        return self.start_gatehouse("--auth-file", users, "--connect-ports", str(self.origin.port),
                                    "--tls-listen", "127.0.0.1:0", "--tls-cert",
                                    self.path("proxy.pem"), "--tls-key", self.path("proxy.key"),
                                    tls=True)

    def test_plain_http_to_the_tls_port(self):
        self.make_certificates()
        _, tls = self.start_gatehouse("--tls-listen", "127.0.0.1:0", "--tls-cert",
                                      self.path("proxy.pem"), "--tls-key",
                                      self.path("proxy.key"), tls=True)
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % tls,
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "plain_http_on_tls_port", 9, rc)
        response = report["targets"][0]["methods"][0]["exchanges"][0]["response"]
        self.assertEqual(response["status"], 497)

    def test_environment_and_pac_choose_the_proxy(self):
        port = self.start_gatehouse("--connect-ports", str(self.origin.port))
        target = "http://127.0.0.1:%d/" % self.origin.port
        rc, report, _ = run_probe(target, env={"http_proxy": "http://127.0.0.1:%d" % port,
                                               "HTTP_PROXY": "http://127.0.0.1:1"})
        self.assertVerdict(report, "no_auth_required", 0, rc)
        self.assertEqual(report["targets"][0]["proxy"]["decided_by"], "http_proxy")

        rc, report, _ = run_probe(target, env={"http_proxy": "http://127.0.0.1:%d" % port,
                                               "no_proxy": "localhost,127.0.0.0/8"})
        self.assertVerdict(report, "direct", 0, rc)
        self.assertEqual(report["targets"][0]["proxy"]["decided_by"], "no_proxy")
        self.assertIn("127.0.0.0/8", report["targets"][0]["proxy"]["explanation"])

        # Credentials in the URL from the environment: used, never printed.
        rc, report, _ = run_probe(target, env={
            "all_proxy": "http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, port)})
        self.assertEqual(report["credentials"]["source"], "proxy URL (all_proxy)")

        # PAC from a file and over HTTP; only loopback names, no dnsResolve.
        pac = ("function FindProxyForURL(url, host) {\n"
               "  if (dnsDomainIs(host, '.example')) return 'DIRECT';\n"
               "  if (shExpMatch(url, 'http://127.0.0.1:*')) return 'PROXY 127.0.0.1:%d; DIRECT';\n"
               "  return 'DIRECT';\n}\n" % port)
        pac_file = self.write("proxy.pac", pac)
        rc, report, _ = run_probe("--pac", pac_file, target)
        self.assertVerdict(report, "no_auth_required", 0, rc)
        self.assertEqual(report["targets"][0]["proxy"]["decided_by"], "PAC")
        self.assertIn("PROXY 127.0.0.1:%d; DIRECT" % port,
                      " ".join(report["targets"][0]["proxy"]["pac"]))
        served = Origin({"/proxy.pac": pac.encode()})
        self.closers.append(served.close)
        rc, report, _ = run_probe("--pac", "http://127.0.0.1:%d/proxy.pac" % served.port,
                                  "http://www.example/")
        self.assertVerdict(report, "direct", 0, rc)

        rc, _, err = run_probe("--pac", self.write("bad.pac", "function ("), target)
        self.assertEqual(rc, 10)
        self.assertIn("does not evaluate", err)


class SquidTest(ProbeTestCase):
    """Squid 5 with basic_ncsa_auth."""

    def start_squid(self, extra="", digest=False):
        self.port = free_port()
        self.blocked = closed_port()
        self.origin2 = Origin()
        self.closers.append(self.origin2.close)
        if digest:
            # digest_file_auth reads plain "user:password" lines.
            passwd = self.write("digest_passwd", "%s:%s\n" % (USER, PASSWORD))
            auth = (f"auth_param digest program /usr/lib/squid/digest_file_auth {passwd}\n"
                    "auth_param digest realm Squid Digest\nauth_param digest children 2")
        else:
            passwd = self.htpasswd("passwd", USER, PASSWORD)
            auth = (f"auth_param basic program {SQUID_HELPER} {passwd}\n"
                    "auth_param basic realm Squid Probe\nauth_param basic children 2")
        conf = self.write("squid.conf", f"""
http_port 127.0.0.1:{self.port}
visible_hostname probe-squid
pid_filename {self.dir}/squid.pid
cache_log {self.dir}/cache.log
access_log stdio:{self.dir}/access.log
cache_store_log none
cache deny all
coredump_dir {self.dir}
cache_effective_user proxy
shutdown_lifetime 0 seconds
dns_nameservers 127.0.0.1
{auth}
acl authed proxy_auth REQUIRED
acl CONNECT method CONNECT
acl blocked port {self.blocked}
acl origin2 port {self.origin2.port}
http_access deny blocked
# The last ACL of a deny line being an auth ACL makes Squid answer 407 to good credentials.
http_access deny CONNECT origin2 authed
http_access allow authed
http_access deny all
{extra}
""")
        self.start(["squid", "-N", "-f", conf], self.port)
        return "http://127.0.0.1:%d" % self.port

    def test_squid(self):
        proxy = self.start_squid()
        good = "%s:%s" % (USER, PASSWORD)
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", good, "--connect-check",
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        first = report["targets"][0]["methods"][0]["exchanges"][0]["response"]
        self.assertIn(["X-Squid-Error", "ERR_CACHE_ACCESS_DENIED 0"], first["headers"])
        self.assertFalse(report["targets"][0]["methods"][0]["exchanges"][1]["new_connection"])
        self.assertTrue(any("squid" in a for a in report["targets"][0]["answered_by"]))

        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", USER + ":nope",
                                  "https://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "wrong_credentials", 4, rc)

        # CONNECT refused with 407 although GET takes the same credentials: a policy.
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", good, "--connect-check",
                                  "http://127.0.0.1:%d/" % self.origin2.port)
        self.assertVerdict(report, "policy_denied", 5, rc)
        self.assertEqual(outcomes(report), {"GET": "credentials_accepted",
                                            "CONNECT": "policy_denied"})
        self.assertIn("the methods differ", evidence(report))

        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", good,
                                  "https://127.0.0.1:%d/" % self.blocked)
        self.assertVerdict(report, "policy_denied", 5, rc)
        self.assertIn("ERR_ACCESS_DENIED", evidence(report))

        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", good,
                                  "http://127.0.0.1:%d/" % closed_port())
        self.assertVerdict(report, "upstream_failure", 8, rc)
        self.assertIn("ERR_CONNECT_FAIL", evidence(report))

    def test_squid_closing_after_407(self):
        proxy = self.start_squid("client_persistent_connections off")
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", "%s:%s" % (USER, PASSWORD),
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        first, second = report["targets"][0]["methods"][0]["exchanges"]
        self.assertTrue(first["response"]["close_after"])
        self.assertTrue(second["new_connection"])
        self.assertIn("closes the connection after its 407", findings(report))


    def test_squid_digest(self):
        proxy = self.start_squid(digest=True)
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", "%s:%s" % (USER, PASSWORD),
                                  "--connect-check", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        method = report["targets"][0]["methods"][0]
        challenge = method["exchanges"][0]["response"]["proxy_authenticate"][0]
        self.assertEqual(challenge["scheme"], "Digest")
        self.assertIn("Digest algorithm MD5 (default)", challenge["details"])
        self.assertIn("response=<masked>", method["exchanges"][1]["request"])
        self.assertIn("with Digest credentials", method["summary"])
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", USER + ":wrong",
                                  "https://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "wrong_credentials", 4, rc)


class TinyproxyTest(ProbeTestCase):
    def test_tinyproxy_answers_wrong_credentials_with_401(self):
        port = free_port()
        conf = self.write("tinyproxy.conf", f"""
User nobody
Group nogroup
Port {port}
Listen 127.0.0.1
Timeout 30
LogFile "{self.dir}/tinyproxy.log"
LogLevel Info
PidFile "{self.dir}/tinyproxy.pid"
MaxClients 10
Allow 127.0.0.1
BasicAuth {USER} {PASSWORD}
""")
        self.start(["tinyproxy", "-d", "-c", conf], port)
        proxy = "http://127.0.0.1:%d" % port
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", USER + ":wrong",
                                  "--connect-check", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "wrong_credentials_401", 4, rc)
        self.assertIn("answered 401", findings(report))
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", "%s:%s" % (USER, PASSWORD),
                                  "--connect-check", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        # tinyproxy closes after every 407 (HTTP/1.0, Connection: close).
        self.assertTrue(report["targets"][0]["methods"][0]["exchanges"][1]["new_connection"])


class ApacheTest(ProbeTestCase):
    def test_apache_mod_proxy(self):
        port = free_port()
        htpasswd = self.htpasswd("htpasswd", USER, PASSWORD)
        os.chmod(self.dir, 0o755)
        m = APACHE_MODULES
        modules = ["mpm_event", "authz_core", "authn_core", "authn_file", "authz_user",
                   "auth_basic", "proxy", "proxy_http", "proxy_connect"]
        load = "\n".join("LoadModule %s_module %s/mod_%s.so" % (name, m, name)
                         for name in modules)
        conf = self.write("httpd.conf", f"""
ServerRoot "{self.dir}"
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {self.dir}/httpd.pid
ErrorLog {self.dir}/error.log
LogLevel warn
DefaultRuntimeDir {self.dir}
Mutex file:{self.dir} default
User www-data
Group www-data
{load}
ProxyRequests On
AllowCONNECT 1-65535
<Proxy "*">
  AuthType Basic
  AuthName "Apache Probe"
  AuthBasicProvider file
  AuthUserFile {htpasswd}
  Require valid-user
</Proxy>
""")
        self.start(["apache2", "-X", "-f", conf], port)
        proxy = "http://127.0.0.1:%d" % port
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", "%s:%s" % (USER, PASSWORD),
                                  "--connect-check", "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        self.assertTrue(any(a.startswith("Server: Apache")
                            for a in report["targets"][0]["answered_by"]))
        rc, report, _ = run_probe("--proxy", proxy, "--proxy-user", USER + ":wrong",
                                  "https://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "wrong_credentials", 4, rc)
        rc, report, _ = run_probe("--proxy", proxy, "https://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "credentials_required", 3, rc)


NTLM_TYPE2 = "TlRMTVNTUAACAAAACAAIADAAAAABAgggEREREREREREAAAAAAAAAAAAAAAAAAAAAQwBPAFIAUAA="


def reply(status, headers=(), body=b"", version="HTTP/1.1"):
    lines = ["%s %s" % (version, status)] + list(headers)
    if not any(h.lower().startswith("content-length") for h in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FakeProxyTest(ProbeTestCase):
    """Violations no real peer shows."""

    def probe_fake(self, answer, *args, target=None):
        fake = FakeProxy(answer)
        self.closers.append(fake.close)
        target = target or "http://127.0.0.1:%d/" % self.origin.port
        return fake, run_probe("--proxy", "http://127.0.0.1:%d" % fake.port, *args, target)

    def test_407_without_challenge(self):
        # Smokescreen-style: a denial as 407 with no Proxy-Authenticate.
        fake, (rc, report, _) = self.probe_fake(
            lambda head, creds, index: (reply("407 Proxy Authentication Required",
                                       ["WWW-Authenticate: Basic realm=\"x\""]), False),
            "--proxy-user", "%s:%s" % (USER, PASSWORD))
        self.assertVerdict(report, "no_challenge", 6, rc)
        self.assertIn("407 without Proxy-Authenticate", findings(report))
        self.assertIn("WWW-Authenticate on a 407", findings(report))
        self.assertIn("Proxy-Authorization: " + basic_wire(USER, PASSWORD), fake.requests[1])
        advice = {a["client"]: a for a in report["targets"][0]["advice"]}
        self.assertIn("ERR_PROXY_AUTH_UNSUPPORTED", advice["chromium"]["behaviour"])

    def test_ntlm_and_negotiate_challenges(self):
        def answer(head, creds, index):
            return reply("407 Proxy Authentication Required",
                         ["Proxy-Authenticate: NTLM " + NTLM_TYPE2,
                          "Proxy-Authenticate: Negotiate",
                          "Proxy-Authenticate: Basic realm=corp, charset=\"ISO-8859-1\""]), False

        fake, (rc, report, _) = self.probe_fake(answer, target="https://127.0.0.1:443/")
        self.assertVerdict(report, "credentials_required", 3, rc)
        challenges = report["targets"][0]["methods"][0]["exchanges"][0]["response"][
            "proxy_authenticate"]
        self.assertEqual([c["scheme"] for c in challenges], ["NTLM", "Negotiate", "Basic"])
        self.assertIn("NTLM type 2 (challenge), target \"CORP\"", " ".join(challenges[0]["details"]))
        self.assertIn("UNICODE", " ".join(challenges[0]["details"]))
        self.assertIn("bare token", findings(report))
        self.assertIn("ISO-8859-1", findings(report))

    def test_connection_bound_schemes_and_a_close_after_407(self):
        fake, (rc, report, _) = self.probe_fake(
            lambda head, creds, index: (reply("407 Proxy Authentication Required",
                                       ["Proxy-Authenticate: NTLM", "Connection: close"]), True),
            "--proxy-user", "%s:%s" % (USER, PASSWORD))
        self.assertVerdict(report, "closes_after_407", 6, rc)
        self.assertEqual(len(fake.requests), 1, "no Basic sent to an NTLM-only proxy")
        self.assertIn("NTLM/Negotiate handshakes are bound to one connection", findings(report))

    def test_401_from_the_proxy(self):
        fake, (rc, report, _) = self.probe_fake(
            lambda head, creds, index: (reply("401 Unauthorized",
                                       ["WWW-Authenticate: Basic realm=\"proxy\""]), False),
            target="https://127.0.0.1:443/")
        self.assertVerdict(report, "proxy_sent_401", 6, rc)
        advice = {a["client"]: a for a in report["targets"][0]["advice"]}
        self.assertIn("ERR_TUNNEL_CONNECTION_FAILED", advice["chromium"]["behaviour"])

    def test_silent_close_after_407_and_garbage(self):
        # A framed 407 (Content-Length, no Connection: close), then the next request on that
        # connection is dropped unanswered; a new connection with credentials gets 200.
        def answer(head, creds, index):
            if index > 0:
                return None, True
            if creds:
                return reply("200 OK"), False
            return reply("407 Proxy Authentication Required",
                         ["Proxy-Authenticate: Basic realm=\"r\""]), False

        fake, (rc, report, _) = self.probe_fake(answer, "--proxy-user",
                                                "%s:%s" % (USER, PASSWORD))
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        self.assertIn("without Connection: close", findings(report))
        exchanges = report["targets"][0]["methods"][0]["exchanges"]
        self.assertEqual(len(exchanges), 3)
        self.assertFalse(exchanges[1]["new_connection"])
        self.assertIsNone(exchanges[1]["response"])
        self.assertTrue(exchanges[2]["new_connection"])

        fake, (rc, report, _) = self.probe_fake(lambda head, creds, index: (b"SSH-2.0-OpenSSH_9\r\n", True))
        self.assertVerdict(report, "not_http", 9, rc)

    def test_chunked_407_body_keeps_the_connection(self):
        # curl's rule: a 407 body delimited by chunked framing can be drained, so the retry
        # goes on the same connection; interim 100 responses are skipped.
        def answer(head, creds, index):
            if creds:
                return b"HTTP/1.1 100 Continue\r\n\r\n" + reply("200 OK"), False
            return (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b"Proxy-Authenticate: Basic realm=\"r\"\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), False

        fake, (rc, report, _) = self.probe_fake(answer, "--proxy-user", "%s:%s" % (USER, PASSWORD))
        self.assertVerdict(report, "credentials_accepted", 0, rc)
        first, second = report["targets"][0]["methods"][0]["exchanges"]
        self.assertEqual(first["response"]["body_bytes"], 11)
        self.assertFalse(first["response"]["close_after"])
        self.assertFalse(second["new_connection"])
        self.assertEqual(second["response"]["interim"], [100])

    def test_proxy_gone_after_its_407(self):
        # One connection gets a closing 407, then the proxy stops listening.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def serve_once():
            conn, _ = listener.accept()
            listener.close()
            with conn:
                conn.settimeout(10)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                conn.sendall(reply("407 Proxy Authentication Required",
                                   ["Proxy-Authenticate: Basic realm=\"r\"", "Connection: close"]))

        thread = threading.Thread(target=serve_once, daemon=True)
        thread.start()
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % port, "--proxy-user",
                                  "%s:%s" % (USER, PASSWORD), "http://127.0.0.1:1/")
        thread.join(10)
        self.assertVerdict(report, "no_response", 9, rc)
        self.assertIn("could not reconnect", evidence(report))
        steps = report["targets"][0]["methods"][0]["steps"]
        self.assertEqual([(s["name"], s["ok"]) for s in steps],
                         [("resolve", True), ("connect", True), ("reconnect", False)])

    def test_usage_errors(self):
        rc, _, err = run_probe("--proxy", "http://127.0.0.1:1", "--proxy-user", USER,
                               "http://127.0.0.1:1/")
        self.assertEqual(rc, 2)
        self.assertIn("no password and there is no terminal", err)
        rc, _, err = run_probe("--proxy", "socks5://127.0.0.1:1080", "http://127.0.0.1:1/")
        self.assertEqual(rc, 2)
        self.assertIn("SOCKS", err)
        rc, _, err = run_probe("--proxy", "http://127.0.0.1:1", "ftp://127.0.0.1/")
        self.assertEqual(rc, 2)
        rc, report, _ = run_probe("--proxy", "http://127.0.0.1:%d" % closed_port(),
                                  "http://127.0.0.1:1/")
        self.assertVerdict(report, "proxy_unreachable", 9, rc)
        self.assertIn("Connection refused", evidence(report))

    def test_credentials_that_break_in_a_proxy_url(self):
        fake = FakeProxy(lambda head, creds, index: (reply("200 OK"), False))
        self.closers.append(fake.close)
        rc, report, _ = run_probe("--proxy", "http://dom%%3Abob:p@ss%%20@127.0.0.1:%d" % fake.port,
                                  "http://127.0.0.1:%d/" % self.origin.port)
        self.assertVerdict(report, "no_auth_required", 0, rc)
        self.assertEqual(report["credentials"]["user"], "dom:bob")
        checks = " | ".join(report["credentials"]["checks"])
        self.assertIn("user name contains ':'", checks)
        self.assertIn("'@' as %40", checks)
        self.assertIn("password ends with whitespace", checks)
        self.assertIn("raw '@' in the user info", " ".join(
            report["targets"][0]["proxy"]["url_notes"]))
        self.assertNotIn("p@ss", json.dumps(report))


if __name__ == "__main__":
    BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
