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
/// 64B, 128B; a matrix descriptor's layout type): the 16-byte chunk of a byte
/// offset is XORed with the offset's 128-byte row, modulo 2, 4 or 8 rows, so
/// the rows of an 8-row tile fall in different banks. `bytes` is 0 (none),
/// 32, 64 or 128; offsets are from a base aligned to 8 x `bytes`.
constexpr unsigned swizzle(unsigned offset, int bytes) {
  unsigned rows = bytes == 128 ? 7 : bytes == 64 ? 3 : bytes == 32 ? 1 : 0;
  return offset ^ (((offset >> 7) & rows) << 4);
}

} // namespace moe::gpu

#endif // MOE_GPU_MMALAYOUT_H
