// A set of listing ids, compact when they come mostly in ascending order (a file by id,
// ids drawn from a sequence): those are kept in a sorted vector (8 bytes each), only the
// others in a tree. For the loaders and the import, which check ids by the hundred thousand.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

namespace listingd {

class IdSet {
 public:
  // Adds `id`; false when it was there already.
  bool insert(int64_t id) {
    if (ascending_.empty() || id > ascending_.back()) {
      ascending_.push_back(id);
      return true;
    }
    if (std::binary_search(ascending_.begin(), ascending_.end(), id)) return false;
    return others_.insert(id).second;
  }
  bool contains(int64_t id) const {
    return std::binary_search(ascending_.begin(), ascending_.end(), id) || others_.contains(id);
  }

 private:
  std::vector<int64_t> ascending_;
  std::set<int64_t> others_;
};

}  // namespace listingd
