#include <algorithm>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "gatehouse/proxy/connection_table.h"

using gatehouse::proxy::SlotTable;

namespace {
struct Entry {
  uint32_t tableSlot_ = 0;
};
} // namespace

TEST_CASE("connection table: insert and erase in any order keep every other entry",
          "[connection-table]") {
  SlotTable<Entry> table;
  std::vector<std::unique_ptr<Entry>> entries;
  for (int i = 0; i < 5; ++i) {
    entries.push_back(std::make_unique<Entry>());
    table.insert(entries.back().get());
  }
  CHECK(table.size() == 5);
  table.erase(entries[1].get()); // the last entry moves into its slot
  table.erase(entries[4].get()); // the moved one, at its new slot
  table.erase(entries[0].get());
  CHECK(table.size() == 2);
  CHECK_FALSE(table.contains(entries[0].get()));
  CHECK_FALSE(table.contains(entries[1].get()));
  CHECK(table.contains(entries[2].get()));
  CHECK(table.contains(entries[3].get()));
  CHECK_FALSE(table.contains(entries[4].get()));
  std::vector<Entry*> left = table.snapshot();
  std::sort(left.begin(), left.end());
  std::vector<Entry*> want{entries[2].get(), entries[3].get()};
  std::sort(want.begin(), want.end());
  CHECK(left == want);
}

TEST_CASE("connection table: erasing an entry twice or one never inserted changes nothing",
          "[connection-table]") {
  SlotTable<Entry> table;
  Entry a, b, stranger;
  table.insert(&a);
  table.insert(&b);
  table.erase(&a);
  table.erase(&a);        // its slot now holds b: b stays
  table.erase(&stranger); // slot 0 holds b: not this one
  CHECK(table.size() == 1);
  CHECK(table.contains(&b));
  table.erase(&b);
  CHECK(table.empty());
  table.erase(&b); // slot beyond the end
  CHECK(table.empty());
}

TEST_CASE("connection table: a burst's capacity is given back once the table empties",
          "[connection-table]") {
  SlotTable<Entry> table;
  std::vector<Entry> entries(10000);
  for (Entry& e : entries) {
    table.insert(&e);
  }
  CHECK(table.capacity() >= 10000);
  for (Entry& e : entries) {
    table.erase(&e);
  }
  CHECK(table.empty());
  CHECK(table.capacity() <= SlotTable<Entry>::kKeptCapacity);
}
