//===- HostMemory.cpp - the buffers of CPU artifacts ----------------------===//

#include "HostMemory.h"

#include "moe/Runtime/ArtifactAbi.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace {

/// Buffers of this many bytes or more are whole huge pages, kept when freed.
constexpr size_t kLargeBytes = size_t(4) << 20;
constexpr size_t kHugePage = size_t(2) << 20;

/// The large buffers: those in use (their sizes) and those freed, kept for
/// reuse, newest first, up to a quarter of the machine's memory.
struct LargeBuffers {
  std::mutex mutex;
  std::unordered_map<void *, size_t> live;
  std::list<std::pair<void *, size_t>> kept;
  size_t keptBytes = 0;
  size_t budget = 0;

  LargeBuffers() {
    long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
    budget = pages > 0 && pageSize > 0 ? static_cast<size_t>(pages) *
                                             static_cast<size_t>(pageSize) / 4
                                       : size_t(1) << 30;
  }
};

LargeBuffers &largeBuffers() {
  // Never destroyed: artifacts may free buffers while the process exits.
  static auto *buffers = new LargeBuffers;
  return *buffers;
}

void *allocateSlot(int64_t alignment, int64_t bytes) {
  return moe::hostAllocate(static_cast<size_t>(alignment),
                           static_cast<size_t>(bytes));
}

void releaseSlot(void *data) { moe::hostRelease(data); }

} // namespace

void *moe::hostAllocate(size_t alignment, size_t bytes) {
  alignment = std::max<size_t>(alignment, sizeof(void *));
  if (bytes < kLargeBytes) {
    // aligned_alloc wants a multiple of the alignment.
    size_t size =
        (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
    return std::aligned_alloc(alignment, size);
  }
  size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  LargeBuffers &buffers = largeBuffers();
  {
    std::lock_guard<std::mutex> lock(buffers.mutex);
    auto it =
        std::find_if(buffers.kept.begin(), buffers.kept.end(),
                     [&](const auto &kept) { return kept.second == size; });
    if (it != buffers.kept.end()) {
      void *data = it->first;
      buffers.keptBytes -= size;
      buffers.kept.erase(it);
      buffers.live[data] = size;
      return data;
    }
  }
  void *data = std::aligned_alloc(kHugePage, size);
  if (!data)
    return nullptr;
  madvise(data, size, MADV_HUGEPAGE);
  std::lock_guard<std::mutex> lock(buffers.mutex);
  buffers.live[data] = size;
  return data;
}

void moe::hostRelease(void *data) {
  if (!data)
    return;
  LargeBuffers &buffers = largeBuffers();
  std::list<std::pair<void *, size_t>> evicted;
  {
    std::lock_guard<std::mutex> lock(buffers.mutex);
    auto it = buffers.live.find(data);
    if (it != buffers.live.end()) {
      size_t size = it->second;
      buffers.live.erase(it);
      buffers.kept.emplace_front(data, size);
      buffers.keptBytes += size;
      // The oldest go first when the kept buffers pass the budget.
      while (buffers.keptBytes > buffers.budget) {
        buffers.keptBytes -= buffers.kept.back().second;
        evicted.splice(evicted.end(), buffers.kept,
                       std::prev(buffers.kept.end()));
      }
      data = nullptr;
    }
  }
  for (auto &[buffer, size] : evicted)
    std::free(buffer);
  std::free(data);
}

void moe::fillHostApiTable(void **table) {
  table[MOE_HOST_SLOT_ALLOC] = reinterpret_cast<void *>(&allocateSlot);
  table[MOE_HOST_SLOT_FREE] = reinterpret_cast<void *>(&releaseSlot);
}
