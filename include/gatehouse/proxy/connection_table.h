#pragma once
// The live client connections of one worker context, for drain and shutdown to reach.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gatehouse::proxy {

// A vector with O(1) insert and erase: each entry keeps its own index (a `uint32_t
// tableSlot_` member the table may reach; ClientConnection keeps it in padding it already
// had), and erase moves the last entry into the hole. 8 bytes per connection where a hash
// set's node and bucket cost about 40 — every idle connection and tunnel pays that.
template <class Entry> class SlotTable {
public:
  void insert(Entry* entry) {
    entry->tableSlot_ = static_cast<uint32_t>(entries_.size());
    entries_.push_back(entry);
  }
  // An entry not in the table is left alone (it may have left already).
  void erase(Entry* entry) {
    if (!contains(entry)) {
      return;
    }
    Entry* last = entries_.back();
    entries_[entry->tableSlot_] = last;
    last->tableSlot_ = entry->tableSlot_;
    entries_.pop_back();
    if (entries_.capacity() > kKeptCapacity && entries_.size() < entries_.capacity() / 4) {
      entries_.shrink_to_fit(); // after a burst, a table a quarter full gives memory back
    }
  }
  bool contains(const Entry* entry) const {
    return entry->tableSlot_ < entries_.size() && entries_[entry->tableSlot_] == entry;
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  size_t capacity() const { return entries_.capacity(); }
  // A copy to iterate over: closing a connection erases it from the table.
  std::vector<Entry*> snapshot() const { return entries_; }

  static constexpr size_t kKeptCapacity = 1024;

private:
  std::vector<Entry*> entries_;
};

class ClientConnection;
using ConnectionTable = SlotTable<ClientConnection>;

} // namespace gatehouse::proxy
