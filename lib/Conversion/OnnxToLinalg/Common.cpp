//===- Common.cpp - what the onnx.node lowerings share --------------------===//
//
// Reading a node's inputs, ONNX multidirectional broadcasting (static and
// decided as the model runs), scalar constants and axis lists, for every op
// family.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "mlir/IR/TypeUtilities.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace ::moe::match;

namespace moe::onnx_to_linalg {

void HandlerTable::add(StringRef domain, StringRef op, int64_t since,
                       Lowering lower) {
  (*this)[(domain + "::" + op).str()].push_back({since, lower});
}

FailureOr<SmallVector<Value>> single(FailureOr<Value> value) {
  if (failed(value))
    return failure();
  return SmallVector<Value>{*value};
}

ParseResult Binder::tensor(unsigned index, Value &value) {
  value = input(node, index);
  if (value && isa<RankedTensorType>(value.getType()))
    return success();
  return node.emitError() << "input " << index << " of " << node.getOpType()
                          << " must be a ranked tensor";
}

ParseResult Binder::first(unsigned count, SmallVectorImpl<Value> &values) {
  values.resize(count);
  for (auto [index, value] : llvm::enumerate(values))
    if (failed(tensor(index, value)))
      return failure();
  return success();
}

ParseResult Binder::computable(unsigned index, Value &value, bool floatOnly) {
  if (failed(tensor(index, value)))
    return failure();
  return checkComputable(node, elementTypeOf(value), floatOnly);
}

Type elementTypeOf(Value value) {
  return cast<ShapedType>(value.getType()).getElementType();
}

OpFoldResult dimOf(OpBuilder &b, Location loc, Value value, int64_t dim) {
  int64_t size = cast<ShapedType>(value.getType()).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return b.getIndexAttr(size);
  return b.create<tensor::DimOp>(loc, value, dim).getResult();
}

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

bool isFloat(Type type) { return isa<FloatType>(type); }

bool isOneElement(Value value) {
  auto type = dyn_cast_or_null<RankedTensorType>(value ? value.getType()
                                                        : Type());
  return type && type.hasStaticShape() && type.getNumElements() == 1;
}

Value extractOne(OpBuilder &b, Location loc, Value value) {
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  return b.create<tensor::ExtractOp>(
      loc, value,
      SmallVector<Value>(cast<RankedTensorType>(value.getType()).getRank(),
                         zero));
}

Value zeroOf(OpBuilder &b, Location loc, Type type) {
  return b.create<arith::ConstantOp>(loc, b.getZeroAttr(signlessOf(type)));
}
Value oneOf(OpBuilder &b, Location loc, Type type) {
  type = signlessOf(type);
  TypedAttr one = isFloat(type) ? TypedAttr(b.getFloatAttr(type, 1.0))
                                : TypedAttr(b.getIntegerAttr(type, 1));
  return b.create<arith::ConstantOp>(loc, one);
}

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

Value expandUnitDims(OpBuilder &b, Location loc, Value x,
                     ArrayRef<int64_t> resultShape,
                     ArrayRef<int64_t> unitDims) {
  auto type = RankedTensorType::get(resultShape, elementTypeOf(x));
  return b.create<tensor::ExpandShapeOp>(
      loc, type, x,
      unitDimGroups(static_cast<int64_t>(resultShape.size()), unitDims));
}

} // namespace moe::onnx_to_linalg

bool moe::onnx_to_linalg::isUnsignedInput(NodeOp node, unsigned index) {
  auto flags = node->getAttrOfType<DenseBoolArrayAttr>(kUnsignedInputs);
  return flags && index < flags.size() && flags[index];
}

Type moe::onnx_to_linalg::modelElementType(NodeOp node, unsigned index) {
  Type element = getElementTypeOrSelf(node->getOperand(index).getType());
  if (isUnsignedInput(node, index))
    return IntegerType::get(node.getContext(), element.getIntOrFloatBitWidth(),
                            IntegerType::Unsigned);
  return element;
}

Type moe::onnx_to_linalg::signlessOf(Type type) {
  if (type.isUnsignedInteger())
    return IntegerType::get(type.getContext(), type.getIntOrFloatBitWidth());
  return type;
}

arith::CmpIPredicate
moe::onnx_to_linalg::unsignedPredicate(arith::CmpIPredicate predicate) {
  switch (predicate) {
  case arith::CmpIPredicate::slt:
    return arith::CmpIPredicate::ult;
  case arith::CmpIPredicate::sle:
    return arith::CmpIPredicate::ule;
  case arith::CmpIPredicate::sgt:
    return arith::CmpIPredicate::ugt;
  case arith::CmpIPredicate::sge:
    return arith::CmpIPredicate::uge;
  default:
    return predicate;
  }
}
