//===- Emulator.cpp - the CUDA emulator's instruction semantics -----------===//
//
// One warp's mma.sync from the PTX ISA's fragment tables (moe/GPU/MmaLayout.h)
// and the f32 to bf16 / f16 conversions with round-to-nearest-even.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"

#include "moe/GPU/MmaLayout.h"

#include <cmath>
#include <cstring>

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

float toF32(moe_emu_type type, uint16_t bits) {
  return type == MOE_EMU_BF16 ? moe_emu_bf16_to_f32(bits)
                              : moe_emu_f16_to_f32(bits);
}

/// D = A B + C for one warp of the layout `Layout`, A and B given per lane.
template <typename Layout>
void mma(moe_emu_type type, const uint32_t (*a)[Layout::kARegisters],
         const uint32_t (*b)[Layout::kBRegisters], const float (*c)[4],
         float (*d)[4]) {
  constexpr int M = Layout::M, N = Layout::N, K = Layout::K;
  float A[M][K], B[K][N], C[M][N];
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane) {
    for (int reg = 0; reg < Layout::kARegisters; ++reg)
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = Layout::a(lane, reg, half);
        A[at.row][at.col] = toF32(type, uint16_t(a[lane][reg] >> (16 * half)));
      }
    for (int reg = 0; reg < Layout::kBRegisters; ++reg)
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = Layout::b(lane, reg, half);
        B[at.row][at.col] = toF32(type, uint16_t(b[lane][reg] >> (16 * half)));
      }
    for (int reg = 0; reg < Layout::kCRegisters; ++reg) {
      moe::gpu::MatrixCoord at = Layout::c(lane, reg);
      C[at.row][at.col] = c[lane][reg];
    }
  }
  // Products of 16-bit floats are exact in double, and so is the sum of 17
  // terms of this range in all but extreme cases: one rounding, to f32.
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane)
    for (int reg = 0; reg < Layout::kCRegisters; ++reg) {
      moe::gpu::MatrixCoord at = Layout::c(lane, reg);
      double sum = C[at.row][at.col];
      for (int k = 0; k < K; ++k)
        sum += double(A[at.row][k]) * double(B[k][at.col]);
      d[lane][reg] = float(sum);
    }
}

} // namespace

extern "C" {

uint16_t moe_emu_f32_to_bf16(float value) {
  uint32_t bits = bitsOf(value);
  if (std::isnan(value))
    return uint16_t((bits >> 16) | 0x0040); // quiet, sign kept
  // Round to nearest, ties to even, on the 16 bits dropped.
  uint32_t rounding = 0x7FFF + ((bits >> 16) & 1);
  return uint16_t((bits + rounding) >> 16);
}

float moe_emu_bf16_to_f32(uint16_t bits) {
  return floatOf(uint32_t(bits) << 16);
}

uint16_t moe_emu_f32_to_f16(float value) {
  uint32_t bits = bitsOf(value);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  uint32_t exponent = (bits >> 23) & 0xFF;
  uint32_t mantissa = bits & 0x7FFFFF;
  if (exponent == 0xFF) // inf, or a quiet NaN
    return uint16_t(sign | 0x7C00 | (mantissa ? 0x0200 | (mantissa >> 13) : 0));
  int unbiased = int(exponent) - 127;
  if (unbiased > 15)
    return uint16_t(sign | 0x7C00);
  // The value in units of f16's smallest subnormal (2^-24), rounded to the
  // nearest integer, ties to even: normal and subnormal results alike.
  uint32_t significand = exponent ? (mantissa | 0x800000) : mantissa;
  int shift = 13 + (unbiased < -14 ? -14 - unbiased : 0);
  if (exponent == 0 || shift > 24)
    return sign; // |value| < 2^-25: rounds to zero
  uint32_t kept = significand >> shift;
  uint32_t rest = significand & ((1u << shift) - 1);
  uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (kept & 1)))
    ++kept;
  // A normal result: its exponent above the subnormal range. A carry out of
  // the mantissa moves into the exponent, up to infinity.
  uint32_t biased = unbiased < -14 ? 0 : uint32_t(unbiased + 15);
  uint32_t result = biased ? ((biased << 10) + (kept - 0x400)) : kept;
  return uint16_t(sign | (result > 0x7C00 ? 0x7C00 : result));
}

float moe_emu_f16_to_f32(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1F;
  uint32_t mantissa = bits & 0x3FF;
  if (exponent == 0x1F)
    return floatOf(sign | 0x7F800000 | (mantissa << 13));
  if (exponent == 0) // zero or subnormal: mantissa * 2^-24
    return std::ldexp(float(mantissa), -24) * (sign ? -1.0f : 1.0f);
  return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

void moe_emu_mma_m16n8k16(moe_emu_type type, const uint32_t a[32][4],
                          const uint32_t b[32][2], const float c[32][4],
                          float d[32][4]) {
  mma<moe::gpu::M16N8K16>(type, a, b, c, d);
}

void moe_emu_mma_m16n8k8(moe_emu_type type, const uint32_t a[32][2],
                         const uint32_t b[32][1], const float c[32][4],
                         float d[32][4]) {
  mma<moe::gpu::M16N8K8>(type, a, b, c, d);
}

} // extern "C"
