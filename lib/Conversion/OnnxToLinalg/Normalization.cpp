//===- Normalization.cpp - normalisation onnx.node lowerings --------------===//
//
// LayerNormalization, RMSNormalization and ONNX Runtime's
// SimplifiedLayerNormalization, SkipLayerNormalization and
// SkipSimplifiedLayerNormalization: the mean
// (and variance) over the trailing dimensions, then one elementwise pass.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

/// Normalises `x` over its dimensions from `axis` on: LayerNorm
/// `(x - mean) / sqrt(var + eps) * scale + bias`, or with `rms` the RMS norm
/// `x / sqrt(mean(x^2) + eps) * scale`. `scale` and `bias` broadcast over those
/// trailing dimensions.
FailureOr<Value> normalize(NodeOp node, OpBuilder &b, Value x, int64_t axis,
                           double epsilon, Value scale, Value bias, bool rms) {
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  int64_t rank = type.getRank();
  if (!isFloat(element))
    return node.emitError() << node.getOpType()
                            << " is supported on floating-point tensors only";
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    return node.emitError()
           << node.getOpType() << " axis is out of range for rank " << rank;
  for (Value v : {scale, bias})
    if (v &&
        (!isa<RankedTensorType>(v.getType()) || elementTypeOf(v) != element ||
         cast<RankedTensorType>(v.getType()).getRank() > rank - axis))
      return node.emitError()
             << node.getOpType()
             << " scale and bias must be tensors of the input's "
                "type over the normalised dimensions";
  Location loc = node.getLoc();
  MLIRContext *context = b.getContext();
  SmallVector<OpFoldResult> outer;
  SmallVector<AffineExpr> outerExprs;
  for (int64_t d = 0; d < axis; ++d) {
    outer.push_back(dimOf(b, loc, x, d));
    outerExprs.push_back(getAffineDimExpr(d, context));
  }
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap toOuter = AffineMap::get(rank, 0, outerExprs, context);
  SmallVector<utils::IteratorType> reduceIterators(
      rank, utils::IteratorType::parallel);
  for (int64_t d = axis; d < rank; ++d)
    reduceIterators[d] = utils::IteratorType::reduction;
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);

  // Number of normalised elements, as a float.
  Value count = b.create<arith::ConstantIndexOp>(loc, 1);
  for (int64_t d = axis; d < rank; ++d)
    count = b.create<arith::MulIOp>(
        loc, count,
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d)));
  Value countFloat = b.create<arith::SIToFPOp>(
      loc, element, b.create<arith::IndexCastOp>(loc, b.getI64Type(), count));

  /// Mean over the normalised dimensions of f(x, outer-value).
  auto reduceMean = [&](Value centre,
                        function_ref<Value(OpBuilder &, Location, Value, Value)>
                            f) {
    Value init = b.create<tensor::EmptyOp>(loc, outer, element);
    Value zero = b.create<linalg::FillOp>(loc, zeroOf(b, loc, element), init)
                     .getResult(0);
    SmallVector<Value> ins{x};
    SmallVector<AffineMap> maps{identity};
    if (centre) {
      ins.push_back(centre);
      maps.push_back(toOuter);
    }
    maps.push_back(toOuter);
    Value sum =
        b.create<linalg::GenericOp>(
             loc, zero.getType(), ins, ValueRange{zero}, maps, reduceIterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value term = f(nb, nl, args[0], centre ? args[1] : Value());
               nb.create<linalg::YieldOp>(
                   nl,
                   nb.create<arith::AddFOp>(nl, args.back(), term).getResult());
             })
            .getResult(0);
    Value meanInit = b.create<tensor::EmptyOp>(loc, outer, element);
    SmallVector<AffineMap> unary(2, b.getMultiDimIdentityMap(axis));
    return b
        .create<linalg::GenericOp>(
            loc, meanInit.getType(), ValueRange{sum}, ValueRange{meanInit},
            unary,
            SmallVector<utils::IteratorType>(axis,
                                             utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              nb.create<linalg::YieldOp>(
                  nl, nb.create<arith::DivFOp>(nl, args[0], countFloat)
                          .getResult());
            })
        .getResult(0);
  };

  Value mean;
  if (!rms)
    mean = reduceMean(Value(),
                      [](OpBuilder &, Location, Value v, Value) { return v; });
  Value variance = reduceMean(
      mean, [&](OpBuilder &nb, Location nl, Value v, Value centre) -> Value {
        Value d =
            centre ? nb.create<arith::SubFOp>(nl, v, centre).getResult() : v;
        return nb.create<arith::MulFOp>(nl, d, d);
      });

  // y = (x - mean) / sqrt(variance + eps) * scale + bias.
  SmallVector<Value> ins{x};
  SmallVector<AffineMap> maps{identity};
  if (mean) {
    ins.push_back(mean);
    maps.push_back(toOuter);
  }
  ins.push_back(variance);
  maps.push_back(toOuter);
  auto trailingMap = [&](Value v) {
    auto vType = cast<RankedTensorType>(v.getType());
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < vType.getRank(); ++i) {
      int64_t d = rank - vType.getRank() + i;
      exprs.push_back(vType.getDimSize(i) == 1 && type.getDimSize(d) != 1
                          ? getAffineConstantExpr(0, context)
                          : getAffineDimExpr(d, context));
    }
    return AffineMap::get(rank, 0, exprs, context);
  };
  for (Value v : {scale, bias})
    if (v) {
      ins.push_back(v);
      maps.push_back(trailingMap(v));
    }
  maps.push_back(identity);
  Value init =
      b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x), element);
  Value eps =
      b.create<arith::ConstantOp>(loc, b.getFloatAttr(element, epsilon));
  return b
      .create<linalg::GenericOp>(
          loc, init.getType(), ins, ValueRange{init}, maps, parallel,
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            unsigned next = 1;
            Value centred = args[0];
            if (mean)
              centred = nb.create<arith::SubFOp>(nl, centred, args[next++]);
            Value deviation = nb.create<math::SqrtOp>(
                nl, nb.create<arith::AddFOp>(nl, args[next++], eps));
            Value y = nb.create<arith::DivFOp>(nl, centred, deviation);
            if (scale)
              y = nb.create<arith::MulFOp>(nl, y, args[next++]);
            if (bias)
              y = nb.create<arith::AddFOp>(nl, y, args[next++]);
            nb.create<linalg::YieldOp>(nl, y);
          })
      .getResult(0);
}

/// Only the first output is produced; the statistics outputs must be unused.
LogicalResult onlyFirstOutputUsed(NodeOp node, unsigned keep = 1) {
  for (unsigned i = keep; i < node.getNumResults(); ++i)
    if (!node.getResult(i).use_empty())
      return node.emitError() << node.getOpType() << " output " << i
                              << " (statistics) is not supported yet";
  return success();
}

/// LayerNormalization (17) and, with `Rms`, RMSNormalization (23) and
/// com.microsoft.SimplifiedLayerNormalization.
template <bool Rms>
FailureOr<SmallVector<Value>> lowerNorm(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x) || failed(onlyFirstOutputUsed(node)))
    return failure();
  FailureOr<Value> y =
      normalize(node, b, x, intAttr(node, "axis", -1),
                floatAttr(node, "epsilon", 1e-5), input(node, 1),
                Rms ? Value() : input(node, 2), Rms);
  if (failed(y))
    return failure();
  // The statistics outputs are unused (checked above): nothing replaces them.
  SmallVector<Value> results{*y};
  results.resize(node.getNumResults());
  return results;
}

/// com.microsoft.SkipSimplifiedLayerNormalization (with `Rms`; inputs input,
/// skip, gamma, bias) and SkipLayerNormalization (input, skip, gamma, beta,
/// bias): s = input + skip (+ bias), then the RMS norm or the layer norm of s;
/// output 3, when used, is s.
template <bool Rms>
FailureOr<SmallVector<Value>> lowerSkipNorm(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  for (unsigned i = 1; i < std::min(3u, node.getNumResults()); ++i)
    if (!node.getResult(i).use_empty())
      return node.emitError() << node.getOpType() << " output " << i
                              << " (statistics) is not supported yet";
  SmallVector<Value> terms{operands[0], operands[1]};
  if (Value bias = input(node, Rms ? 3 : 4))
    terms.push_back(bias);
  Type element = elementTypeOf(terms[0]);
  for (Value term : terms)
    if (!isa<RankedTensorType>(term.getType()) ||
        elementTypeOf(term) != element)
      return node.emitError() << node.getOpType()
                              << " inputs must be tensors of one element type";
  FailureOr<Value> sum = broadcastGeneric(
      node, b, terms, element, [](OpBuilder &nb, Location nl, ValueRange args) {
        Value total = args[0];
        for (Value term : args.drop_front())
          total = nb.create<arith::AddFOp>(nl, total, term);
        return total;
      });
  if (failed(sum))
    return failure();
  FailureOr<Value> y =
      normalize(node, b, *sum, -1, floatAttr(node, "epsilon", 1e-5),
                input(node, 2), Rms ? Value() : input(node, 3), Rms);
  if (failed(y))
    return failure();
  SmallVector<Value> results{*y};
  for (unsigned i = 1; i < node.getNumResults(); ++i)
    results.push_back(i == 3 ? *sum : Value());
  return results;
}

} // namespace

void moe::onnx_to_linalg::registerNormalizationLowerings(HandlerTable &table) {
  table.add("", "LayerNormalization", 17, lowerNorm<false>);
  table.add("", "RMSNormalization", 23, lowerNorm<true>);
  // ONNX Runtime registers SimplifiedLayerNormalization in the default
  // domain; some exporters write it under com.microsoft.
  table.add("", "SimplifiedLayerNormalization", 1, lowerNorm<true>);
  table.add("com.microsoft", "SimplifiedLayerNormalization", 1,
            lowerNorm<true>);
  table.add("com.microsoft", "SkipSimplifiedLayerNormalization", 1,
            lowerSkipNorm<true>);
  table.add("com.microsoft", "SkipLayerNormalization", 1,
            lowerSkipNorm<false>);
}
