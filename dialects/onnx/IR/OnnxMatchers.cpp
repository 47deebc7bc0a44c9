//===- OnnxMatchers.cpp - reading imported ONNX graphs --------------------===//

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <climits>

#include <cstdio>
#include <cstdlib>

using namespace mlir;

namespace moe::match {

NodeOp node(Value value, StringRef opType) {
  auto op = value ? value.getDefiningOp<NodeOp>() : NodeOp();
  if (!op || op.getOpType() != opType || !op.getDomainName().empty())
    return NodeOp();
  return op;
}

Value input(NodeOp node, unsigned index) {
  if (index >= node.getInputs().size())
    return Value();
  Value value = node.getInputs()[index];
  return isa<NoneType>(value.getType()) ? Value() : value;
}

int64_t intAttr(NodeOp node, StringRef name, int64_t fallback) {
  if (auto attr = dyn_cast_or_null<IntegerAttr>(node.getOnnxAttr(name)))
    return attr.getValue().getSExtValue();
  return fallback;
}

double fromSingle(float value) {
  for (int digits = 1; digits < 9; ++digits) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    double shortest = std::strtod(text, nullptr);
    if (static_cast<float>(shortest) == value)
      return shortest;
  }
  return value;
}

double floatAttr(NodeOp node, StringRef name, double fallback) {
  if (auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr(name)))
    return attr.getType().isF32()
               ? fromSingle(static_cast<float>(attr.getValueAsDouble()))
               : attr.getValueAsDouble();
  return fallback;
}

StringRef stringAttr(NodeOp node, StringRef name, StringRef fallback) {
  if (auto attr = dyn_cast_or_null<StringAttr>(node.getOnnxAttr(name)))
    return attr.getValue();
  return fallback;
}

std::optional<SmallVector<int64_t>> intsAttr(NodeOp node, StringRef name) {
  auto list = dyn_cast_or_null<ArrayAttr>(node.getOnnxAttr(name));
  if (!list)
    return std::nullopt;
  SmallVector<int64_t> out;
  for (Attribute item : list) {
    auto value = dyn_cast<IntegerAttr>(item);
    if (!value)
      return std::nullopt;
    out.push_back(value.getValue().getSExtValue());
  }
  return out;
}

bool isZeroFill(NodeOp node) {
  if (!node || node.getOpType() != "ConstantOfShape")
    return false;
  // Without a value attribute ConstantOfShape fills with float zeros.
  auto value = dyn_cast_or_null<DenseElementsAttr>(node.getOnnxAttr("value"));
  if (!value)
    return !node.getOnnxAttr("value");
  if (!value.isSplat())
    return false;
  if (auto floats = dyn_cast<DenseFPElementsAttr>(value))
    return floats.getSplatValue<APFloat>().isZero();
  return value.getSplatValue<APInt>().isZero();
}

/// The elements of a constant value, from either spelling of a constant.
static ElementsAttr constElements(Value value) {
  if (!value)
    return ElementsAttr();
  if (auto constant = value.getDefiningOp<arith::ConstantOp>())
    return dyn_cast<ElementsAttr>(constant.getValue());
  if (NodeOp op = node(value, "Constant"))
    return dyn_cast_or_null<ElementsAttr>(op.getOnnxAttr("value"));
  return ElementsAttr();
}

Type joinTensorTypes(Type a, Type b) {
  if (!a || !b)
    return Type();
  if (a == b)
    return a;
  auto ra = dyn_cast<RankedTensorType>(a), rb = dyn_cast<RankedTensorType>(b);
  if (!ra || !rb || ra.getRank() != rb.getRank() ||
      ra.getElementType() != rb.getElementType())
    return Type();
  SmallVector<int64_t> shape;
  for (auto [x, y] : llvm::zip(ra.getShape(), rb.getShape()))
    shape.push_back(x == y ? x : ShapedType::kDynamic);
  return RankedTensorType::get(shape, ra.getElementType());
}

std::optional<SmallVector<int64_t>> constInts(Value value) {
  if (NodeOp op = node(value, "Constant")) {
    if (auto ints = dyn_cast_or_null<ArrayAttr>(op.getOnnxAttr("value_ints"))) {
      SmallVector<int64_t> out;
      for (Attribute item : ints)
        out.push_back(cast<IntegerAttr>(item).getValue().getSExtValue());
      return out;
    }
    if (auto one = dyn_cast_or_null<IntegerAttr>(op.getOnnxAttr("value_int")))
      return SmallVector<int64_t>{one.getValue().getSExtValue()};
  }
  auto dense = dyn_cast_or_null<DenseIntElementsAttr>(constElements(value));
  if (!dense)
    return std::nullopt;
  SmallVector<int64_t> out;
  for (const APInt &item : dense)
    out.push_back(item.getSExtValue());
  return out;
}

std::optional<double> constFloat(Value value) {
  if (NodeOp op = node(value, "Constant"))
    if (op.getOnnxAttr("value_float"))
      return floatAttr(op, "value_float", 0.0);
  auto dense = dyn_cast_or_null<DenseFPElementsAttr>(constElements(value));
  if (!dense || dense.getNumElements() != 1)
    return std::nullopt;
  APFloat element = *dense.begin();
  return dense.getElementType().isF32() ? fromSingle(element.convertToFloat())
                                        : element.convertToDouble();
}

std::optional<SmallVector<int64_t>> axes(NodeOp node, int64_t rank) {
  std::optional<SmallVector<int64_t>> raw;
  if (Value axesInput = input(node, 1))
    raw = constInts(axesInput);
  else
    raw = intsAttr(node, "axes");
  if (!raw || rank < 0)
    return std::nullopt;
  for (int64_t &axis : *raw)
    if (axis < 0)
      axis += rank;
  return raw;
}

std::optional<int64_t> evalIntBinary(NodeOp node, int64_t a, int64_t b) {
  StringRef op = node.getOpType();
  int64_t r;
  if (op == "Add")
    return llvm::AddOverflow(a, b, r) ? std::nullopt : std::optional(r);
  if (op == "Sub")
    return llvm::SubOverflow(a, b, r) ? std::nullopt : std::optional(r);
  if (op == "Mul")
    return llvm::MulOverflow(a, b, r) ? std::nullopt : std::optional(r);
  if (op == "Div" || op == "Mod") {
    if (b == 0 || (b == -1 && a == INT64_MIN))
      return std::nullopt;
    if (op == "Div")
      return a / b; // ONNX integer Div truncates, as C++ does.
    // fmod = 0: the result takes the divisor's sign, as Python's %.
    r = a % b;
    if (intAttr(node, "fmod", 0) == 0 && r != 0 && ((r < 0) != (b < 0)))
      r += b;
    return r;
  }
  if (op == "Max")
    return std::max(a, b);
  if (op == "Min")
    return std::min(a, b);
  if (op == "Less")
    return int64_t(a < b);
  if (op == "Equal")
    return int64_t(a == b);
  if (op == "And")
    return int64_t(a && b);
  if (op == "Or")
    return int64_t(a || b);
  return std::nullopt;
}

std::optional<int64_t> staticElementCount(ArrayRef<int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape)
    if (ShapedType::isDynamic(d) || llvm::MulOverflow(count, d, count))
      return std::nullopt;
  return count;
}

int64_t rankOf(Value value) {
  auto type = value ? dyn_cast<RankedTensorType>(value.getType()) : nullptr;
  return type ? type.getRank() : -1;
}

bool isAxis(int64_t axis, int64_t dim, int64_t rank) {
  return rank >= 0 && (axis == dim || axis + rank == dim);
}

NodeOp createNodeLike(mlir::OpBuilder &builder, NodeOp like,
                      llvm::StringRef opType, mlir::ValueRange inputs,
                      mlir::Type resultType,
                      llvm::ArrayRef<mlir::NamedAttribute> attributes) {
  mlir::OperationState state(like.getLoc(), NodeOp::getOperationName());
  state.addOperands(inputs);
  state.addTypes(resultType);
  state.addAttribute("op_type", builder.getStringAttr(opType));
  state.addAttribute("opset", like.getOpsetAttr());
  if (like.getNameAttr())
    state.addAttribute("name", like.getNameAttr());
  if (!attributes.empty())
    state.addAttribute("node_attributes", builder.getDictionaryAttr(attributes));
  return llvm::cast<NodeOp>(builder.create(state));
}

} // namespace moe::match
