//===- WeightPanels.h - weights packed for the CPU's GEMM kernel -*- C++
//-*-===//
//
// A constant weight W [N, K] (output columns x depth) packed as panels
// [N / W, K, W]: panel p holds columns p*W .. p*W+W-1, the W values of each
// k contiguous, so that the CPU kernel (moe-vectorize-matmuls) loads one
// vector of columns per k and broadcasts the row's element against it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MATMULTOVECTOR_WEIGHTPANELS_H
#define MOE_LIB_CONVERSION_MATMULTOVECTOR_WEIGHTPANELS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace moe {

/// The panels of `batch` f32 weights in `bytes`, each `[N, K]` (or `[K, N]`
/// when `depthMajor`), as a constant `[batch, N / width, K, width]` of f32,
/// or of bf16 rounded to nearest even when `bf16`. `N` must be a multiple of
/// `width`.
mlir::Value packWeightPanels(mlir::OpBuilder &b, mlir::Location loc,
                             llvm::ArrayRef<char> bytes, int64_t batch,
                             int64_t columns, int64_t depth, bool depthMajor,
                             int64_t width, bool bf16);

/// Whether `generic`'s body is `out + a * b` (operands in that order), `b`
/// widened first when `widened` allows it.
bool isMultiplyAdd(mlir::linalg::GenericOp generic, bool widened);

/// `acc [M, N] += input [M, K] x panels [N / W, K, W]` as the `linalg.generic`
/// over (m, p, l, k) that moe-vectorize-matmuls turns into its kernel: the
/// column `p * W + l` reads panel `p`'s lane `l` (bf16 widened to f32).
mlir::Value createPanelMatmul(mlir::OpBuilder &b, mlir::Location loc,
                              mlir::Value input, mlir::Value panels,
                              mlir::Value acc);

} // namespace moe

#endif // MOE_LIB_CONVERSION_MATMULTOVECTOR_WEIGHTPANELS_H
