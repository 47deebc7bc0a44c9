//===- RaisePatterns.h - shared pieces of the moe-raise patterns -*- C++
//-*-===//
#ifndef MOE_LIB_TRANSFORMS_RAISEPATTERNS_H
#define MOE_LIB_TRANSFORMS_RAISEPATTERNS_H

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <string>

namespace moe {

/// Layers raised per form, and near misses; the pass reports them.
struct RaiseCounts {
  int64_t contribMoE = 0;
  int64_t batchedMatmul = 0;
  int64_t dense = 0;
  int64_t loop = 0;
  int64_t nearMisses = 0;
  /// Shared experts folded into a raised layer.
  int64_t sharedExperts = 0;

  /// Layers raised, all forms together.
  int64_t raised() const { return contribMoE + batchedMatmul + dense + loop; }
};

/// Base of the raising patterns: failure paths that count as near misses.
class RaisePattern : public mlir::OpRewritePattern<mlir::onnx::NodeOp> {
public:
  RaisePattern(mlir::MLIRContext *context, RaiseCounts &counts, bool explain)
      : OpRewritePattern(context), counts(counts), explain(explain) {}

protected:
  /// Records that `node` looked like a MoE layer but is left as it was.
  mlir::LogicalResult nearMiss(mlir::Operation *node,
                               mlir::PatternRewriter &rewriter,
                               const llvm::Twine &why) const;

  RaiseCounts &counts;
  bool explain;
};

/// `weight [E, a, b]` as `[E, b, a]` (a linalg.transpose).
mlir::Value transposeExperts(mlir::PatternRewriter &rewriter,
                             mlir::Location loc, mlir::Value weight);

/// Verifies a freshly built op without printing anything; returns the first
/// message when it does not verify.
std::optional<std::string> verifyQuietly(mlir::Operation *op);

void populateRaiseContribMoEPatterns(mlir::RewritePatternSet &patterns,
                                     RaiseCounts &counts, bool explain);
/// The forms written with standard ONNX ops: batched matmul, dense (stacked or
/// per-expert weights) and the unrolled expert loop.
void populateRaiseDecomposedMoEPatterns(mlir::RewritePatternSet &patterns,
                                        RaiseCounts &counts, bool explain);

/// Folds shared experts added to raised layers' outputs into the layers' shared
/// operands; near misses are counted (and explained with `explain`).
void foldSharedExperts(mlir::func::FuncOp func, RaiseCounts &counts,
                       bool explain);

} // namespace moe

#endif // MOE_LIB_TRANSFORMS_RAISEPATTERNS_H
