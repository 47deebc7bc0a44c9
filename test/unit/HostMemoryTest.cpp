//===- HostMemoryTest.cpp - the buffers of CPU artifacts ------------------===//

#include "lib/Runtime/HostMemory.h"

#include "moe/Runtime/ArtifactAbi.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

bool alignedTo(void *p, uintptr_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

TEST(HostMemoryTest, SmallBuffersAreAligned) {
  for (size_t alignment : {1, 16, 64, 4096}) {
    void *p = moe::hostAllocate(alignment, 100);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(alignedTo(p, alignment));
    std::memset(p, 1, 100);
    moe::hostRelease(p);
  }
}

TEST(HostMemoryTest, LargeBuffersAreHugePagesKeptForTheNextCall) {
  size_t bytes = (size_t(5) << 20) + 3;
  auto *first = static_cast<char *>(moe::hostAllocate(64, bytes));
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(alignedTo(first, size_t(2) << 20));
  first[bytes - 1] = 7;
  moe::hostRelease(first);
  // As many bytes again (rounded to 2 MiB pages): the same buffer.
  auto *second = static_cast<char *>(moe::hostAllocate(64, bytes - 5));
  EXPECT_EQ(second, first);
  // Another size while the first is in use: another buffer.
  void *third = moe::hostAllocate(64, size_t(9) << 20);
  ASSERT_NE(third, nullptr);
  EXPECT_NE(third, second);
  moe::hostRelease(second);
  moe::hostRelease(third);
}

TEST(HostMemoryTest, ReleasesTheCLibrarysBuffers) {
  moe::hostRelease(nullptr);
  moe::hostRelease(std::malloc(32));
  moe::hostRelease(std::malloc(size_t(8) << 20));
}

TEST(HostMemoryTest, FillsTheArtifactsTable) {
  void *table[MOE_HOST_SLOTS] = {};
  moe::fillHostApiTable(table);
  auto allocate =
      reinterpret_cast<void *(*)(int64_t, int64_t)>(table[MOE_HOST_SLOT_ALLOC]);
  auto release = reinterpret_cast<void (*)(void *)>(table[MOE_HOST_SLOT_FREE]);
  ASSERT_NE(allocate, nullptr);
  ASSERT_NE(release, nullptr);
  void *p = allocate(32, 1000);
  EXPECT_TRUE(alignedTo(p, 32));
  release(p);
}

} // namespace
