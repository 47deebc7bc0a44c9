//===- EmulatorTest.cpp - the CUDA emulator's instruction semantics -------===//
//
// The mma.sync fragment tables against entries read off the PTX ISA's
// figures, one warp's mma.sync against a product computed here, a wrong
// fragment index caught, and the bf16 / f16 conversions' rounding.
//
//===----------------------------------------------------------------------===//

#include "moe/GPU/MmaLayout.h"
#include "moe/Runtime/Emulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <utility>

using moe::gpu::M16N8K16;
using moe::gpu::M16N8K8;
using moe::gpu::MatrixCoord;

namespace {

uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Entries of the ISA's figures for m16n8k16 (groupID = lane / 4,
// threadID_in_group = lane % 4): lane 5 is group 1, thread 1.
TEST(MmaLayoutTest, M16N8K16MatchesTheIsaFigures) {
  EXPECT_EQ(M16N8K16::a(0, 0, 0), (MatrixCoord{0, 0}));
  EXPECT_EQ(M16N8K16::a(0, 0, 1), (MatrixCoord{0, 1}));
  EXPECT_EQ(M16N8K16::a(5, 1, 0), (MatrixCoord{9, 2}));  // a2: row g + 8
  EXPECT_EQ(M16N8K16::a(5, 3, 1), (MatrixCoord{9, 11})); // a7: +8, +8
  EXPECT_EQ(M16N8K16::a(31, 2, 0), (MatrixCoord{7, 14}));
  EXPECT_EQ(M16N8K16::b(6, 1, 0), (MatrixCoord{12, 1})); // b2: row 2t + 8
  EXPECT_EQ(M16N8K16::b(31, 0, 1), (MatrixCoord{7, 7}));
  EXPECT_EQ(M16N8K16::c(4, 1), (MatrixCoord{1, 1}));
  EXPECT_EQ(M16N8K16::c(31, 3), (MatrixCoord{15, 7}));
  EXPECT_EQ(M16N8K8::a(5, 1, 1), (MatrixCoord{9, 3}));
  EXPECT_EQ(M16N8K8::b(7, 0, 1), (MatrixCoord{7, 1}));
}

/// Every element of an `rows` x `cols` matrix is held by exactly one
/// (lane, register, half) of `at`.
template <typename At>
void expectEachElementOnce(int rows, int cols, int registers, int halves,
                           At at) {
  std::set<std::pair<int, int>> seen;
  for (int lane = 0; lane < 32; ++lane)
    for (int reg = 0; reg < registers; ++reg)
      for (int half = 0; half < halves; ++half) {
        MatrixCoord c = at(lane, reg, half);
        ASSERT_TRUE(c.row >= 0 && c.row < rows && c.col >= 0 && c.col < cols)
            << "lane " << lane << " register " << reg;
        EXPECT_TRUE(seen.insert({c.row, c.col}).second)
            << "element (" << c.row << ", " << c.col << ") held twice";
      }
  EXPECT_EQ(int(seen.size()), rows * cols);
}

TEST(MmaLayoutTest, FragmentsCoverTheirMatricesOnce) {
  expectEachElementOnce(16, 16, 4, 2, M16N8K16::a);
  expectEachElementOnce(16, 8, 2, 2, M16N8K16::b);
  expectEachElementOnce(16, 8, 4, 1,
                        [](int l, int r, int) { return M16N8K16::c(l, r); });
  expectEachElementOnce(16, 8, 2, 2, M16N8K8::a);
  expectEachElementOnce(8, 8, 1, 2, M16N8K8::b);
}

// The operands of one warp, packed as the ISA's text describes its figures:
// A's element a_i of a lane (i = 0..7, two per register) at row groupID, +8
// for i in {2, 3, 6, 7}, column threadID_in_group * 2 + (i & 1), +8 for
// i >= 4; B's b_i at row threadID_in_group * 2 + (i & 1), +8 for i >= 2,
// column groupID; C's c_i at row groupID, +8 for i >= 2, column
// threadID_in_group * 2 + (i & 1).
struct Warp {
  float A[16][16], B[16][8], C[16][8];
  uint32_t a[32][4] = {}, b[32][2] = {};
  float c[32][4] = {}, d[32][4] = {};

  Warp() {
    for (int i = 0; i < 16; ++i)
      for (int k = 0; k < 16; ++k)
        A[i][k] = float(i - k) / 4; // exact in bf16 and f16
    for (int k = 0; k < 16; ++k)
      for (int j = 0; j < 8; ++j)
        B[k][j] = float((k + 2 * j) % 5 - 2);
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 8; ++j)
        C[i][j] = float(i * 8 + j);
  }

  void pack(bool wrongRow = false) {
    for (int lane = 0; lane < 32; ++lane) {
      int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 8; ++i) {
        // The mutation: the +8 row taken from i's low bit instead.
        bool lower = wrongRow ? (i & 1) : (i == 2 || i == 3 || i == 6 || i == 7);
        int row = g + (lower ? 8 : 0), col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
        a[lane][i / 2] |= uint32_t(moe_emu_f32_to_bf16(A[row][col]))
                          << (16 * (i & 1));
      }
      for (int i = 0; i < 4; ++i) {
        int row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0);
        b[lane][i / 2] |= uint32_t(moe_emu_f32_to_bf16(B[row][g]))
                          << (16 * (i & 1));
      }
      for (int i = 0; i < 4; ++i)
        c[lane][i] = C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)];
    }
  }

  /// How many elements of D differ from A B + C.
  int mismatches() const {
    int wrong = 0;
    for (int lane = 0; lane < 32; ++lane) {
      int g = lane / 4, t = lane % 4;
      for (int i = 0; i < 4; ++i) {
        int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
        float want = C[row][col];
        for (int k = 0; k < 16; ++k)
          want += A[row][k] * B[k][col];
        wrong += d[lane][i] != want;
      }
    }
    return wrong;
  }
};

TEST(EmulatorTest, MmaM16N8K16ComputesTheWarpsProduct) {
  Warp warp;
  warp.pack();
  moe_emu_mma_m16n8k16(MOE_EMU_BF16, warp.a, warp.b, warp.c, warp.d);
  EXPECT_EQ(warp.mismatches(), 0);
  // Lane 5, register 3 holds D(9, 3): row 9 of A times column 3 of B, plus 75.
  float want = 9 * 8 + 3;
  for (int k = 0; k < 16; ++k)
    want += float(9 - k) / 4 * float((k + 6) % 5 - 2);
  EXPECT_EQ(warp.d[5][3], want);
  // d may alias c.
  moe_emu_mma_m16n8k16(MOE_EMU_BF16, warp.a, warp.b, warp.c, warp.c);
  EXPECT_EQ(std::memcmp(warp.c, warp.d, sizeof(warp.d)), 0);
}

TEST(EmulatorTest, MmaCatchesAWrongFragmentIndex) {
  Warp warp;
  warp.pack(/*wrongRow=*/true);
  moe_emu_mma_m16n8k16(MOE_EMU_BF16, warp.a, warp.b, warp.c, warp.d);
  EXPECT_GT(warp.mismatches(), 0);
}

TEST(EmulatorTest, MmaM16N8K8UsesTheFirstHalfOfK) {
  // m16n8k8's fragments are m16n8k16's first two A registers and first B
  // register: the product over k < 8.
  Warp warp;
  for (int i = 0; i < 16; ++i)
    for (int k = 8; k < 16; ++k)
      warp.A[i][k] = 0;
  warp.pack();
  uint32_t a[32][2], b[32][1];
  for (int lane = 0; lane < 32; ++lane) {
    a[lane][0] = warp.a[lane][0];
    a[lane][1] = warp.a[lane][1];
    b[lane][0] = warp.b[lane][0];
  }
  moe_emu_mma_m16n8k8(MOE_EMU_BF16, a, b, warp.c, warp.d);
  EXPECT_EQ(warp.mismatches(), 0);
}

TEST(EmulatorTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(moe_emu_f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(moe_emu_f32_to_bf16(floatOf(0x3F808000)), 0x3F80); // tie: even
  EXPECT_EQ(moe_emu_f32_to_bf16(floatOf(0x3F818000)), 0x3F82); // tie: up
  EXPECT_EQ(moe_emu_f32_to_bf16(floatOf(0x3F808001)), 0x3F81);
  EXPECT_EQ(moe_emu_f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(moe_emu_f32_to_bf16(floatOf(0x7F7FFFFF)), 0x7F80); // to inf
  EXPECT_EQ(moe_emu_f32_to_bf16(NAN) & 0x7FC0, 0x7FC0);
  EXPECT_EQ(bitsOf(moe_emu_bf16_to_f32(0x3F81)), 0x3F810000u);
}

TEST(EmulatorTest, F16RoundsToNearestEvenWithSubnormals) {
  EXPECT_EQ(moe_emu_f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(moe_emu_f32_to_f16(-2.5f), 0xC100);
  EXPECT_EQ(moe_emu_f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(moe_emu_f32_to_f16(65520.0f), 0x7C00); // ties up past the max
  EXPECT_EQ(moe_emu_f32_to_f16(1.0f + 1.0f / 2048), 0x3C00); // tie: even
  EXPECT_EQ(moe_emu_f32_to_f16(1.0f + 3.0f / 2048), 0x3C02); // tie: up
  EXPECT_EQ(moe_emu_f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(moe_emu_f32_to_f16(std::ldexp(1.0f, -25)), 0x0000); // tie: even
  EXPECT_EQ(moe_emu_f32_to_f16(std::ldexp(3.0f, -25)), 0x0002); // tie: up
  EXPECT_EQ(moe_emu_f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400); // to normal
  EXPECT_EQ(moe_emu_f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(moe_emu_f32_to_f16(INFINITY), 0x7C00);
  EXPECT_EQ(moe_emu_f32_to_f16(NAN) & 0x7E00, 0x7E00);
  EXPECT_EQ(moe_emu_f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(moe_emu_f16_to_f32(0xC100), -2.5f);
#ifdef __FLT16_MAX__
  // The compiler's own conversion (IEEE round to nearest even) agrees on a
  // sweep of f32 bit patterns through every exponent.
  for (uint64_t i = 0; i < (uint64_t(1) << 32); i += 65537) {
    float value = floatOf(uint32_t(i));
    if (std::isnan(value))
      continue;
    _Float16 half = static_cast<_Float16>(value);
    uint16_t bits;
    std::memcpy(&bits, &half, sizeof(bits));
    ASSERT_EQ(moe_emu_f32_to_f16(value), bits) << "f32 bits " << std::hex << i;
  }
#endif
  // Every f16 comes back from f32 as itself.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF))
      continue; // NaNs
    ASSERT_EQ(moe_emu_f32_to_f16(moe_emu_f16_to_f32(uint16_t(bits))), bits);
  }
}

} // namespace
