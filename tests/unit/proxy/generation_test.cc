// A reload's generation keeps what it would only rebuild identically: the TLS contexts while
// the files they were built from are unchanged (building them costs CPU the workers need).
#include <catch2/catch.hpp>

#include <fstream>

#include "../../integration/support/tls_fixtures.h"
#include "gatehouse/proxy/generation.h"

using namespace gatehouse;

namespace {

config::Config baseConfig() {
  config::Config config;
  config.listen = {"127.0.0.1:0"};
  config.ssrfGuard = false;
  return config;
}

// Rewrites a file with the same bytes: a new change time, as a deploy of the same file gives.
void rewrite(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  std::ofstream(path, std::ios::trunc) << text;
}

} // namespace

TEST_CASE("a reload keeps the origin TLS context while its CA file is unchanged") {
  test::TestCertificates certs;
  config::Config config = baseConfig();
  config.upstreamCa = certs.path("ca.pem");
  auto first = proxy::loadGeneration(config, 1);
  auto same = proxy::loadGeneration(config, 2, first.get());
  CHECK(same->upstreamTls == first->upstreamTls);

  certs.reissueServerWithNewCa(); // ca.pem itself unchanged: still kept
  CHECK(proxy::loadGeneration(config, 3, same.get())->upstreamTls == first->upstreamTls);

  rewrite(certs.path("ca.pem"));
  auto rebuilt = proxy::loadGeneration(config, 4, same.get());
  CHECK(rebuilt->upstreamTls != first->upstreamTls);

  config.upstreamCa = certs.path("ca2.pem");
  CHECK(proxy::loadGeneration(config, 5, rebuilt.get())->upstreamTls != rebuilt->upstreamTls);

  // The system store: its bundle file is what is stamped.
  config.upstreamCa.clear();
  auto system = proxy::loadGeneration(config, 6, rebuilt.get());
  CHECK(system->upstreamTls != rebuilt->upstreamTls);
  CHECK(system->upstreamTlsSources.paths == std::vector<std::string>{tls::systemCaFile()});
  CHECK(proxy::loadGeneration(config, 7, system.get())->upstreamTls == system->upstreamTls);
}

TEST_CASE("a reload keeps the TLS listener's context while certificate, key and CA are unchanged") {
  test::TestCertificates certs;
  config::Config config = baseConfig();
  config.tlsListen = {"127.0.0.1:0"};
  config.tlsCert = certs.path("server.pem");
  config.tlsKey = certs.path("server.key");
  auto first = proxy::loadGeneration(config, 1);
  REQUIRE(first->tlsServer);
  CHECK(proxy::loadGeneration(config, 2, first.get())->tlsServer == first->tlsServer);

  certs.reissueServerWithNewCa(); // a new certificate and key in the same files
  auto reissued = proxy::loadGeneration(config, 3, first.get());
  CHECK(reissued->tlsServer != first->tlsServer);

  config.tlsClientCa = certs.path("ca2.pem"); // a setting that changes the context
  CHECK(proxy::loadGeneration(config, 4, reissued.get())->tlsServer != reissued->tlsServer);
}
