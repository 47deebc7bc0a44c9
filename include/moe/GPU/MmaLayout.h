//===- MmaLayout.h - which lane holds which element of an mma.sync ---------===//
//
// The fragment layouts of the warp-wide matrix multiply-accumulate mma.sync,
// from the PTX ISA (8.5, 9.7.14.5.8, "Matrix Fragments for mma.m16n8k16 with
// floating point type", and 9.7.14.5.7 for m16n8k8): with
// groupID = lane / 4 and threadID_in_group = lane % 4, the element of A, B or
// C/D that each half of each 32-bit register of each lane holds. The compiler
// builds its kernels' fragment indices from these tables and the CUDA
// emulator gathers and scatters fragments with them, so what the emulator
// checks is what the GPU runs. Header-only and free of MLIR, for both.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_GPU_MMALAYOUT_H
#define MOE_GPU_MMALAYOUT_H

namespace moe::gpu {

/// A row and a column of a fragment's matrix.
struct MatrixCoord {
  int row;
  int col;
  constexpr bool operator==(const MatrixCoord &other) const {
    return row == other.row && col == other.col;
  }
};

constexpr int kWarpSize = 32;

/// The lane's group of four (groupID) and its place in it
/// (threadID_in_group).
constexpr int groupOf(int lane) { return lane / 4; }
constexpr int inGroupOf(int lane) { return lane % 4; }

/// mma.sync.aligned.m16nNkK.row.col.f32.{bf16,f16}.{bf16,f16}.f32 for K = 16
/// or 8: A is M x K row-major, B is K x N ("col"), C and D are M x N f32.
/// A and B registers each hold two 16-bit elements, the first in the low
/// half; C and D registers hold one f32.
template <int KSize>
struct MmaF16Layout {
  static_assert(KSize == 16 || KSize == 8, "m16n8k16 and m16n8k8 only");
  static constexpr int M = 16, N = 8, K = KSize;
  /// Registers per lane of A and B (two elements each) and of C and D.
  static constexpr int kARegisters = K / 4;
  static constexpr int kBRegisters = K / 8;
  static constexpr int kCRegisters = 4;
  /// What register `r` adds to the lane's base row and column of A (row
  /// groupID, column 2 * threadID_in_group): rows +8 for odd registers,
  /// columns +8 for the second pair (K = 16).
  static constexpr int kARowOffset[4] = {0, 8, 0, 8};
  static constexpr int kAColOffset[4] = {0, 0, 8, 8};
  /// What register `r` adds to the lane's base row of B (2 *
  /// threadID_in_group; the column is groupID).
  static constexpr int kBRowOffset[2] = {0, 8};
  /// What register `i` adds to the lane's base row and column of C and D
  /// (row groupID, column 2 * threadID_in_group).
  static constexpr int kCRowOffset[4] = {0, 0, 8, 8};
  static constexpr int kCColOffset[4] = {0, 1, 0, 1};

  /// The element of A that half `half` (0 low, 1 high) of register `reg` of
  /// `lane` holds.
  static constexpr MatrixCoord a(int lane, int reg, int half) {
    return {groupOf(lane) + kARowOffset[reg],
            2 * inGroupOf(lane) + half + kAColOffset[reg]};
  }
  /// The element of B that half `half` of register `reg` of `lane` holds.
  static constexpr MatrixCoord b(int lane, int reg, int half) {
    return {2 * inGroupOf(lane) + half + kBRowOffset[reg], groupOf(lane)};
  }
  /// The element of C or D that register `reg` of `lane` holds.
  static constexpr MatrixCoord c(int lane, int reg) {
    return {groupOf(lane) + kCRowOffset[reg],
            2 * inGroupOf(lane) + kCColOffset[reg]};
  }
};

using M16N8K16 = MmaF16Layout<16>;
using M16N8K8 = MmaF16Layout<8>;

/// mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.T.T.f32 d, a,
/// b, c, e, f for T = bf16 or f16 (PTX ISA 9.7.14.6): A is 16 x 32 with two
/// non-zeros in every chunk of 4 along K (2:4), given compressed to 16 x 16
/// in m16n8k16's A layout (compressed column 2 chunk + i holds the chunk's
/// i-th non-zero); B is 32 x 8, two m16n8k16 B fragments stacked along K;
/// C and D are m16n8k16's. The metadata e of the lanes 2 f and 2 f + 1 of
/// each group of four (selector f = 0 or 1) holds, per row and chunk, a
/// nibble with the positions (0 to 3) of its two non-zeros, the first in the
/// low two bits and below the second.
struct MmaSpM16N8K32 {
  static constexpr int M = 16, N = 8, K = 32, kChunk = 4;
  static constexpr int kARegisters = 4, kBRegisters = 4, kCRegisters = 4;
  /// The row and compressed column of A held by half `half` of `reg`.
  static constexpr MatrixCoord a(int lane, int reg, int half) {
    return M16N8K16::a(lane, reg, half);
  }
  /// The element of B held by half `half` of `reg`.
  static constexpr MatrixCoord b(int lane, int reg, int half) {
    return {8 * reg + 2 * inGroupOf(lane) + half, groupOf(lane)};
  }
  static constexpr MatrixCoord c(int lane, int reg) {
    return M16N8K16::c(lane, reg);
  }
  /// The lane whose metadata holds the nibble of (`row`, `chunk`) of A, and
  /// which nibble: rows 0-7 in the low 16 bits, chunks 0-3 in the first
  /// lane of the pair and 4-7 in the second.
  static constexpr int metadataLane(int row, int chunk, int selector) {
    return 4 * (row % 8) + 2 * selector + chunk / 4;
  }
  static constexpr int metadataNibble(int row, int chunk) {
    return chunk % 4 + 4 * (row / 8);
  }
};

/// ldmatrix.sync.aligned.m8n8.x{1,2,4}[.trans].shared.b16 (PTX ISA 9.7.14.5.15):
/// each 8 x 8 matrix of 16-bit elements has its 8 rows, 16 contiguous bytes
/// each, at the addresses of 8 consecutive lanes (matrix i's row r at lane
/// 8 i + r), and lands in the i-th destination register of every lane: two
/// elements of one row (of one column with .trans), the first in the low
/// half, as A of mma.m16n8k8 holds them.
struct LdMatrixLayout {
  static constexpr int kRows = 8, kRowBytes = 16;
  /// The lane whose address is row `row` of matrix `matrix`.
  static constexpr int addressLane(int matrix, int row) {
    return 8 * matrix + row;
  }
  /// The element of its matrix that half `half` of a destination register
  /// of `lane` holds.
  static constexpr MatrixCoord element(int lane, int half, bool trans) {
    int row = groupOf(lane), col = 2 * inGroupOf(lane) + half;
    return trans ? MatrixCoord{col, row} : MatrixCoord{row, col};
  }
};

/// The shared-memory swizzles of TMA and wgmma (CU_TENSOR_MAP_SWIZZLE_32B,
/// 64B, 128B; a matrix descriptor's layout type; PTX ISA 5.5.7): bits 4 up
/// of a shared-memory address (its 16-byte chunk) are XORed with the bits 7
/// up (its 128-byte line), 1, 2 or 3 of them, so the pattern repeats every
/// 256, 512 or 1024 bytes and the rows of a tile fall in different banks.
/// `bytes` is 0 (none), 32, 64 or 128.
constexpr unsigned swizzle(unsigned address, int bytes) {
  unsigned lines = bytes == 128 ? 7 : bytes == 64 ? 3 : bytes == 32 ? 1 : 0;
  return address ^ (((address >> 7) & lines) << 4);
}

/// The shared-memory matrix descriptor of wgmma.mma_async (PTX ISA
/// 9.7.15.5.1.2.2): the start address, the leading and stride dimension
/// byte offsets, each in bits [13:0] of its 16-byte units at bits 0, 16 and
/// 32, the base offset at bits 49-51 and the layout type at bits 62-63
/// (0 none, 1 128-byte swizzle, 2 64-byte, 3 32-byte).
struct WgmmaDescriptor {
  unsigned start = 0, leading = 0, stride = 0, baseOffset = 0;
  int swizzleBytes = 0;

  static constexpr unsigned long long encode(const WgmmaDescriptor &d) {
    auto field = [](unsigned bytes) {
      return (unsigned long long)((bytes & 0x3FFFF) >> 4);
    };
    unsigned long long layout = d.swizzleBytes == 128  ? 1
                                : d.swizzleBytes == 64 ? 2
                                : d.swizzleBytes == 32 ? 3
                                                       : 0;
    return field(d.start) | field(d.leading) << 16 | field(d.stride) << 32 |
           (unsigned long long)(d.baseOffset & 7) << 49 | layout << 62;
  }
  static constexpr WgmmaDescriptor decode(unsigned long long bits) {
    WgmmaDescriptor d;
    d.start = unsigned(bits & 0x3FFF) << 4;
    d.leading = unsigned((bits >> 16) & 0x3FFF) << 4;
    d.stride = unsigned((bits >> 32) & 0x3FFF) << 4;
    d.baseOffset = unsigned((bits >> 49) & 7);
    unsigned layout = unsigned(bits >> 62);
    d.swizzleBytes = layout == 1 ? 128 : layout == 2 ? 64 : layout == 3 ? 32 : 0;
    return d;
  }

  /// The shared-memory address of element (`mn`, `k`) of a 16-bit operand
  /// (A's row or B's column `mn`, along K `k`), K-major or MN-major, in the
  /// ISA's canonical layouts: without a swizzle, core matrices of 8 x 16
  /// bytes, K-major ones `leading` bytes apart along K and `stride` apart
  /// along M or N (MN-major: the other way round); with one, rows of
  /// `swizzleBytes` bytes, 8-row groups `stride` apart, then the swizzle.
  constexpr unsigned address(bool mnMajor, int mn, int k) const {
    constexpr int kElementBytes = 2;
    unsigned offset = 0;
    if (swizzleBytes == 0)
      offset = mnMajor ? (mn % 8) * kElementBytes + (mn / 8) * stride +
                             (k % 8) * 16 + (k / 8) * leading
                       : (mn % 8) * 16 + (mn / 8) * stride +
                             (k % 8) * kElementBytes + (k / 8) * leading;
    else if (mnMajor) {
      int perRow = swizzleBytes / kElementBytes;
      offset = (mn % perRow) * kElementBytes + (mn / perRow) * leading +
               (k % 8) * swizzleBytes + (k / 8) * stride;
    } else
      offset = (mn % 8) * swizzleBytes + (mn / 8) * stride + k * kElementBytes;
    return swizzle(start + offset, swizzleBytes);
  }
};

/// wgmma.mma_async.sync.aligned.m64nNk16.f32.T.T for T = bf16 or f16: a
/// warpgroup of four warps, warp w computing rows 16 w to 16 w + 15 of the
/// 64 x N D in m16n8's C layout repeated along N (register i of a lane:
/// N / 8 tiles of 4); A from registers in m16n8k16's A layout, likewise.
struct WgmmaM64NK16 {
  static constexpr int M = 64, K = 16, kThreads = 128;
  /// The element of D that register `reg` of thread `thread` holds.
  static constexpr MatrixCoord d(int thread, int reg) {
    int warp = thread / kWarpSize, lane = thread % kWarpSize;
    return {16 * warp + groupOf(lane) + 8 * ((reg >> 1) & 1),
            8 * (reg >> 2) + 2 * inGroupOf(lane) + (reg & 1)};
  }
  /// The element of A that half `half` of register `reg` (0 to 3) of
  /// `thread` holds.
  static constexpr MatrixCoord a(int thread, int reg, int half) {
    MatrixCoord at = M16N8K16::a(thread % kWarpSize, reg, half);
    return {16 * (thread / kWarpSize) + at.row, at.col};
  }
};

} // namespace moe::gpu

#endif // MOE_GPU_MMALAYOUT_H
