//===- EmulatorWarpTest.cpp - shfl, vote, redux, ldmatrix, cp.async -------===//
//
// The CUDA emulator's warp-wide and shared-memory instructions against cases
// worked out by hand from the PTX ISA's pseudo-code and figures, and the
// mistakes they must catch.
//
//===----------------------------------------------------------------------===//

#include "moe/GPU/MmaLayout.h"
#include "moe/Runtime/Emulator.h"

#include <gtest/gtest.h>

#include <cstring>

namespace {

constexpr uint32_t kFull = 0xFFFFFFFFu;

struct Lanes {
  uint32_t a[32], b[32], c[32], d[32];
  uint8_t p[32];
  Lanes(uint32_t bval, uint32_t cval) {
    for (int lane = 0; lane < 32; ++lane) {
      a[lane] = 100 + lane;
      b[lane] = bval;
      c[lane] = cval;
      d[lane] = 0xDEAD;
      p[lane] = 7;
    }
  }
};

TEST(EmulatorWarpTest, ShflDownClampsAtTheWarpsEnd) {
  // __shfl_down_sync(full, a, 3): c = 0x1F, lanes past 28 read their own.
  Lanes w(3, 0x1F);
  EXPECT_EQ(moe_emu_shfl_sync(MOE_EMU_SHFL_DOWN, kFull, w.a, w.b, w.c, w.d, w.p),
            -1);
  EXPECT_EQ(w.d[0], 103u);
  EXPECT_EQ(w.d[28], 131u);
  EXPECT_EQ(w.p[28], 1);
  EXPECT_EQ(w.d[29], 129u);
  EXPECT_EQ(w.p[29], 0);
}

TEST(EmulatorWarpTest, ShflUpStopsAtLaneZero) {
  // __shfl_up_sync(full, a, 2): c = 0.
  Lanes w(2, 0);
  moe_emu_shfl_sync(MOE_EMU_SHFL_UP, kFull, w.a, w.b, w.c, w.d, w.p);
  EXPECT_EQ(w.d[1], 101u);
  EXPECT_EQ(w.p[1], 0);
  EXPECT_EQ(w.d[2], 100u);
  EXPECT_EQ(w.d[31], 129u);
}

TEST(EmulatorWarpTest, ShflSegmentsOfEightLanes) {
  // __shfl_sync(full, a, 5, 8): c = ((32 - 8) << 8) | 0x1F; each segment of
  // 8 lanes reads its own lane 5.
  Lanes idx(5, (24u << 8) | 0x1F);
  moe_emu_shfl_sync(MOE_EMU_SHFL_IDX, kFull, idx.a, idx.b, idx.c, idx.d, idx.p);
  EXPECT_EQ(idx.d[0], 105u);
  EXPECT_EQ(idx.d[7], 105u);
  EXPECT_EQ(idx.d[8], 113u);
  EXPECT_EQ(idx.d[31], 129u);
  // __shfl_xor_sync(full, a, 4, 8): the butterfly stays in the segment.
  Lanes bfly(4, (24u << 8) | 0x1F);
  moe_emu_shfl_sync(MOE_EMU_SHFL_BFLY, kFull, bfly.a, bfly.b, bfly.c, bfly.d,
                    bfly.p);
  EXPECT_EQ(bfly.d[1], 105u);
  EXPECT_EQ(bfly.d[13], 109u);
  // __shfl_down_sync(full, a, 4, 8): c = ((32 - 8) << 8) | 0x1F, lane 6's
  // source 10 is past its segment's last lane 7.
  Lanes down(4, (24u << 8) | 0x1F);
  moe_emu_shfl_sync(MOE_EMU_SHFL_DOWN, kFull, down.a, down.b, down.c, down.d,
                    down.p);
  EXPECT_EQ(down.d[3], 107u);
  EXPECT_EQ(down.d[6], 106u);
  EXPECT_EQ(down.p[6], 0);
}

TEST(EmulatorWarpTest, ShflFromALaneOutsideTheMaskIsCaught) {
  // Lanes 0-15 take part; lane 14 reads lane 16 (down by 2).
  Lanes w(2, 0x1F);
  EXPECT_EQ(moe_emu_shfl_sync(MOE_EMU_SHFL_DOWN, 0xFFFFu, w.a, w.b, w.c, w.d,
                              nullptr),
            14);
  EXPECT_EQ(w.d[16], 0xDEADu); // not a member: untouched
}

TEST(EmulatorWarpTest, VoteOverTheMembers) {
  uint8_t pred[32] = {};
  for (int lane = 0; lane < 32; lane += 2)
    pred[lane] = 1;
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_BALLOT, kFull, pred), 0x55555555u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_BALLOT, 0xF0u, pred), 0x50u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_ANY, kFull, pred), 1u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_ALL, kFull, pred), 0u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_ALL, 0x5u, pred), 1u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_UNI, 0x2u, pred), 1u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_UNI, 0x3u, pred), 0u);
  EXPECT_EQ(moe_emu_vote_sync(MOE_EMU_VOTE_ANY, 0xAAAAAAAAu, pred), 0u);
}

TEST(EmulatorWarpTest, ReduxOverTheMembers) {
  uint32_t a[32];
  for (int lane = 0; lane < 32; ++lane)
    a[lane] = uint32_t(lane - 3); // lanes 0-2 negative as s32
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_ADD, kFull, a), 400u); // 496 - 96
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_MIN_S32, kFull, a), uint32_t(-3));
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_MIN_U32, kFull, a), 0u);
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_MAX_U32, kFull, a), uint32_t(-1));
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_MAX_S32, kFull, a), 28u);
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_MAX_S32, 0x7u, a), uint32_t(-1));
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_AND, 0xF0u, a), 0u);  // 1..4
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_OR, 0xF0u, a), 7u);
  EXPECT_EQ(moe_emu_redux_sync(MOE_EMU_REDUX_XOR, 0xF0u, a), 4u); // 1^2^3^4
}

/// Four 8 x 8 matrices of 16-bit values, element (m, r, c) = m << 8 | r << 4
/// | c, rows 16-byte aligned and strided by 48 bytes.
struct SharedTile {
  alignas(16) uint16_t data[4][8][24] = {};
  uint64_t rows[32];
  SharedTile() {
    for (int m = 0; m < 4; ++m)
      for (int r = 0; r < 8; ++r)
        for (int c = 0; c < 8; ++c)
          data[m][r][c] = uint16_t(m << 8 | r << 4 | c);
    for (int lane = 0; lane < 32; ++lane)
      rows[lane] = reinterpret_cast<uint64_t>(&data[lane / 8][lane % 8][0]);
  }
};

TEST(EmulatorWarpTest, LdmatrixX4GivesEachLaneTwoElementsOfARow) {
  SharedTile tile;
  uint32_t d[32][4] = {};
  EXPECT_EQ(moe_emu_ldmatrix(4, 0, tile.rows, d), -1);
  // Lane 9 is row 2, columns 2 and 3 of every matrix.
  EXPECT_EQ(d[9][0], 0x00230022u);
  EXPECT_EQ(d[9][3], 0x03230322u);
  EXPECT_EQ(d[31][1], 0x01770176u);
}

TEST(EmulatorWarpTest, LdmatrixTransGivesTwoElementsOfAColumn) {
  SharedTile tile;
  uint32_t d[32][4] = {};
  EXPECT_EQ(moe_emu_ldmatrix(2, 1, tile.rows, d), -1);
  // Lane 9: column 2, rows 2 and 3.
  EXPECT_EQ(d[9][0], 0x00320022u);
  EXPECT_EQ(d[9][1], 0x01320122u);
  EXPECT_EQ(d[9][2], 0u); // x2 writes two registers
}

TEST(EmulatorWarpTest, LdmatrixX1ReadsOnlyEightAddresses) {
  SharedTile tile;
  for (int lane = 8; lane < 32; ++lane)
    tile.rows[lane] = 1; // unaligned, and unused by .x1
  uint32_t d[32][4] = {};
  EXPECT_EQ(moe_emu_ldmatrix(1, 0, tile.rows, d), -1);
  EXPECT_EQ(d[0][0], 0x00010000u);
  tile.rows[3] += 2;
  EXPECT_EQ(moe_emu_ldmatrix(1, 0, tile.rows, d), 3);
}

TEST(EmulatorWarpTest, CpAsyncCompletesOldGroupsAtTheWait) {
  alignas(16) uint32_t global[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  alignas(16) uint32_t shared[8] = {};
  auto address = [](const void *p) { return reinterpret_cast<uint64_t>(p); };
  moe_emu_async_copies *copies = moe_emu_async_copies_create();
  ASSERT_EQ(moe_emu_cp_async(copies, address(shared), address(global), 16, 16), 0);
  moe_emu_cp_async_commit_group(copies);
  // The second copies 8 of 16 bytes and zero-fills the rest.
  shared[6] = 99;
  ASSERT_EQ(moe_emu_cp_async(copies, address(shared + 4), address(global + 4), 16, 8), 0);
  moe_emu_cp_async_commit_group(copies);
  EXPECT_EQ(moe_emu_cp_async_pending(copies), 2u);
  EXPECT_EQ(shared[0], 0u); // nothing lands before a wait
  moe_emu_cp_async_wait_group(copies, 1);
  EXPECT_EQ(shared[3], 4u);
  EXPECT_EQ(shared[4], 0u);
  EXPECT_EQ(moe_emu_cp_async_pending(copies), 1u);
  moe_emu_cp_async_wait_group(copies, 0);
  EXPECT_EQ(shared[5], 6u);
  EXPECT_EQ(shared[6], 0u);
  // Sizes and alignments the ISA forbids.
  EXPECT_EQ(moe_emu_cp_async(copies, address(shared), address(global), 12, 12), -1);
  EXPECT_EQ(moe_emu_cp_async(copies, address(shared + 1), address(global), 8, 8), -1);
  EXPECT_EQ(moe_emu_cp_async(copies, address(shared), address(global), 4, 8), -1);
  // Uncommitted copies wait for a commit.
  ASSERT_EQ(moe_emu_cp_async(copies, address(shared), address(global + 7), 4, 4), 0);
  moe_emu_cp_async_wait_group(copies, 0);
  EXPECT_EQ(shared[0], 1u);
  moe_emu_cp_async_commit_group(copies);
  moe_emu_cp_async_wait_group(copies, 0);
  EXPECT_EQ(shared[0], 8u);
  moe_emu_async_copies_destroy(copies);
}

TEST(EmulatorWarpTest, MbarrierPhasesCompleteOnArrivalsAndBytes) {
  uint64_t bar;
  ASSERT_EQ(moe_emu_mbarrier_init(&bar, 2), 0);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 0), 0);
  // Phase 0: one thread arrives expecting a 256-byte copy, another arrives.
  int64_t token = moe_emu_mbarrier_arrive_expect_tx(&bar, 256);
  EXPECT_EQ(token, 0);
  EXPECT_EQ(moe_emu_mbarrier_arrive(&bar, 1), 0);
  EXPECT_EQ(moe_emu_mbarrier_test_wait(&bar, token), 0); // bytes outstanding
  EXPECT_EQ(moe_emu_mbarrier_complete_tx(&bar, 128), 0);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 0), 0);
  EXPECT_EQ(moe_emu_mbarrier_complete_tx(&bar, 128), 0);
  EXPECT_EQ(moe_emu_mbarrier_test_wait(&bar, token), 1);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 0), 1);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 1), 0);
  // Phase 1 counts two arrivals again; a third is past the phase's.
  EXPECT_EQ(moe_emu_mbarrier_arrive(&bar, 2), 1);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 1), 1);
  EXPECT_EQ(moe_emu_mbarrier_arrive(&bar, 1), 0);
  EXPECT_EQ(moe_emu_mbarrier_arrive(&bar, 2), -1);
  // Bytes may land before they are expected.
  ASSERT_EQ(moe_emu_mbarrier_init(&bar, 1), 0);
  EXPECT_EQ(moe_emu_mbarrier_complete_tx(&bar, 64), 0);
  EXPECT_EQ(moe_emu_mbarrier_arrive_expect_tx(&bar, 64), 0);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 0), 1);
  EXPECT_EQ(moe_emu_mbarrier_init(&bar, 0), -1);
}

} // namespace

namespace {

// The shadow of a block's shared memory, as emulated kernels call it: thread
// ids (x, 0, 0) of a block of 64.
TEST(EmulatorChecksTest, SharedMemoryRacesAndUnwrittenReads) {
  alignas(16) static float shared[16];
  auto at = [](int i) { return reinterpret_cast<uint64_t>(&shared[i]); };
  moe_emu_run_begin();
  moe_emu_block_begin("k", 0, 0, 0, 64, 1, 1);
  moe_emu_shared_region(at(0), sizeof(shared));
  // Each thread writes its element, reads it back: no fault.
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(moe_emu_shared_access("store", t, 0, 0, at(t), 4, 1), 0);
    EXPECT_EQ(moe_emu_shared_access("load", t, 0, 0, at(t), 4, 0), 0);
  }
  EXPECT_EQ(moe_emu_run_fault(nullptr), nullptr);
  // After a barrier every thread reads every element.
  moe_emu_barrier();
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(moe_emu_shared_access("load", t, 0, 0, at(i), 4, 0), 0);
  EXPECT_EQ(moe_emu_run_fault(nullptr), nullptr);
  // A write after the others' reads, with no barrier: a race.
  EXPECT_EQ(moe_emu_shared_access("store", 2, 0, 0, at(1), 4, 1), 0);
  uint64_t count = 0;
  const char *fault = moe_emu_run_fault(&count);
  ASSERT_NE(fault, nullptr);
  EXPECT_EQ(count, 1u);
  EXPECT_STREQ(fault, "kernel 'k', block (0, 0, 0), thread (2, 0, 0): writes "
                      "shared memory at byte 4 of a 64-byte buffer that other "
                      "threads read with no barrier between them (a race) "
                      "(store)");
  // Later faults are counted, the first one kept.
  moe_emu_barrier();
  EXPECT_EQ(moe_emu_shared_access("load", 3, 0, 0, at(8), 4, 0), 0);
  EXPECT_EQ(moe_emu_shared_access("load", 3, 0, 0, at(15) + 2, 4, 0), 1);
  EXPECT_NE(moe_emu_run_fault(&count), nullptr);
  EXPECT_EQ(count, 3u);
  // A new run, a new block: unwritten again.
  moe_emu_run_begin();
  moe_emu_block_begin("k", 1, 0, 0, 64, 1, 1);
  moe_emu_shared_region(at(0), sizeof(shared));
  EXPECT_EQ(moe_emu_shared_access("load", 0, 0, 0, at(0), 4, 0), 0);
  EXPECT_STREQ(moe_emu_run_fault(nullptr),
               "kernel 'k', block (1, 0, 0), thread (0, 0, 0): reads shared "
               "memory at byte 0 of a 64-byte buffer that no thread has "
               "written (load)");
  // Read after another thread's write in the same interval.
  moe_emu_run_begin();
  EXPECT_EQ(moe_emu_shared_access("store", 5, 0, 0, at(2), 4, 1), 0);
  EXPECT_EQ(moe_emu_shared_access("load", 6, 0, 0, at(2), 4, 0), 0);
  EXPECT_STREQ(moe_emu_run_fault(nullptr),
               "kernel 'k', block (1, 0, 0), thread (6, 0, 0): reads shared "
               "memory at byte 8 of a 64-byte buffer that thread (5, 0, 0) "
               "wrote with no barrier between them (a race) (load)");
  moe_emu_run_begin();
}

TEST(EmulatorChecksTest, FaultsNameTheirThread) {
  moe_emu_run_begin();
  moe_emu_block_begin("main_graph_kernel_2", 3, 1, 0, 16, 16, 1);
  moe_emu_fault(MOE_EMU_FAULT_WRITE_OUT_OF_BOUNDS, "memref.store", 4, 2, 0, 1,
                40, 32);
  EXPECT_STREQ(moe_emu_run_fault(nullptr),
               "kernel 'main_graph_kernel_2', block (3, 1, 0), thread (4, 2, "
               "0): writes out of bounds: index 40 of dimension 1, whose "
               "extent is 32 (memref.store)");
  moe_emu_run_begin();
  moe_emu_fault(MOE_EMU_FAULT_DIVERGENT, "scf.if", 1, 0, 0, 0, 0, 0);
  EXPECT_NE(std::strstr(moe_emu_run_fault(nullptr),
                        "thread (1, 0, 0): does not agree with thread (0, 0, "
                        "0)"),
            nullptr);
  moe_emu_run_begin();
}

} // namespace

namespace {

// What the generic proxy writes, the async proxy (wgmma, TMA) reads only
// after a fence.proxy.async; what TMA writes the generic proxy reads at once.
TEST(EmulatorChecksTest, AsyncProxyReadsNeedAFence) {
  alignas(16) static uint8_t shared[256];
  uint64_t base = reinterpret_cast<uint64_t>(shared);
  moe_emu_run_begin();
  moe_emu_block_begin("k", 0, 0, 0, 128, 1, 1);
  moe_emu_shared_region(base, sizeof(shared));
  EXPECT_EQ(moe_emu_shared_access("st.shared", 3, 0, 0, base, 16, 1), 0);
  moe_emu_barrier(); // a barrier does not order the proxies
  EXPECT_EQ(moe_emu_async_proxy_access("wgmma", 0, base + 8, 8, 0), 0);
  EXPECT_STREQ(moe_emu_run_fault(nullptr),
               "kernel 'k', block (0, 0, 0), thread (0, 0, 0): reads through "
               "the async proxy shared memory at byte 8 of a 256-byte buffer "
               "written through the generic proxy with no fence.proxy.async "
               "between them (wgmma)");
  moe_emu_run_begin();
  moe_emu_fence_proxy_async();
  EXPECT_EQ(moe_emu_async_proxy_access("wgmma", 0, base, 16, 0), 0);
  EXPECT_EQ(moe_emu_run_fault(nullptr), nullptr);
  // Unwritten bytes, then a TMA load landing and a generic read after it.
  EXPECT_EQ(moe_emu_async_proxy_access("wgmma", 0, base + 64, 4, 0), 0);
  EXPECT_NE(std::strstr(moe_emu_run_fault(nullptr), "that no thread has written"),
            nullptr);
  moe_emu_run_begin();
  EXPECT_EQ(moe_emu_async_proxy_access("cp.async.bulk.tensor", 0, base + 128,
                                       128, 1),
            0);
  moe_emu_barrier();
  EXPECT_EQ(moe_emu_shared_access("ld.shared", 5, 0, 0, base + 200, 4, 0), 0);
  EXPECT_EQ(moe_emu_async_proxy_access("wgmma", 0, base + 128, 128, 0), 0);
  EXPECT_EQ(moe_emu_run_fault(nullptr), nullptr);
  EXPECT_EQ(moe_emu_async_proxy_access("wgmma", 0, base + 250, 16, 0), 1);
  moe_emu_run_begin();
}

} // namespace

namespace {

// A wgmma's reads of shared memory go on until every warp of its warpgroup
// has waited for its group, and only a barrier after the last wait orders a
// thread's write of those bytes after them.
TEST(EmulatorChecksTest, WgmmaReadsLastUntilWaitedForAndABarrier) {
  alignas(1024) static uint8_t shared[4096];
  uint64_t base = reinterpret_cast<uint64_t>(shared);
  static float d[128 * 4];
  moe::gpu::WgmmaDescriptor layout; // no swizzle, K-major core matrices
  layout.leading = 128;
  layout.stride = 256;
  uint64_t desc = moe::gpu::WgmmaDescriptor::encode(layout);
  auto begin = [&] {
    moe_emu_run_begin();
    moe_emu_block_begin("k", 0, 0, 0, 128, 1, 1);
    moe_emu_shared_region(base, sizeof(shared));
    std::memset(shared, 0, sizeof(shared));
    ASSERT_EQ(moe_emu_shared_access("st.shared", 0, 0, 0, base, 4096, 1), 0);
    moe_emu_fence_proxy_async();
    moe_emu_barrier();
    // m64n8k16: A's 2048 bytes, then B's 256.
    ASSERT_EQ(moe_emu_wgmma_checked("wgmma", 0, MOE_EMU_BF16, 8, base,
                                    base + 2048, desc, desc, d),
              0);
    ASSERT_EQ(moe_emu_run_fault(nullptr), nullptr);
  };
  auto commitAndWait = [](int warps) {
    for (int64_t warp = 0; warp < 4; ++warp)
      moe_emu_wgmma_commit_thread(warp * 32);
    for (int64_t warp = 0; warp < warps; ++warp)
      moe_emu_wgmma_wait_thread("wgmma.wait_group", warp * 32, 0);
  };

  begin();
  commitAndWait(3); // warp 3 has not waited
  EXPECT_EQ(moe_emu_shared_access("st.shared", 5, 0, 0, base + 2048, 2, 1), 0);
  EXPECT_STREQ(moe_emu_run_fault(nullptr),
               "kernel 'k', block (0, 0, 0), thread (5, 0, 0): writes shared "
               "memory at byte 2048 of a 4096-byte buffer that the wgmma of "
               "warpgroup 0 may still be reading: not every warp of the "
               "warpgroup has waited for its group (a race) (st.shared)");

  begin();
  commitAndWait(4);
  EXPECT_EQ(moe_emu_shared_access("st.shared", 5, 0, 0, base + 32, 2, 1), 0);
  EXPECT_NE(std::strstr(moe_emu_run_fault(nullptr),
                        "that the wgmma of warpgroup 0 read, with no barrier "
                        "after its last warp's wgmma.wait_group (a race)"),
            nullptr);

  begin();
  commitAndWait(4);
  moe_emu_barrier();
  EXPECT_EQ(moe_emu_shared_access("st.shared", 5, 0, 0, base, 4096, 1), 0);
  moe_emu_block_end();
  EXPECT_EQ(moe_emu_run_fault(nullptr), nullptr);

  // A block that ends before its warps wait for their group.
  begin();
  commitAndWait(0);
  moe_emu_block_end();
  EXPECT_NE(std::strstr(moe_emu_run_fault(nullptr),
                        "ends with 1 wgmma groups its warp never waited for"),
            nullptr);
  moe_emu_run_begin();
}

} // namespace
