// The binary's lifecycle as an operator drives it: --check failing exactly where a start
// fails, SIGHUP reloading the whole configuration (or refusing a broken one), SIGTERM draining
// running downloads, SIGUSR1 reopening the access log, the open-file limit at start.

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <future>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "../support/fake_upstream.h"
#include "../support/gatehouse_process.h"
#include "../support/proxy_harness.h"
#include "../support/tls_fixtures.h"
#include "gatehouse/proxy/proxy_protocol.h"

using namespace gatehouse::test;

namespace {

std::string dnsOff() {
  return "127.0.0.1:" + std::to_string(unusedPort());
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Status of a CONNECT to `target` through the proxy.
int connectStatus(uint16_t proxyPort, const std::string& target) {
  Socket client = Socket::connectTo(proxyPort);
  client.sendAll("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
  return readResponse(client, true).status;
}

int getStatus(uint16_t proxyPort, const FakeUpstream& upstream) {
  Socket client = Socket::connectTo(proxyPort);
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  return readResponse(client).status;
}

// True once a connect to the port is refused (polls: the close happens on another process's
// loop; bounded to 5 s).
bool refusedWithin5s(uint16_t port) {
  for (int i = 0; i < 250; ++i) {
    try {
      Socket probe = Socket::connectTo(port);
    } catch (const std::exception&) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int runCheck(const std::string& args, std::string* out) {
  int rc = -1;
  *out = runCommand(std::string(GATEHOUSE_BINARY) + " " + args + " --check 2>&1", &rc);
  return rc;
}

int runStart(const std::string& args, std::string* out) {
  int rc = -1;
  // Bounded: a start that succeeds would run forever, so it gets 5 s.
  *out = runCommand("timeout 5 " + std::string(GATEHOUSE_BINARY) + " " + args + " 2>&1", &rc);
  return rc;
}

} // namespace

TEST_CASE(
    "the binary's --check fails exactly where a start fails: user file, key pair, CA, access log") {
  TestCertificates certs;
  const std::string base = " --listen 127.0.0.1:0 --workers 1 --dns-servers " + dnsOff();
  std::string otherKey = writeTempFile("other.key", "");
  REQUIRE(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                       otherKey + " 2>/dev/null")
                          .c_str()) == 0);
  struct Case {
    std::string args;
    std::string message;
  };
  const std::vector<Case> failing = {
      {"--auth-file /nonexistent/users", "cannot read the user file"},
      {"--tls-listen 127.0.0.1:0 --tls-cert " + certs.path("server.pem") + " --tls-key " + otherKey,
       "TLS key " + otherKey}, // OpenSSL: "key values mismatch"
      {"--tls-listen 127.0.0.1:0 --tls-cert /nonexistent/cert.pem --tls-key " +
           certs.path("server.key"),
       "TLS certificate /nonexistent/cert.pem"},
      {"--upstream-ca /nonexistent/ca.pem", "upstream CA /nonexistent/ca.pem"},
      {"--access-log /nonexistent/dir/access.log", "access log /nonexistent/dir/access.log"},
  };
  for (const Case& c : failing) {
    INFO(c.args);
    std::string checked;
    CHECK(runCheck(base + " " + c.args, &checked) == 1);
    CHECK(checked.find(c.message) != std::string::npos);
    std::string started;
    CHECK(runStart(base + " " + c.args, &started) == 1);
    CHECK(started.find(c.message) != std::string::npos);
  }
  // And the matching pair passes both.
  std::string out;
  const std::string good = base + " --tls-listen 127.0.0.1:0 --tls-cert " +
                           certs.path("server.pem") + " --tls-key " + certs.path("server.key");
  CHECK(runCheck(good, &out) == 0);
  CHECK(out.find("is valid") != std::string::npos);
  CHECK(runStart(good, &out) == 124); // still running when timeout stopped it
}

TEST_CASE("SIGHUP reloads the whole configuration and a broken file keeps the running one") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  const std::string target = upstream.hostPort();
  auto configText = [&](const std::string& ports, const std::string& listen) {
    return "listen = [" + listen + "]\nworkers = 1\ndns_servers = \"" + dnsOff() +
           "\"\nconnect_ports = \"" + ports + "\"\n";
  };
  std::string path = writeTempFile("reload.toml", configText("443", "\"127.0.0.1:0\""));
  GatehouseProcess proxy({"--config", path});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  CHECK(connectStatus(port, target) == 403);

  // Allow the upstream's port: new connections get it.
  writeTempFile("reload.toml",
                configText("443, " + std::to_string(upstream.port()), "\"127.0.0.1:0\""));
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("configuration reloaded (generation 2,").empty());
  CHECK(connectStatus(port, target) == 200);
  // A keep-alive connection that served a request under generation 2...
  Socket kept = Socket::connectTo(port);
  kept.sendAll("GET http://" + target + "/ HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
  CHECK(readResponse(kept).status == 200);

  // A tunnel opened under generation 2 keeps working after generation 3 forbids its port.
  Socket tunnel = Socket::connectTo(port);
  tunnel.sendAll("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
  REQUIRE(readResponse(tunnel, true).status == 200);
  writeTempFile("reload.toml", configText("443", "\"127.0.0.1:0\""));
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("configuration reloaded (generation 3,").empty());
  CHECK(connectStatus(port, target) == 403);
  tunnel.sendAll("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(readResponse(tunnel).body == "ok");
  // ...takes generation 3's settings at its next request: its CONNECT is refused now.
  kept.sendAll("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n");
  Response refusedOnKept = readResponse(kept);
  CHECK(refusedOnKept.status == 403);
  CHECK(refusedOnKept.body.find("CONNECT") != std::string::npos);
  kept.close();

  // A broken file: refused with file and line; generation 3 stays.
  writeTempFile("reload.toml", "listen = [\"127.0.0.1:0\"]\nworkers = 1\nconect_ports = \"1\"\n");
  proxy.signal(SIGHUP);
  std::string refused = proxy.waitForLine("reload refused");
  CHECK(refused.find(path + ":3: unknown key \"conect_ports\"") != std::string::npos);
  CHECK(connectStatus(port, target) == 403);
  CHECK(getStatus(port, upstream) == 200);

  // A second listen address opens (while the first keeps serving), then the first closes.
  uint16_t second = unusedPort();
  const std::string secondSpec = "\"127.0.0.1:" + std::to_string(second) + "\"";
  writeTempFile("reload.toml", configText("443", "\"127.0.0.1:0\", " + secondSpec));
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("configuration reloaded (generation 4,").empty());
  CHECK(getStatus(port, upstream) == 200);
  CHECK(getStatus(second, upstream) == 200);
  writeTempFile("reload.toml", configText("443", secondSpec));
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("configuration reloaded (generation 5,").empty());
  CHECK(getStatus(second, upstream) == 200);
  CHECK(refusedWithin5s(port));

  tunnel.close(); // else the drain below waits drain_timeout for it
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
}

TEST_CASE("SIGTERM lets a running 1 GiB download finish, refuses new connections, exits 0") {
  constexpr size_t kSize = 1u << 30;
  constexpr size_t kBlock = 1u << 20;
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    const std::string block = pattern(kBlock);
    for (size_t sent = 0; sent < kSize; sent += kBlock) {
      peer.send(block);
    }
    peer.stall();
  });
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                          "--drain-timeout", "30s"});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  Socket client = Socket::connectTo(port);
  client.sendAll("GET http://" + upstream.hostPort() +
                 "/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string head = client.readUntil("\r\n\r\n");
  REQUIRE(head.find(" 200 ") != std::string::npos);
  size_t received = client.takeBuffered().size();
  while (received < kBlock) {
    received += client.readSome().size();
  }

  proxy.signal(SIGTERM);
  CHECK_FALSE(proxy.waitForLine("SIGTERM: draining").empty());
  CHECK(refusedWithin5s(port));
  // The next 128 MiB at a paced read (about 64 MiB/s, so the drain is really waiting for the
  // client, with the proxy's buffers full), then the rest as fast as it comes.
  constexpr size_t kPaced = 128u << 20;
  bool intact = true;
  auto started = std::chrono::steady_clock::now();
  while (received < kSize) {
    std::string data = client.readSome();
    if (data.empty()) {
      break;
    }
    received += data.size();
    if (received < kPaced) {
      std::this_thread::sleep_until(started + std::chrono::microseconds(received / 64));
    }
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(30)) {
      intact = false; // the drain_timeout would have cut it
      break;
    }
  }
  CHECK(intact);
  CHECK(received == kSize);
  CHECK(client.waitForClose());
  CHECK_FALSE(proxy.waitForLine("drained: every connection finished").empty());
  CHECK(proxy.wait() == 0);
}

TEST_CASE("a second SIGTERM, or drain_timeout, ends a drain that is waiting on a stalled "
          "exchange") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc");
    peer.stall();
  });
  auto startStalled = [&](GatehouseProcess& proxy, Socket& client) {
    uint16_t port = proxy.waitForPort();
    REQUIRE(port != 0);
    client = Socket::connectTo(port);
    client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    client.readUntil("abc");
  };
  {
    GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                            "--drain-timeout", "60s"});
    Socket client;
    startStalled(proxy, client);
    proxy.signal(SIGTERM);
    CHECK_FALSE(proxy.waitForLine("SIGTERM: draining").empty());
    proxy.signal(SIGTERM);
    CHECK(proxy.waitForLine("second signal").find("closing 1 connections") != std::string::npos);
    CHECK(proxy.wait(10'000) == 0);
  }
  {
    GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                            "--drain-timeout", "300ms"});
    Socket client;
    startStalled(proxy, client);
    proxy.signal(SIGTERM);
    CHECK(proxy.waitForLine("drain timeout").find("closing 1 connections") != std::string::npos);
    CHECK(proxy.wait(10'000) == 0);
    CHECK(client.waitForClose());
  }
}

TEST_CASE("SIGUSR1 reopens the access log after logrotate moved it") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  std::string log = writeTempFile("access.log", "");
  std::string rotated = log + ".1";
  ::unlink(rotated.c_str());
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                          "--access-log", log});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  REQUIRE(getStatus(port, upstream) == 200);
  // The line is written just after the response: wait for it (bounded) before rotating.
  for (int i = 0; i < 250 && readFile(log).find('\n') == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(std::rename(log.c_str(), rotated.c_str()) == 0);
  proxy.signal(SIGUSR1);
  CHECK_FALSE(proxy.waitForLine("SIGUSR1: reopened access log " + log).empty());
  REQUIRE(getStatus(port, upstream) == 200);
  proxy.signal(SIGTERM); // the drain writes the last line before the exit
  CHECK(proxy.wait() == 0);
  std::string before = readFile(rotated);
  std::string after = readFile(log);
  CHECK(std::count(before.begin(), before.end(), '\n') == 1);
  CHECK(std::count(after.begin(), after.end(), '\n') == 1);
  CHECK(after.find("status=200") != std::string::npos);
  ::unlink(rotated.c_str());
  ::unlink(log.c_str());
}

TEST_CASE("at start the open-file limit is raised, with a warning when max_connections cannot "
          "fit") {
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                          "--max-connections", "1000000"});
  CHECK_FALSE(proxy.waitForLine("can need; raise LimitNOFILE").empty());
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
}

TEST_CASE("a reload under load loses no request") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  std::string path = writeTempFile("load.toml", "listen = [\"127.0.0.1:0\"]\nworkers = 2\n"
                                                "dns_servers = \"" +
                                                    dnsOff() + "\"\n");
  GatehouseProcess proxy({"--config", path});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  auto client = [&] {
    // Keep-alive connections of 20 requests each, until told to stop (bounded by the reloads).
    while (!stop) {
      try {
        Socket socket = Socket::connectTo(port);
        for (int i = 0; i < 20 && !stop; ++i) {
          socket.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
          (readResponse(socket).status == 200 ? ok : failed)++;
        }
      } catch (const std::exception&) {
        failed++;
      }
    }
  };
  std::thread a(client);
  std::thread b(client);
  for (int generation = 2; generation <= 11; ++generation) {
    proxy.signal(SIGHUP);
    CHECK_FALSE(proxy.waitForLine("(generation " + std::to_string(generation) + ",").empty());
  }
  stop = true;
  a.join();
  b.join();
  CHECK(failed == 0);
  CHECK(ok > 0);
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
}

TEST_CASE("a proxy_protocol listener reads exactly the header, however it is split") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  std::string log = writeTempFile("pp-access.log", "");
  GatehouseProcess proxy({"--listen", "127.0.0.1:0 proxy_protocol", "--workers", "1",
                          "--dns-servers", dnsOff(), "--access-log", log, "--request-head-timeout",
                          "2s"});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  gatehouse::uv::SocketAddress source;
  gatehouse::uv::SocketAddress dest;
  REQUIRE(gatehouse::uv::SocketAddress::fromNumeric("192.0.2.10", 4000, source));
  REQUIRE(gatehouse::uv::SocketAddress::fromNumeric("127.0.0.1", port, dest));
  const std::string request = "GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n";
  int sent = 0;
  for (const std::string& header : {gatehouse::proxy::buildProxyV1(source, dest),
                                    gatehouse::proxy::buildProxyV2(source, dest)}) {
    // All at once with the request glued on; then in three pieces, the last with the request.
    for (int pieces : {1, 3}) {
      INFO(header.size() << " bytes in " << pieces);
      source.setPort(static_cast<uint16_t>(4000 + ++sent));
      std::string h = header[0] == 'P' ? gatehouse::proxy::buildProxyV1(source, dest)
                                       : gatehouse::proxy::buildProxyV2(source, dest);
      Socket client = Socket::connectTo(port);
      size_t step = h.size() / static_cast<size_t>(pieces);
      for (int i = 0; i < pieces - 1; ++i) {
        client.sendAll(h.substr(static_cast<size_t>(i) * step, step));
        // Let each piece arrive alone (the reader must wait, not guess).
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
      }
      client.sendAll(h.substr(static_cast<size_t>(pieces - 1) * step) + request);
      Response response = readResponse(client);
      CHECK(response.status == 200);
      CHECK(response.body == "ok");
    }
  }
  // A header that never completes: closed after request_head_timeout.
  Socket slow = Socket::connectTo(port);
  slow.sendAll("PROXY TCP4 192.0.2.10 ");
  CHECK(slow.waitForClose(std::chrono::seconds(5)));
  CHECK_FALSE(proxy.waitForLine("no complete header in time").empty());
  proxy.signal(SIGTERM);
  CHECK(proxy.wait() == 0);
  std::string text = readFile(log);
  for (int i = 1; i <= sent; ++i) {
    CHECK(text.find("client=192.0.2.10:" + std::to_string(4000 + i) + " ") != std::string::npos);
  }
  ::unlink(log.c_str());
}

TEST_CASE("a drain closes an idle keep-alive connection at once and answers a request in flight "
          "with Connection: close") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  FakeUpstream upstream([released](UpstreamPeer& peer) {
    while (true) {
      std::string head = peer.readHead();
      if (head.empty()) {
        return;
      }
      if (head.find("/slow") != std::string::npos) {
        released.wait_for(std::chrono::seconds(20)); // bounded: a failed test still ends
      }
      peer.send(FakeUpstream::okResponse("done"));
    }
  });
  GatehouseProcess proxy({"--listen", "127.0.0.1:0", "--workers", "1", "--dns-servers", dnsOff(),
                          "--drain-timeout", "60s"});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  // Idle: one keep-alive exchange done, waiting for its next request.
  Socket idle = Socket::connectTo(port);
  idle.sendAll("GET http://" + upstream.hostPort() + "/first HTTP/1.1\r\nHost: x\r\n\r\n");
  Response first = readResponse(idle);
  REQUIRE(first.status == 200);
  REQUIRE_FALSE(first.closedAfter);
  // In flight: the upstream holds its answer until the drain has begun.
  Socket busy = Socket::connectTo(port);
  busy.sendAll("GET http://" + upstream.hostPort() + "/slow HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(upstream.waitForRequests(2));

  proxy.signal(SIGTERM);
  CHECK_FALSE(proxy.waitForLine("SIGTERM: draining").empty());
  // Long before drain_timeout (60 s): the idle one goes at once.
  CHECK(idle.waitForClose(std::chrono::seconds(5)));
  release.set_value();
  Response answer = readResponse(busy);
  CHECK(answer.status == 200);
  CHECK(answer.body == "done");
  CHECK(answer.header("connection") == "close");
  CHECK(busy.waitForClose());
  CHECK_FALSE(proxy.waitForLine("drained: every connection finished").empty());
  CHECK(proxy.wait() == 0);
}

TEST_CASE("the admin listener's /readyz answers 503 once a SIGTERM drain has begun") {
  FakeUpstream upstream([](UpstreamPeer& peer) {
    peer.readHead();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc");
    peer.stall();
  });
  std::string path = writeTempFile(
      "readyz.toml", "listen = [\"127.0.0.1:0\"]\nworkers = 1\ndns_servers = \"" + dnsOff() +
                         "\"\ndrain_timeout = \"60s\"\nadmin_listen = \"127.0.0.1:0\"\n");
  GatehouseProcess proxy({"--config", path});
  // The admin line comes before the proxy's own "listening on".
  uint16_t adminPort = proxy.waitForPort("admin listener on 127.0.0.1:");
  REQUIRE(adminPort != 0);
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  auto readyz = [adminPort] {
    Socket admin = Socket::connectTo(adminPort);
    admin.sendAll("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
    return readResponse(admin).status;
  };
  CHECK(readyz() == 200);
  // An exchange that never ends keeps the drain (and the admin listener) going.
  Socket client = Socket::connectTo(port);
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: x\r\n\r\n");
  client.readUntil("abc");
  proxy.signal(SIGTERM);
  REQUIRE_FALSE(proxy.waitForLine("SIGTERM: draining").empty());
  CHECK(readyz() == 503);
  proxy.signal(SIGTERM);
  CHECK(proxy.wait(10'000) == 0);
}

TEST_CASE("SIGHUP reloads the egress rules - a broken rule keeps the running ones") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  auto configText = [&](const std::string& rules) {
    return "listen = [\"127.0.0.1:0\"]\nworkers = 1\ndns_servers = \"" + dnsOff() + "\"\n" + rules;
  };
  const std::string deny = "[[rule]]\nname = \"no-get\"\naction = \"deny\"\nmethods = [\"GET\"]\n";
  std::string path = writeTempFile("rules.toml", configText(""));
  GatehouseProcess proxy({"--config", path});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  CHECK(getStatus(port, upstream) == 200);

  writeTempFile("rules.toml", configText(deny));
  proxy.signal(SIGHUP);
  CHECK_FALSE(proxy.waitForLine("configuration reloaded (generation 2,").empty());
  CHECK(getStatus(port, upstream) == 403); // new connections get the new rules

  // A rule with a bad CIDR: refused with file and line, the running rules stay.
  writeTempFile(
      "rules.toml",
      configText("[[rule]]\nname = \"bad\"\naction = \"deny\"\nclients = [\"10.0.0.1/8\"]\n"));
  proxy.signal(SIGHUP);
  std::string refused = proxy.waitForLine("reload refused");
  CHECK(refused.find(path + ":") != std::string::npos);
  CHECK(getStatus(port, upstream) == 403);
}

TEST_CASE("an auth helper inherits no descriptor of the proxy: no socket, no log file") {
  FakeUpstream upstream(FakeUpstream::serve(FakeUpstream::okResponse("ok")));
  const std::string listing = writeTempFile("helper-fds.txt", "");
  const std::string log = writeTempFile("helper-fds-access.log", "");
  // The helper lists its descriptors above stdio (its own listing of /proc excepted), then
  // says OK to everyone.
  const std::string helper = writeTempFile("fd-helper.py", R"(#!/usr/bin/python3
import os, sys
fds = {}
for n in os.listdir('/proc/self/fd'):
    try:
        fds[int(n)] = os.readlink('/proc/self/fd/' + n)
    except OSError:
        pass
with open(sys.argv[1], 'w') as out:
    for n, target in sorted(fds.items()):
        if n > 2 and not target.startswith('/proc/'):
            out.write('%d %s\n' % (n, target))
    out.write('done\n')
for line in sys.stdin:
    print('OK', flush=True)
)");
  REQUIRE(::chmod(helper.c_str(), 0755) == 0);
  const std::string config = writeTempFile(
      "helper-fds.toml", "listen = [\"127.0.0.1:0\"]\nworkers = 1\ndns_servers = \"" + dnsOff() +
                             "\"\naccess_log = \"" + log + "\"\nauth_helper = [\"" + helper +
                             "\", \"" + listing + "\"]\n");
  GatehouseProcess proxy({"--config", config});
  uint16_t port = proxy.waitForPort();
  REQUIRE(port != 0);
  // Connections open while the helper starts: the client's, and an idle one to the proxy.
  Socket idle = Socket::connectTo(port);
  Socket client = Socket::connectTo(port);
  client.sendAll("GET http://" + upstream.hostPort() + "/ HTTP/1.1\r\nHost: " +
                 upstream.hostPort() + "\r\nProxy-Authorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n");
  CHECK(readResponse(client).status == 200);
  std::string seen;
  for (int i = 0; i < 250 && seen.find("done\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    seen = readFile(listing);
  }
  INFO(seen);
  CHECK(seen == "done\n");
  proxy.signal(SIGTERM);
  idle.close();
  client.close();
  CHECK(proxy.wait() == 0);
}
