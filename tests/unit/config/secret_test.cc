// Secrets: moved-from and wiped values are empty, comparison is by value.

#include <catch2/catch.hpp>

#include "gatehouse/config/secret.h"

using gatehouse::config::Secret;

TEST_CASE("a Secret is wiped when moved from or wiped, and compares by value", "[config]") {
  Secret a("parent-password");
  Secret b = a; // copies are independent
  CHECK(b.equals("parent-password"));
  Secret c = std::move(a);
  CHECK(a.empty());
  CHECK(c.reveal() == "parent-password");
  b = std::move(c);
  CHECK(c.empty());
  CHECK(b.equals("parent-password"));
  CHECK_FALSE(b.equals("parent-passworD"));
  CHECK_FALSE(b.equals("parent-password2"));
  b.wipe();
  CHECK(b.empty());

  std::string text = "user:secret";
  gatehouse::config::wipeString(text);
  CHECK(text.empty());
}
