//===- Reductions.cpp - reducing onnx.node lowerings ----------------------===//
//
// Reduce*, ArgMax and ArgMin, TopK, (Log)Softmax and CumSum: ops that combine the
// elements along some axes.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

/// CumSum along a constant axis, with `exclusive` and `reverse` as ONNX
/// defines them: one pass over the axis, each slice of the result the one
/// before plus a slice of the input (the current one, or with `exclusive` the
/// one before).
FailureOr<SmallVector<Value>> lowerCumSum(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  Type element = type.getElementType();
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  std::optional<SmallVector<int64_t>> axisValue = constInts(operands[1]);
  if (!axisValue || axisValue->size() != 1)
    return node.emitError("CumSum needs a constant axis");
  int64_t axis = (*axisValue)[0];
  if (rank == 0 || axis < -rank || axis >= rank)
    return node.emitError() << "CumSum axis " << axis
                            << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  bool exclusive = intAttr(node, "exclusive", 0) != 0;
  bool reverse = intAttr(node, "reverse", 0) != 0;
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes, sliceSizes;
  for (int64_t d = 0; d < rank; ++d) {
    sizes.push_back(dimOf(b, loc, x, d));
    sliceSizes.push_back(d == axis ? b.getIndexAttr(1) : sizes.back());
  }
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  Value c0 = b.create<arith::ConstantIndexOp>(loc, 0);
  Value c1 = b.create<arith::ConstantIndexOp>(loc, 1);
  Value length = getValueOrCreateConstantIndexOp(b, loc, sizes[axis]);
  // The i-th position visited along the axis, and the slice there.
  auto positionOf = [&](OpBuilder &pb, Location pl, Value i) -> Value {
    if (!reverse)
      return i;
    return pb.create<arith::SubIOp>(
        pl, pb.create<arith::SubIOp>(pl, length, c1), i);
  };
  auto offsetsAt = [&](Value position) {
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    offsets[axis] = position;
    return offsets;
  };
  Value out = b.create<tensor::EmptyOp>(loc, sizes, element);
  // The first slice visited: zeros, or the input's.
  Value first = positionOf(b, loc, c0);
  Value start =
      exclusive
          ? b.create<linalg::FillOp>(
                   loc, zeroOf(b, loc, element),
                   b.create<tensor::EmptyOp>(loc, sliceSizes, element)
                       .getResult())
                .getResult(0)
          : b.create<tensor::ExtractSliceOp>(loc, x, offsetsAt(first),
                                             sliceSizes, strides)
                .getResult();
  Value empty = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, length,
                                        c0);
  // An empty axis has no slice to write.
  auto guarded = b.create<scf::IfOp>(
      loc, empty,
      [&](OpBuilder &tb, Location tl) {
        tb.create<scf::YieldOp>(tl, out);
      },
      [&](OpBuilder &eb, Location el) {
        eb.create<scf::YieldOp>(
            el, eb.create<tensor::InsertSliceOp>(el, start, out,
                                                 offsetsAt(first), sliceSizes,
                                                 strides)
                    .getResult());
      });
  SmallVector<AffineMap> maps(3, b.getMultiDimIdentityMap(rank));
  auto loop = b.create<scf::ForOp>(
      loc, c1, length, c1, ValueRange{guarded.getResult(0)},
      [&](OpBuilder &lb, Location ll, Value i, ValueRange iter) {
        Value position = positionOf(lb, ll, i);
        Value before = positionOf(lb, ll, lb.create<arith::SubIOp>(ll, i, c1));
        Value previous = lb.create<tensor::ExtractSliceOp>(
            ll, iter[0], offsetsAt(before), sliceSizes, strides);
        Value added = lb.create<tensor::ExtractSliceOp>(
            ll, x, offsetsAt(exclusive ? before : position), sliceSizes,
            strides);
        Value init = lb.create<tensor::EmptyOp>(ll, sliceSizes, element);
        Value sum =
            lb.create<linalg::GenericOp>(
                  ll, init.getType(), ValueRange{previous, added},
                  ValueRange{init}, maps,
                  SmallVector<utils::IteratorType>(
                      rank, utils::IteratorType::parallel),
                  [&](OpBuilder &eb, Location el, ValueRange args) {
                    eb.create<linalg::YieldOp>(
                        el, arithmetic<arith::AddFOp, arith::AddIOp>(
                                eb, el, element, {args[0], args[1]}));
                  })
                .getResult(0);
        lb.create<scf::YieldOp>(
            ll, lb.create<tensor::InsertSliceOp>(ll, sum, iter[0],
                                                 offsetsAt(position),
                                                 sliceSizes, strides)
                    .getResult());
      });
  return SmallVector<Value>{loop.getResult(0)};
}

/// Softmax of `x` over `dim`, as the numerically stable sequence linalg.softmax
/// decomposes into (max, subtract and exp, sum, divide), which later stages can
/// bufferize, tile and fuse like any other linalg op.
FailureOr<Value> softmax(NodeOp node, RewriterBase &b, Value x, int64_t dim) {
  Location loc = node.getLoc();
  Value init = b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x),
                                         elementTypeOf(x));
  auto op = b.create<linalg::SoftmaxOp>(loc, init.getType(), x, init, dim);
  FailureOr<SmallVector<Value>> parts =
      cast<linalg::AggregatedOpInterface>(op.getOperation())
          .decomposeOperation(b);
  if (failed(parts) || parts->size() != 1)
    return node.emitError("Softmax could not be decomposed");
  b.eraseOp(op);
  return (*parts)[0];
}

/// LogSoftmax of `x` over `dim`: x - max - log(sum(exp(x - max))), finite
/// where softmax underflows to 0.
FailureOr<Value> logSoftmax(NodeOp node, RewriterBase &b, Value x, int64_t dim) {
  Location loc = node.getLoc();
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  if (!isFloat(element))
    return node.emitError() << "LogSoftmax is supported on floating-point "
                               "tensors only, got "
                            << element;
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> rowSizes;
  SmallVector<AffineExpr> rowExprs;
  for (int64_t d = 0; d < rank; ++d)
    if (d != dim) {
      rowSizes.push_back(dimOf(b, loc, x, d));
      rowExprs.push_back(b.getAffineDimExpr(d));
    }
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  AffineMap toRow = AffineMap::get(rank, 0, rowExprs, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[dim] = utils::IteratorType::reduction;
  auto reduce = [&](Value initial, ValueRange ins, ArrayRef<AffineMap> maps,
                    function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
    Value init = b.create<linalg::FillOp>(
                      loc, initial,
                      b.create<tensor::EmptyOp>(loc, rowSizes, element)
                          .getResult())
                     .getResult(0);
    return b
        .create<linalg::GenericOp>(
            loc, init.getType(), ins, ValueRange{init}, maps, iterators,
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              nb.create<linalg::YieldOp>(nl, f(nb, nl, args));
            })
        .getResult(0);
  };
  Value lowest = b.create<arith::ConstantOp>(
      loc, b.getFloatAttr(element,
                          APFloat::getInf(
                              cast<FloatType>(element).getFloatSemantics(),
                              /*Negative=*/true)));
  Value max = reduce(lowest, ValueRange{x}, {identity, toRow},
                     [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
                       return nb.create<arith::MaximumFOp>(nl, args[0],
                                                           args[1]);
                     });
  Value sum = reduce(
      zeroOf(b, loc, element), ValueRange{x, max}, {identity, toRow, toRow},
      [](OpBuilder &nb, Location nl, ValueRange args) -> Value {
        return nb.create<arith::AddFOp>(
            nl, args[2],
            nb.create<math::ExpOp>(
                nl, nb.create<arith::SubFOp>(nl, args[0], args[1])));
      });
  Value init = b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x),
                                         element);
  return b
      .create<linalg::GenericOp>(
          loc, init.getType(), ValueRange{x, max, sum}, ValueRange{init},
          ArrayRef<AffineMap>{identity, toRow, toRow, identity},
          SmallVector<utils::IteratorType>(rank,
                                           utils::IteratorType::parallel),
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value shifted = nb.create<arith::SubFOp>(nl, args[0], args[1]);
            nb.create<linalg::YieldOp>(
                nl, nb.create<arith::SubFOp>(
                          nl, shifted, nb.create<math::LogOp>(nl, args[2]))
                        .getResult());
          })
      .getResult(0);
}

/// Softmax, or with `Log` LogSoftmax, of `x` over `dim`.
template <bool Log>
FailureOr<Value> softmaxOf(NodeOp node, RewriterBase &b, Value x, int64_t dim) {
  return Log ? logSoftmax(node, b, x, dim) : softmax(node, b, x, dim);
}

/// Softmax over `axis` (opset 13 and later: that axis alone).
template <bool Log>
FailureOr<SmallVector<Value>> lowerSoftmax13(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  auto type = cast<RankedTensorType>(x.getType());
  int64_t axis = intAttr(node, "axis", -1);
  if (axis < -type.getRank() || axis >= type.getRank())
    return node.emitError()
           << node.getOpType() << " axis " << axis << " is out of range for " << type;
  if (axis < 0)
    axis += type.getRank();
  return single(softmaxOf<Log>(node, b, x, axis));
}

/// Softmax before opset 13: over the input flattened to 2-D at `axis` (default
/// 1).
template <bool Log>
FailureOr<SmallVector<Value>> lowerSoftmax1(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  int64_t axis = intAttr(node, "axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    return node.emitError() << node.getOpType() << " axis " << intAttr(node, "axis", 1)
                            << " is out of range for " << type;
  Location loc = node.getLoc();
  if (axis == rank - 1)
    return single(softmaxOf<Log>(node, b, x, axis));
  // [d0 .. d(axis-1)] and [d(axis) .. d(rank-1)] become the two dimensions.
  SmallVector<ReassociationIndices> groups(2);
  for (int64_t d = 0; d < rank; ++d)
    groups[d < axis ? 0 : 1].push_back(d);
  if (axis == 0)
    groups.erase(groups.begin());
  Value flat = b.create<tensor::CollapseShapeOp>(loc, x, groups);
  int64_t softmaxDim = cast<RankedTensorType>(flat.getType()).getRank() - 1;
  FailureOr<Value> soft = softmaxOf<Log>(node, b, flat, softmaxDim);
  if (failed(soft))
    return failure();
  return SmallVector<Value>{b.create<tensor::ExpandShapeOp>(
      loc, type, *soft, groups, tensor::getMixedSizes(b, loc, x))};
}

enum class ReduceKind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum };

/// ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum over `axes` (all axes
/// when absent, unless noop_with_empty_axes), keeping reduced dimensions as 1
/// when keepdims. L2 and LogSum are the square root and the logarithm of a
/// sum (of squares) and need floating point.
template <ReduceKind Kind>
FailureOr<SmallVector<Value>> lowerReduce(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  Type modelElement = modelElementType(node, 0);
  bool floating = isFloat(element);
  auto integer = dyn_cast<IntegerType>(element);
  if (!floating && (Kind == ReduceKind::L2 || Kind == ReduceKind::LogSum))
    return node.emitError() << node.getOpType()
                            << " is supported on floating-point tensors only, "
                               "got "
                            << element;
  if (!floating &&
      (!integer || !integer.isSignless() || integer.getWidth() == 1))
    return node.emitError()
           << node.getOpType()
           << " is supported on floating-point and signed integer tensors "
              "only, got "
           << element;
  FailureOr<std::optional<SmallVector<int64_t>>> list =
      intListOperand(node, "axes", 1);
  if (failed(list))
    return failure();
  SmallVector<int64_t> axes;
  if (*list && !(*list)->empty()) {
    axes = **list;
    if (failed(normalizeAxes(node, axes, type.getRank())))
      return failure();
  } else if (intAttr(node, "noop_with_empty_axes", 0)) {
    return SmallVector<Value>{x};
  } else {
    for (int64_t d = 0; d < type.getRank(); ++d)
      axes.push_back(d);
  }
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> kept;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!llvm::is_contained(axes, d))
      kept.push_back(dimOf(b, loc, x, d));
  Value init = b.create<tensor::EmptyOp>(loc, kept, element);
  // The identity of the reduction: -inf / +inf (or the integer type's lowest
  // and highest values) for Max / Min, 1 for Prod, 0 for sums.
  TypedAttr start = b.getZeroAttr(element);
  if (Kind == ReduceKind::Prod)
    start = floating ? TypedAttr(b.getFloatAttr(element, 1.0))
                     : TypedAttr(b.getIntegerAttr(element, 1));
  if (Kind == ReduceKind::Max || Kind == ReduceKind::Min) {
    bool max = Kind == ReduceKind::Max;
    if (floating)
      start = b.getFloatAttr(
          element,
          APFloat::getInf(cast<FloatType>(element).getFloatSemantics(), max));
    else
      start = b.getIntegerAttr(
          element, isUnsignedInput(node, 0)
                       ? (max ? APInt::getMinValue(integer.getWidth())
                              : APInt::getMaxValue(integer.getWidth()))
                       : (max ? APInt::getSignedMinValue(integer.getWidth())
                              : APInt::getSignedMaxValue(integer.getWidth())));
  }
  Value filled =
      b.create<linalg::FillOp>(
           loc, b.create<arith::ConstantOp>(loc, start).getResult(), init)
          .getResult(0);
  Value reduced =
      b.create<linalg::ReduceOp>(
           loc, ValueRange{x}, ValueRange{filled}, axes,
           [&](OpBuilder &nested, Location nl, ValueRange args) {
             Value combined;
             if (Kind == ReduceKind::Max)
               combined = arithmetic<arith::MaximumFOp, arith::MaxSIOp,
                                     arith::MaxUIOp>(nested, nl, modelElement,
                                                     {args[0], args[1]});
             else if (Kind == ReduceKind::Min)
               combined = arithmetic<arith::MinimumFOp, arith::MinSIOp,
                                     arith::MinUIOp>(nested, nl, modelElement,
                                                     {args[0], args[1]});
             else if (Kind == ReduceKind::Prod)
               combined = arithmetic<arith::MulFOp, arith::MulIOp>(
                   nested, nl, element, {args[0], args[1]});
             else {
               // Sums: of |x| (L1), of x^2 (L2, SumSquare), or of x.
               Value term = args[0];
               if (Kind == ReduceKind::L1)
                 term = floating
                            ? nested.create<math::AbsFOp>(nl, term).getResult()
                            : nested.create<math::AbsIOp>(nl, term).getResult();
               else if (Kind == ReduceKind::L2 ||
                        Kind == ReduceKind::SumSquare)
                 term = arithmetic<arith::MulFOp, arith::MulIOp>(
                     nested, nl, element, {term, term});
               combined = arithmetic<arith::AddFOp, arith::AddIOp>(
                   nested, nl, element, {term, args[1]});
             }
             nested.create<linalg::YieldOp>(nl, combined);
           })
          .getResult(0);
  if (Kind == ReduceKind::L2 || Kind == ReduceKind::LogSum) {
    auto reducedType = cast<RankedTensorType>(reduced.getType());
    Value outInit = b.create<tensor::EmptyOp>(
        loc, tensor::getMixedSizes(b, loc, reduced), element);
    SmallVector<AffineMap> maps(
        2, b.getMultiDimIdentityMap(reducedType.getRank()));
    reduced =
        b.create<linalg::GenericOp>(
             loc, reducedType, ValueRange{reduced}, ValueRange{outInit}, maps,
             SmallVector<utils::IteratorType>(reducedType.getRank(),
                                              utils::IteratorType::parallel),
             [&](OpBuilder &nested, Location nl, ValueRange args) {
               Value out =
                   Kind == ReduceKind::L2
                       ? nested.create<math::SqrtOp>(nl, args[0]).getResult()
                       : nested.create<math::LogOp>(nl, args[0]).getResult();
               nested.create<linalg::YieldOp>(nl, out);
             })
            .getResult(0);
  }
  if (Kind == ReduceKind::Mean) {
    // Divide by the number of reduced elements, known only at run time when
    // dynamic; an integer mean rounds toward zero.
    Value count = b.create<arith::ConstantIndexOp>(loc, 1);
    for (int64_t axis : axes)
      count = b.create<arith::MulIOp>(
          loc, count,
          getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, axis)));
    Value countInt = b.create<arith::IndexCastOp>(
        loc, floating ? b.getI64Type() : element, count);
    Value divisor =
        floating ? b.create<arith::SIToFPOp>(loc, element, countInt).getResult()
                 : countInt;
    auto reducedType = cast<RankedTensorType>(reduced.getType());
    Value meanInit = b.create<tensor::EmptyOp>(
        loc, tensor::getMixedSizes(b, loc, reduced), element);
    SmallVector<AffineMap> maps(
        2, b.getMultiDimIdentityMap(reducedType.getRank()));
    SmallVector<utils::IteratorType> iterators(reducedType.getRank(),
                                               utils::IteratorType::parallel);
    reduced =
        b.create<linalg::GenericOp>(
             loc, reducedType, ValueRange{reduced}, ValueRange{meanInit}, maps,
             iterators,
             [&](OpBuilder &nested, Location nl, ValueRange args) {
               nested.create<linalg::YieldOp>(
                   nl, arithmetic<arith::DivFOp, arith::DivSIOp>(
                           nested, nl, element, {args[0], divisor}));
             })
            .getResult(0);
  }
  if (!intAttr(node, "keepdims", 1))
    return SmallVector<Value>{reduced};
  // Put the reduced dimensions back as 1s.
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < type.getRank(); ++d)
    shape.push_back(llvm::is_contained(axes, d) ? 1 : type.getDimSize(d));
  return SmallVector<Value>{expandUnitDims(b, loc, reduced, shape, axes)};
}

/// TopK over the last axis. Each row is scanned k times; pass j takes the best
/// element that ranks after the one pass j-1 took, ranking by value (descending
/// for largest) and then by index (ascending), which is ONNX's order for equal
/// values. O(k * n) per row, meant for router widths.
FailureOr<SmallVector<Value>> lowerTopK(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  if (!isFloat(element))
    return node.emitError()
           << "TopK is supported on floating-point tensors only, got "
           << element;
  int64_t rank = type.getRank();
  int64_t axis = intAttr(node, "axis", -1);
  if (axis < 0)
    axis += rank;
  if (rank < 1 || axis != rank - 1)
    return node.emitError("TopK is supported over the last axis only");
  bool largest = intAttr(node, "largest", 1) != 0;
  Location loc = node.getLoc();
  Value kTensor = operands[1];
  Value k;
  if (std::optional<SmallVector<int64_t>> ks = constInts(kTensor)) {
    if (ks->size() != 1 || (*ks)[0] < 0)
      return node.emitError("TopK needs one non-negative k");
    k = b.create<arith::ConstantIndexOp>(loc, (*ks)[0]);
  } else {
    Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
    k = b.create<arith::IndexCastOp>(
        loc, b.getIndexType(), b.create<tensor::ExtractOp>(loc, kTensor, zero));
  }

  // Rows: every dimension but the last, flattened.
  Value rows2d = x;
  SmallVector<ReassociationIndices> groups;
  if (rank == 1) {
    rows2d = b.create<tensor::ExpandShapeOp>(
        loc, RankedTensorType::get({1, type.getDimSize(0)}, element), x,
        SmallVector<ReassociationIndices>{{0, 1}});
  } else if (rank > 2) {
    ReassociationIndices outer;
    for (int64_t d = 0; d < rank - 1; ++d)
      outer.push_back(d);
    groups = {outer, {rank - 1}};
    rows2d = b.create<tensor::CollapseShapeOp>(loc, x, groups);
  }
  OpFoldResult rows = dimOf(b, loc, rows2d, 0);
  Value rowCount = getValueOrCreateConstantIndexOp(b, loc, rows);
  Value width =
      getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, rows2d, 1));
  auto kStatic = getConstantIntValue(getAsOpFoldResult(k));
  int64_t kDim = kStatic ? *kStatic : ShapedType::kDynamic;
  Type i64 = b.getI64Type();
  Value valuesInit = b.create<tensor::EmptyOp>(
      loc, SmallVector<OpFoldResult>{rows, getAsOpFoldResult(k)}, element);
  Value indicesInit = b.create<tensor::EmptyOp>(
      loc, SmallVector<OpFoldResult>{rows, getAsOpFoldResult(k)}, i64);

  Value c0 = b.create<arith::ConstantIndexOp>(loc, 0);
  Value c1 = b.create<arith::ConstantIndexOp>(loc, 1);
  auto floatType = cast<FloatType>(element);
  Value worst = b.create<arith::ConstantOp>(
      loc,
      b.getFloatAttr(element, APFloat::getInf(floatType.getFloatSemantics(),
                                              /*Negative=*/largest)));
  Value none = b.create<arith::ConstantIndexOp>(loc, -1);
  auto rowLoop = b.create<scf::ForOp>(
      loc, c0, rowCount, c1, ValueRange{valuesInit, indicesInit},
      [&](OpBuilder &rb, Location rl, Value row, ValueRange rowIter) {
        auto pickLoop = rb.create<scf::ForOp>(
            rl, c0, k, c1, ValueRange{rowIter[0], rowIter[1], worst, none},
            [&](OpBuilder &pb, Location pl, Value pick, ValueRange pickIter) {
              Value previous = pickIter[2], previousIndex = pickIter[3];
              auto scan = pb.create<scf::ForOp>(
                  pl, c0, width, c1, ValueRange{worst, none},
                  [&](OpBuilder &sb, Location sl, Value col, ValueRange best) {
                    Value v = sb.create<tensor::ExtractOp>(
                        sl, rows2d, ValueRange{row, col});
                    auto before = largest ? arith::CmpFPredicate::OGT
                                          : arith::CmpFPredicate::OLT;
                    auto after = largest ? arith::CmpFPredicate::OLT
                                         : arith::CmpFPredicate::OGT;
                    // Ranks after the previous pick?
                    Value first = sb.create<arith::CmpIOp>(
                        sl, arith::CmpIPredicate::eq, previousIndex, none);
                    Value lower =
                        sb.create<arith::CmpFOp>(sl, after, v, previous);
                    Value equal = sb.create<arith::CmpFOp>(
                        sl, arith::CmpFPredicate::OEQ, v, previous);
                    Value laterIndex = sb.create<arith::CmpIOp>(
                        sl, arith::CmpIPredicate::sgt, col, previousIndex);
                    Value tieAfter =
                        sb.create<arith::AndIOp>(sl, equal, laterIndex);
                    Value eligible = sb.create<arith::OrIOp>(
                        sl, first,
                        sb.create<arith::OrIOp>(sl, lower, tieAfter));
                    // Better than the best so far (ties keep the lower index)?
                    Value noBest = sb.create<arith::CmpIOp>(
                        sl, arith::CmpIPredicate::eq, best[1], none);
                    Value beats =
                        sb.create<arith::CmpFOp>(sl, before, v, best[0]);
                    Value better = sb.create<arith::OrIOp>(sl, noBest, beats);
                    Value take = sb.create<arith::AndIOp>(sl, eligible, better);
                    Value bestValue =
                        sb.create<arith::SelectOp>(sl, take, v, best[0]);
                    Value bestIndex =
                        sb.create<arith::SelectOp>(sl, take, col, best[1]);
                    sb.create<scf::YieldOp>(sl,
                                            ValueRange{bestValue, bestIndex});
                  });
              Value chosen = scan.getResult(0), chosenIndex = scan.getResult(1);
              Value values = pb.create<tensor::InsertOp>(
                  pl, chosen, pickIter[0], ValueRange{row, pick});
              Value index64 =
                  pb.create<arith::IndexCastOp>(pl, i64, chosenIndex);
              Value indices = pb.create<tensor::InsertOp>(
                  pl, index64, pickIter[1], ValueRange{row, pick});
              pb.create<scf::YieldOp>(
                  pl, ValueRange{values, indices, chosen, chosenIndex});
            });
        rb.create<scf::YieldOp>(
            rl, ValueRange{pickLoop.getResult(0), pickLoop.getResult(1)});
      });
  Value values = rowLoop.getResult(0), indices = rowLoop.getResult(1);

  // Back to the input's outer dimensions.
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = kDim;
  auto valuesType = RankedTensorType::get(shape, element);
  auto indicesType = RankedTensorType::get(shape, i64);
  SmallVector<OpFoldResult> outSizes;
  for (int64_t d = 0; d + 1 < rank; ++d)
    outSizes.push_back(dimOf(b, loc, x, d));
  outSizes.push_back(getAsOpFoldResult(k));
  if (rank == 1) {
    SmallVector<ReassociationIndices> all{{0, 1}};
    return SmallVector<Value>{
        b.create<tensor::CollapseShapeOp>(loc, valuesType, values, all),
        b.create<tensor::CollapseShapeOp>(loc, indicesType, indices, all)};
  }
  if (rank > 2)
    return SmallVector<Value>{b.create<tensor::ExpandShapeOp>(
                                  loc, valuesType, values, groups, outSizes),
                              b.create<tensor::ExpandShapeOp>(
                                  loc, indicesType, indices, groups, outSizes)};
  // Rank 2: the loop results are the outputs (the imported type may be less
  // precise; the pass casts to it).
  return SmallVector<Value>{values, indices};
}

/// ArgMax / ArgMin: the int64 position of the largest (smallest) element
/// along `axis`, the first one unless select_last_index; keepdims keeps the
/// axis with size 1.
template <bool Max>
FailureOr<SmallVector<Value>> lowerArgExtreme(NodeOp node, RewriterBase &b) {
  Value data;
  if (Binder(node).tensors(data))
    return failure();
  auto type = cast<RankedTensorType>(data.getType());
  Type element = type.getElementType();
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  int64_t rank = type.getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < 0)
    axis += rank;
  if (rank == 0 || axis < 0 || axis >= rank)
    return node.emitError() << node.getOpType()
                            << " axis is out of range for rank " << rank;
  bool last = intAttr(node, "select_last_index", 0) != 0;
  bool keepdims = intAttr(node, "keepdims", 1) != 0;
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> kept;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis) {
      sizes.push_back(dimOf(b, loc, data, d));
      kept.push_back(b.getAffineDimExpr(d));
    }
  TypedAttr worst;
  if (auto floatType = dyn_cast<FloatType>(element))
    worst = b.getFloatAttr(
        element, APFloat::getInf(floatType.getFloatSemantics(), Max));
  else
    worst = b.getIntegerAttr(
        element, Max ? APInt::getSignedMinValue(element.getIntOrFloatBitWidth())
                     : APInt::getSignedMaxValue(element.getIntOrFloatBitWidth()));
  Value bestInit = b.create<linalg::FillOp>(
                        loc, ValueRange{b.create<arith::ConstantOp>(loc, worst)},
                        ValueRange{b.create<tensor::EmptyOp>(loc, sizes, element)})
                       .getResult(0);
  Value indexInit =
      b.create<linalg::FillOp>(
           loc, ValueRange{b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(0))},
           ValueRange{b.create<tensor::EmptyOp>(loc, sizes, b.getI64Type())})
          .getResult(0);
  AffineMap reduced = AffineMap::get(rank, 0, kept, b.getContext());
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators[axis] = utils::IteratorType::reduction;
  auto generic = b.create<linalg::GenericOp>(
      loc, TypeRange{bestInit.getType(), indexInit.getType()}, ValueRange{data},
      ValueRange{bestInit, indexInit},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank), reduced, reduced},
      iterators, [&](OpBuilder &nested, Location nl, ValueRange args) {
        Value value = args[0], best = args[1];
        Value position = nested.create<arith::IndexCastOp>(
            nl, nested.getI64Type(), nested.create<linalg::IndexOp>(nl, axis));
        Value better;
        if (isFloat(element)) {
          auto predicate = Max ? (last ? arith::CmpFPredicate::OGE
                                       : arith::CmpFPredicate::OGT)
                               : (last ? arith::CmpFPredicate::OLE
                                       : arith::CmpFPredicate::OLT);
          better = nested.create<arith::CmpFOp>(nl, predicate, value, best);
        } else {
          auto predicate = Max ? (last ? arith::CmpIPredicate::sge
                                       : arith::CmpIPredicate::sgt)
                               : (last ? arith::CmpIPredicate::sle
                                       : arith::CmpIPredicate::slt);
          if (isUnsignedInput(node, 0))
            predicate = unsignedPredicate(predicate);
          better = nested.create<arith::CmpIOp>(nl, predicate, value, best);
        }
        // The first element always counts, so an all -inf row answers 0.
        Value first = nested.create<arith::CmpIOp>(
            nl, arith::CmpIPredicate::eq, position,
            nested.create<arith::ConstantOp>(nl, nested.getI64IntegerAttr(0)));
        better = nested.create<arith::OrIOp>(nl, better, first);
        nested.create<linalg::YieldOp>(
            nl, ValueRange{
                    nested.create<arith::SelectOp>(nl, better, value, best),
                    nested.create<arith::SelectOp>(nl, better, position,
                                                   args[2])});
      });
  Value indices = generic.getResult(1);
  if (!keepdims)
    return SmallVector<Value>{indices};
  SmallVector<int64_t> shape(type.getShape());
  shape[axis] = 1;
  return SmallVector<Value>{expandUnitDims(b, loc, indices, shape, {axis})};
}

} // namespace

void moe::onnx_to_linalg::registerReductionLowerings(HandlerTable &table) {
  table.add("", "CumSum", 11, lowerCumSum);
  table.add("", "Softmax", 1, lowerSoftmax1<false>);
  table.add("", "Softmax", 13, lowerSoftmax13<false>);
  table.add("", "LogSoftmax", 1, lowerSoftmax1<true>);
  table.add("", "LogSoftmax", 13, lowerSoftmax13<true>);
  table.add("", "ReduceSum", 1, lowerReduce<ReduceKind::Sum>);
  table.add("", "ReduceMean", 1, lowerReduce<ReduceKind::Mean>);
  table.add("", "ReduceMax", 1, lowerReduce<ReduceKind::Max>);
  table.add("", "ReduceMin", 1, lowerReduce<ReduceKind::Min>);
  table.add("", "ReduceProd", 1, lowerReduce<ReduceKind::Prod>);
  table.add("", "ReduceL1", 1, lowerReduce<ReduceKind::L1>);
  table.add("", "ReduceL2", 1, lowerReduce<ReduceKind::L2>);
  table.add("", "ReduceSumSquare", 1, lowerReduce<ReduceKind::SumSquare>);
  table.add("", "ReduceLogSum", 1, lowerReduce<ReduceKind::LogSum>);
  table.add("", "TopK", 10, lowerTopK);
  table.add("", "ArgMax", 11, lowerArgExtreme<true>);
  table.add("", "ArgMin", 11, lowerArgExtreme<false>);
}
