//===- Indexing.cpp - indexing onnx.node lowerings ------------------------===//
//
// Gather, GatherElements, GatherND, ScatterElements, ScatterND, OneHot and
// NonZero: ops that read or write elements at positions held in a tensor.
// Negative indices count from the end; scatters run in index order.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

/// `index` (an integer of any width) as an index, counted from the end of a
/// dimension of `size` when negative.
Value wrapIndex(OpBuilder &b, Location loc, Value index, Value size) {
  Value asIndex = b.create<arith::IndexCastOp>(loc, b.getIndexType(), index);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value negative =
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, asIndex, zero);
  Value wrapped = b.create<arith::AddIOp>(loc, asIndex, size);
  return b.create<arith::SelectOp>(loc, negative, wrapped, asIndex);
}

/// `index` wrapped as by `wrapIndex`, then clamped into [0, size - 1], so
/// that an out-of-range index in a model's input (a token id past the
/// vocabulary) reads or writes the nearest element instead of memory outside
/// the tensor, as XLA's gather and scatter do. An empty dimension has no
/// element to read; its loops run no iterations.
Value boundedIndex(OpBuilder &b, Location loc, Value index, Value size) {
  Value wrapped = wrapIndex(b, loc, index, size);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value last = b.create<arith::SubIOp>(
      loc, size, b.create<arith::ConstantIndexOp>(loc, 1));
  return b.create<arith::MaxSIOp>(
      loc, zero, b.create<arith::MinSIOp>(loc, wrapped, last));
}

/// Gather along `axis`: out[i.., j.., k..] = data[i.., indices[j..], k..], with
/// negative indices counted from the end.
FailureOr<SmallVector<Value>> lowerGather(NodeOp node, RewriterBase &b) {
  Value data, indices;
  if (Binder(node).tensors(data, indices))
    return failure();
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indicesType = cast<RankedTensorType>(indices.getType());
  if (!isa<IntegerType>(indicesType.getElementType()))
    return node.emitError("Gather needs integer indices");
  int64_t rank = dataType.getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < -rank || axis >= rank)
    return node.emitError()
           << "Gather axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  Location loc = node.getLoc();
  int64_t indexRank = indicesType.getRank();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < axis; ++d)
    sizes.push_back(dimOf(b, loc, data, d));
  for (int64_t d = 0; d < indexRank; ++d)
    sizes.push_back(dimOf(b, loc, indices, d));
  for (int64_t d = axis + 1; d < rank; ++d)
    sizes.push_back(dimOf(b, loc, data, d));
  int64_t loops = static_cast<int64_t>(sizes.size());
  Value init = b.create<tensor::EmptyOp>(loc, sizes, dataType.getElementType());
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0; d < indexRank; ++d)
    indexExprs.push_back(b.getAffineDimExpr(axis + d));
  SmallVector<AffineMap> maps{
      AffineMap::get(loops, 0, indexExprs, b.getContext()),
      b.getMultiDimIdentityMap(loops)};
  SmallVector<utils::IteratorType> iterators(loops,
                                             utils::IteratorType::parallel);
  Value axisSize =
      getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, data, axis));
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{indices}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value index = boundedIndex(nested, nestedLoc, args[0], axisSize);
        SmallVector<Value> coords;
        for (int64_t d = 0; d < axis; ++d)
          coords.push_back(nested.create<linalg::IndexOp>(nestedLoc, d));
        coords.push_back(index);
        for (int64_t d = axis + 1; d < rank; ++d)
          coords.push_back(
              nested.create<linalg::IndexOp>(nestedLoc, d - 1 + indexRank));
        Value element =
            nested.create<tensor::ExtractOp>(nestedLoc, data, coords);
        nested.create<linalg::YieldOp>(nestedLoc, element);
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// GatherElements: out[i] = data[i with i[axis] replaced by indices[i]].
FailureOr<SmallVector<Value>> lowerGatherElements(NodeOp node, RewriterBase &b) {
  Value data, indices;
  if (Binder(node).tensors(data, indices))
    return failure();
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indicesType = cast<RankedTensorType>(indices.getType());
  int64_t rank = dataType.getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank || indicesType.getRank() != rank ||
      !isa<IntegerType>(indicesType.getElementType()))
    return node.emitError("GatherElements needs integer indices of the data's "
                          "rank and an axis inside it");
  Location loc = node.getLoc();
  Value init = b.create<tensor::EmptyOp>(
      loc, tensor::getMixedSizes(b, loc, indices), dataType.getElementType());
  Value axisSize =
      getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, data, axis));
  SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{indices}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location nl, ValueRange args) {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(d == axis ? boundedIndex(nested, nl, args[0], axisSize)
                                     : nested.create<linalg::IndexOp>(nl, d));
        nested.create<linalg::YieldOp>(
            nl, nested.create<tensor::ExtractOp>(nl, data, coords).getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// OneHot(indices, depth, values): a new dimension of size depth at `axis`
/// holding values[1] where it equals the (wrapped) index and values[0]
/// elsewhere.
FailureOr<SmallVector<Value>> lowerOneHot(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(3, operands))
    return failure();
  Value indices = operands[0], values = operands[2];
  auto indicesType = cast<RankedTensorType>(indices.getType());
  auto valuesType = cast<RankedTensorType>(values.getType());
  std::optional<SmallVector<int64_t>> depths = constInts(operands[1]);
  if (!depths || depths->size() != 1 || (*depths)[0] < 1)
    return node.emitError("OneHot needs a constant positive depth");
  if (!isa<IntegerType>(indicesType.getElementType()) ||
      valuesType.getNumElements() != 2)
    return node.emitError("OneHot needs integer indices and two values");
  int64_t depth = (*depths)[0];
  int64_t rank = indicesType.getRank() + 1;
  int64_t axis = intAttr(node, "axis", -1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    return node.emitError("OneHot axis is out of range");
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes;
  SmallVector<AffineExpr> indexExprs;
  for (int64_t d = 0, source = 0; d < rank; ++d) {
    if (d == axis) {
      sizes.push_back(b.getIndexAttr(depth));
      continue;
    }
    sizes.push_back(dimOf(b, loc, indices, source++));
    indexExprs.push_back(b.getAffineDimExpr(d));
  }
  Type element = valuesType.getElementType();
  Value c0 = b.create<arith::ConstantIndexOp>(loc, 0);
  Value c1 = b.create<arith::ConstantIndexOp>(loc, 1);
  Value off = b.create<tensor::ExtractOp>(loc, values, ValueRange{c0});
  Value on = b.create<tensor::ExtractOp>(loc, values, ValueRange{c1});
  Value depthValue = b.create<arith::ConstantIndexOp>(loc, depth);
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  SmallVector<AffineMap> maps{
      AffineMap::get(rank, 0, indexExprs, b.getContext()),
      b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{indices}, ValueRange{init}, maps,
      iterators, [&](OpBuilder &nested, Location nl, ValueRange args) {
        Value index = wrapIndex(nested, nl, args[0], depthValue);
        Value position = nested.create<linalg::IndexOp>(nl, axis);
        Value hit = nested.create<arith::CmpIOp>(nl, arith::CmpIPredicate::eq,
                                                 index, position);
        nested.create<linalg::YieldOp>(
            nl, nested.create<arith::SelectOp>(nl, hit, on, off).getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// `current` combined with `update` by a scatter's `reduction` (none, add,
/// mul, max, min), on floats or signed integers.
Value scatterCombine(OpBuilder &b, Location loc, StringRef reduction,
                     Value current, Value update) {
  bool f = isFloat(update.getType());
  if (reduction == "add")
    return f ? b.create<arith::AddFOp>(loc, current, update).getResult()
             : b.create<arith::AddIOp>(loc, current, update).getResult();
  if (reduction == "mul")
    return f ? b.create<arith::MulFOp>(loc, current, update).getResult()
             : b.create<arith::MulIOp>(loc, current, update).getResult();
  if (reduction == "max")
    return f ? b.create<arith::MaximumFOp>(loc, current, update).getResult()
             : b.create<arith::MaxSIOp>(loc, current, update).getResult();
  if (reduction == "min")
    return f ? b.create<arith::MinimumFOp>(loc, current, update).getResult()
             : b.create<arith::MinSIOp>(loc, current, update).getResult();
  return update;
}

/// `data` with each element of `updates` written at (or, with `reduction`,
/// combined into) the coordinates `coordsOf` gives for its indices, in index
/// order: one loop nest over the first `loops` dimensions of `space`.
Value scatter(OpBuilder &b, Location loc, Value data, Value updates,
              Value space, int64_t loops, StringRef reduction,
              function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)>
                  coordsOf) {
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  SmallVector<Value> lbs(loops, zero), steps(loops, one), ubs;
  for (int64_t d = 0; d < loops; ++d)
    ubs.push_back(
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, space, d)));
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{data},
      [&](OpBuilder &nested, Location nl, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        SmallVector<Value> coords = coordsOf(nested, nl, ivs);
        Value update = nested.create<tensor::ExtractOp>(nl, updates, ivs);
        if (reduction != "none")
          update = scatterCombine(
              nested, nl, reduction,
              nested.create<tensor::ExtractOp>(nl, iter[0], coords), update);
        return {nested.create<tensor::InsertOp>(nl, update, iter[0], coords)
                    .getResult()};
      });
  return nest.results.front();
}

/// ScatterElements: a copy of data with each updates[i] written (reduction
/// none) or added (reduction add) at i with i[axis] replaced by indices[i].
/// Writes may collide, so it runs as loops over the indices in order.
FailureOr<SmallVector<Value>> lowerScatterElements(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(3, operands))
    return failure();
  Value data = operands[0], indices = operands[1],
        updates = operands[2];
  auto dataType = cast<RankedTensorType>(data.getType());
  int64_t rank = dataType.getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < 0)
    axis += rank;
  StringRef reduction = stringAttr(node, "reduction", "none");
  if (axis < 0 || axis >= rank ||
      cast<RankedTensorType>(indices.getType()).getRank() != rank ||
      cast<RankedTensorType>(updates.getType()).getRank() != rank ||
      elementTypeOf(updates) != dataType.getElementType())
    return node.emitError("ScatterElements needs data, indices and updates of "
                          "one rank, updates of the data's type, and an axis "
                          "inside them");
  if (reduction != "none" && reduction != "add")
    return node.emitError() << "ScatterElements reduction '" << reduction
                            << "' is not supported yet";
  if (reduction == "add" && !isFloat(dataType.getElementType()))
    return node.emitError("ScatterElements with reduction add needs "
                          "floating-point data");
  Location loc = node.getLoc();
  Value axisSize =
      getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, data, axis));
  return SmallVector<Value>{scatter(
      b, loc, data, updates, indices, rank, reduction,
      [&](OpBuilder &nested, Location nl, ValueRange ivs) {
        SmallVector<Value> coords(ivs);
        Value index = nested.create<tensor::ExtractOp>(nl, indices, ivs);
        coords[axis] = boundedIndex(nested, nl, index, axisSize);
        return coords;
      })};
}

/// Whether element `ivs` of `data` is nonzero (NaN counts as nonzero).
Value isNonZero(OpBuilder &b, Location loc, Value data, ValueRange ivs) {
  Value value = b.create<tensor::ExtractOp>(loc, data, ivs);
  Type type = value.getType();
  if (isFloat(type))
    return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, value,
                                   zeroOf(b, loc, type));
  return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, value,
                                 zeroOf(b, loc, type));
}

/// NonZero: the int64 coordinates [rank, N] of the nonzero elements in
/// row-major order; one pass counts them, a second writes them.
FailureOr<SmallVector<Value>> lowerNonZero(NodeOp node, RewriterBase &b) {
  Value data;
  if (Binder(node).tensors(data))
    return failure();
  auto type = cast<RankedTensorType>(data.getType());
  if (failed(checkComputable(node, type.getElementType(), false)))
    return failure();
  int64_t rank = std::max<int64_t>(type.getRank(), 1);
  Location loc = node.getLoc();
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  SmallVector<Value> lbs(type.getRank(), zero), steps(type.getRank(), one), ubs;
  for (int64_t d = 0; d < type.getRank(); ++d)
    ubs.push_back(
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, data, d)));
  Value count =
      scf::buildLoopNest(
          b, loc, lbs, ubs, steps, ValueRange{zero},
          [&](OpBuilder &nested, Location nl, ValueRange ivs,
              ValueRange iter) -> scf::ValueVector {
            Value hit = isNonZero(nested, nl, data, ivs);
            Value next = nested.create<arith::AddIOp>(
                nl, iter[0], nested.create<arith::ConstantIndexOp>(nl, 1));
            return {nested.create<arith::SelectOp>(nl, hit, next, iter[0])};
          })
          .results.front();
  Value init = b.create<tensor::EmptyOp>(
      loc, ArrayRef<OpFoldResult>{b.getIndexAttr(rank), count}, b.getI64Type());
  scf::LoopNest fill = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{init, zero},
      [&](OpBuilder &nested, Location nl, ValueRange ivs,
          ValueRange iter) -> scf::ValueVector {
        Value hit = isNonZero(nested, nl, data, ivs);
        auto ifOp = nested.create<scf::IfOp>(
            nl, hit,
            [&](OpBuilder &then, Location tl) {
              Value out = iter[0];
              for (int64_t d = 0; d < type.getRank(); ++d) {
                Value coordinate = then.create<arith::IndexCastOp>(
                    tl, then.getI64Type(), ivs[d]);
                out = then.create<tensor::InsertOp>(
                    tl, coordinate, out,
                    ValueRange{then.create<arith::ConstantIndexOp>(tl, d),
                               iter[1]});
              }
              if (type.getRank() == 0)
                out = then.create<tensor::InsertOp>(
                    tl, then.create<arith::ConstantOp>(tl, then.getI64IntegerAttr(0)),
                    out, ValueRange{then.create<arith::ConstantIndexOp>(tl, 0),
                                    iter[1]});
              Value next = then.create<arith::AddIOp>(
                  tl, iter[1], then.create<arith::ConstantIndexOp>(tl, 1));
              then.create<scf::YieldOp>(tl, ValueRange{out, next});
            },
            [&](OpBuilder &otherwise, Location ol) {
              otherwise.create<scf::YieldOp>(ol, iter);
            });
        return {ifOp.getResult(0), ifOp.getResult(1)};
      });
  return SmallVector<Value>{fill.results.front()};
}

/// The data coordinates an index tuple of GatherND / ScatterND names: the
/// `batch` leading coordinates, then `m` (wrapped and bounded) values read from
/// `indices[prefix.., 0 ..< m]`.
SmallVector<Value> indexTuple(OpBuilder &b, Location loc, Value data,
                              Value indices, ValueRange prefix, int64_t batch,
                              int64_t m) {
  SmallVector<Value> coords(prefix.take_front(batch));
  for (int64_t j = 0; j < m; ++j) {
    SmallVector<Value> at(prefix);
    at.push_back(b.create<arith::ConstantIndexOp>(loc, j));
    Value raw = b.create<tensor::ExtractOp>(loc, indices, at);
    Value size = getValueOrCreateConstantIndexOp(
        b, loc, dimOf(b, loc, data, batch + j));
    coords.push_back(boundedIndex(b, loc, raw, size));
  }
  return coords;
}

/// GatherND: out[i.., k..] = data[b.., indices[i.., :], k..] with `b` the
/// batch_dims leading coordinates of `i`.
FailureOr<SmallVector<Value>> lowerGatherND(NodeOp node, RewriterBase &b) {
  Value data, indices;
  if (Binder(node).tensors(data, indices))
    return failure();
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indicesType = cast<RankedTensorType>(indices.getType());
  int64_t r = dataType.getRank(), q = indicesType.getRank();
  int64_t batch = intAttr(node, "batch_dims", 0);
  int64_t m = q > 0 ? indicesType.getDimSize(q - 1) : ShapedType::kDynamic;
  if (!isa<IntegerType>(indicesType.getElementType()) || q < 1 ||
      ShapedType::isDynamic(m) || batch < 0 || batch >= q ||
      batch + m > r)
    return node.emitError("GatherND needs integer indices whose last "
                          "dimension is static and fits the data after "
                          "batch_dims");
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d + 1 < q; ++d)
    sizes.push_back(dimOf(b, loc, indices, d));
  for (int64_t d = batch + m; d < r; ++d)
    sizes.push_back(dimOf(b, loc, data, d));
  int64_t outRank = static_cast<int64_t>(sizes.size());
  Value init =
      b.create<tensor::EmptyOp>(loc, sizes, dataType.getElementType());
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(outRank)},
      SmallVector<utils::IteratorType>(outRank, utils::IteratorType::parallel),
      [&](OpBuilder &nested, Location nl, ValueRange) {
        SmallVector<Value> prefix;
        for (int64_t d = 0; d + 1 < q; ++d)
          prefix.push_back(nested.create<linalg::IndexOp>(nl, d));
        SmallVector<Value> coords =
            indexTuple(nested, nl, data, indices, prefix, batch, m);
        for (int64_t d = q - 1; d < outRank; ++d)
          coords.push_back(nested.create<linalg::IndexOp>(nl, d));
        nested.create<linalg::YieldOp>(
            nl, nested.create<tensor::ExtractOp>(nl, data, coords).getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// ScatterND: a copy of data with updates[i.., k..] written (or combined by
/// `reduction`) at data[indices[i.., :], k..], in index order.
FailureOr<SmallVector<Value>> lowerScatterND(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(3, operands))
    return failure();
  Value data = operands[0], indices = operands[1],
        updates = operands[2];
  auto dataType = cast<RankedTensorType>(data.getType());
  auto indicesType = cast<RankedTensorType>(indices.getType());
  Type element = dataType.getElementType();
  int64_t r = dataType.getRank(), q = indicesType.getRank();
  int64_t m = q > 0 ? indicesType.getDimSize(q - 1) : ShapedType::kDynamic;
  if (!isa<IntegerType>(indicesType.getElementType()) || q < 1 ||
      ShapedType::isDynamic(m) || m > r ||
      cast<RankedTensorType>(updates.getType()).getRank() != q - 1 + r - m ||
      elementTypeOf(updates) != element)
    return node.emitError("ScatterND needs integer indices with a static last "
                          "dimension m <= rank(data), and updates of rank "
                          "q - 1 + r - m and the data's type");
  StringRef reduction = stringAttr(node, "reduction", "none");
  if (!llvm::is_contained({"none", "add", "mul", "max", "min"}, reduction))
    return node.emitError() << "ScatterND reduction '" << reduction
                            << "' is not one of none, add, mul, max, min";
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  Location loc = node.getLoc();
  return SmallVector<Value>{scatter(
      b, loc, data, updates, updates, q - 1 + r - m, reduction,
      [&](OpBuilder &nested, Location nl, ValueRange ivs) {
        SmallVector<Value> coords = indexTuple(
            nested, nl, data, indices, ivs.take_front(q - 1), 0, m);
        for (Value iv : ivs.drop_front(q - 1))
          coords.push_back(iv);
        return coords;
      })};
}

/// Trilu: the upper (default) or lower triangle of the last two dimensions,
/// from the diagonal `k` (input 1, 0 when absent; read at run time when not
/// constant): element (i, j) is kept where j - i >= k (upper) or j - i <= k
/// (lower), zero elsewhere.
FailureOr<SmallVector<Value>> lowerTrilu(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  if (rank < 2)
    return node.emitError() << "Trilu needs at least 2 dimensions, got "
                            << rank;
  bool upper = intAttr(node, "upper", 1) != 0;
  Location loc = node.getLoc();
  Value diagonal = b.create<arith::ConstantIndexOp>(loc, 0);
  if (Value k = input(node, 1)) {
    if (!isOneElement(k) || !isa<IntegerType>(elementTypeOf(k)))
      return node.emitError("Trilu k must be one integer");
    diagonal = b.create<arith::IndexCastOp>(loc, b.getIndexType(),
                                            extractOne(b, loc, k));
  }
  Type element = type.getElementType();
  Value init = b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x),
                                         element);
  SmallVector<AffineMap> maps(2, b.getMultiDimIdentityMap(rank));
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{x}, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value offset = nb.create<arith::SubIOp>(
            nl, nb.create<linalg::IndexOp>(nl, rank - 1),
            nb.create<linalg::IndexOp>(nl, rank - 2));
        Value keep = nb.create<arith::CmpIOp>(
            nl, upper ? arith::CmpIPredicate::sge : arith::CmpIPredicate::sle,
            offset, diagonal);
        nb.create<linalg::YieldOp>(
            nl, nb.create<arith::SelectOp>(nl, keep, args[0],
                                           zeroOf(nb, nl, element))
                    .getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

} // namespace

void moe::onnx_to_linalg::registerIndexingLowerings(HandlerTable &table) {
  table.add("", "Trilu", 14, lowerTrilu);
  table.add("", "Gather", 1, lowerGather);
  table.add("", "GatherElements", 11, lowerGatherElements);
  table.add("", "OneHot", 9, lowerOneHot);
  table.add("", "NonZero", 9, lowerNonZero);
  table.add("", "GatherND", 11, lowerGatherND);
  table.add("", "ScatterND", 11, lowerScatterND);
  table.add("", "ScatterElements", 11, lowerScatterElements);
}
