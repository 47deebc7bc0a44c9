//===- EmulatorTensorCoreTest.cpp - mma.sp, wgmma and TMA -----------------===//
//
// The CUDA emulator's sparse mma, warpgroup mma and tensor-memory copies
// against operands laid out here from the PTX ISA's descriptions (not from
// moe/GPU/MmaLayout.h, whose tables they check), and the mistakes they must
// catch.
//
//===----------------------------------------------------------------------===//

#include "moe/GPU/MmaLayout.h"
#include "moe/Runtime/Emulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace {

uint16_t bf16(float value) { return moe_emu_f32_to_bf16(value); }

/// The six increasing pairs of positions in a chunk of four.
constexpr int kPairs[6][2] = {{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}};

/// A 2:4-sparse 16 x 32 A, a 32 x 8 B and a 16 x 8 C for one warp, packed
/// as the ISA's sparse m16n8k32 text says: a_i of a lane (groupID g,
/// threadID_in_group t) at row g, +8 for i in {2, 3, 6, 7}, compressed
/// column 2t + (i & 1), +8 for i >= 4; b_i at row 2t + (i & 1) + 8 (i / 2),
/// column g; metadata from the lanes with t / 2 = f: nibble q of lane
/// (g, t) describes row g + 8 (q >= 4), chunk 4 (t & 1) + q % 4.
struct SparseWarp {
  float A[16][32] = {}, B[32][8], C[16][8];
  int pair[16][8];
  uint32_t a[32][4] = {}, b[32][4] = {}, e[32] = {};
  float c[32][4] = {}, d[32][4] = {};

  SparseWarp() {
    for (int row = 0; row < 16; ++row)
      for (int chunk = 0; chunk < 8; ++chunk) {
        pair[row][chunk] = (row + 2 * chunk) % 6;
        for (int i = 0; i < 2; ++i)
          A[row][4 * chunk + kPairs[pair[row][chunk]][i]] =
              float((row + 3 * chunk + i) % 7 - 3) / 2;
      }
    for (int k = 0; k < 32; ++k)
      for (int n = 0; n < 8; ++n)
        B[k][n] = float((k * 3 + n) % 5 - 2);
    for (int row = 0; row < 16; ++row)
      for (int n = 0; n < 8; ++n)
        C[row][n] = float(row - n);
  }

  void pack(int selector) {
    for (int lane = 0; lane < 32; ++lane) {
      int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 8; ++i) {
        int row = g + ((i / 2) % 2 ? 8 : 0);
        int column = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
        int chunk = column / 2;
        float value = A[row][4 * chunk + kPairs[pair[row][chunk]][column % 2]];
        a[lane][i / 2] |= uint32_t(bf16(value)) << (16 * (i & 1));
      }
      for (int i = 0; i < 8; ++i)
        b[lane][i / 2] |= uint32_t(bf16(B[2 * t + (i & 1) + 8 * (i / 2)][g]))
                          << (16 * (i & 1));
      for (int i = 0; i < 4; ++i)
        c[lane][i] = C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)];
      if (t / 2 != selector)
        continue;
      for (int q = 0; q < 8; ++q) {
        int row = g + (q >= 4 ? 8 : 0), chunk = 4 * (t & 1) + q % 4;
        const int *positions = kPairs[pair[row][chunk]];
        e[lane] |= uint32_t(positions[0] | positions[1] << 2) << (4 * q);
      }
    }
  }

  int mismatches() const {
    int wrong = 0;
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i) {
        int row = lane / 4 + (i >= 2 ? 8 : 0), n = 2 * (lane % 4) + (i & 1);
        float want = C[row][n];
        for (int k = 0; k < 32; ++k)
          want += A[row][k] * B[k][n];
        wrong += d[lane][i] != want;
      }
    return wrong;
  }
};

TEST(EmulatorTensorCoreTest, MmaSpMultipliesTheDenseA) {
  for (int selector = 0; selector < 2; ++selector) {
    SparseWarp warp;
    warp.pack(selector);
    EXPECT_EQ(moe_emu_mma_sp_m16n8k32(MOE_EMU_BF16, warp.a, warp.b, warp.c,
                                      warp.e, selector, warp.d),
              -1);
    EXPECT_EQ(warp.mismatches(), 0) << "selector " << selector;
  }
  // Lane 0's metadata, selector 0: row 0's chunks 0-3, then row 8's.
  SparseWarp warp;
  warp.pack(0);
  uint32_t want = 0;
  for (int q = 0; q < 8; ++q) {
    int row = q < 4 ? 0 : 8, chunk = q % 4;
    const int *p = kPairs[(row + 2 * chunk) % 6];
    want |= uint32_t(p[0] | p[1] << 2) << (4 * q);
  }
  EXPECT_EQ(warp.e[0], want);
}

TEST(EmulatorTensorCoreTest, MmaSpCatchesWrongMetadata) {
  // Metadata laid out for selector 0, read with selector 1: lanes 2 and 3
  // of each group hold none, so every nibble is (0, 0), not a pair.
  SparseWarp warp;
  warp.pack(0);
  EXPECT_EQ(moe_emu_mma_sp_m16n8k32(MOE_EMU_BF16, warp.a, warp.b, warp.c,
                                    warp.e, 1, warp.d),
            2);
  // A nibble swapped to (1, 0) in lane 5.
  warp.e[5] = (warp.e[5] & ~0xFu) | 0x1u;
  EXPECT_EQ(moe_emu_mma_sp_m16n8k32(MOE_EMU_BF16, warp.a, warp.b, warp.c,
                                    warp.e, 0, warp.d),
            5);
  // One chunk's pair changed to another valid one: the product differs.
  warp.pack(0);
  SparseWarp moved;
  moved.pair[3][1] = (moved.pair[3][1] + 1) % 6;
  moved.pack(0);
  std::memcpy(warp.e, moved.e, sizeof(warp.e));
  EXPECT_EQ(moe_emu_mma_sp_m16n8k32(MOE_EMU_BF16, warp.a, warp.b, warp.c,
                                    warp.e, 0, warp.d),
            -1);
  EXPECT_GT(warp.mismatches(), 0);
  EXPECT_EQ(moe_emu_mma_sp_m16n8k32(MOE_EMU_BF16, warp.a, warp.b, warp.c,
                                    warp.e, 2, warp.d),
            32);
}

TEST(EmulatorTensorCoreTest, WgmmaDescriptorFields) {
  moe::gpu::WgmmaDescriptor desc;
  desc.start = 0x400;
  desc.leading = 16;
  desc.stride = 1024;
  desc.swizzleBytes = 128;
  uint64_t bits = moe::gpu::WgmmaDescriptor::encode(desc);
  EXPECT_EQ(bits, 0x40ull | 1ull << 16 | 64ull << 32 | 1ull << 62);
  moe::gpu::WgmmaDescriptor back = moe::gpu::WgmmaDescriptor::decode(bits);
  EXPECT_EQ(back.start, 0x400u);
  EXPECT_EQ(back.stride, 1024u);
  EXPECT_EQ(back.swizzleBytes, 128);
  desc.swizzleBytes = 32;
  EXPECT_EQ(moe::gpu::WgmmaDescriptor::encode(desc) >> 62, 3ull);
}

/// A warpgroup's operands in shared memory: A 64 x 16 and B 16 x n, 16-bit,
/// placed by `placeA(row, k)` and `placeB(col, k)` byte addresses.
struct WarpGroup {
  int n;
  float A[64][16], B[16][64];
  std::vector<uint8_t> shared = std::vector<uint8_t>(16384, 0xFF);
  std::vector<float> d;

  explicit WarpGroup(int n) : n(n), d(128 * n / 2, 0.5f) {
    for (int row = 0; row < 64; ++row)
      for (int k = 0; k < 16; ++k)
        A[row][k] = float((row * 5 + k * 3) % 9 - 4) / 4;
    for (int k = 0; k < 16; ++k)
      for (int col = 0; col < n; ++col)
        B[k][col] = float((k + 2 * col) % 7 - 3);
  }

  template <typename PlaceA, typename PlaceB>
  void place(PlaceA placeA, PlaceB placeB) {
    for (int row = 0; row < 64; ++row)
      for (int k = 0; k < 16; ++k) {
        uint16_t bits = bf16(A[row][k]);
        std::memcpy(&shared[placeA(row, k)], &bits, 2);
      }
    for (int col = 0; col < n; ++col)
      for (int k = 0; k < 16; ++k) {
        uint16_t bits = bf16(B[k][col]);
        std::memcpy(&shared[placeB(col, k)], &bits, 2);
      }
  }

  /// Elements of D, laid out as the ISA's wgmma figure says (warp w rows
  /// 16 w.., m16n8's C layout in each n8 tile), that differ from A B +
  /// `old` C.
  int mismatches(float old) const {
    int wrong = 0;
    for (int thread = 0; thread < 128; ++thread) {
      int w = thread / 32, lane = thread % 32;
      for (int i = 0; i < n / 2; ++i) {
        int row = 16 * w + lane / 4 + 8 * ((i / 2) % 2);
        int col = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
        float want = old;
        for (int k = 0; k < 16; ++k)
          want += A[row][k] * B[k][col];
        wrong += d[thread * (n / 2) + i] != want;
      }
    }
    return wrong;
  }
};

uint64_t descriptor(unsigned start, unsigned leading, unsigned stride,
                    int swizzle) {
  moe::gpu::WgmmaDescriptor desc;
  desc.start = start;
  desc.leading = leading;
  desc.stride = stride;
  desc.swizzleBytes = swizzle;
  return moe::gpu::WgmmaDescriptor::encode(desc);
}

TEST(EmulatorTensorCoreTest, WgmmaKMajorSwizzledAAndCoreMatrixB) {
  // A K-major with the 128-byte swizzle: row r's 16-byte chunk c at
  // r * 128 + (c ^ r % 8) * 16 (8-row groups 1024 bytes apart). B K-major
  // without one: 8 x 16-byte core matrices, 128 bytes each, the two along
  // K 128 bytes apart (LBO), 8-column groups 256 apart (SBO), at 8192.
  WarpGroup group(32);
  group.place(
      [](int row, int k) {
        return row * 128 + ((k / 8) ^ (row % 8)) * 16 + (k % 8) * 2;
      },
      [](int col, int k) {
        return 8192 + (col / 8) * 256 + (k / 8) * 128 + (col % 8) * 16 +
               (k % 8) * 2;
      });
  EXPECT_EQ(moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 32, group.shared.data(),
                                   group.shared.size(), descriptor(0, 16, 1024, 128),
                                   nullptr, descriptor(8192, 128, 256, 0), 1, 1,
                                   1, 0, 0, group.d.data()),
            -1);
  EXPECT_EQ(group.mismatches(0.5f), 0);
}

TEST(EmulatorTensorCoreTest, WgmmaMnMajorOperandsAndScaleD) {
  // MN-major with the 64-byte swizzle: K row k holds 32 rows of A, 64
  // bytes; its 16-byte chunk c lands at (c ^ (k / 2) % 4), the two halves of
  // M (32 rows each) LBO = 1024 apart. B MN-major with the 32-byte swizzle:
  // row k of 16 columns, 32 bytes, chunk c ^ (k / 4) % 2, at 4096.
  WarpGroup group(16);
  group.place(
      [](int row, int k) {
        int line = k * 64 + (row % 32) * 2;
        return (row / 32) * 1024 + (line & ~0x30) +
               ((((line >> 4) & 3) ^ ((k / 2) % 4)) << 4);
      },
      [](int col, int k) {
        int line = k * 32 + col * 2;
        return 4096 + (line & ~0x10) + ((((line >> 4) & 1) ^ ((k / 4) % 2)) << 4);
      });
  // LBO between MN atoms, SBO between 8-K groups (8 rows of 64 or 32 bytes).
  EXPECT_EQ(moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 16, group.shared.data(),
                                   group.shared.size(), descriptor(0, 1024, 512, 64),
                                   nullptr, descriptor(4096, 0, 256, 32),
                                   /*scale_d=*/0, 1, 1, 1, 1, group.d.data()),
            -1);
  EXPECT_EQ(group.mismatches(0.0f), 0);
  // A read K-major instead: wrong.
  moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 16, group.shared.data(),
                         group.shared.size(), descriptor(0, 1024, 512, 64),
                         nullptr, descriptor(4096, 0, 256, 32), 0, 1, 1, 0, 1,
                         group.d.data());
  EXPECT_GT(group.mismatches(0.0f), 0);
}

TEST(EmulatorTensorCoreTest, WgmmaAFromRegistersAndNegation) {
  WarpGroup group(8);
  group.place([](int row, int k) { return 8192 + row * 32 + k * 2; },
              [](int col, int k) { return (k / 8) * 128 + col * 16 + (k % 8) * 2; });
  // A's registers: m16n8k16's A layout in each warp's 16 rows.
  std::vector<uint32_t> regs(128 * 4, 0);
  for (int thread = 0; thread < 128; ++thread) {
    int w = thread / 32, g = (thread % 32) / 4, t = thread % 4;
    for (int i = 0; i < 8; ++i) {
      int row = 16 * w + g + ((i / 2) % 2 ? 8 : 0);
      int k = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
      regs[thread * 4 + i / 2] |= uint32_t(bf16(group.A[row][k])) << (16 * (i & 1));
    }
  }
  // B negated, then negated back by A: the same product.
  EXPECT_EQ(moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 8, group.shared.data(),
                                   group.shared.size(), 0, regs.data(),
                                   descriptor(0, 128, 256, 0), 1, -1, -1, 0, 0,
                                   group.d.data()),
            -1);
  EXPECT_EQ(group.mismatches(0.5f), 0);
  // Operands the ISA refuses, or past the shared memory.
  EXPECT_EQ(moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 12, group.shared.data(),
                                   group.shared.size(), 0, regs.data(),
                                   descriptor(0, 128, 256, 0), 1, 1, 1, 0, 0,
                                   group.d.data()),
            0);
  EXPECT_EQ(moe_emu_wgmma_m64nNk16(MOE_EMU_BF16, 8, group.shared.data(), 1024,
                                   0, regs.data(), descriptor(0, 128, 256, 0) + 0x40,
                                   1, 1, 1, 0, 0, group.d.data()),
            0);
}

/// A 10 x 40 f32 tensor (dimension 0 has 40), element (row, col) =
/// row * 100 + col, rows 160 bytes apart.
struct Tensor {
  alignas(16) float data[10][40];
  moe_emu_tensor_map map = {};
  Tensor() {
    for (int row = 0; row < 10; ++row)
      for (int col = 0; col < 40; ++col)
        data[row][col] = float(row * 100 + col);
    map.global_address = reinterpret_cast<uint64_t>(&data[0][0]);
    map.rank = 2;
    map.element_bytes = 4;
    map.global_dim[0] = 40;
    map.global_dim[1] = 10;
    map.global_stride[0] = 4;
    map.global_stride[1] = 160;
    map.box_dim[0] = 32;
    map.box_dim[1] = 8;
    map.element_stride[0] = map.element_stride[1] = 1;
    map.swizzle_bytes = 128;
    map.float_kind = 1;
  }
};

TEST(EmulatorTensorCoreTest, TmaLoadSwizzlesTheBoxAndFillsOutOfBounds) {
  Tensor tensor;
  alignas(1024) static uint8_t shared[4096];
  std::memset(shared, 0xFF, sizeof(shared));
  uint64_t bar;
  ASSERT_EQ(moe_emu_mbarrier_init(&bar, 1), 0);
  ASSERT_EQ(moe_emu_mbarrier_arrive_expect_tx(&bar, 1024), 0);
  int32_t coords[5] = {16, 5};
  EXPECT_EQ(moe_emu_tma_load(&tensor.map, shared, sizeof(shared), 1024, coords,
                             &bar),
            1024);
  EXPECT_EQ(moe_emu_mbarrier_try_wait_parity(&bar, 0), 1);
  // Box row j, column i (128-byte rows): chunk i / 4 lands at chunk
  // (i / 4) ^ (j % 8).
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i) {
      float got;
      std::memcpy(&got, &shared[1024 + j * 128 + (((i / 4) ^ j) * 16) + (i % 4) * 4], 4);
      int row = 5 + j, col = 16 + i;
      float want = row < 10 && col < 40 ? float(row * 100 + col) : 0.0f;
      ASSERT_EQ(got, want) << "box row " << j << " column " << i;
    }
  // NaN fill, every other row, no swizzle.
  tensor.map.oob_nan = 1;
  tensor.map.swizzle_bytes = 0;
  tensor.map.element_stride[1] = 2;
  int32_t corner[5] = {-4, 3};
  EXPECT_EQ(moe_emu_tma_load(&tensor.map, shared, sizeof(shared), 0, corner,
                             nullptr),
            512);
  float got[4][32];
  std::memcpy(got, shared, sizeof(got));
  EXPECT_TRUE(std::isnan(got[0][3]));
  EXPECT_EQ(got[0][4], 300.0f);
  EXPECT_EQ(got[1][4], 500.0f);
  EXPECT_EQ(got[3][31], 927.0f);
}

TEST(EmulatorTensorCoreTest, TmaStoreSkipsOutOfBoundsAndChecksTheMap) {
  Tensor tensor;
  alignas(1024) static uint8_t shared[2048];
  for (int i = 0; i < 512; ++i) {
    float value = float(-i);
    std::memcpy(&shared[moe::gpu::swizzle(unsigned(i * 4), 128)], &value, 4);
  }
  int32_t coords[5] = {8, 4};
  EXPECT_EQ(moe_emu_tma_store(&tensor.map, shared, sizeof(shared), 0, coords), 1024);
  EXPECT_EQ(tensor.data[4][8], 0.0f);
  EXPECT_EQ(tensor.data[4][39], -31.0f);
  EXPECT_EQ(tensor.data[9][8], -160.0f);
  EXPECT_EQ(tensor.data[4][7], 407.0f); // outside the box
  // Maps cuTensorMapEncodeTiled refuses.
  Tensor bad;
  bad.map.box_dim[0] = 64; // 256 bytes inside a 128-byte swizzle
  EXPECT_EQ(moe_emu_tensor_map_check(&bad.map), -1);
  bad = Tensor();
  bad.map.global_stride[1] = 164;
  EXPECT_EQ(moe_emu_tensor_map_check(&bad.map), -1);
  bad = Tensor();
  bad.map.float_kind = 0;
  bad.map.oob_nan = 1;
  EXPECT_EQ(moe_emu_tensor_map_check(&bad.map), -1);
  EXPECT_EQ(moe_emu_tensor_map_check(&tensor.map), 0);
  EXPECT_EQ(moe_emu_tma_load(&tensor.map, shared, sizeof(shared), 512, coords,
                             nullptr),
            -1); // 128-byte swizzle: 1024-byte aligned destination
}

} // namespace
