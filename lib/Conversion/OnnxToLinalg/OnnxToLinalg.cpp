//===- OnnxToLinalg.cpp - onnx.node to linalg, tensor, arith and math -----===//
//
// Handlers are keyed by (domain, op type, since-version) and looked up with the
// model's opset, the way ONNX versions operator semantics. Every node is
// checked before anything is rewritten, so an unsupported node leaves the
// function intact.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/onnx/IR/OnnxDialect.h"
#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <limits>

namespace moe {
#define GEN_PASS_DEF_MOELEGALIZEONNX
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using mlir::onnx::NodeOp;
using namespace ::moe::match;

namespace {

/// Lowers one node; returns its results, or failure after emitting an error on
/// it.
using Lowering = FailureOr<SmallVector<Value>> (*)(NodeOp node, OpBuilder &b);

struct Handler {
  int64_t sinceVersion;
  Lowering lower;
};

/// One result, or the failure that produced none.
FailureOr<SmallVector<Value>> single(FailureOr<Value> value) {
  if (failed(value))
    return failure();
  return SmallVector<Value>{*value};
}

/// The node's inputs as ranked tensors, or an error naming the first that is
/// not.
FailureOr<SmallVector<Value>> rankedInputs(NodeOp node, unsigned count) {
  SmallVector<Value> values;
  for (unsigned i = 0; i < count; ++i) {
    Value value = input(node, i);
    if (!value || !isa<RankedTensorType>(value.getType())) {
      node.emitError() << "input " << i << " of " << node.getOpType()
                       << " must be a ranked tensor";
      return failure();
    }
    values.push_back(value);
  }
  return values;
}

Type elementTypeOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

/// The size of dimension `dim` of `value`, as a constant or a tensor.dim.
OpFoldResult dimOf(OpBuilder &b, Location loc, Value value, int64_t dim) {
  int64_t size = cast<ShapedType>(value.getType()).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return b.getIndexAttr(size);
  return b.create<tensor::DimOp>(loc, value, dim).getResult();
}

/// The leading `shape` of `value` that takes part in broadcasting (all of it
/// for elementwise ops, the batch dimensions for MatMul).
struct BroadcastInput {
  Value value;
  ArrayRef<int64_t> shape;
};

/// ONNX multidirectional broadcasting of `inputs` (aligned at the trailing
/// dimension): the result's sizes and, per input, the map from the result's
/// iteration space into it (over `loops` dimensions, of which the first
/// `sizes.size()` are the broadcast ones). A static 1 broadcasts; dynamic sizes
/// are taken to be equal to the other inputs' sizes.
LogicalResult broadcast(NodeOp node, OpBuilder &b,
                        ArrayRef<BroadcastInput> inputs,
                        SmallVector<OpFoldResult> &sizes,
                        SmallVector<SmallVector<AffineExpr>> &exprs) {
  Location loc = node.getLoc();
  int64_t rank = 0;
  for (const BroadcastInput &in : inputs)
    rank = std::max(rank, static_cast<int64_t>(in.shape.size()));
  sizes.clear();
  for (int64_t d = 0; d < rank; ++d) {
    int64_t staticSize = 1;
    std::optional<OpFoldResult> dynamicSize;
    for (const BroadcastInput &in : inputs) {
      int64_t dim = d - (rank - static_cast<int64_t>(in.shape.size()));
      if (dim < 0)
        continue;
      int64_t size = in.shape[dim];
      if (ShapedType::isDynamic(size)) {
        if (!dynamicSize)
          dynamicSize = dimOf(b, loc, in.value, dim);
      } else if (size != 1) {
        if (staticSize != 1 && staticSize != size)
          return node.emitError()
                 << node.getOpType() << " inputs cannot broadcast: dimension "
                 << d << " is " << staticSize << " in one and " << size
                 << " in another";
        staticSize = size;
      }
    }
    sizes.push_back(staticSize != 1 || !dynamicSize ? b.getIndexAttr(staticSize)
                                                    : *dynamicSize);
  }
  exprs.clear();
  for (const BroadcastInput &in : inputs) {
    SmallVector<AffineExpr> &mapExprs = exprs.emplace_back();
    int64_t offset = rank - static_cast<int64_t>(in.shape.size());
    for (auto [dim, size] : llvm::enumerate(in.shape)) {
      int64_t d = static_cast<int64_t>(dim) + offset;
      bool broadcasts = size == 1 && getConstantIntValue(sizes[d]) !=
                                         std::optional<int64_t>(1);
      mapExprs.push_back(broadcasts ? b.getAffineConstantExpr(0)
                                    : b.getAffineDimExpr(d));
    }
  }
  return success();
}

/// ONNX broadcasting decided as the model runs: an input whose dynamic size
/// meets a static size above 1, or another dynamic size, may be a run-time 1
/// there. Each such input is expanded to the broadcast result first (reading
/// index 0 of those dimensions where they are 1), so that `broadcast` may take
/// its dynamic sizes to be the result's. The trailing dimensions of an input
/// past its `shape` (MatMul's matrix dimensions) are copied as they are.
void expandRuntimeBroadcasts(NodeOp node, OpBuilder &b,
                             MutableArrayRef<BroadcastInput> inputs,
                             SmallVectorImpl<Value> &expanded) {
  Location loc = node.getLoc();
  int64_t rank = 0;
  for (const BroadcastInput &in : inputs)
    rank = std::max(rank, static_cast<int64_t>(in.shape.size()));
  // Per result dimension: is some size static above 1, how many are dynamic.
  SmallVector<bool> staticBig(rank, false);
  SmallVector<int64_t> dynamicCount(rank, 0);
  for (const BroadcastInput &in : inputs) {
    int64_t offset = rank - static_cast<int64_t>(in.shape.size());
    for (auto [i, size] : llvm::enumerate(in.shape)) {
      if (ShapedType::isDynamic(size))
        ++dynamicCount[offset + i];
      else if (size != 1)
        staticBig[offset + i] = true;
    }
  }
  auto ambiguous = [&](int64_t d, int64_t size) {
    return ShapedType::isDynamic(size) && (staticBig[d] || dynamicCount[d] > 1);
  };
  // The result's size where an input is ambiguous: the static one, or the
  // largest of the dynamic ones.
  SmallVector<Value> resultSize(rank);
  auto sizeAt = [&](int64_t d) -> Value {
    if (resultSize[d])
      return resultSize[d];
    Value size;
    for (const BroadcastInput &in : inputs) {
      int64_t i = d - (rank - static_cast<int64_t>(in.shape.size()));
      if (i < 0)
        continue;
      int64_t s = in.shape[i];
      if (!ShapedType::isDynamic(s)) {
        if (s != 1) {
          size = b.create<arith::ConstantIndexOp>(loc, s);
          break;
        }
        continue;
      }
      Value dim = b.create<tensor::DimOp>(loc, in.value, i);
      size = size ? b.create<arith::MaxUIOp>(loc, size, dim).getResult() : dim;
    }
    return resultSize[d] = size;
  };
  for (BroadcastInput &in : inputs) {
    auto type = cast<RankedTensorType>(in.value.getType());
    int64_t offset = rank - static_cast<int64_t>(in.shape.size());
    SmallVector<bool> expand;
    for (auto [i, size] : llvm::enumerate(in.shape))
      expand.push_back(ambiguous(offset + i, size));
    if (llvm::none_of(expand, [](bool e) { return e; }))
      continue;
    SmallVector<OpFoldResult> sizes;
    for (int64_t i = 0; i < type.getRank(); ++i)
      sizes.push_back(i < static_cast<int64_t>(expand.size()) && expand[i]
                          ? OpFoldResult(sizeAt(offset + i))
                          : dimOf(b, loc, in.value, i));
    Value init = b.create<tensor::EmptyOp>(loc, sizes, type.getElementType());
    Value source = in.value;
    auto generic = b.create<linalg::GenericOp>(
        loc, init.getType(), ValueRange{}, ValueRange{init},
        ArrayRef<AffineMap>{b.getMultiDimIdentityMap(type.getRank())},
        SmallVector<utils::IteratorType>(type.getRank(),
                                         utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location nl, ValueRange) {
          SmallVector<Value> indices;
          Value zero = nb.create<arith::ConstantIndexOp>(nl, 0);
          Value one = nb.create<arith::ConstantIndexOp>(nl, 1);
          for (int64_t i = 0; i < type.getRank(); ++i) {
            Value index = nb.create<linalg::IndexOp>(nl, i);
            if (i < static_cast<int64_t>(expand.size()) && expand[i]) {
              Value unit = nb.create<arith::CmpIOp>(
                  nl, arith::CmpIPredicate::eq,
                  nb.create<tensor::DimOp>(nl, source, i), one);
              index = nb.create<arith::SelectOp>(nl, unit, zero, index);
            }
            indices.push_back(index);
          }
          nb.create<linalg::YieldOp>(
              nl, ValueRange{nb.create<tensor::ExtractOp>(nl, source, indices)});
        });
    expanded.push_back(generic.getResult(0));
    in.value = expanded.back();
    in.shape = cast<RankedTensorType>(in.value.getType())
                   .getShape()
                   .take_front(in.shape.size());
  }
}

/// Computes one scalar of an elementwise op from the operands' scalars.
using ScalarFn = Value (*)(OpBuilder &b, Location loc, Type type,
                           ValueRange args);

/// A linalg.generic over the broadcast of `operands` producing `resultElement`;
/// `body` computes one result element from one element of each operand.
FailureOr<Value>
broadcastGeneric(NodeOp node, OpBuilder &b, ValueRange operands,
                 Type resultElement,
                 function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  Location loc = node.getLoc();
  SmallVector<BroadcastInput> inputs;
  for (Value operand : operands)
    inputs.push_back({operand, cast<ShapedType>(operand.getType()).getShape()});
  SmallVector<Value> expanded;
  expandRuntimeBroadcasts(node, b, inputs, expanded);
  SmallVector<Value> broadcastOperands;
  for (const BroadcastInput &in : inputs)
    broadcastOperands.push_back(in.value);
  operands = broadcastOperands;
  SmallVector<OpFoldResult> sizes;
  SmallVector<SmallVector<AffineExpr>> exprs;
  if (failed(broadcast(node, b, inputs, sizes, exprs)))
    return failure();
  SmallVector<AffineMap> maps;
  for (ArrayRef<AffineExpr> operandExprs : exprs)
    maps.push_back(
        AffineMap::get(sizes.size(), 0, operandExprs, b.getContext()));
  maps.push_back(b.getMultiDimIdentityMap(sizes.size()));
  Value init = b.create<tensor::EmptyOp>(loc, sizes, resultElement);
  SmallVector<utils::IteratorType> iterators(sizes.size(),
                                             utils::IteratorType::parallel);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), operands, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        nested.create<linalg::YieldOp>(
            nestedLoc, body(nested, nestedLoc, args.drop_back()));
      });
  return generic.getResult(0);
}

/// Checks that `element` is one the arith and math dialects compute on.
LogicalResult checkComputable(NodeOp node, Type element, bool floatOnly) {
  if (floatOnly && !isa<FloatType>(element))
    return node.emitError()
           << node.getOpType()
           << " is supported on floating-point tensors only, got " << element;
  // arith works on signless integers; ONNX's unsigned types need their own
  // path.
  if (!isa<FloatType>(element) && !element.isSignlessInteger())
    return node.emitError()
           << node.getOpType() << " does not support element type " << element
           << " yet";
  return success();
}

/// An elementwise op over `count` broadcast inputs of one element type, `fn`
/// per element; the result has `resultElement`, or the inputs' element type
/// when null.
FailureOr<SmallVector<Value>> elementwise(NodeOp node, OpBuilder &b,
                                          unsigned count, ScalarFn fn,
                                          bool floatOnly,
                                          Type resultElement = nullptr) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, count);
  if (failed(operands))
    return failure();
  Type element = elementTypeOf((*operands)[0]);
  for (Value operand : *operands)
    if (elementTypeOf(operand) != element)
      return node.emitError()
             << node.getOpType() << " inputs must share an element type, got "
             << element << " and " << elementTypeOf(operand);
  if (failed(checkComputable(node, element, floatOnly)))
    return failure();
  return single(broadcastGeneric(
      node, b, *operands, resultElement ? resultElement : element,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        return fn(nested, loc, element, args);
      }));
}

bool isFloat(Type type) { return isa<FloatType>(type); }

Value zeroOf(OpBuilder &b, Location loc, Type type) {
  return b.create<arith::ConstantOp>(loc, b.getZeroAttr(type));
}
Value oneOf(OpBuilder &b, Location loc, Type type) {
  TypedAttr one = isFloat(type) ? TypedAttr(b.getFloatAttr(type, 1.0))
                                : TypedAttr(b.getIntegerAttr(type, 1));
  return b.create<arith::ConstantOp>(loc, one);
}

template <typename FloatOp, typename IntOp>
Value arithmetic(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<FloatOp>(loc, args[0], args[1]);
  return b.create<IntOp>(loc, args[0], args[1]);
}

template <typename MathOp>
Value unaryFloat(OpBuilder &b, Location loc, Type, ValueRange args) {
  return b.create<MathOp>(loc, args[0]);
}

Value negate(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<arith::NegFOp>(loc, args[0]);
  return b.create<arith::SubIOp>(loc, zeroOf(b, loc, type), args[0]);
}

Value absolute(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<math::AbsFOp>(loc, args[0]);
  return b.create<math::AbsIOp>(loc, args[0]);
}

Value reciprocal(OpBuilder &b, Location loc, Type type, ValueRange args) {
  return b.create<arith::DivFOp>(loc, oneOf(b, loc, type), args[0]);
}

Value sigmoid(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value negated = b.create<arith::NegFOp>(loc, args[0]);
  Value exp = b.create<math::ExpOp>(loc, negated);
  Value one = oneOf(b, loc, type);
  Value denominator = b.create<arith::AddFOp>(loc, one, exp);
  return b.create<arith::DivFOp>(loc, one, denominator);
}

Value relu(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<arith::MaximumFOp>(loc, args[0], zeroOf(b, loc, type));
  return b.create<arith::MaxSIOp>(loc, args[0], zeroOf(b, loc, type));
}

Value power(OpBuilder &b, Location loc, Type, ValueRange args) {
  return b.create<math::PowFOp>(loc, args[0], args[1]);
}

/// -1, 0 or 1 by the sign (NaN stays NaN).
Value sign(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value zero = zeroOf(b, loc, type), one = oneOf(b, loc, type);
  if (isFloat(type)) {
    Value minusOne = b.create<arith::NegFOp>(loc, one);
    Value positive = b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::OGT,
                                             args[0], zero);
    Value negative = b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::OLT,
                                             args[0], zero);
    Value nonNegative = b.create<arith::SelectOp>(
        loc, positive, one,
        b.create<arith::SelectOp>(
            loc,
            b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNO, args[0],
                                    args[0]),
            args[0], zero));
    return b.create<arith::SelectOp>(loc, negative, minusOne, nonNegative);
  }
  Value minusOne = b.create<arith::SubIOp>(loc, zero, one);
  Value positive = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sgt,
                                           args[0], zero);
  Value negative = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt,
                                           args[0], zero);
  return b.create<arith::SelectOp>(
      loc, negative, minusOne,
      b.create<arith::SelectOp>(loc, positive, one, zero));
}

/// log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) so large |x| stay finite.
Value softplus(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value x = args[0];
  Value negAbs =
      b.create<arith::NegFOp>(loc, b.create<math::AbsFOp>(loc, x));
  return b.create<arith::AddFOp>(
      loc, b.create<arith::MaximumFOp>(loc, x, zeroOf(b, loc, type)),
      b.create<math::Log1pOp>(loc, b.create<math::ExpOp>(loc, negAbs)));
}

Value isNaN(OpBuilder &b, Location loc, Type, ValueRange args) {
  return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNO, args[0],
                                 args[0]);
}

/// Integer Mod with the divisor's sign (Python's %), fmod = 0.
Value floorMod(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value r = b.create<arith::RemSIOp>(loc, args[0], args[1]);
  Value zero = zeroOf(b, loc, type);
  Value nonZero =
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, r, zero);
  Value signsDiffer = b.create<arith::XOrIOp>(
      loc,
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, r, zero),
      b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, args[1], zero));
  return b.create<arith::SelectOp>(
      loc, b.create<arith::AndIOp>(loc, nonZero, signsDiffer),
      b.create<arith::AddIOp>(loc, r, args[1]), r);
}

/// Remainder with the dividend's sign (C's fmod), fmod = 1.
Value truncMod(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<arith::RemFOp>(loc, args[0], args[1]);
  return b.create<arith::RemSIOp>(loc, args[0], args[1]);
}

template <ScalarFn Fn, unsigned Count, bool FloatOnly>
FailureOr<SmallVector<Value>> lowerElementwise(NodeOp node, OpBuilder &b) {
  return elementwise(node, b, Count, Fn, FloatOnly);
}

/// IsNaN: a boolean per element.
FailureOr<SmallVector<Value>> lowerIsNaN(NodeOp node, OpBuilder &b) {
  return elementwise(node, b, 1, isNaN, /*floatOnly=*/true, b.getI1Type());
}

/// Mod: integer modulo with the divisor's sign, or with fmod = 1 the
/// remainder with the dividend's sign (required for floating point).
FailureOr<SmallVector<Value>> lowerMod(NodeOp node, OpBuilder &b) {
  bool fmod = intAttr(node, "fmod", 0) != 0;
  Value x = input(node, 0);
  if (!fmod && x && isFloat(getElementTypeOrSelf(x.getType())))
    return node.emitError("Mod of floating-point inputs needs fmod = 1");
  return elementwise(node, b, 2, fmod ? truncMod : floorMod,
                     /*floatOnly=*/false);
}

/// CumSum along a constant axis, with `exclusive` and `reverse` as ONNX
/// defines them: one pass over the axis, each slice of the result the one
/// before plus a slice of the input (the current one, or with `exclusive` the
/// one before).
FailureOr<SmallVector<Value>> lowerCumSum(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  Type element = type.getElementType();
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  std::optional<SmallVector<int64_t>> axisValue = constInts((*operands)[1]);
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

FailureOr<SmallVector<Value>> lowerIdentity(NodeOp node, OpBuilder &) {
  Value value = input(node, 0);
  if (!value)
    return node.emitError("Identity needs an input");
  return SmallVector<Value>{value};
}

FailureOr<SmallVector<Value>> lowerConstant(NodeOp node, OpBuilder &b) {
  Attribute value = node.getOnnxAttr("value");
  Location loc = node.getLoc();
  if (auto elements = dyn_cast_or_null<TypedAttr>(value))
    return SmallVector<Value>{b.create<arith::ConstantOp>(loc, elements)};
  if (auto scalar =
          dyn_cast_or_null<FloatAttr>(node.getOnnxAttr("value_float"))) {
    auto type = RankedTensorType::get({}, b.getF32Type());
    return SmallVector<Value>{b.create<arith::ConstantOp>(
        loc, DenseElementsAttr::get(type, scalar.getValue()))};
  }
  if (auto scalar =
          dyn_cast_or_null<IntegerAttr>(node.getOnnxAttr("value_int"))) {
    auto type = RankedTensorType::get({}, b.getI64Type());
    return SmallVector<Value>{b.create<arith::ConstantOp>(
        loc, DenseElementsAttr::get(type, scalar.getValue().getSExtValue()))};
  }
  return node.emitError("Constant is supported with a tensor 'value', "
                        "'value_float' or 'value_int' attribute");
}

/// numpy matmul of two operands of rank 2 or more; batch dimensions broadcast.
FailureOr<SmallVector<Value>> lowerMatMul(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value lhs = (*operands)[0], rhs = (*operands)[1];
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  Type element = lhsType.getElementType();
  if (element != rhsType.getElementType() || !isFloat(element))
    return node.emitError()
           << "MatMul needs floating-point inputs of one element "
              "type, got "
           << lhsType << " and " << rhsType;
  if (lhsType.getRank() < 2 || rhsType.getRank() < 2)
    return node.emitError("MatMul of a 1-D input is not supported yet");
  int64_t lhsK = lhsType.getShape().back();
  int64_t rhsK = rhsType.getDimSize(rhsType.getRank() - 2);
  if (!ShapedType::isDynamic(lhsK) && !ShapedType::isDynamic(rhsK) &&
      lhsK != rhsK)
    return node.emitError()
           << "MatMul inner dimensions differ: " << lhsK << " and " << rhsK;
  Location loc = node.getLoc();

  // Batch dimensions broadcast like elementwise operands; the iteration space
  // is batch..., m, n, k.
  int64_t batchRank = std::max(lhsType.getRank(), rhsType.getRank()) - 2;
  int64_t loops = batchRank + 3;
  SmallVector<OpFoldResult> batchSizes;
  SmallVector<SmallVector<AffineExpr>> exprs;
  SmallVector<BroadcastInput> batches{{lhs, lhsType.getShape().drop_back(2)},
                                      {rhs, rhsType.getShape().drop_back(2)}};
  SmallVector<Value> expanded;
  expandRuntimeBroadcasts(node, b, batches, expanded);
  lhs = batches[0].value;
  rhs = batches[1].value;
  if (failed(broadcast(node, b, batches, batchSizes, exprs)))
    return failure();
  MLIRContext *context = b.getContext();
  AffineExpr m = getAffineDimExpr(batchRank, context);
  AffineExpr n = getAffineDimExpr(batchRank + 1, context);
  AffineExpr k = getAffineDimExpr(batchRank + 2, context);
  exprs[0].append({m, k});
  exprs[1].append({k, n});
  SmallVector<AffineExpr> resultExprs;
  for (int64_t d = 0; d < batchRank + 2; ++d)
    resultExprs.push_back(getAffineDimExpr(d, context));
  SmallVector<AffineMap> maps{AffineMap::get(loops, 0, exprs[0], context),
                              AffineMap::get(loops, 0, exprs[1], context),
                              AffineMap::get(loops, 0, resultExprs, context)};

  SmallVector<OpFoldResult> sizes = batchSizes;
  sizes.push_back(dimOf(b, loc, lhs, lhsType.getRank() - 2));
  sizes.push_back(dimOf(b, loc, rhs, rhsType.getRank() - 1));
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  Value zero = zeroOf(b, loc, element);
  Value filled = b.create<linalg::FillOp>(loc, zero, init).getResult(0);
  SmallVector<utils::IteratorType> iterators(loops - 1,
                                             utils::IteratorType::parallel);
  iterators.push_back(utils::IteratorType::reduction);
  auto generic = b.create<linalg::GenericOp>(
      loc, filled.getType(), ValueRange{lhs, rhs}, ValueRange{filled}, maps,
      iterators, [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value product =
            nested.create<arith::MulFOp>(nestedLoc, args[0], args[1]);
        Value sum = nested.create<arith::AddFOp>(nestedLoc, args[2], product);
        nested.create<linalg::YieldOp>(nestedLoc, sum);
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// Softmax of `x` over `dim`, as the numerically stable sequence linalg.softmax
/// decomposes into (max, subtract and exp, sum, divide), which later stages can
/// bufferize, tile and fuse like any other linalg op.
FailureOr<Value> softmax(NodeOp node, OpBuilder &b, Value x, int64_t dim) {
  Location loc = node.getLoc();
  Value init = b.create<tensor::EmptyOp>(loc, tensor::getMixedSizes(b, loc, x),
                                         elementTypeOf(x));
  auto op = b.create<linalg::SoftmaxOp>(loc, init.getType(), x, init, dim);
  FailureOr<SmallVector<Value>> parts =
      cast<linalg::AggregatedOpInterface>(op.getOperation())
          .decomposeOperation(b);
  if (failed(parts) || parts->size() != 1)
    return node.emitError("Softmax could not be decomposed");
  op.erase();
  return (*parts)[0];
}

/// Softmax over `axis` (opset 13 and later: that axis alone).
FailureOr<SmallVector<Value>> lowerSoftmax13(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t axis = intAttr(node, "axis", -1);
  if (axis < -type.getRank() || axis >= type.getRank())
    return node.emitError()
           << "Softmax axis " << axis << " is out of range for " << type;
  if (axis < 0)
    axis += type.getRank();
  return single(softmax(node, b, x, axis));
}

/// Softmax before opset 13: over the input flattened to 2-D at `axis` (default
/// 1).
FailureOr<SmallVector<Value>> lowerSoftmax1(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  int64_t axis = intAttr(node, "axis", 1);
  if (axis < 0)
    axis += rank;
  if (axis < 0 || axis >= rank)
    return node.emitError() << "Softmax axis " << intAttr(node, "axis", 1)
                            << " is out of range for " << type;
  Location loc = node.getLoc();
  if (axis == rank - 1)
    return single(softmax(node, b, x, axis));
  // [d0 .. d(axis-1)] and [d(axis) .. d(rank-1)] become the two dimensions.
  SmallVector<ReassociationIndices> groups(2);
  for (int64_t d = 0; d < rank; ++d)
    groups[d < axis ? 0 : 1].push_back(d);
  if (axis == 0)
    groups.erase(groups.begin());
  Value flat = b.create<tensor::CollapseShapeOp>(loc, x, groups);
  int64_t softmaxDim = cast<RankedTensorType>(flat.getType()).getRank() - 1;
  FailureOr<Value> soft = softmax(node, b, flat, softmaxDim);
  if (failed(soft))
    return failure();
  return SmallVector<Value>{b.create<tensor::ExpandShapeOp>(
      loc, type, *soft, groups, tensor::getMixedSizes(b, loc, x))};
}

/// Integer list given as attribute `name` (older opsets) or as constant input
/// `index` (newer ones); nullopt when absent, failure when not constant.
FailureOr<std::optional<SmallVector<int64_t>>>
intListOperand(NodeOp node, StringRef name, unsigned index) {
  if (Value value = input(node, index)) {
    std::optional<SmallVector<int64_t>> values = constInts(value);
    if (!values)
      return node.emitError() << node.getOpType() << " needs constant " << name;
    return std::optional<SmallVector<int64_t>>(*values);
  }
  return intsAttr(node, name);
}

/// `axes` made non-negative and sorted; an error when one is out of range or
/// repeated.
LogicalResult normalizeAxes(NodeOp node, SmallVector<int64_t> &axes,
                            int64_t rank) {
  for (int64_t &axis : axes) {
    if (axis < -rank || axis >= rank)
      return node.emitError() << node.getOpType() << " axis " << axis
                              << " is out of range for rank " << rank;
    if (axis < 0)
      axis += rank;
  }
  llvm::sort(axes);
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    return node.emitError() << node.getOpType() << " repeats an axis";
  return success();
}

FailureOr<SmallVector<Value>> lowerTranspose(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> perm;
  if (auto list = dyn_cast_or_null<ArrayAttr>(node.getOnnxAttr("perm"))) {
    for (Attribute item : list)
      perm.push_back(cast<IntegerAttr>(item).getValue().getSExtValue());
  } else {
    for (int64_t d = type.getRank() - 1; d >= 0; --d)
      perm.push_back(d);
  }
  SmallVector<int64_t> sorted(perm);
  llvm::sort(sorted);
  if (static_cast<int64_t>(perm.size()) != type.getRank() ||
      llvm::any_of(llvm::enumerate(sorted),
                   [](auto e) { return e.value() != int64_t(e.index()); }))
    return node.emitError() << "Transpose perm is not a permutation of the "
                            << type.getRank() << " dimensions";
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes;
  for (int64_t d : perm)
    sizes.push_back(dimOf(b, loc, x, d));
  Value init = b.create<tensor::EmptyOp>(loc, sizes, type.getElementType());
  return SmallVector<Value>{
      b.create<linalg::TransposeOp>(loc, x, init, perm).getResult()[0]};
}

/// The reassociation between a rank-`rank` shape whose `unitDims` are 1 and the
/// shape without them: each kept dimension takes the unit dimensions before it,
/// the last one those after it. Empty when every dimension is a unit one (a
/// scalar).
SmallVector<ReassociationIndices> unitDimGroups(int64_t rank,
                                                ArrayRef<int64_t> unitDims) {
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  for (int64_t d = 0; d < rank; ++d) {
    pending.push_back(d);
    if (llvm::is_contained(unitDims, d))
      continue;
    groups.push_back(pending);
    pending.clear();
  }
  if (!groups.empty())
    groups.back().append(pending.begin(), pending.end());
  return groups;
}

/// Adds the unit dimensions `unitDims` to `x`, giving `resultShape`.
Value expandUnitDims(OpBuilder &b, Location loc, Value x,
                     ArrayRef<int64_t> resultShape,
                     ArrayRef<int64_t> unitDims) {
  auto type = RankedTensorType::get(resultShape, elementTypeOf(x));
  return b.create<tensor::ExpandShapeOp>(
      loc, type, x,
      unitDimGroups(static_cast<int64_t>(resultShape.size()), unitDims));
}

/// Unsqueeze: axes (attribute before opset 13, input since) index the result.
FailureOr<SmallVector<Value>> lowerUnsqueeze(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  FailureOr<std::optional<SmallVector<int64_t>>> list =
      intListOperand(node, "axes", 1);
  if (failed(list))
    return failure();
  if (!*list)
    return node.emitError("Unsqueeze needs axes");
  SmallVector<int64_t> axes = **list;
  int64_t rank = type.getRank() + static_cast<int64_t>(axes.size());
  if (failed(normalizeAxes(node, axes, rank)))
    return failure();
  SmallVector<int64_t> shape;
  int64_t source = 0;
  for (int64_t d = 0; d < rank; ++d)
    shape.push_back(llvm::is_contained(axes, d) ? 1
                                                : type.getDimSize(source++));
  return SmallVector<Value>{expandUnitDims(b, node.getLoc(), x, shape, axes)};
}

/// Squeeze: the listed unit dimensions (all static unit dimensions without
/// axes).
FailureOr<SmallVector<Value>> lowerSqueeze(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  FailureOr<std::optional<SmallVector<int64_t>>> list =
      intListOperand(node, "axes", 1);
  if (failed(list))
    return failure();
  SmallVector<int64_t> axes;
  if (*list) {
    axes = **list;
    if (failed(normalizeAxes(node, axes, type.getRank())))
      return failure();
  } else {
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.getDimSize(d) == 1)
        axes.push_back(d);
  }
  for (int64_t axis : axes)
    if (type.getDimSize(axis) != 1)
      return node.emitError() << "Squeeze axis " << axis
                              << " is not a static unit dimension of " << type;
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!llvm::is_contained(axes, d))
      shape.push_back(type.getDimSize(d));
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return SmallVector<Value>{b.create<tensor::CollapseShapeOp>(
      node.getLoc(), resultType, x, unitDimGroups(type.getRank(), axes))};
}

enum class ReduceKind { Sum, Mean, Max, Min };

/// ReduceSum/Mean/Max/Min over `axes` (all axes when absent, unless
/// noop_with_empty_axes), keeping reduced dimensions as 1 when keepdims.
template <ReduceKind Kind>
FailureOr<SmallVector<Value>> lowerReduce(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  Type element = type.getElementType();
  if (!isFloat(element))
    return node.emitError()
           << node.getOpType()
           << " is supported on floating-point tensors only, got " << element;
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
  TypedAttr start =
      Kind == ReduceKind::Max
          ? TypedAttr(b.getFloatAttr(
                element,
                APFloat::getInf(cast<FloatType>(element).getFloatSemantics(),
                                /*Negative=*/true)))
      : Kind == ReduceKind::Min
          ? TypedAttr(b.getFloatAttr(
                element,
                APFloat::getInf(cast<FloatType>(element).getFloatSemantics())))
          : b.getZeroAttr(element);
  Value filled =
      b.create<linalg::FillOp>(
           loc, b.create<arith::ConstantOp>(loc, start).getResult(), init)
          .getResult(0);
  Value reduced =
      b.create<linalg::ReduceOp>(
           loc, ValueRange{x}, ValueRange{filled}, axes,
           [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
             Value combined =
                 Kind == ReduceKind::Max ? nested
                                               .create<arith::MaximumFOp>(
                                                   nestedLoc, args[0], args[1])
                                               .getResult()
                 : Kind == ReduceKind::Min
                     ? nested
                           .create<arith::MinimumFOp>(nestedLoc, args[0],
                                                      args[1])
                           .getResult()
                     : nested.create<arith::AddFOp>(nestedLoc, args[0], args[1])
                           .getResult();
             nested.create<linalg::YieldOp>(nestedLoc, combined);
           })
          .getResult(0);
  if (Kind == ReduceKind::Mean) {
    // Divide by the number of reduced elements, known only at run time when
    // dynamic.
    Value count = b.create<arith::ConstantIndexOp>(loc, 1);
    for (int64_t axis : axes)
      count = b.create<arith::MulIOp>(
          loc, count,
          getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, axis)));
    Value countInt = b.create<arith::IndexCastOp>(loc, b.getI64Type(), count);
    Value countFloat = b.create<arith::SIToFPOp>(loc, element, countInt);
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
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               nested.create<linalg::YieldOp>(
                   nestedLoc,
                   nested.create<arith::DivFOp>(nestedLoc, args[0], countFloat)
                       .getResult());
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

/// Comparisons produce i1.
template <arith::CmpFPredicate FloatPredicate,
          arith::CmpIPredicate IntPredicate>
Value compare(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<arith::CmpFOp>(loc, FloatPredicate, args[0], args[1]);
  return b.create<arith::CmpIOp>(loc, IntPredicate, args[0], args[1]);
}

template <arith::CmpFPredicate FloatPredicate,
          arith::CmpIPredicate IntPredicate>
FailureOr<SmallVector<Value>> lowerCompare(NodeOp node, OpBuilder &b) {
  return elementwise(node, b, 2, compare<FloatPredicate, IntPredicate>,
                     /*floatOnly=*/false, b.getI1Type());
}

/// And, Or, Xor, Not on booleans.
template <typename Op>
Value logical(OpBuilder &b, Location loc, Type, ValueRange args) {
  return b.create<Op>(loc, args[0], args[1]);
}
Value logicalNot(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value one = b.create<arith::ConstantOp>(loc, b.getIntegerAttr(type, 1));
  return b.create<arith::XOrIOp>(loc, args[0], one);
}
template <ScalarFn Fn, unsigned Count>
FailureOr<SmallVector<Value>> lowerLogical(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, Count);
  if (failed(operands))
    return failure();
  for (Value operand : *operands)
    if (!elementTypeOf(operand).isInteger(1))
      return node.emitError()
             << node.getOpType() << " needs boolean inputs, got "
             << elementTypeOf(operand);
  return elementwise(node, b, Count, Fn, /*floatOnly=*/false);
}

/// Where(condition, x, y), all three broadcast.
FailureOr<SmallVector<Value>> lowerWhere(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 3);
  if (failed(operands))
    return failure();
  Type element = elementTypeOf((*operands)[1]);
  if (!elementTypeOf((*operands)[0]).isInteger(1) ||
      elementTypeOf((*operands)[2]) != element)
    return node.emitError()
           << "Where needs a boolean condition and two inputs of "
              "one element type";
  return single(broadcastGeneric(
      node, b, *operands, element,
      [](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        return nested.create<arith::SelectOp>(loc, args[0], args[1], args[2]);
      }));
}

/// Converts one scalar between element types with ONNX Cast semantics (float to
/// integer truncates toward zero; booleans are 0 and 1).
Value convertScalar(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  auto fromFloat = dyn_cast<FloatType>(from), toFloat = dyn_cast<FloatType>(to);
  if (fromFloat && toFloat)
    return fromFloat.getWidth() < toFloat.getWidth()
               ? b.create<arith::ExtFOp>(loc, to, value).getResult()
               : b.create<arith::TruncFOp>(loc, to, value).getResult();
  if (!fromFloat && toFloat)
    return from.isInteger(1)
               ? b.create<arith::UIToFPOp>(loc, to, value).getResult()
               : b.create<arith::SIToFPOp>(loc, to, value).getResult();
  if (fromFloat) {
    if (to.isInteger(1)) {
      Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(from));
      return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, value,
                                     zero);
    }
    return b.create<arith::FPToSIOp>(loc, to, value);
  }
  unsigned fromWidth = from.getIntOrFloatBitWidth();
  unsigned toWidth = to.getIntOrFloatBitWidth();
  if (to.isInteger(1)) {
    Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(from));
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, value, zero);
  }
  if (fromWidth < toWidth)
    return from.isInteger(1)
               ? b.create<arith::ExtUIOp>(loc, to, value).getResult()
               : b.create<arith::ExtSIOp>(loc, to, value).getResult();
  return b.create<arith::TruncIOp>(loc, to, value);
}

FailureOr<SmallVector<Value>> lowerCast(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  auto resultType = dyn_cast<ShapedType>(node.getResult(0).getType());
  if (!resultType)
    return node.emitError("Cast needs a tensor result type");
  Type to = resultType.getElementType();
  Type from = elementTypeOf((*operands)[0]);
  if (failed(checkComputable(node, from, false)) ||
      failed(checkComputable(node, to, false)))
    return failure();
  return single(
      broadcastGeneric(node, b, *operands, to,
                       [&](OpBuilder &nested, Location loc, ValueRange args) {
                         return convertScalar(nested, loc, args[0], to);
                       }));
}

/// `x` clamped to the optional scalar tensors `low` and `high`.
FailureOr<SmallVector<Value>> clip(NodeOp node, OpBuilder &b, Value x,
                                   Value low, Value high) {
  Type element = elementTypeOf(x);
  if (failed(checkComputable(node, element, /*floatOnly=*/true)))
    return failure();
  SmallVector<Value> all{x};
  for (Value bound : {low, high})
    if (bound) {
      if (!isa<RankedTensorType>(bound.getType()) ||
          elementTypeOf(bound) != element)
        return node.emitError(
            "Clip bounds must be tensors of the input's type");
      all.push_back(bound);
    }
  return single(broadcastGeneric(
      node, b, all, element,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        Value value = args[0];
        unsigned next = 1;
        if (low)
          value = nested.create<arith::MaximumFOp>(loc, value, args[next++]);
        if (high)
          value = nested.create<arith::MinimumFOp>(loc, value, args[next]);
        return value;
      }));
}

/// Clip since opset 11: optional min and max inputs (scalars).
FailureOr<SmallVector<Value>> lowerClip(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  return clip(node, b, (*operands)[0], input(node, 1), input(node, 2));
}

/// Clip before opset 11: bounds in the `min` and `max` attributes.
FailureOr<SmallVector<Value>> lowerClip6(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  Type element = elementTypeOf(x);
  if (!isFloat(element))
    return node.emitError()
           << "Clip is supported on floating-point tensors only, got "
           << element;
  auto bound = [&](StringRef name, double fallback) -> Value {
    double value = fallback;
    if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr(name)))
      value = attr.getValueAsDouble();
    auto type = RankedTensorType::get({}, element);
    return b.create<arith::ConstantOp>(
        node.getLoc(), DenseElementsAttr::get(
                           type, b.getFloatAttr(element, value).getValue()));
  };
  Value low = bound("min", -INFINITY);
  Value high = bound("max", INFINITY);
  return clip(node, b, x, low, high);
}

/// Concat along `axis`: each input inserted into its slice of the result
/// (tensor.concat would need decomposing before bufferization).
FailureOr<SmallVector<Value>> lowerConcat(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands =
      rankedInputs(node, node.getInputs().size());
  if (failed(operands))
    return failure();
  if (operands->empty())
    return node.emitError("Concat needs at least one input");
  int64_t rank = cast<RankedTensorType>((*operands)[0].getType()).getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < -rank || axis >= rank)
    return node.emitError()
           << "Concat axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  for (Value operand : *operands) {
    auto type = cast<RankedTensorType>(operand.getType());
    if (type.getRank() != rank ||
        type.getElementType() != elementTypeOf((*operands)[0]))
      return node.emitError("Concat inputs must share rank and element type");
  }
  if (operands->size() == 1)
    return SmallVector<Value>{(*operands)[0]};
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, loc, (*operands)[0]);
  SmallVector<OpFoldResult> offsets;
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  OpFoldResult total = b.getIndexAttr(0);
  for (Value operand : *operands) {
    offsets.push_back(total);
    total = affine::makeComposedFoldedAffineApply(
        b, loc, s0 + s1, {total, dimOf(b, loc, operand, axis)});
  }
  sizes[axis] = total;
  Value result =
      b.create<tensor::EmptyOp>(loc, sizes, elementTypeOf((*operands)[0]));
  for (auto [operand, offset] : llvm::zip(*operands, offsets)) {
    SmallVector<OpFoldResult> at(rank, b.getIndexAttr(0));
    at[axis] = offset;
    result = b.create<tensor::InsertSliceOp>(
        loc, operand, result, at, tensor::getMixedSizes(b, loc, operand),
        SmallVector<OpFoldResult>(rank, b.getIndexAttr(1)));
  }
  return SmallVector<Value>{result};
}

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

/// Gather along `axis`: out[i.., j.., k..] = data[i.., indices[j..], k..], with
/// negative indices counted from the end.
FailureOr<SmallVector<Value>> lowerGather(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0], indices = (*operands)[1];
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
        Value index = wrapIndex(nested, nestedLoc, args[0], axisSize);
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

/// The sizes a 1-D integer shape tensor holds: constants where it is constant,
/// tensor.extract otherwise.
FailureOr<SmallVector<OpFoldResult>> shapeValues(NodeOp node, OpBuilder &b,
                                                 Value shape) {
  auto type = dyn_cast<RankedTensorType>(shape.getType());
  if (!type || type.getRank() != 1 || type.isDynamicDim(0) ||
      !isa<IntegerType>(type.getElementType()))
    return node.emitError()
           << node.getOpType() << " needs a shape of static length, got "
           << shape.getType();
  SmallVector<OpFoldResult> sizes;
  if (std::optional<SmallVector<int64_t>> values = constInts(shape)) {
    for (int64_t v : *values)
      sizes.push_back(b.getIndexAttr(v));
    return sizes;
  }
  Location loc = node.getLoc();
  for (int64_t i = 0; i < type.getDimSize(0); ++i) {
    Value position = b.create<arith::ConstantIndexOp>(loc, i);
    Value element = b.create<tensor::ExtractOp>(loc, shape, position);
    sizes.push_back(b.create<arith::IndexCastOp>(loc, b.getIndexType(), element)
                        .getResult());
  }
  return sizes;
}

/// Shape (with start/end since opset 15) as an i64 tensor.
FailureOr<SmallVector<Value>> lowerShape(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  auto clampIndex = [&](int64_t i) {
    return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank);
  };
  int64_t start = clampIndex(intAttr(node, "start", 0));
  int64_t end = clampIndex(intAttr(node, "end", rank));
  Location loc = node.getLoc();
  SmallVector<Value> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(b.create<arith::IndexCastOp>(
        loc, b.getI64Type(),
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d))));
  auto type = RankedTensorType::get({std::max<int64_t>(end - start, 0)},
                                    b.getI64Type());
  if (dims.empty())
    return SmallVector<Value>{b.create<arith::ConstantOp>(
        loc, DenseElementsAttr::get(type, ArrayRef<int64_t>{}))};
  return SmallVector<Value>{b.create<tensor::FromElementsOp>(loc, type, dims)};
}

/// ConstantOfShape: a tensor of the given shape filled with `value` (f32 0
/// default).
FailureOr<SmallVector<Value>> lowerConstantOfShape(NodeOp node, OpBuilder &b) {
  Value shape = input(node, 0);
  if (!shape)
    return node.emitError("ConstantOfShape needs a shape");
  FailureOr<SmallVector<OpFoldResult>> sizes = shapeValues(node, b, shape);
  if (failed(sizes))
    return failure();
  Location loc = node.getLoc();
  TypedAttr fill = b.getF32FloatAttr(0.0f);
  if (auto value =
          dyn_cast_or_null<DenseElementsAttr>(node.getOnnxAttr("value"))) {
    if (value.getNumElements() != 1)
      return node.emitError("ConstantOfShape value must hold one element");
    fill = cast<TypedAttr>(*value.getValues<Attribute>().begin());
  }
  Value init = b.create<tensor::EmptyOp>(loc, *sizes, fill.getType());
  Value scalar = b.create<arith::ConstantOp>(loc, fill);
  return SmallVector<Value>{
      b.create<linalg::FillOp>(loc, scalar, init).getResult(0)};
}

/// Expand: broadcast the input to a shape (numpy rules, a 1 keeps the input's
/// size). A shape computed at run time is read element by element; its dynamic
/// sizes are taken to be the result's (a run-time 1 against a larger input is
/// not detected).
FailureOr<SmallVector<Value>> lowerExpand(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  FailureOr<SmallVector<OpFoldResult>> shape =
      shapeValues(node, b, (*operands)[1]);
  if (failed(shape))
    return failure();
  // Broadcasting against a placeholder of the requested shape gives the result.
  Location loc = node.getLoc();
  Type element = elementTypeOf(x);
  Value placeholder = b.create<tensor::EmptyOp>(loc, *shape, element);
  return single(broadcastGeneric(
      node, b, ValueRange{x, placeholder}, element,
      [](OpBuilder &, Location, ValueRange args) { return args[0]; }));
}

/// Reshape by a shape computed at run time, read element by element: 0
/// copies the input's dimension (unless allowzero), -1 takes what is left
/// (zero when the other sizes multiply to zero). Sizes the node's result type
/// states statically are taken to be right.
FailureOr<SmallVector<Value>> lowerRuntimeReshape(NodeOp node, OpBuilder &b,
                                                  Value x, Value shape) {
  auto type = cast<RankedTensorType>(x.getType());
  auto shapeType = dyn_cast<RankedTensorType>(shape.getType());
  if (!shapeType || shapeType.getRank() != 1 || shapeType.isDynamicDim(0) ||
      !isa<IntegerType>(shapeType.getElementType()))
    return node.emitError() << "Reshape needs a shape of static length, got "
                            << shape.getType();
  int64_t rank = shapeType.getDimSize(0);
  bool allowZero = intAttr(node, "allowzero", 0) != 0;
  Location loc = node.getLoc();
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  Value minusOne = b.create<arith::ConstantIndexOp>(loc, -1);
  Value total = one;
  for (int64_t d = 0; d < type.getRank(); ++d)
    total = b.create<arith::MulIOp>(
        loc, total,
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d)));
  SmallVector<Value> sizes, inferred;
  Value known = one;
  for (int64_t i = 0; i < rank; ++i) {
    Value v = b.create<arith::IndexCastOp>(
        loc, b.getIndexType(),
        b.create<tensor::ExtractOp>(loc, shape,
                                    ValueRange{b.create<arith::ConstantIndexOp>(loc, i)}));
    if (!allowZero && i < type.getRank()) {
      Value copies = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, v,
                                             zero);
      v = b.create<arith::SelectOp>(
          loc, copies,
          getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, i)), v);
    }
    Value isInferred =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, v, minusOne);
    known = b.create<arith::MulIOp>(
        loc, known, b.create<arith::SelectOp>(loc, isInferred, one, v));
    sizes.push_back(v);
    inferred.push_back(isInferred);
  }
  Value none = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, known,
                                       zero);
  Value rest = b.create<arith::SelectOp>(
      loc, none, zero,
      b.create<arith::DivUIOp>(
          loc, total, b.create<arith::SelectOp>(loc, none, one, known)));
  for (int64_t i = 0; i < rank; ++i)
    sizes[i] = b.create<arith::SelectOp>(loc, inferred[i], rest, sizes[i]);
  SmallVector<int64_t> staticShape(rank, ShapedType::kDynamic);
  if (auto declared = dyn_cast<RankedTensorType>(node.getResult(0).getType());
      declared && declared.getRank() == rank)
    staticShape = llvm::to_vector(declared.getShape());
  Value shapeTensor = b.create<tensor::FromElementsOp>(
      loc, RankedTensorType::get({rank}, b.getIndexType()), sizes);
  return SmallVector<Value>{b.create<tensor::ReshapeOp>(
      loc, RankedTensorType::get(staticShape, type.getElementType()), x,
      shapeTensor)};
}

/// Reshape: 0 copies the input's dimension (unless allowzero), -1 takes what
/// is left; a shape computed at run time is read as the model runs.
FailureOr<SmallVector<Value>> lowerReshape(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  std::optional<SmallVector<int64_t>> shape = constInts((*operands)[1]);
  if (!shape)
    return lowerRuntimeReshape(node, b, x, (*operands)[1]);
  bool allowZero = intAttr(node, "allowzero", 0) != 0;
  Location loc = node.getLoc();
  // Sizes as index values; the inferred one is the element count over the rest.
  Value total = b.create<arith::ConstantIndexOp>(loc, 1);
  for (int64_t d = 0; d < type.getRank(); ++d)
    total = b.create<arith::MulIOp>(
        loc, total,
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d)));
  SmallVector<OpFoldResult> sizes;
  SmallVector<int64_t> staticShape;
  int64_t inferred = -1;
  Value known = b.create<arith::ConstantIndexOp>(loc, 1);
  for (auto [i, size] : llvm::enumerate(*shape)) {
    OpFoldResult dim;
    if (size == -1) {
      if (inferred >= 0)
        return node.emitError("Reshape shape has more than one -1");
      inferred = static_cast<int64_t>(i);
      sizes.push_back(OpFoldResult());
      staticShape.push_back(ShapedType::kDynamic);
      continue;
    }
    if (size == 0 && !allowZero) {
      if (static_cast<int64_t>(i) >= type.getRank())
        return node.emitError() << "Reshape copies dimension " << i
                                << ", which the input does not have";
      dim = dimOf(b, loc, x, static_cast<int64_t>(i));
    } else if (size < 0) {
      return node.emitError() << "Reshape size " << size << " is invalid";
    } else {
      dim = b.getIndexAttr(size);
    }
    sizes.push_back(dim);
    std::optional<int64_t> constant = getConstantIntValue(dim);
    staticShape.push_back(constant ? *constant : ShapedType::kDynamic);
    known = b.create<arith::MulIOp>(
        loc, known, getValueOrCreateConstantIndexOp(b, loc, dim));
  }
  if (inferred >= 0) {
    sizes[inferred] = b.create<arith::DivUIOp>(loc, total, known).getResult();
    // Static when the input and every other size are.
    // Sizes whose product overflows int64 (a malformed model) stay dynamic.
    SmallVector<int64_t> others(staticShape);
    others.erase(others.begin() + inferred);
    std::optional<int64_t> count = staticElementCount(type.getShape()),
                           product = staticElementCount(others);
    if (count && product && *product != 0)
      staticShape[inferred] = *count / *product;
  }
  SmallVector<Value> shapeValuesIndex;
  for (OpFoldResult size : sizes)
    shapeValuesIndex.push_back(getValueOrCreateConstantIndexOp(b, loc, size));
  auto shapeType = RankedTensorType::get(
      {static_cast<int64_t>(shapeValuesIndex.size())}, b.getIndexType());
  Value shapeTensor =
      b.create<tensor::FromElementsOp>(loc, shapeType, shapeValuesIndex);
  auto resultType = RankedTensorType::get(staticShape, type.getElementType());
  if (type.hasStaticShape() && resultType.hasStaticShape()) {
    std::optional<int64_t> from = staticElementCount(type.getShape()),
                           to = staticElementCount(staticShape);
    if (!from || !to || *from != *to)
      return node.emitError() << "Reshape of " << type << " to " << resultType
                              << ": the element counts differ";
  }
  return SmallVector<Value>{
      b.create<tensor::ReshapeOp>(loc, resultType, x, shapeTensor)};
}

/// Split along `axis` into equal parts (num_outputs, or as many as outputs) or
/// into the sizes given (input since opset 13, attribute before).
FailureOr<SmallVector<Value>> lowerSplit(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < -rank || axis >= rank)
    return node.emitError()
           << "Split axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  FailureOr<std::optional<SmallVector<int64_t>>> given =
      intListOperand(node, "split", 1);
  if (failed(given))
    return failure();
  Location loc = node.getLoc();
  unsigned parts = node.getNumResults();
  OpFoldResult axisSize = dimOf(b, loc, x, axis);
  SmallVector<OpFoldResult> sizes;
  if (*given) {
    if ((*given)->size() != parts)
      return node.emitError() << "Split has " << parts << " outputs but "
                              << (*given)->size() << " sizes";
    for (int64_t size : **given)
      sizes.push_back(b.getIndexAttr(size));
  } else {
    // Equal parts; a dynamic size is divided at run time (the last part takes
    // the rest when it does not divide, as ONNX specifies since opset 18).
    std::optional<int64_t> constant = getConstantIntValue(axisSize);
    for (unsigned i = 0; i < parts; ++i) {
      if (constant) {
        int64_t chunk = (*constant + parts - 1) / parts;
        int64_t start = std::min<int64_t>(chunk * i, *constant);
        sizes.push_back(
            b.getIndexAttr(std::min<int64_t>(chunk, *constant - start)));
      } else {
        Value count = b.create<arith::ConstantIndexOp>(loc, parts);
        sizes.push_back(
            b.create<arith::DivUIOp>(
                 loc, getValueOrCreateConstantIndexOp(b, loc, axisSize), count)
                .getResult());
      }
    }
  }
  SmallVector<Value> results;
  OpFoldResult offset = b.getIndexAttr(0);
  for (OpFoldResult size : sizes) {
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    SmallVector<OpFoldResult> extents = tensor::getMixedSizes(b, loc, x);
    SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
    offsets[axis] = offset;
    extents[axis] = size;
    results.push_back(
        b.create<tensor::ExtractSliceOp>(loc, x, offsets, extents, strides));
    std::optional<int64_t> o = getConstantIntValue(offset),
                           z = getConstantIntValue(size);
    if (o && z)
      offset = b.getIndexAttr(*o + *z);
    else
      offset = b.create<arith::AddIOp>(
                    loc, getValueOrCreateConstantIndexOp(b, loc, offset),
                    getValueOrCreateConstantIndexOp(b, loc, size))
                   .getResult();
  }
  return results;
}

/// TopK over the last axis. Each row is scanned k times; pass j takes the best
/// element that ranks after the one pass j-1 took, ranking by value (descending
/// for largest) and then by index (ascending), which is ONNX's order for equal
/// values. O(k * n) per row, meant for router widths.
FailureOr<SmallVector<Value>> lowerTopK(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
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
  Value kTensor = (*operands)[1];
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

/// Slice with constant starts, ends, axes and steps (opset 10 and later),
/// clamped as ONNX specifies; only positive steps.
FailureOr<SmallVector<Value>> lowerSlice(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value x = (*operands)[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  // Starts and ends: constants, or read as the model runs (a static count).
  Value startsInput = input(node, 1), endsInput = input(node, 2);
  auto boundsType = startsInput
                        ? dyn_cast<RankedTensorType>(startsInput.getType())
                        : RankedTensorType();
  if (!boundsType || boundsType.getRank() != 1 ||
      boundsType.isDynamicDim(0) || !endsInput ||
      boundsType.getShape() !=
          cast<ShapedType>(endsInput.getType()).getShape())
    return node.emitError(
        "Slice needs starts and ends of one static length");
  std::optional<SmallVector<int64_t>> starts = constInts(startsInput);
  std::optional<SmallVector<int64_t>> ends = constInts(endsInput);
  int64_t numBounds = boundsType.getDimSize(0);
  SmallVector<int64_t> axes, steps(numBounds, 1);
  if (Value axesInput = input(node, 3)) {
    std::optional<SmallVector<int64_t>> given = constInts(axesInput);
    if (!given || static_cast<int64_t>(given->size()) != numBounds)
      return node.emitError("Slice needs constant axes, one per start");
    axes = *given;
  } else {
    for (int64_t i = 0; i < numBounds; ++i)
      axes.push_back(i);
  }
  if (Value stepsInput = input(node, 4)) {
    std::optional<SmallVector<int64_t>> given = constInts(stepsInput);
    if (!given || static_cast<int64_t>(given->size()) != numBounds)
      return node.emitError("Slice needs constant steps, one per start");
    steps = *given;
  }
  Location loc = node.getLoc();
  // Bound i of `values` (constant) or of `tensor` (read at run time), as an
  // index with huge constants brought into range.
  auto boundAt = [&](const std::optional<SmallVector<int64_t>> &values,
                     Value tensor, int64_t i) -> Value {
    if (values)
      return b.create<arith::ConstantIndexOp>(
          loc, std::clamp<int64_t>((*values)[i],
                                   std::numeric_limits<int32_t>::min(),
                                   std::numeric_limits<int32_t>::max()));
    return b.create<arith::IndexCastOp>(
        loc, b.getIndexType(),
        b.create<tensor::ExtractOp>(
            loc, tensor, ValueRange{b.create<arith::ConstantIndexOp>(loc, i)}));
  };
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  for (auto [i, axisValue] : llvm::enumerate(axes)) {
    int64_t axis = axisValue < 0 ? axisValue + rank : axisValue;
    if (axis < 0 || axis >= rank)
      return node.emitError() << "Slice axis " << axisValue
                              << " is out of range for rank " << rank;
    int64_t step = steps[i];
    if (step <= 0)
      return node.emitError(
          "Slice with a negative or zero step is not supported");
    int64_t dim = type.getDimSize(axis);
    if (ShapedType::isDynamic(dim) || !starts || !ends) {
      // The bounds are clamped to the size at run time:
      // count = ceil(max(end - start, 0) / step).
      Value size = getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, axis));
      Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
      auto bound = [&](Value v) -> Value {
        Value fromStart = b.create<arith::MinSIOp>(loc, v, size);
        Value fromEnd = b.create<arith::MaxSIOp>(
            loc, b.create<arith::AddIOp>(loc, size, v), zero);
        Value negative =
            b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, v, zero);
        return b.create<arith::SelectOp>(loc, negative, fromEnd, fromStart);
      };
      Value start = bound(boundAt(starts, startsInput, i));
      Value end = bound(boundAt(ends, endsInput, i));
      Value span = b.create<arith::MaxSIOp>(
          loc, b.create<arith::SubIOp>(loc, end, start), zero);
      Value count = b.create<arith::DivUIOp>(
          loc,
          b.create<arith::AddIOp>(
              loc, span, b.create<arith::ConstantIndexOp>(loc, step - 1)),
          b.create<arith::ConstantIndexOp>(loc, step));
      offsets[axis] = start;
      sizes[axis] = count;
      strides[axis] = b.getIndexAttr(step);
      continue;
    }
    auto clampTo = [&](int64_t v) {
      if (v < 0)
        v += dim;
      return std::clamp<int64_t>(v, 0, dim);
    };
    int64_t start = clampTo((*starts)[i]), end = clampTo((*ends)[i]);
    int64_t count = end > start ? (end - start + step - 1) / step : 0;
    offsets[axis] = b.getIndexAttr(start);
    sizes[axis] = b.getIndexAttr(count);
    strides[axis] = b.getIndexAttr(step);
  }
  return SmallVector<Value>{
      b.create<tensor::ExtractSliceOp>(loc, x, offsets, sizes, strides)};
}

/// Gemm: alpha * A' B' + beta * C, with A' and B' optionally transposed.
FailureOr<SmallVector<Value>> lowerGemm(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value lhs = (*operands)[0], rhs = (*operands)[1], addend = input(node, 2);
  auto lhsType = cast<RankedTensorType>(lhs.getType());
  auto rhsType = cast<RankedTensorType>(rhs.getType());
  Type element = lhsType.getElementType();
  if (lhsType.getRank() != 2 || rhsType.getRank() != 2 ||
      rhsType.getElementType() != element || !isFloat(element))
    return node.emitError(
        "Gemm needs two 2-D floating-point inputs of one type");
  bool transA = intAttr(node, "transA", 0) != 0;
  bool transB = intAttr(node, "transB", 0) != 0;
  double alpha = 1.0, beta = 1.0;
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr("alpha")))
    alpha = attr.getValueAsDouble();
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr("beta")))
    beta = attr.getValueAsDouble();
  Location loc = node.getLoc();
  MLIRContext *context = b.getContext();
  AffineExpr m = getAffineDimExpr(0, context), n = getAffineDimExpr(1, context),
             k = getAffineDimExpr(2, context);
  SmallVector<AffineMap> maps{
      AffineMap::get(3, 0,
                     transA ? ArrayRef<AffineExpr>{k, m}
                            : ArrayRef<AffineExpr>{m, k},
                     context),
      AffineMap::get(3, 0,
                     transB ? ArrayRef<AffineExpr>{n, k}
                            : ArrayRef<AffineExpr>{k, n},
                     context),
      AffineMap::get(3, 0, {m, n}, context)};
  SmallVector<OpFoldResult> sizes{dimOf(b, loc, lhs, transA ? 1 : 0),
                                  dimOf(b, loc, rhs, transB ? 0 : 1)};
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  Value filled =
      b.create<linalg::FillOp>(loc, zeroOf(b, loc, element), init).getResult(0);
  Value product =
      b.create<linalg::GenericOp>(
           loc, filled.getType(), ValueRange{lhs, rhs}, ValueRange{filled},
           maps,
           SmallVector<utils::IteratorType>{utils::IteratorType::parallel,
                                            utils::IteratorType::parallel,
                                            utils::IteratorType::reduction},
           [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
             Value mul =
                 nested.create<arith::MulFOp>(nestedLoc, args[0], args[1]);
             nested.create<linalg::YieldOp>(
                 nestedLoc,
                 nested.create<arith::AddFOp>(nestedLoc, args[2], mul)
                     .getResult());
           })
          .getResult(0);
  if (alpha == 1.0 && (!addend || beta == 0.0))
    return SmallVector<Value>{product};
  SmallVector<Value> terms{product};
  if (addend && beta != 0.0) {
    if (!isa<RankedTensorType>(addend.getType()) ||
        elementTypeOf(addend) != element)
      return node.emitError("Gemm's C must be a tensor of the inputs' type");
    terms.push_back(addend);
  }
  return single(broadcastGeneric(
      node, b, terms, element,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value scaled = args[0];
        if (alpha != 1.0)
          scaled = nested.create<arith::MulFOp>(
              nestedLoc, scaled,
              nested.create<arith::ConstantOp>(
                  nestedLoc, nested.getFloatAttr(element, alpha)));
        if (args.size() == 1)
          return scaled;
        Value c = args[1];
        if (beta != 1.0)
          c = nested.create<arith::MulFOp>(
              nestedLoc, c,
              nested.create<arith::ConstantOp>(
                  nestedLoc, nested.getFloatAttr(element, beta)));
        return nested.create<arith::AddFOp>(nestedLoc, scaled, c).getResult();
      }));
}

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
FailureOr<SmallVector<Value>> lowerNorm(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands) || failed(onlyFirstOutputUsed(node)))
    return failure();
  FailureOr<Value> y =
      normalize(node, b, (*operands)[0], intAttr(node, "axis", -1),
                floatAttr(node, "epsilon", 1e-5), input(node, 1),
                Rms ? Value() : input(node, 2), Rms);
  if (failed(y))
    return failure();
  // The statistics outputs are unused (checked above): nothing replaces them.
  SmallVector<Value> results{*y};
  results.resize(node.getNumResults());
  return results;
}

/// com.microsoft.SkipSimplifiedLayerNormalization: s = input + skip (+ bias),
/// then the RMS norm of s; output 3, when used, is s.
FailureOr<SmallVector<Value>> lowerSkipSimplifiedNorm(NodeOp node,
                                                      OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  for (unsigned i = 1; i < std::min(3u, node.getNumResults()); ++i)
    if (!node.getResult(i).use_empty())
      return node.emitError() << node.getOpType() << " output " << i
                              << " (statistics) is not supported yet";
  SmallVector<Value> terms{(*operands)[0], (*operands)[1]};
  if (Value bias = input(node, 3))
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
                input(node, 2), Value(), /*rms=*/true);
  if (failed(y))
    return failure();
  SmallVector<Value> results{*y};
  for (unsigned i = 1; i < node.getNumResults(); ++i)
    results.push_back(i == 3 ? *sum : Value());
  return results;
}

/// GatherElements: out[i] = data[i with i[axis] replaced by indices[i]].
FailureOr<SmallVector<Value>> lowerGatherElements(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0], indices = (*operands)[1];
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
          coords.push_back(d == axis ? wrapIndex(nested, nl, args[0], axisSize)
                                     : nested.create<linalg::IndexOp>(nl, d));
        nested.create<linalg::YieldOp>(
            nl, nested.create<tensor::ExtractOp>(nl, data, coords).getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// OneHot(indices, depth, values): a new dimension of size depth at `axis`
/// holding values[1] where it equals the (wrapped) index and values[0]
/// elsewhere.
FailureOr<SmallVector<Value>> lowerOneHot(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 3);
  if (failed(operands))
    return failure();
  Value indices = (*operands)[0], values = (*operands)[2];
  auto indicesType = cast<RankedTensorType>(indices.getType());
  auto valuesType = cast<RankedTensorType>(values.getType());
  std::optional<SmallVector<int64_t>> depths = constInts((*operands)[1]);
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
FailureOr<SmallVector<Value>> lowerScatterElements(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 3);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0], indices = (*operands)[1],
        updates = (*operands)[2];
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
        coords[axis] = wrapIndex(nested, nl, index, axisSize);
        return coords;
      })};
}

/// Pow: a base and an exponent of possibly different types (opset 12 and
/// later); the exponent is converted to the base's floating-point type.
FailureOr<SmallVector<Value>> lowerPow(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Type element = elementTypeOf((*operands)[0]);
  Type exponent = elementTypeOf((*operands)[1]);
  if (failed(checkComputable(node, element, /*floatOnly=*/true)) ||
      failed(checkComputable(node, exponent, /*floatOnly=*/false)))
    return failure();
  return single(broadcastGeneric(
      node, b, *operands, element,
      [&](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        Value e = args[1];
        if (isa<IntegerType>(exponent))
          e = nested.create<arith::SIToFPOp>(loc, element, e);
        else if (exponent.getIntOrFloatBitWidth() <
                 element.getIntOrFloatBitWidth())
          e = nested.create<arith::ExtFOp>(loc, element, e);
        else if (exponent != element)
          e = nested.create<arith::TruncFOp>(loc, element, e);
        return nested.create<math::PowFOp>(loc, args[0], e);
      }));
}

/// ArgMax / ArgMin: the int64 position of the largest (smallest) element
/// along `axis`, the first one unless select_last_index; keepdims keeps the
/// axis with size 1.
template <bool Max>
FailureOr<SmallVector<Value>> lowerArgExtreme(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0];
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

/// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) values
/// start, start + delta, ...
FailureOr<SmallVector<Value>> lowerRange(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 3);
  if (failed(operands))
    return failure();
  Type element = elementTypeOf((*operands)[0]);
  for (Value operand : *operands)
    if (cast<RankedTensorType>(operand.getType()).getRank() != 0 ||
        elementTypeOf(operand) != element)
      return node.emitError("Range needs three scalars of one type");
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  Location loc = node.getLoc();
  Value start = b.create<tensor::ExtractOp>(loc, (*operands)[0], ValueRange{});
  Value limit = b.create<tensor::ExtractOp>(loc, (*operands)[1], ValueRange{});
  Value delta = b.create<tensor::ExtractOp>(loc, (*operands)[2], ValueRange{});
  Value span = isFloat(element)
                   ? b.create<arith::SubFOp>(loc, limit, start).getResult()
                   : b.create<arith::SubIOp>(loc, limit, start).getResult();
  Value count;
  if (isFloat(element)) {
    Value steps = b.create<math::CeilOp>(
        loc, b.create<arith::DivFOp>(loc, span, delta));
    count = b.create<arith::FPToSIOp>(loc, b.getI64Type(), steps);
  } else {
    // ceil(span / delta): the truncated quotient, plus one when a remainder
    // has the sign of delta.
    Value quotient = b.create<arith::DivSIOp>(loc, span, delta);
    Value remainder = b.create<arith::RemSIOp>(loc, span, delta);
    Value zeroInt = zeroOf(b, loc, element);
    Value inexact = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne,
                                            remainder, zeroInt);
    Value sameSign = b.create<arith::CmpIOp>(
        loc, arith::CmpIPredicate::eq,
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sgt, remainder,
                                zeroInt),
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sgt, delta, zeroInt));
    Value up = b.create<arith::AndIOp>(loc, inexact, sameSign);
    count = b.create<arith::AddIOp>(
        loc, quotient,
        b.create<arith::SelectOp>(loc, up, oneOf(b, loc, element), zeroInt));
    if (element.getIntOrFloatBitWidth() < 64)
      count = b.create<arith::ExtSIOp>(loc, b.getI64Type(), count);
  }
  count = b.create<arith::MaxSIOp>(
      loc, count, b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(0)));
  Value size = b.create<arith::IndexCastOp>(loc, b.getIndexType(), count);
  Value init =
      b.create<tensor::EmptyOp>(loc, ArrayRef<OpFoldResult>{size}, element);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(1)},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &nested, Location nl, ValueRange) {
        Value i = nested.create<arith::IndexCastOp>(
            nl, nested.getI64Type(), nested.create<linalg::IndexOp>(nl, 0));
        Value value;
        if (isFloat(element)) {
          Value fi = nested.create<arith::SIToFPOp>(nl, element, i);
          value = nested.create<arith::AddFOp>(
              nl, start, nested.create<arith::MulFOp>(nl, fi, delta));
        } else {
          Value ii = i;
          if (element.getIntOrFloatBitWidth() < 64)
            ii = nested.create<arith::TruncIOp>(nl, element, i);
          value = nested.create<arith::AddIOp>(
              nl, start, nested.create<arith::MulIOp>(nl, ii, delta));
        }
        nested.create<linalg::YieldOp>(nl, value);
      });
  return SmallVector<Value>{generic.getResult(0)};
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
FailureOr<SmallVector<Value>> lowerNonZero(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 1);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0];
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
/// `batch` leading coordinates, then `m` (wrapped) values read from
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
    coords.push_back(wrapIndex(b, loc, raw, size));
  }
  return coords;
}

/// GatherND: out[i.., k..] = data[b.., indices[i.., :], k..] with `b` the
/// batch_dims leading coordinates of `i`.
FailureOr<SmallVector<Value>> lowerGatherND(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 2);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0], indices = (*operands)[1];
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
FailureOr<SmallVector<Value>> lowerScatterND(NodeOp node, OpBuilder &b) {
  FailureOr<SmallVector<Value>> operands = rankedInputs(node, 3);
  if (failed(operands))
    return failure();
  Value data = (*operands)[0], indices = (*operands)[1],
        updates = (*operands)[2];
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

/// The lowerings, by domain and op type, each with the opset it applies from.
const llvm::StringMap<SmallVector<Handler>> &handlers() {
  static const llvm::StringMap<SmallVector<Handler>> table = [] {
    llvm::StringMap<SmallVector<Handler>> t;
    auto add = [&](StringRef domain, StringRef op, int64_t since,
                   Lowering lower) {
      t[(domain + "::" + op).str()].push_back({since, lower});
    };
    // Binary arithmetic: multidirectional broadcasting since opset 7.
    add("", "Add", 7,
        lowerElementwise<arithmetic<arith::AddFOp, arith::AddIOp>, 2, false>);
    add("", "Sub", 7,
        lowerElementwise<arithmetic<arith::SubFOp, arith::SubIOp>, 2, false>);
    add("", "Mul", 7,
        lowerElementwise<arithmetic<arith::MulFOp, arith::MulIOp>, 2, false>);
    add("", "Div", 7,
        lowerElementwise<arithmetic<arith::DivFOp, arith::DivSIOp>, 2, false>);
    add("", "Max", 8,
        lowerElementwise<arithmetic<arith::MaximumFOp, arith::MaxSIOp>, 2,
                         false>);
    add("", "Min", 8,
        lowerElementwise<arithmetic<arith::MinimumFOp, arith::MinSIOp>, 2,
                         false>);
    add("", "Pow", 7, lowerElementwise<power, 2, true>);
    add("", "Pow", 12, lowerPow);
    add("", "Neg", 6, lowerElementwise<negate, 1, false>);
    add("", "Abs", 6, lowerElementwise<absolute, 1, false>);
    add("", "Exp", 6, lowerElementwise<unaryFloat<math::ExpOp>, 1, true>);
    add("", "Log", 6, lowerElementwise<unaryFloat<math::LogOp>, 1, true>);
    add("", "Sqrt", 6, lowerElementwise<unaryFloat<math::SqrtOp>, 1, true>);
    add("", "Tanh", 6, lowerElementwise<unaryFloat<math::TanhOp>, 1, true>);
    add("", "Erf", 9, lowerElementwise<unaryFloat<math::ErfOp>, 1, true>);
    add("", "Cos", 7, lowerElementwise<unaryFloat<math::CosOp>, 1, true>);
    add("", "Sin", 7, lowerElementwise<unaryFloat<math::SinOp>, 1, true>);
    add("", "Floor", 6, lowerElementwise<unaryFloat<math::FloorOp>, 1, true>);
    add("", "Ceil", 6, lowerElementwise<unaryFloat<math::CeilOp>, 1, true>);
    // ONNX rounds halves to even.
    add("", "Round", 11,
        lowerElementwise<unaryFloat<math::RoundEvenOp>, 1, true>);
    add("", "Sign", 9, lowerElementwise<sign, 1, false>);
    add("", "Softplus", 1, lowerElementwise<softplus, 1, true>);
    add("", "IsNaN", 9, lowerIsNaN);
    add("", "Mod", 10, lowerMod);
    add("", "CumSum", 11, lowerCumSum);
    add("", "Reciprocal", 6, lowerElementwise<reciprocal, 1, true>);
    add("", "Sigmoid", 6, lowerElementwise<sigmoid, 1, true>);
    add("", "Relu", 6, lowerElementwise<relu, 1, false>);
    add("", "Identity", 1, lowerIdentity);
    add("", "Constant", 9, lowerConstant);
    add("", "MatMul", 1, lowerMatMul);
    add("", "Softmax", 1, lowerSoftmax1);
    add("", "Softmax", 13, lowerSoftmax13);
    add("", "Transpose", 1, lowerTranspose);
    add("", "Unsqueeze", 1, lowerUnsqueeze);
    add("", "Squeeze", 1, lowerSqueeze);
    add("", "ReduceSum", 1, lowerReduce<ReduceKind::Sum>);
    add("", "ReduceMean", 1, lowerReduce<ReduceKind::Mean>);
    add("", "ReduceMax", 1, lowerReduce<ReduceKind::Max>);
    add("", "ReduceMin", 1, lowerReduce<ReduceKind::Min>);
    add("", "Equal", 11,
        lowerCompare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq>);
    add("", "Less", 9,
        lowerCompare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt>);
    add("", "LessOrEqual", 12,
        lowerCompare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle>);
    add("", "Greater", 9,
        lowerCompare<arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt>);
    add("", "GreaterOrEqual", 12,
        lowerCompare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge>);
    add("", "And", 7, lowerLogical<logical<arith::AndIOp>, 2>);
    add("", "Or", 7, lowerLogical<logical<arith::OrIOp>, 2>);
    add("", "Xor", 7, lowerLogical<logical<arith::XOrIOp>, 2>);
    add("", "Not", 1, lowerLogical<logicalNot, 1>);
    add("", "Where", 9, lowerWhere);
    add("", "Cast", 6, lowerCast);
    add("", "Clip", 6, lowerClip6);
    add("", "Clip", 11, lowerClip);
    add("", "Concat", 4, lowerConcat);
    add("", "Gather", 1, lowerGather);
    add("", "Shape", 1, lowerShape);
    add("", "ConstantOfShape", 9, lowerConstantOfShape);
    add("", "Expand", 8, lowerExpand);
    add("", "Reshape", 5, lowerReshape);
    add("", "Split", 2, lowerSplit);
    add("", "TopK", 10, lowerTopK);
    add("", "Slice", 10, lowerSlice);
    add("", "Gemm", 11, lowerGemm);
    add("", "GatherElements", 11, lowerGatherElements);
    add("", "OneHot", 9, lowerOneHot);
    add("", "ArgMax", 11, lowerArgExtreme<true>);
    add("", "ArgMin", 11, lowerArgExtreme<false>);
    add("", "Range", 11, lowerRange);
    add("", "NonZero", 9, lowerNonZero);
    add("", "GatherND", 11, lowerGatherND);
    add("", "ScatterND", 11, lowerScatterND);
    add("", "ScatterElements", 11, lowerScatterElements);
    add("", "LayerNormalization", 17, lowerNorm<false>);
    add("", "RMSNormalization", 23, lowerNorm<true>);
    // ONNX Runtime registers SimplifiedLayerNormalization in the default
    // domain; some exporters write it under com.microsoft.
    add("", "SimplifiedLayerNormalization", 1, lowerNorm<true>);
    add("com.microsoft", "SimplifiedLayerNormalization", 1, lowerNorm<true>);
    add("com.microsoft", "SkipSimplifiedLayerNormalization", 1,
        lowerSkipSimplifiedNorm);
    for (auto &entry : t)
      llvm::sort(entry.second, [](const Handler &a, const Handler &b) {
        return a.sinceVersion < b.sinceVersion;
      });
    return t;
  }();
  return table;
}

/// The handler for `node` at its opset, or an error saying what is supported.
FailureOr<Lowering> findHandler(NodeOp node) {
  StringRef domain = node.getDomainName();
  auto it = handlers().find((domain + "::" + node.getOpType()).str());
  std::string where = "node";
  if (std::optional<StringRef> name = node.getName())
    where += " '" + name->str() + "'";
  StringRef domainName = domain.empty() ? StringRef("ai.onnx") : domain;
  if (it == handlers().end()) {
    node.emitError() << where << ": ONNX op " << node.getOpType() << " (domain "
                     << domainName << ", opset " << node.getOpset()
                     << ") has no lowering";
    return failure();
  }
  const Handler *chosen = nullptr;
  for (const Handler &handler : it->second)
    if (handler.sinceVersion <= static_cast<int64_t>(node.getOpset()))
      chosen = &handler;
  if (!chosen) {
    node.emitError() << where << ": ONNX op " << node.getOpType() << " (domain "
                     << domainName << ") at opset " << node.getOpset()
                     << " is not supported; supported from opset "
                     << it->second.front().sinceVersion;
    return failure();
  }
  return chosen->lower;
}

class LegalizeOnnxPass
    : public ::moe::impl::MoELegalizeOnnxBase<LegalizeOnnxPass> {
public:
  using MoELegalizeOnnxBase::MoELegalizeOnnxBase;

  void runOnOperation() override {
    // Check every node first: one error per unsupported node, nothing
    // rewritten.
    SmallVector<std::pair<NodeOp, Lowering>> work;
    bool supported = true;
    getOperation().walk([&](NodeOp node) {
      FailureOr<Lowering> lowering = findHandler(node);
      if (failed(lowering))
        supported = false;
      else
        work.push_back({node, *lowering});
    });
    if (!supported)
      return signalPassFailure();

    OpBuilder builder(&getContext());
    for (auto [node, lower] : work) {
      builder.setInsertionPoint(node);
      FailureOr<SmallVector<Value>> results = lower(node, builder);
      if (failed(results))
        return signalPassFailure();
      for (auto [old, computed] : llvm::zip(node.getResults(), *results)) {
        // Outputs a handler does not produce are unused (the handler checked).
        if (!computed)
          continue;
        Value replacement = computed;
        if (replacement.getType() != old.getType()) {
          if (!tensor::CastOp::areCastCompatible(replacement.getType(),
                                                 old.getType())) {
            node.emitError()
                << "lowering " << node.getOpType() << " computed "
                << replacement.getType()
                << ", which does not match the imported type " << old.getType();
            return signalPassFailure();
          }
          replacement = builder.create<tensor::CastOp>(
              node.getLoc(), old.getType(), replacement);
        }
        old.replaceAllUsesWith(replacement);
      }
      node.erase();
    }
    // Imported onnx.none values have no users left.
    getOperation().walk([](mlir::onnx::NoneOp none) {
      if (none->use_empty())
        none.erase();
    });
  }
};

} // namespace
