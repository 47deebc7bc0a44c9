//===- ExpandLayer.cpp - moe.layer into route, dispatch, experts, combine -===//
//
// The four steps are what the lowerings and the fusion passes work on; shared
// and zero-computation experts are spelled out next to them.
//
//===----------------------------------------------------------------------===//

#include "dialects/moe/Transforms/Passes.h"

#include "dialects/moe/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEEXPAND
#include "dialects/moe/Transforms/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// `size` multiplied by `factor`, dynamic when `size` is.
int64_t scaled(int64_t size, int64_t factor) {
  return ShapedType::isDynamic(size) ? ShapedType::kDynamic : size * factor;
}

/// Expert `s` of a `[S, ...]` weight as a one-expert bank `[1, ...]`.
Value oneExpert(OpBuilder &b, Location loc, Value bank, int64_t s) {
  if (!bank)
    return bank;
  auto type = cast<RankedTensorType>(bank.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
  offsets[0] = b.getIndexAttr(s);
  SmallVector<OpFoldResult> sizes, strides(type.getRank(), b.getIndexAttr(1));
  sizes.push_back(b.getIndexAttr(1));
  for (int64_t d = 1; d < type.getRank(); ++d)
    sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
  return b.create<tensor::ExtractSliceOp>(loc, bank, offsets, sizes, strides);
}

/// The elementwise map over `[T, H]` (identity) and over the token only.
SmallVector<AffineMap> tokenMaps(MLIRContext *ctx, unsigned count,
                                 unsigned tokenOnly) {
  AffineMap identity = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap token = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
  SmallVector<AffineMap> maps(count, identity);
  maps[tokenOnly] = token;
  return maps;
}

/// `acc + gate * out` over `[T, H]`, with `gate [T]` (or `out` alone without
/// one).
Value addScaled(OpBuilder &b, Location loc, Value acc, Value out, Value gate) {
  MLIRContext *ctx = b.getContext();
  SmallVector<utils::IteratorType> parallel(2, utils::IteratorType::parallel);
  SmallVector<Value> ins{out};
  SmallVector<AffineMap> maps;
  if (gate) {
    ins.push_back(gate);
    maps = tokenMaps(ctx, 3, 1);
  } else {
    maps.assign(2, AffineMap::getMultiDimIdentityMap(2, ctx));
  }
  return b
      .create<linalg::GenericOp>(
          loc, acc.getType(), ins, ValueRange{acc}, maps, parallel,
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value term = args[0];
            if (gate)
              term = nb.create<arith::MulFOp>(nl, term, args[1]);
            nb.create<linalg::YieldOp>(
                nl, ValueRange{
                        nb.create<arith::AddFOp>(nl, args.back(), term)});
          })
      .getResult(0);
}

/// `sigmoid(x . gate)` for one shared expert: `[T]`.
Value sharedGate(OpBuilder &b, Location loc, Value tokens, Value gates,
                 int64_t s) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(tokens.getType());
  Type element = type.getElementType();
  SmallVector<OpFoldResult> offsets{b.getIndexAttr(s), b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{
      b.getIndexAttr(1), b.getIndexAttr(type.getDimSize(1))};
  SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
  Value row = b.create<tensor::ExtractSliceOp>(
      loc, RankedTensorType::get({type.getDimSize(1)}, element), gates,
      offsets, sizes, strides);
  SmallVector<Value> dynamic;
  if (type.isDynamicDim(0))
    dynamic.push_back(b.create<tensor::DimOp>(loc, tokens, 0));
  Value init = b.create<tensor::EmptyOp>(
      loc, ArrayRef<int64_t>{type.getDimSize(0)}, element, dynamic);
  Value zero =
      b.create<arith::ConstantOp>(loc, element, b.getZeroAttr(element));
  init = b.create<linalg::FillOp>(loc, zero, init).getResult(0);
  AffineMap tokenHidden = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap hidden = AffineMap::get(2, 0, getAffineDimExpr(1, ctx), ctx);
  AffineMap token = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
  Value dot =
      b.create<linalg::GenericOp>(
           loc, init.getType(), ValueRange{tokens, row}, ValueRange{init},
           ArrayRef<AffineMap>{tokenHidden, hidden, token},
           ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                         utils::IteratorType::reduction},
           [&](OpBuilder &nb, Location nl, ValueRange args) {
             Value product = nb.create<arith::MulFOp>(nl, args[0], args[1]);
             nb.create<linalg::YieldOp>(
                 nl, ValueRange{nb.create<arith::AddFOp>(nl, args[2], product)});
           })
          .getResult(0);
  AffineMap same = AffineMap::getMultiDimIdentityMap(1, ctx);
  return b
      .create<linalg::GenericOp>(
          loc, dot.getType(), ValueRange{dot}, ValueRange{init},
          ArrayRef<AffineMap>{same, same},
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value one = nb.create<arith::ConstantOp>(
                nl, element, nb.getFloatAttr(element, 1.0));
            Value negated = nb.create<arith::NegFOp>(nl, args[0]);
            Value denominator = nb.create<arith::AddFOp>(
                nl, one, nb.create<math::ExpOp>(nl, negated));
            nb.create<linalg::YieldOp>(
                nl, ValueRange{nb.create<arith::DivFOp>(nl, one, denominator)});
          })
      .getResult(0);
}

/// Adds what the zero-computation experts contribute: for each assignment
/// `(t, j)` whose id is a copy expert, `weights[t, j] * tokens[t]`; for a
/// constant expert `c`, `weights[t, j] * constants[c]`. Zero experts add
/// nothing.
Value addNullExperts(OpBuilder &b, Location loc, LayerOp layer, Value acc,
                     Value weights, Value ids) {
  MLIRContext *ctx = b.getContext();
  int64_t routed = layer.getNumExperts();
  int64_t firstCopy = routed + layer.getNumZeroExperts();
  int64_t firstConstant = firstCopy + layer.getNumCopyExperts();
  Value constants = layer.getConstantExperts();
  Type element = cast<ShapedType>(acc.getType()).getElementType();
  AffineExpr t = getAffineDimExpr(0, ctx), h = getAffineDimExpr(1, ctx),
             j = getAffineDimExpr(2, ctx);
  SmallVector<AffineMap> maps{AffineMap::get(3, 0, {t, j}, ctx),
                              AffineMap::get(3, 0, {t, j}, ctx),
                              AffineMap::get(3, 0, {t, h}, ctx),
                              AffineMap::get(3, 0, {t, h}, ctx)};
  return b
      .create<linalg::GenericOp>(
          loc, acc.getType(), ValueRange{weights, ids, layer.getTokens()},
          ValueRange{acc}, maps,
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::parallel,
                                        utils::IteratorType::reduction},
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Type idType = args[1].getType();
            auto idConstant = [&](int64_t value) -> Value {
              return nb.create<arith::ConstantOp>(
                  nl, idType, nb.getIntegerAttr(idType, value));
            };
            Value id = args[1];
            Value afterZero = nb.create<arith::CmpIOp>(
                nl, arith::CmpIPredicate::sge, id, idConstant(firstCopy));
            Value beforeConstant = nb.create<arith::CmpIOp>(
                nl, arith::CmpIPredicate::slt, id, idConstant(firstConstant));
            Value isCopy =
                nb.create<arith::AndIOp>(nl, afterZero, beforeConstant);
            Value zero = nb.create<arith::ConstantOp>(
                nl, element, nb.getZeroAttr(element));
            Value value = nb.create<arith::SelectOp>(nl, isCopy, args[2], zero);
            if (constants) {
              Value isConstant = nb.create<arith::CmpIOp>(
                  nl, arith::CmpIPredicate::sge, id, idConstant(firstConstant));
              Value row = nb.create<arith::IndexCastOp>(
                  nl, nb.getIndexType(),
                  nb.create<arith::MaxSIOp>(
                      nl,
                      nb.create<arith::SubIOp>(nl, id,
                                               idConstant(firstConstant)),
                      idConstant(0)));
              Value column = nb.create<linalg::IndexOp>(nl, 1);
              Value constant = nb.create<tensor::ExtractOp>(
                  nl, constants, ValueRange{row, column});
              value = nb.create<arith::SelectOp>(nl, isConstant, constant,
                                                 value);
            }
            Value term = nb.create<arith::MulFOp>(nl, args[0], value);
            nb.create<linalg::YieldOp>(
                nl, ValueRange{nb.create<arith::AddFOp>(nl, args[3], term)});
          })
      .getResult(0);
}

/// moe.layer → moe.route, moe.dispatch, moe.experts, moe.combine (+ shared and
/// zero-computation experts).
struct ExpandLayer : OpRewritePattern<LayerOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerOp layer,
                                PatternRewriter &rewriter) const override {
    Location loc = layer.getLoc();
    auto tokensType = cast<RankedTensorType>(layer.getTokens().getType());
    auto logitsType = cast<RankedTensorType>(layer.getLogits().getType());
    Type element = tokensType.getElementType();
    int64_t tokens = tokensType.getDimSize(0);
    int64_t hidden = tokensType.getDimSize(1);
    int64_t k = layer.getRouting().getK();
    int64_t experts = layer.getNumExperts();
    if (ShapedType::isDynamic(experts))
      return rewriter.notifyMatchFailure(layer, "dynamic expert count");

    auto route = rewriter.create<RouteOp>(
        loc, RankedTensorType::get({tokens, k}, logitsType.getElementType()),
        RankedTensorType::get({tokens, k}, rewriter.getI32Type()),
        layer.getLogits(), layer.getRoutingBias(), layer.getRouting());
    Value weights = route.getWeights();
    if (logitsType.getElementType() != element)
      weights = rewriter.create<arith::ExtFOp>(
          loc, RankedTensorType::get({tokens, k}, element), weights);
    int64_t rows = scaled(tokens, k);
    // scale_inputs: the weights scale the dispatched rows, the combine sums.
    bool scaleInputs = layer.getScaleInputs();
    auto dispatch = rewriter.create<DispatchOp>(
        loc, RankedTensorType::get({rows, hidden}, element),
        RankedTensorType::get({experts + 1}, rewriter.getI32Type()),
        RankedTensorType::get({rows}, rewriter.getI32Type()),
        layer.getTokens(), route.getIds(), scaleInputs ? weights : Value());
    Value combineWeights = weights;
    if (scaleInputs) {
      SmallVector<Value> dynamicTokens;
      if (ShapedType::isDynamic(tokens))
        dynamicTokens.push_back(
            rewriter.create<tensor::DimOp>(loc, layer.getTokens(), 0));
      Value empty = rewriter.create<tensor::EmptyOp>(
          loc, ArrayRef<int64_t>{tokens, k}, element, dynamicTokens);
      Value one = rewriter.create<arith::ConstantOp>(
          loc, rewriter.getFloatAttr(element, 1.0));
      combineWeights =
          rewriter.create<linalg::FillOp>(loc, one, empty).getResult(0);
    }
    auto expertsOp = rewriter.create<ExpertsOp>(
        loc, dispatch.getRows().getType(), dispatch.getRows(),
        dispatch.getOffsets(), layer.getGateUp(), layer.getDown(),
        layer.getUp(), layer.getGateUpBias(), layer.getDownBias(),
        layer.getUpBias(), layer.getActivation());
    Value result = rewriter.create<CombineOp>(loc, tokensType,
                                              expertsOp.getResult(),
                                              combineWeights,
                                              dispatch.getPermutation());

    if (layer.getNumNullExperts() > 0)
      result =
          addNullExperts(rewriter, loc, layer, result, weights, route.getIds());

    if (Value sharedGateUp = layer.getSharedGateUp()) {
      // Shared experts: one expert, every token, in order; offsets [0, T].
      Value count = rewriter.create<arith::IndexCastOp>(
          loc, rewriter.getI32Type(),
          rewriter.create<tensor::DimOp>(loc, layer.getTokens(), 0));
      Value zero = rewriter.create<arith::ConstantOp>(
          loc, rewriter.getI32IntegerAttr(0));
      Value offsets =
          rewriter.create<tensor::FromElementsOp>(loc, ValueRange{zero, count});
      int64_t shared = cast<ShapedType>(sharedGateUp.getType()).getDimSize(0);
      for (int64_t s = 0; s < shared; ++s) {
        Value gateUp = oneExpert(rewriter, loc, sharedGateUp, s);
        Value down = oneExpert(rewriter, loc, layer.getSharedDown(), s);
        Value up = oneExpert(rewriter, loc, layer.getSharedUp(), s);
        Value out = rewriter.create<ExpertsOp>(
            loc, tokensType, layer.getTokens(), offsets, gateUp, down, up,
            Value(), Value(), Value(), layer.getActivation());
        Value gate;
        if (Value gates = layer.getSharedGate())
          gate = sharedGate(rewriter, loc, layer.getTokens(), gates, s);
        result = addScaled(rewriter, loc, result, out, gate);
      }
    }
    rewriter.replaceOp(layer, result);
    return success();
  }
};

struct MoEExpandPass : ::moe::impl::MoEExpandBase<MoEExpandPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandLayer>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    WalkResult left = getOperation().walk([](LayerOp layer) {
      layer.emitError("moe-expand cannot expand this layer: its number of "
                      "experts is dynamic");
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
