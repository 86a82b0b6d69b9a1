// What a 100,000-entry hosts_file costs per request: load time and memory of the list, then
// the time of EgressPolicy::decide (every rule tried, as for a request no rule matches) with the
// big list against the same rules with a ten-entry list. Bounded: fixed iteration counts.
// Build and run on demand: bench/policy_lookup.sh (target bench_policy, not built by default).

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "gatehouse/config/config.h"
#include "gatehouse/policy/host_name.h"
#include "gatehouse/policy/rules.h"

using namespace gatehouse;
using Clock = std::chrono::steady_clock;

namespace {

long residentKiB() {
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

std::string writeList(const std::string& path, int entries) {
  std::ofstream out(path);
  for (int i = 0; i < entries; ++i) {
    // A realistic mix: about a third each of exact names, *.suffix and .domain entries.
    out << (i % 3 == 0   ? "*."
            : i % 3 == 1 ? "."
                         : "")
        << "tracker" << i << ".adnet" << (i % 97) << ".example\n";
  }
  return path;
}

std::shared_ptr<const policy::EgressPolicy> policyWith(const std::string& list) {
  config::Config c;
  config::loadString("listen = [\"127.0.0.1:3128\"]\n"
                     "[[rule]]\nname = \"blocklist\"\naction = \"deny\"\nhosts_file = \"" +
                         list +
                         "\"\n"
                         "[[rule]]\nname = \"intranet\"\naction = \"allow\"\n"
                         "hosts = [\".corp.example\"]\n"
                         "[[rule]]\nname = \"office\"\naction = \"allow\"\n"
                         "clients = [\"10.0.0.0/8\"]\nports = [80, 443]\n",
                     "bench.toml", c);
  config::validate(c);
  return policy::EgressPolicy::compile(c);
}

// Nanoseconds per decide() over `hosts`, `rounds` times each.
double nsPerDecision(const policy::EgressPolicy& p, const std::vector<std::string>& hosts,
                     int rounds, size_t& allowed) {
  policy::RuleFacts facts;
  facts.client = *policy::IpAddress::parse("192.0.2.10"); // matches no client rule
  facts.port = 443;
  facts.method = "CONNECT";
  facts.connect = true;
  auto start = Clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (const std::string& h : hosts) {
      facts.host = h;
      allowed += p.decide(facts).allowed() ? 1 : 0;
    }
  }
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  return ns / (static_cast<double>(rounds) * static_cast<double>(hosts.size()));
}

} // namespace

int main() {
  std::string dir = "/tmp/gatehouse-bench-policy-" + std::to_string(::getpid());
  std::string big = writeList(dir + "-100k.txt", 100'000);
  std::string small = writeList(dir + "-10.txt", 10);

  long before = residentKiB();
  auto start = Clock::now();
  auto bigPolicy = policyWith(big);
  double loadMs = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  long after = residentKiB();
  auto smallPolicy = policyWith(small);
  std::remove(big.c_str());
  std::remove(small.c_str());

  // Hosts as requests carry them: mostly misses with 3-5 labels, some hits below listed ones.
  std::vector<std::string> hosts;
  for (int i = 0; i < 1000; ++i) {
    std::string error;
    std::string raw = i % 10 == 0 ? "cdn" + std::to_string(i) + ".tracker" + std::to_string(i * 3) +
                                        ".adnet" + std::to_string(i * 3 % 97) + ".example"
                      : i % 2 == 0 ? "www.site" + std::to_string(i) + ".example.com"
                                   : "api.eu-west-1.service" + std::to_string(i) + ".cloud.example";
    hosts.push_back(policy::normaliseHost(raw, error)->text);
  }
  size_t allowed = 0;
  const int rounds = 500; // 500,000 decisions per policy: well under a second each
  nsPerDecision(*bigPolicy, hosts, 20, allowed); // warm up
  double bigNs = nsPerDecision(*bigPolicy, hosts, rounds, allowed);
  double smallNs = nsPerDecision(*smallPolicy, hosts, rounds, allowed);

  // Normalisation runs once per request too.
  auto normStart = Clock::now();
  size_t normalised = 0;
  for (int r = 0; r < 200; ++r) {
    for (const std::string& h : hosts) {
      std::string error;
      normalised += policy::normaliseHost(h, error) ? 1 : 0;
    }
  }
  double normNs = std::chrono::duration<double, std::nano>(Clock::now() - normStart).count() /
                  (200.0 * static_cast<double>(hosts.size()));

  const double requestNs = 1e9 / 37'500; // ~37,500 req/s per core (bench/results/latest.md)
  std::printf("hosts_file with 100,000 entries: loaded in %.1f ms, %ld KiB resident "
              "(index estimate %zu KiB)\n",
              loadMs, after - before, bigPolicy->rules()[0].hosts.memoryBytes() / 1024);
  std::printf("decide(), 3 rules, no rule matching: %.0f ns with 100,000 entries, %.0f ns with "
              "10 entries\n",
              bigNs, smallNs);
  std::printf("normaliseHost(): %.0f ns\n", normNs);
  std::printf("at ~37,500 requests/s per core (%.1f us each), policy with the big list costs "
              "%.2f%% of a request (budget: 5%%)\n",
              requestNs / 1000, 100.0 * (bigNs + normNs) / requestNs);
  std::printf("(checksum %zu %zu)\n", allowed, normalised);
  return 0;
}
