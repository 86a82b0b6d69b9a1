#!/usr/bin/env python3
"""Gatehouse behind a real Squid parent (Debian's squid, started here on a loopback port):
without parent auth, with parent auth right and wrong, for plain requests and CONNECT. The
client's own Proxy-Authorization must never reach the parent; a parent's 407 must reach the
client as 502 proxy_configuration_error, never as a 407 of ours.

Usage: parent_squid_test.py GATEHOUSE_BINARY
"""

import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "probe"))
import probe_peers_test as peers  # noqa: E402  (its process, port and origin helpers)


def ask(port, request, read_all=True):
    """Sends one request to the proxy; returns the raw answer (head and whatever followed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 200 Connection established") and not read_all:
            return head, s.dup()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head + b"\r\n\r\n" + rest


class ParentSquidTest(peers.ProbeTestCase):
    start_gatehouse = peers.GatehouseTest.start_gatehouse  # the binary on a port 0 listener

    def start_parent(self, with_auth):
        self.squid_port = peers.free_port()
        auth = ""
        access = "http_access allow all"
        if with_auth:
            passwd = self.htpasswd("parent_passwd", "gatehouse", "parent-Pw")
            auth = (f"auth_param basic program {peers.SQUID_HELPER} {passwd}\n"
                    "auth_param basic realm Parent\nauth_param basic children 2\n"
                    "acl authed proxy_auth REQUIRED\n")
            access = "http_access allow authed\nhttp_access deny all"
        conf = self.write("squid.conf", f"""
http_port 127.0.0.1:{self.squid_port}
visible_hostname parent-squid
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
{access}
""")
        self.start(["squid", "-N", "-f", conf], self.squid_port, log_name="squid.out")

    def start_child(self, credentials):
        userinfo = credentials + "@" if credentials else ""
        conf = self.write("gatehouse.toml", f"""
upstream_proxy = "corp"
connect_ports = "443,{self.origin.port}"

[[parent]]
name = "corp"
url = "http://{userinfo}127.0.0.1:{self.squid_port}"
""")
        return self.start_gatehouse("--config", conf)

    def get(self, port):
        return ask(port, b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\n"
                         b"Proxy-Authorization: Basic Y2xpZW50OmNsaWVudC1zZWNyZXQ=\r\n\r\n"
                         % self.origin.port)

    def connect(self, port):
        target = b"127.0.0.1:%d" % self.origin.port
        answer = ask(port, b"CONNECT " + target + b" HTTP/1.1\r\nHost: " + target + b"\r\n\r\n",
                     read_all=False)
        if isinstance(answer, bytes):
            return answer, b""
        head, tunnel = answer
        with tunnel:
            tunnel.sendall(b"GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n")
            body = b""
            while True:
                chunk = tunnel.recv(65536)
                if not chunk:
                    break
                body += chunk
        return head, body

    def squid_log(self):
        return peers.read_text(self.path("access.log"))

    def test_parent_without_auth(self):
        self.start_parent(with_auth=False)
        port = self.start_child(None)
        answer = self.get(port)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        self.assertTrue(answer.endswith(b"hello\n"), answer)
        head, body = self.connect(port)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"hello", body)
        log = self.squid_log()
        self.assertIn("GET http://127.0.0.1:%d/" % self.origin.port, log)
        self.assertIn("CONNECT 127.0.0.1:%d" % self.origin.port, log)

    def test_parent_with_auth_right(self):
        self.start_parent(with_auth=True)
        port = self.start_child("gatehouse:parent-Pw")
        answer = self.get(port)
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        head, body = self.connect(port)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertIn(b"hello", body)
        # Squid logs the user it authenticated: ours, never the client's.
        log = self.squid_log()
        self.assertIn(" gatehouse ", log)
        self.assertNotIn("client", log)

    def test_parent_with_auth_wrong_or_missing(self):
        self.start_parent(with_auth=True)
        for credentials, why in (("gatehouse:wrong", b"rejected our credentials"),
                                 (None, b"requires authentication")):
            with self.subTest(credentials=credentials):
                port = self.start_child(credentials)
                for answer in (self.get(port), self.connect(port)[0]):
                    self.assertTrue(answer.startswith(b"HTTP/1.1 502"), answer)
                    self.assertNotIn(b"Proxy-Authenticate", answer)
                    status = [line for line in answer.split(b"\r\n")
                              if line.lower().startswith(b"proxy-status:")]
                    self.assertEqual(len(status), 1, answer)
                    self.assertIn(b"error=proxy_configuration_error", status[0])
                    self.assertIn(b"parent proxy corp " + why, status[0])


if __name__ == "__main__":
    peers.BINARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
