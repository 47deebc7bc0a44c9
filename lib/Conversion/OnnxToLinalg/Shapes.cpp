//===- Shapes.cpp - shape onnx.node lowerings -----------------------------===//
//
// Reshape, Expand, Squeeze and Unsqueeze, Transpose, Concat, Split, Slice,
// Shape, ConstantOfShape, Range, Identity and Constant: ops that move elements
// or compute shapes rather than values.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineMap.h"

#include <algorithm>
#include <limits>

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

FailureOr<SmallVector<Value>> lowerIdentity(NodeOp node, RewriterBase &) {
  Value value = input(node, 0);
  if (!value)
    return node.emitError("Identity needs an input");
  return SmallVector<Value>{value};
}

/// Dropout at inference: the input itself, and a mask of all true when its
/// second output is used. Training mode (a true `training_mode`, or one not
/// known while compiling) is refused.
FailureOr<SmallVector<Value>> lowerDropout(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(1, operands))
    return failure();
  if (Value training = input(node, 2)) {
    std::optional<SmallVector<int64_t>> mode = constInts(training);
    if (!mode || mode->size() != 1 || (*mode)[0] != 0)
      return node.emitError("Dropout in training mode is not supported; only "
                            "inference (training_mode false) is");
  }
  Value x = operands[0];
  SmallVector<Value> results{x};
  if (node.getNumResults() > 1 && !node.getResult(1).use_empty()) {
    Location loc = node.getLoc();
    Value init = b.create<tensor::EmptyOp>(
        loc, tensor::getMixedSizes(b, loc, x), b.getI1Type());
    results.push_back(
        b.create<linalg::FillOp>(
             loc, b.create<arith::ConstantIntOp>(loc, 1, 1).getResult(), init)
            .getResult(0));
  }
  results.resize(node.getNumResults());
  return results;
}

/// Size: the number of elements, as an i64 scalar.
FailureOr<SmallVector<Value>> lowerSize(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  Location loc = node.getLoc();
  Value count = b.create<arith::ConstantIndexOp>(loc, 1);
  for (int64_t d = 0; d < cast<RankedTensorType>(x.getType()).getRank(); ++d)
    count = b.create<arith::MulIOp>(
        loc, count,
        getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d)));
  return SmallVector<Value>{b.create<tensor::FromElementsOp>(
      loc, RankedTensorType::get({}, b.getI64Type()),
      ValueRange{b.create<arith::IndexCastOp>(loc, b.getI64Type(), count)})};
}

/// Flatten: the dimensions before `axis` (default 1) and those from it on
/// become the two dimensions of the result.
FailureOr<SmallVector<Value>> lowerFlatten(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  int64_t axis = intAttr(node, "axis", 1);
  if (axis < -rank || axis > rank)
    return node.emitError() << "Flatten axis " << axis
                            << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  Location loc = node.getLoc();
  auto element = elementTypeOf(x);
  if (rank == 0)
    return SmallVector<Value>{b.create<tensor::ExpandShapeOp>(
        loc, RankedTensorType::get({1, 1}, element), x,
        ArrayRef<ReassociationIndices>{})};
  if (rank == 2 && axis == 1)
    return SmallVector<Value>{x};
  if (axis > 0 && axis < rank) {
    SmallVector<ReassociationIndices> groups{
        llvm::to_vector(llvm::seq<int64_t>(0, axis)),
        llvm::to_vector(llvm::seq<int64_t>(axis, rank))};
    return SmallVector<Value>{
        b.create<tensor::CollapseShapeOp>(loc, x, groups).getResult()};
  }
  // Everything on one side: one dimension, and a unit one for the empty side.
  Value flat = x;
  if (rank > 1)
    flat = b.create<tensor::CollapseShapeOp>(
        loc, x,
        ArrayRef<ReassociationIndices>{
            llvm::to_vector(llvm::seq<int64_t>(0, rank))});
  int64_t size = cast<RankedTensorType>(flat.getType()).getDimSize(0);
  SmallVector<int64_t> shape = axis == 0 ? SmallVector<int64_t>{1, size}
                                         : SmallVector<int64_t>{size, 1};
  return SmallVector<Value>{
      expandUnitDims(b, loc, flat, shape, {axis == 0 ? 0 : 1})};
}

FailureOr<SmallVector<Value>> lowerConstant(NodeOp node, RewriterBase &b) {
  Attribute value = node.getOnnxAttr("value");
  Location loc = node.getLoc();
  // Unsigned integers are computed on as signless ones.
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(value))
    value = dense.bitcast(signlessOf(dense.getElementType()));
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

FailureOr<SmallVector<Value>> lowerTranspose(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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

/// Unsqueeze: axes (attribute before opset 13, input since) index the result.
FailureOr<SmallVector<Value>> lowerUnsqueeze(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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
FailureOr<SmallVector<Value>> lowerSqueeze(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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

/// Concat along `axis`: each input inserted into its slice of the result
/// (tensor.concat would need decomposing before bufferization).
FailureOr<SmallVector<Value>> lowerConcat(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).allTensors(operands))
    return failure();
  if (operands.empty())
    return node.emitError("Concat needs at least one input");
  int64_t rank = cast<RankedTensorType>(operands[0].getType()).getRank();
  int64_t axis = intAttr(node, "axis", 0);
  if (axis < -rank || axis >= rank)
    return node.emitError()
           << "Concat axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  for (Value operand : operands) {
    auto type = cast<RankedTensorType>(operand.getType());
    if (type.getRank() != rank ||
        type.getElementType() != elementTypeOf(operands[0]))
      return node.emitError("Concat inputs must share rank and element type");
  }
  if (operands.size() == 1)
    return SmallVector<Value>{operands[0]};
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(b, loc, operands[0]);
  SmallVector<OpFoldResult> offsets;
  AffineExpr s0, s1;
  bindSymbols(b.getContext(), s0, s1);
  OpFoldResult total = b.getIndexAttr(0);
  for (Value operand : operands) {
    offsets.push_back(total);
    total = affine::makeComposedFoldedAffineApply(
        b, loc, s0 + s1, {total, dimOf(b, loc, operand, axis)});
  }
  sizes[axis] = total;
  Value result =
      b.create<tensor::EmptyOp>(loc, sizes, elementTypeOf(operands[0]));
  for (auto [operand, offset] : llvm::zip(operands, offsets)) {
    SmallVector<OpFoldResult> at(rank, b.getIndexAttr(0));
    at[axis] = offset;
    result = b.create<tensor::InsertSliceOp>(
        loc, operand, result, at, tensor::getMixedSizes(b, loc, operand),
        SmallVector<OpFoldResult>(rank, b.getIndexAttr(1)));
  }
  return SmallVector<Value>{result};
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
FailureOr<SmallVector<Value>> lowerShape(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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
FailureOr<SmallVector<Value>> lowerConstantOfShape(NodeOp node, RewriterBase &b) {
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
    value = value.bitcast(signlessOf(value.getElementType()));
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
FailureOr<SmallVector<Value>> lowerExpand(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  FailureOr<SmallVector<OpFoldResult>> shape =
      shapeValues(node, b, operands[1]);
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
FailureOr<SmallVector<Value>> lowerRuntimeReshape(NodeOp node, RewriterBase &b,
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
FailureOr<SmallVector<Value>> lowerReshape(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  auto type = cast<RankedTensorType>(x.getType());
  std::optional<SmallVector<int64_t>> shape = constInts(operands[1]);
  if (!shape)
    return lowerRuntimeReshape(node, b, x, operands[1]);
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
FailureOr<SmallVector<Value>> lowerSplit(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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

/// Slice with constant starts, ends, axes and steps (opset 10 and later),
/// clamped as ONNX specifies; only positive steps.
FailureOr<SmallVector<Value>> lowerSlice(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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

/// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) values
/// start, start + delta, ...
FailureOr<SmallVector<Value>> lowerRange(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(3, operands))
    return failure();
  Type element = elementTypeOf(operands[0]);
  for (Value operand : operands)
    if (cast<RankedTensorType>(operand.getType()).getRank() != 0 ||
        elementTypeOf(operand) != element)
      return node.emitError("Range needs three scalars of one type");
  if (failed(checkComputable(node, element, /*floatOnly=*/false)))
    return failure();
  Location loc = node.getLoc();
  Value start = b.create<tensor::ExtractOp>(loc, operands[0], ValueRange{});
  Value limit = b.create<tensor::ExtractOp>(loc, operands[1], ValueRange{});
  Value delta = b.create<tensor::ExtractOp>(loc, operands[2], ValueRange{});
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

/// Tile: the input repeated `repeats[d]` times along each dimension d.
FailureOr<SmallVector<Value>> lowerTile(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  FailureOr<SmallVector<OpFoldResult>> repeats =
      shapeValues(node, b, operands[1]);
  if (failed(repeats))
    return failure();
  if (static_cast<int64_t>(repeats->size()) != rank)
    return node.emitError() << "Tile needs one repeat per dimension of its "
                            << rank << "-D input, got " << repeats->size();
  Location loc = node.getLoc();
  SmallVector<OpFoldResult> sizes;
  SmallVector<Value> inputSizes;
  for (int64_t d = 0; d < rank; ++d) {
    Value size = getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d));
    inputSizes.push_back(size);
    std::optional<int64_t> staticSize = getConstantIntValue(dimOf(b, loc, x, d));
    std::optional<int64_t> staticRepeat = getConstantIntValue((*repeats)[d]);
    if (staticSize && staticRepeat) {
      if (*staticRepeat < 0)
        return node.emitError() << "Tile repeat " << *staticRepeat
                                << " of dimension " << d << " is negative";
      sizes.push_back(b.getIndexAttr(*staticSize * *staticRepeat));
    } else {
      // A negative repeat read at run time tiles nothing.
      Value repeat = b.create<arith::MaxSIOp>(
          loc, getValueOrCreateConstantIndexOp(b, loc, (*repeats)[d]),
          b.create<arith::ConstantIndexOp>(loc, 0));
      sizes.push_back(b.create<arith::MulIOp>(loc, size, repeat).getResult());
    }
  }
  Type element = elementTypeOf(x);
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nl, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t d = 0; d < rank; ++d)
          coords.push_back(nb.create<arith::RemUIOp>(
              nl, nb.create<linalg::IndexOp>(nl, d), inputSizes[d]));
        nb.create<linalg::YieldOp>(
            nl, nb.create<tensor::ExtractOp>(nl, x, coords).getResult());
      });
  return SmallVector<Value>{generic.getResult(0)};
}

/// Pad (opset 11 on: pads, and axes since 18, as inputs): out[i] reads
/// in[i - begin] where that lies inside the input, else the constant value
/// (mode constant), the nearest edge element (edge), the mirror image without
/// the edge (reflect) or the other end (wrap). Negative pads crop.
FailureOr<SmallVector<Value>> lowerPad(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Value x = operands[0];
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  Type element = type.getElementType();
  StringRef mode = stringAttr(node, "mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect" &&
      mode != "wrap")
    return node.emitError() << "Pad mode '" << mode
                            << "' is not constant, edge, reflect or wrap";
  FailureOr<SmallVector<OpFoldResult>> pads =
      shapeValues(node, b, operands[1]);
  if (failed(pads))
    return failure();
  SmallVector<int64_t> axes;
  if (Value axesInput = input(node, 3)) {
    std::optional<SmallVector<int64_t>> constant = constInts(axesInput);
    if (!constant)
      return node.emitError("Pad axes must be constant");
    axes = *constant;
    if (failed(normalizeAxes(node, axes, rank)))
      return failure();
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  if (pads->size() != 2 * axes.size())
    return node.emitError() << "Pad needs " << 2 * axes.size()
                            << " pads (begin and end per axis), got "
                            << pads->size();
  Location loc = node.getLoc();
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  SmallVector<Value> begin(rank, zero), end(rank, zero), inSizes;
  for (auto [i, axis] : llvm::enumerate(axes)) {
    begin[axis] = getValueOrCreateConstantIndexOp(b, loc, (*pads)[i]);
    end[axis] =
        getValueOrCreateConstantIndexOp(b, loc, (*pads)[i + axes.size()]);
  }
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    Value size = getValueOrCreateConstantIndexOp(b, loc, dimOf(b, loc, x, d));
    inSizes.push_back(size);
    std::optional<int64_t> known = getConstantIntValue(size),
                           first = getConstantIntValue(begin[d]),
                           last = getConstantIntValue(end[d]);
    if (known && first && last) {
      if (*known + *first + *last < 0)
        return node.emitError() << "Pad crops dimension " << d << " of size "
                                << *known << " below zero";
      sizes.push_back(b.getIndexAttr(*known + *first + *last));
      continue;
    }
    // A crop past the input's size at run time gives an empty dimension.
    sizes.push_back(
        b.create<arith::MaxSIOp>(
             loc, zero,
             b.create<arith::AddIOp>(
                 loc, size, b.create<arith::AddIOp>(loc, begin[d], end[d])))
            .getResult());
  }
  Value fill = zeroOf(b, loc, element);
  if (Value constant = input(node, 2)) {
    if (!isOneElement(constant) || elementTypeOf(constant) != element)
      return node.emitError(
          "Pad constant_value must be one element of the data's type");
    fill = extractOne(b, loc, constant);
  }
  Value init = b.create<tensor::EmptyOp>(loc, sizes, element);
  auto generic = b.create<linalg::GenericOp>(
      loc, init.getType(), ValueRange{}, ValueRange{init},
      ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nl, ValueRange) {
        Value inside = nb.create<arith::ConstantIntOp>(nl, 1, 1);
        SmallVector<Value> coords;
        Value one = nb.create<arith::ConstantIndexOp>(nl, 1);
        for (int64_t d = 0; d < rank; ++d) {
          Value n = inSizes[d];
          Value i = nb.create<arith::SubIOp>(
              nl, nb.create<linalg::IndexOp>(nl, d), begin[d]);
          Value last = nb.create<arith::SubIOp>(nl, n, one);
          if (mode == "reflect") {
            // -i before the start, 2 (n - 1) - i past the end.
            Value before =
                nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, i, zero);
            i = nb.create<arith::SelectOp>(
                nl, before, nb.create<arith::SubIOp>(nl, zero, i), i);
            Value after =
                nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sgt, i, last);
            i = nb.create<arith::SelectOp>(
                nl, after,
                nb.create<arith::SubIOp>(
                    nl, nb.create<arith::AddIOp>(nl, last, last), i),
                i);
          } else if (mode == "wrap") {
            // (An empty dimension divides by 1; nothing is read from it.)
            Value safe = nb.create<arith::MaxSIOp>(nl, n, one);
            Value r = nb.create<arith::RemSIOp>(nl, i, safe);
            Value negative =
                nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, r, zero);
            i = nb.create<arith::SelectOp>(
                nl, negative, nb.create<arith::AddIOp>(nl, r, safe), r);
          } else if (mode == "constant") {
            inside = nb.create<arith::AndIOp>(
                nl, inside,
                nb.create<arith::AndIOp>(
                    nl,
                    nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sge, i,
                                             zero),
                    nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::slt, i,
                                             n)));
          }
          if (mode != "constant")
            // An empty input has no element to repeat: the fill stands in.
            inside = nb.create<arith::AndIOp>(
                nl, inside,
                nb.create<arith::CmpIOp>(nl, arith::CmpIPredicate::sgt, n,
                                         zero));
          // Every read stays inside (a reflection wider than the input reads
          // its nearest element).
          coords.push_back(nb.create<arith::MaxSIOp>(
              nl, zero, nb.create<arith::MinSIOp>(nl, i, last)));
        }
        auto guarded = nb.create<scf::IfOp>(
            nl, inside,
            [&](OpBuilder &tb, Location tl) {
              tb.create<scf::YieldOp>(
                  tl, tb.create<tensor::ExtractOp>(tl, x, coords).getResult());
            },
            [&](OpBuilder &eb, Location el) {
              eb.create<scf::YieldOp>(el, fill);
            });
        nb.create<linalg::YieldOp>(nl, guarded.getResult(0));
      });
  return SmallVector<Value>{generic.getResult(0)};
}

} // namespace

void moe::onnx_to_linalg::registerShapeLowerings(HandlerTable &table) {
  table.add("", "Identity", 1, lowerIdentity);
  table.add("", "Dropout", 7, lowerDropout);
  table.add("", "Size", 1, lowerSize);
  table.add("", "Flatten", 1, lowerFlatten);
  table.add("", "Tile", 6, lowerTile);
  table.add("", "Pad", 11, lowerPad);
  table.add("", "Constant", 9, lowerConstant);
  table.add("", "Transpose", 1, lowerTranspose);
  table.add("", "Unsqueeze", 1, lowerUnsqueeze);
  table.add("", "Squeeze", 1, lowerSqueeze);
  table.add("", "Concat", 4, lowerConcat);
  table.add("", "Shape", 1, lowerShape);
  table.add("", "ConstantOfShape", 9, lowerConstantOfShape);
  table.add("", "Expand", 8, lowerExpand);
  table.add("", "Reshape", 5, lowerReshape);
  table.add("", "Split", 2, lowerSplit);
  table.add("", "Slice", 10, lowerSlice);
  table.add("", "Range", 11, lowerRange);
}
