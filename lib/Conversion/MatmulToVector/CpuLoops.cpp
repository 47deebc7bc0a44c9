//===- CpuLoops.cpp - a model's other loops on every thread, vectorisable -===//
//
// What the matmul kernels leave (elementwise ops, softmax, normalisations,
// transposes) lowers to loops. Two passes make those loops fast on the CPU:
// the large ones run their leading parallel dimensions on every thread, and
// f32 math functions become polynomials, which LLVM's loop vectorizer turns
// into vector code where a call into the C library would keep a loop scalar.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEPARALLELIZELOOPS
#define GEN_PASS_DEF_MOEAPPROXIMATEMATH
#define GEN_PASS_DEF_MOEREASSOCIATEREDUCTIONS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// How many leading loops of `op` are parallel, leaving the innermost loop
/// (the contiguous one LLVM vectorizes) out.
unsigned leadingParallelLoops(linalg::LinalgOp op) {
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  unsigned count = 0;
  while (count + 1 < iterators.size() &&
         iterators[count] == utils::IteratorType::parallel)
    ++count;
  return count;
}

struct MoEParallelizeLoopsPass
    : ::moe::impl::MoEParallelizeLoopsBase<MoEParallelizeLoopsPass> {
  using MoEParallelizeLoopsBase::MoEParallelizeLoopsBase;

  void runOnOperation() override {
    SmallVector<linalg::LinalgOp> ops;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (op.hasPureBufferSemantics() && leadingParallelLoops(op) > 0 &&
          !op->getParentOfType<scf::ForallOp>() &&
          !op->getParentOfType<scf::ParallelOp>())
        ops.push_back(op);
    });
    for (linalg::LinalgOp op : ops)
      if (failed(parallelize(op)))
        return signalPassFailure();
  }

  /// `op` with its leading parallel loops an `scf.parallel` of one row each,
  /// when its iteration space has `minElements` points or more (checked at
  /// run time where a size is dynamic: the serial op stays for small calls).
  LogicalResult parallelize(linalg::LinalgOp op) {
    IRRewriter rewriter(op.getContext());
    rewriter.setInsertionPoint(op);
    Location loc = op.getLoc();
    unsigned leading = leadingParallelLoops(op);
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    bool dynamic = llvm::any_of(ranges, ShapedType::isDynamic);
    int64_t points = 1;
    for (int64_t range : ranges)
      points *= ShapedType::isDynamic(range) ? 1 : range;
    if (!dynamic && points < minElements)
      return success();
    int64_t rows = 1;
    for (unsigned d = 0; d < leading; ++d)
      rows *= ShapedType::isDynamic(ranges[d]) ? 2 : ranges[d];
    if (rows < 2)
      return success();

    linalg::LinalgOp target = op;
    if (dynamic) {
      // The number of points at run time against the bound.
      Value total;
      for (Range range : op.createLoopRanges(rewriter, loc)) {
        Value size = getValueOrCreateConstantIndexOp(rewriter, loc, range.size);
        total = total ? rewriter.create<arith::MulIOp>(loc, total, size) : size;
      }
      Value large = rewriter.create<arith::CmpIOp>(
          loc, arith::CmpIPredicate::uge, total,
          rewriter.create<arith::ConstantIndexOp>(loc, minElements));
      auto branch = rewriter.create<scf::IfOp>(loc, large, /*withElse=*/true);
      rewriter.setInsertionPointToStart(&branch.getThenRegion().front());
      target = cast<linalg::LinalgOp>(rewriter.clone(*op));
      rewriter.moveOpBefore(op, branch.getElseRegion().front().getTerminator());
    }
    SmallVector<int64_t> tiles(ranges.size(), 0);
    for (unsigned d = 0; d < leading; ++d)
      tiles[d] = 1;
    linalg::LinalgTilingOptions options;
    options.setTileSizes(tiles).setLoopType(
        linalg::LinalgTilingLoopType::ParallelLoops);
    rewriter.setInsertionPoint(target);
    FailureOr<linalg::TiledLinalgOp> tiled =
        linalg::tileLinalgOp(rewriter, target, options);
    if (failed(tiled))
      return target->emitError("moe-parallelize-loops: cannot tile this op");
    rewriter.eraseOp(target);
    return success();
  }
};

struct MoEApproximateMathPass
    : ::moe::impl::MoEApproximateMathBase<MoEApproximateMathPass> {
  using MoEApproximateMathBase::MoEApproximateMathBase;

  void runOnOperation() override {
    // Sine and cosine stay calls: their polynomials reduce the argument with
    // an f32 multiple of pi, which loses the phase of rotary embeddings' large
    // angles.
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<math::MathDialect>(op->getDialect()) &&
          !isa<math::SinOp, math::CosOp>(op))
        ops.push_back(op);
    });
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingAndNewOps;
    if (failed(applyOpPatternsAndFold(ops, std::move(patterns), config)))
      signalPassFailure();
  }
};

struct MoEReassociateReductionsPass
    : ::moe::impl::MoEReassociateReductionsBase<MoEReassociateReductionsPass> {
  using MoEReassociateReductionsBase::MoEReassociateReductionsBase;

  void runOnOperation() override {
    getOperation().walk([](linalg::GenericOp op) {
      if (op.getNumReductionLoops() == 0)
        return;
      auto yield = cast<linalg::YieldOp>(op.getBody()->getTerminator());
      for (OpOperand &init : op.getDpsInitsMutable()) {
        // The combiner: an f32 sum or product of the output's running value.
        Value combined =
            yield.getValues()[init.getOperandNumber() - op.getNumDpsInputs()];
        Operation *combiner = combined.getDefiningOp();
        BlockArgument running = op.getMatchingBlockArgument(&init);
        if (!combiner || !isa<arith::AddFOp, arith::MulFOp>(combiner) ||
            !combined.getType().isF32() ||
            !llvm::is_contained(combiner->getOperands(), running))
          continue;
        auto fastmath = cast<arith::ArithFastMathInterface>(combiner);
        combiner->setAttr(
            fastmath.getFastMathAttrName(),
            arith::FastMathFlagsAttr::get(
                op.getContext(), fastmath.getFastMathFlagsAttr().getValue() |
                                     arith::FastMathFlags::reassoc));
      }
    });
  }
};

} // namespace
