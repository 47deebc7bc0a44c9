//===- PackMatmulWeights.cpp - a model's dense matmuls on panel kernels ---===//
//
// The dense layers' matmuls (routers, projections, the LM head) multiply by
// constant weights as the experts do. Packed into panels once, in the
// compiler, they run on the same broadcast-FMA kernel instead of scalar loops.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "lib/Conversion/MatmulToVector/WeightPanels.h"
#include "lib/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEPACKMATMULWEIGHTS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// `C [M, N] = A [M, K] x B` on tensors, B a constant `[K, N]` (or `[N, K]`)
/// of f32 with `N` a multiple of the panel width → the panel product.
struct PackConstantMatmul : OpRewritePattern<linalg::GenericOp> {
  PackConstantMatmul(MLIRContext *ctx, int64_t width)
      : OpRewritePattern(ctx), width(width) {}

  int64_t width;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getNumLoops() != 3 ||
        !::moe::isMultiplyAdd(op, /*widened=*/false))
      return rewriter.notifyMatchFailure(op, "not a matmul on tensors");
    MLIRContext *ctx = op.getContext();
    AffineExpr m = getAffineDimExpr(0, ctx), n = getAffineDimExpr(1, ctx),
               k = getAffineDimExpr(2, ctx);
    AffineMap a = AffineMap::get(3, 0, {m, k}, ctx),
              c = AffineMap::get(3, 0, {m, n}, ctx);
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    bool depthMajor = maps[1] == AffineMap::get(3, 0, {k, n}, ctx);
    if (maps[0] != a || maps[2] != c ||
        !(depthMajor || maps[1] == AffineMap::get(3, 0, {n, k}, ctx)) ||
        op.getIteratorTypesArray() !=
            SmallVector<utils::IteratorType>{utils::IteratorType::parallel,
                                             utils::IteratorType::parallel,
                                             utils::IteratorType::reduction})
      return rewriter.notifyMatchFailure(op, "not A x B or A x B^T");
    Value B = op.getDpsInputOperand(1)->get();
    auto bType = cast<RankedTensorType>(B.getType());
    auto cType = cast<RankedTensorType>(op.getResult(0).getType());
    std::vector<char> storage;
    std::optional<ArrayRef<char>> bytes = ::moe::constantBytesOf(B, storage);
    if (!bytes || !bType.getElementType().isF32() ||
        !cType.getElementType().isF32() ||
        !cast<ShapedType>(op.getDpsInputOperand(0)->get().getType())
             .getElementType()
             .isF32())
      return rewriter.notifyMatchFailure(op, "not f32 with a constant weight");
    int64_t depth = bType.getDimSize(depthMajor ? 0 : 1);
    int64_t columns = bType.getDimSize(depthMajor ? 1 : 0);
    if (columns % width != 0)
      return rewriter.notifyMatchFailure(op, "columns not whole panels");
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(op);
    Value packed = ::moe::packWeightPanels(rewriter, op.getLoc(), *bytes, 1,
                                           columns, depth, depthMajor, width,
                                           /*bf16=*/false);
    SmallVector<OpFoldResult> zero(4, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes{
        rewriter.getIndexAttr(1), rewriter.getIndexAttr(columns / width),
        rewriter.getIndexAttr(depth), rewriter.getIndexAttr(width)};
    Value panels = rewriter.create<tensor::ExtractSliceOp>(
        op.getLoc(),
        RankedTensorType::get({columns / width, depth, width},
                              rewriter.getF32Type()),
        packed, zero, sizes,
        SmallVector<OpFoldResult>(4, rewriter.getIndexAttr(1)));
    rewriter.replaceOp(
        op, ::moe::createPanelMatmul(rewriter, op.getLoc(),
                                     op.getDpsInputOperand(0)->get(), panels,
                                     op.getDpsInitOperand(0)->get()));
    return success();
  }
};

struct MoEPackMatmulWeightsPass
    : ::moe::impl::MoEPackMatmulWeightsBase<MoEPackMatmulWeightsPass> {
  using MoEPackMatmulWeightsBase::MoEPackMatmulWeightsBase;

  void runOnOperation() override {
    if (panelWidth <= 0)
      return;
    RewritePatternSet patterns(&getContext());
    patterns.add<PackConstantMatmul>(&getContext(), panelWidth);
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      signalPassFailure();
  }
};

} // namespace
