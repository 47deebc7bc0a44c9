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
         float (*d)[4]);

/// D = A B + C for the dense M x K A, K x N B and M x N C of one warp,
/// written to its lanes as `Layout` says.
template <typename Layout>
void multiply(const float (*A)[Layout::K], const float (*B)[Layout::N],
              const float (*C)[Layout::N], float (*d)[4]) {
  // Products of 16-bit floats are exact in double, and so is the sum of up
  // to 33 terms of this range in all but extreme cases: one rounding, to f32.
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane)
    for (int reg = 0; reg < Layout::kCRegisters; ++reg) {
      moe::gpu::MatrixCoord at = Layout::c(lane, reg);
      double sum = C[at.row][at.col];
      for (int k = 0; k < Layout::K; ++k)
        sum += double(A[at.row][k]) * double(B[k][at.col]);
      d[lane][reg] = float(sum);
    }
}

/// B and C of one warp, gathered from their lanes as `Layout` says.
template <typename Layout>
void gatherBC(moe_emu_type type, const uint32_t (*b)[Layout::kBRegisters],
              const float (*c)[4], float (*B)[Layout::N],
              float (*C)[Layout::N]) {
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane) {
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
}

template <typename Layout>
void mma(moe_emu_type type, const uint32_t (*a)[Layout::kARegisters],
         const uint32_t (*b)[Layout::kBRegisters], const float (*c)[4],
         float (*d)[4]) {
  float A[Layout::M][Layout::K], B[Layout::K][Layout::N],
      C[Layout::M][Layout::N];
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane)
    for (int reg = 0; reg < Layout::kARegisters; ++reg)
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = Layout::a(lane, reg, half);
        A[at.row][at.col] = toF32(type, uint16_t(a[lane][reg] >> (16 * half)));
      }
  gatherBC<Layout>(type, b, c, B, C);
  multiply<Layout>(A, B, C, d);
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

int moe_emu_mma_sp_m16n8k32(moe_emu_type type, const uint32_t a[32][4],
                            const uint32_t b[32][4], const float c[32][4],
                            const uint32_t e[32], int selector,
                            float d[32][4]) {
  using Layout = moe::gpu::MmaSpM16N8K32;
  if (selector != 0 && selector != 1)
    return 32;
  float A[Layout::M][Layout::K] = {}, B[Layout::K][Layout::N],
        C[Layout::M][Layout::N];
  for (int lane = 0; lane < moe::gpu::kWarpSize; ++lane)
    for (int reg = 0; reg < Layout::kARegisters; ++reg)
      for (int half = 0; half < 2; ++half) {
        moe::gpu::MatrixCoord at = Layout::a(lane, reg, half);
        int chunk = at.col / 2;
        int owner = Layout::metadataLane(at.row, chunk, selector);
        unsigned nibble =
            (e[owner] >> (4 * Layout::metadataNibble(at.row, chunk))) & 0xF;
        unsigned first = nibble & 3, second = nibble >> 2;
        if (first >= second)
          return owner;
        unsigned position = half ? second : first;
        A[at.row][Layout::kChunk * chunk + position] =
            toF32(type, uint16_t(a[lane][reg] >> (16 * half)));
      }
  gatherBC<Layout>(type, b, c, B, C);
  multiply<Layout>(A, B, C, d);
  return -1;
}

int moe_emu_wgmma_m64nNk16(moe_emu_type type, int n, const uint8_t *shared,
                           uint32_t shared_bytes, uint64_t desc_a,
                           const uint32_t *a_regs, uint64_t desc_b,
                           int scale_d, int scale_a, int scale_b, int trans_a,
                           int trans_b, float *d) {
  using moe::gpu::WgmmaDescriptor;
  using Layout = moe::gpu::WgmmaM64NK16;
  constexpr int M = Layout::M, K = Layout::K;
  if (n < 8 || n > 256 || n % 8)
    return 0;
  WgmmaDescriptor a = WgmmaDescriptor::decode(desc_a),
                  b = WgmmaDescriptor::decode(desc_b);
  if ((!a_regs && a.baseOffset) || b.baseOffset)
    return 0;
  // An operand's element from shared memory, if its address is inside.
  bool outside = false;
  auto load = [&](const WgmmaDescriptor &desc, bool mnMajor, int mn, int k) {
    unsigned address = desc.address(mnMajor, mn, k);
    if (address + 2 > shared_bytes) {
      outside = true;
      return 0.0f;
    }
    uint16_t bits;
    std::memcpy(&bits, shared + address, sizeof(bits));
    return toF32(type, bits);
  };
  static thread_local float A[M][K], B[K][256];
  for (int row = 0; row < M; ++row)
    for (int k = 0; k < K; ++k)
      A[row][k] = a_regs ? 0.0f : load(a, trans_a, row, k);
  if (a_regs)
    for (int thread = 0; thread < Layout::kThreads; ++thread)
      for (int reg = 0; reg < 4; ++reg)
        for (int half = 0; half < 2; ++half) {
          moe::gpu::MatrixCoord at = Layout::a(thread, reg, half);
          A[at.row][at.col] =
              toF32(type, uint16_t(a_regs[thread * 4 + reg] >> (16 * half)));
        }
  for (int col = 0; col < n; ++col)
    for (int k = 0; k < K; ++k)
      B[k][col] = load(b, trans_b, col, k);
  if (outside)
    return 0;
  for (int thread = 0; thread < Layout::kThreads; ++thread)
    for (int reg = 0; reg < n / 2; ++reg) {
      moe::gpu::MatrixCoord at = Layout::d(thread, reg);
      float &out = d[thread * (n / 2) + reg];
      double sum = scale_d ? out : 0.0;
      for (int k = 0; k < K; ++k)
        sum += double(scale_a * A[at.row][k]) * double(scale_b * B[k][at.col]);
      out = float(sum);
    }
  return -1;
}

} // extern "C"
