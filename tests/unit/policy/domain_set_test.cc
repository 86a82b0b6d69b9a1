// Domain sets: the three pattern forms, hosts file parsing with file:line errors, and a
// 100,000-entry list loading quickly with lookups that do not scan it.

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "gatehouse/policy/domain_set.h"

using namespace gatehouse::policy;

namespace {
DomainSet setOf(std::initializer_list<const char*> patterns) {
  DomainSet set;
  for (const char* p : patterns) {
    std::string error;
    REQUIRE(set.add(p, error));
  }
  return set;
}
} // namespace

TEST_CASE("exact names, *.suffix and .domain patterns", "[policy][domains]") {
  DomainSet set = setOf({"exact.example", "*.below.example", ".both.example", "UPPER.Example."});
  CHECK(set.size() == 4);
  CHECK(set.matches("exact.example"));
  CHECK_FALSE(set.matches("a.exact.example"));
  CHECK_FALSE(set.matches("xexact.example"));
  CHECK(set.matches("a.below.example"));
  CHECK(set.matches("a.b.c.below.example"));
  CHECK_FALSE(set.matches("below.example"));
  CHECK_FALSE(set.matches("xbelow.example"));
  CHECK(set.matches("both.example"));
  CHECK(set.matches("deep.sub.both.example"));
  CHECK(set.matches("upper.example"));
  CHECK_FALSE(set.matches("example"));
  CHECK_FALSE(set.matches(""));
  CHECK(set.matchingPattern("x.below.example") == "*.below.example");
  CHECK(set.matchingPattern("nope.example").empty());

  // IPv4 patterns are stored as the dotted quad requests are normalised to.
  DomainSet addresses = setOf({"10.0.0.1", "0x7f.1", "2130706434"});
  CHECK(addresses.matches("10.0.0.1"));
  CHECK(addresses.matches("127.0.0.1"));
  CHECK(addresses.matches("127.0.0.2"));
  CHECK_FALSE(addresses.matches("0x7f.1"));

  // The same name as exact and as suffix: both apply.
  DomainSet merged = setOf({"merged.example", "*.merged.example"});
  CHECK(merged.matches("merged.example"));
  CHECK(merged.matches("a.merged.example"));
}

TEST_CASE("bad patterns are refused with a reason", "[policy][domains]") {
  DomainSet set;
  std::string error;
  for (const char* bad :
       {"*", "*.", "a.*.b", "1.2.3.256", "*.10.0.0.1", ".example.123", "*example.com", "a..b", "",
        ".", "sp ace.example", "b\xc3\xbc.example", "x/y.example"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(set.add(bad, error));
    CHECK_FALSE(error.empty());
  }
  CHECK_FALSE(set.add(std::string(64, 'a') + ".example", error));
  CHECK(set.empty());
}

TEST_CASE("hosts files: comments, blanks, case, trailing dots, file:line errors",
          "[policy][domains]") {
  DomainSet set;
  std::vector<std::string> errors;
  set.loadText("# a block list\n"
               "\n"
               "ads.example\n"
               "  *.Tracker.EXAMPLE.   # trailing comment\n"
               ".evil.example\r\n"
               "bad..example\n"
               "two words.example\n"
               "\t\n"
               "*\n",
               "list.txt", errors);
  CHECK(set.size() == 3);
  CHECK(set.matches("ads.example"));
  CHECK(set.matches("x.tracker.example"));
  CHECK(set.matches("evil.example"));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].starts_with("list.txt:6: "));
  CHECK(errors[1].starts_with("list.txt:7: "));
  CHECK(errors[2].starts_with("list.txt:9: "));

  // Past the cap, the rest are counted, not listed.
  std::string many;
  for (int i = 0; i < 30; ++i) {
    many += "bad..line\n";
  }
  errors.clear();
  set.loadText(many, "many.txt", errors, 5);
  REQUIRE(errors.size() == 6);
  CHECK(errors.back() == "many.txt: 25 more bad lines");

  errors.clear();
  CHECK_FALSE(set.loadFile("/nonexistent/gatehouse-list.txt", errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("cannot read") != std::string::npos);
  errors.clear();
  CHECK_FALSE(set.loadFile("/tmp", errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "/tmp: cannot read the hosts file: not a regular file");
}

TEST_CASE("a 100,000-entry hosts file loads fast and lookups stay cheap",
          "[policy][domains][perf]") {
  std::string path = "/tmp/gatehouse-domains-" + std::to_string(::getpid()) + ".txt";
  {
    std::ofstream out(path);
    for (int i = 0; i < 100'000; ++i) {
      out << (i % 3 == 0   ? "*."
              : i % 3 == 1 ? "."
                           : "")
          << "host" << i << ".block" << (i % 7) << ".example\n";
    }
  }
  DomainSet set;
  std::vector<std::string> errors;
  auto start = std::chrono::steady_clock::now();
  REQUIRE(set.loadFile(path, errors));
  auto loadMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::remove(path.c_str());
  CHECK(errors.empty());
  CHECK(set.size() == 100'000);
  WARN("100,000 entries loaded in " << loadMs << " ms, about " << set.memoryBytes() / 1024
                                    << " KiB");
  // Generous bound for a loaded shared machine (and sanitizers); typically ~30 ms.
  CHECK(loadMs < 3000);
  CHECK(set.memoryBytes() < 32u * 1024 * 1024);

  CHECK(set.matches("a.host0.block0.example")); // *.host0...
  CHECK_FALSE(set.matches("host0.block0.example"));
  CHECK(set.matches("host1.block1.example")); // .host1...
  CHECK(set.matches("x.y.host1.block1.example"));
  CHECK(set.matches("host2.block2.example")); // exact
  CHECK_FALSE(set.matches("a.host2.block2.example"));
  CHECK_FALSE(set.matches("www.unrelated.example"));
}
