//===- Elementwise.cpp - elementwise onnx.node lowerings ------------------===//
//
// Arithmetic, unary math, activations, comparisons, logic, Where, Cast and
// Clip: one linalg.generic over the broadcast inputs, one scalar computed per
// element.
//
//===----------------------------------------------------------------------===//

#include "Common.h"

#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace ::moe::match;
using namespace ::moe::onnx_to_linalg;

namespace {

/// Computes one scalar of an elementwise op from the operands' scalars.
using ScalarFn = Value (*)(OpBuilder &b, Location loc, Type type,
                           ValueRange args);

/// An elementwise op over `count` broadcast inputs of one element type, `fn`
/// per element; the result has `resultElement`, or the inputs' element type
/// when null.
FailureOr<SmallVector<Value>> elementwise(NodeOp node, OpBuilder &b,
                                          unsigned count, ScalarFn fn,
                                          bool floatOnly,
                                          Type resultElement = nullptr) {
  // A count of 0 takes every input (the variadic Sum, Max, Min and Mean).
  if (count == 0) {
    count = node.getInputs().size();
    if (count == 0)
      return node.emitError() << node.getOpType() << " needs an input";
  }
  SmallVector<Value> operands;
  if (Binder(node).first(count, operands))
    return failure();
  Type element = elementTypeOf(operands[0]);
  for (Value operand : operands)
    if (elementTypeOf(operand) != element)
      return node.emitError()
             << node.getOpType() << " inputs must share an element type, got "
             << element << " and " << elementTypeOf(operand);
  if (failed(checkComputable(node, element, floatOnly)))
    return failure();
  // The scalar functions see unsigned inputs' type, to pick unsigned ops.
  Type computed = modelElementType(node, 0);
  return single(broadcastGeneric(
      node, b, operands, resultElement ? resultElement : element,
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        return fn(nested, loc, computed, args);
      }));
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
  if (type.isUnsignedInteger())
    return args[0];
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
  if (type.isUnsignedInteger())
    return args[0];
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
  if (type.isUnsignedInteger())
    return b.create<arith::SelectOp>(
        loc,
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, args[0], zero),
        one, zero);
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
  if (type.isUnsignedInteger())
    return b.create<arith::RemUIOp>(loc, args[0], args[1]);
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
  return arithmetic<arith::RemFOp, arith::RemSIOp, arith::RemUIOp>(b, loc, type,
                                                                   args);
}

template <ScalarFn Fn, unsigned Count, bool FloatOnly>
FailureOr<SmallVector<Value>> lowerElementwise(NodeOp node, RewriterBase &b) {
  return elementwise(node, b, Count, Fn, FloatOnly);
}

/// IsNaN: a boolean per element.
FailureOr<SmallVector<Value>> lowerIsNaN(NodeOp node, RewriterBase &b) {
  return elementwise(node, b, 1, isNaN, /*floatOnly=*/true, b.getI1Type());
}

/// IsInf: a boolean per element, for +inf and -inf as `detect_positive` and
/// `detect_negative` ask (both by default).
FailureOr<SmallVector<Value>> lowerIsInf(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).computable(0, x, /*floatOnly=*/true))
    return failure();
  Type element = elementTypeOf(x);
  bool positive = intAttr(node, "detect_positive", 1) != 0;
  bool negative = intAttr(node, "detect_negative", 1) != 0;
  auto semantics = &cast<FloatType>(element).getFloatSemantics();
  return single(broadcastGeneric(
      node, b, ValueRange{x}, b.getI1Type(),
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        Value found = nb.create<arith::ConstantIntOp>(loc, 0, 1);
        for (auto [detect, sign] : {std::pair{positive, false},
                                    std::pair{negative, true}}) {
          if (!detect)
            continue;
          Value inf = nb.create<arith::ConstantOp>(
              loc, nb.getFloatAttr(element, APFloat::getInf(*semantics, sign)));
          found = nb.create<arith::OrIOp>(
              loc, found,
              nb.create<arith::CmpFOp>(loc, arith::CmpFPredicate::OEQ, args[0],
                                       inf));
        }
        return found;
      }));
}

/// The variadic Sum, Max and Min: `Op` folded over every operand.
template <typename FloatOp, typename IntOp, typename UIntOp = IntOp>
Value foldAll(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value result = args[0];
  for (Value arg : args.drop_front())
    result = arithmetic<FloatOp, IntOp, UIntOp>(b, loc, type, {result, arg});
  return result;
}

/// Mean: the sum divided by the number of operands.
Value meanAll(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value sum = foldAll<arith::AddFOp, arith::AddIOp>(b, loc, type, args);
  return b.create<arith::DivFOp>(
      loc, sum,
      b.create<arith::ConstantOp>(
          loc, b.getFloatAttr(type, static_cast<double>(args.size()))));
}

/// x * Phi(x) with the exact normal CDF, 0.5 * x * (1 + erf(x / sqrt(2))), or
/// with `tanh` its approximation 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x +
/// 0.044715 x^3))).
Value gelu(OpBuilder &b, Location loc, Type type, Value x, bool tanh) {
  auto constant = [&](double v) {
    return b.create<arith::ConstantOp>(loc, b.getFloatAttr(type, v));
  };
  Value inner;
  if (tanh) {
    Value cube = b.create<arith::MulFOp>(
        loc, x, b.create<arith::MulFOp>(loc, x, x));
    Value sum = b.create<arith::AddFOp>(
        loc, x, b.create<arith::MulFOp>(loc, constant(0.044715), cube));
    inner = b.create<math::TanhOp>(
        loc, b.create<arith::MulFOp>(loc, constant(std::sqrt(2.0 / M_PI)), sum));
  } else {
    inner = b.create<math::ErfOp>(
        loc, b.create<arith::MulFOp>(loc, x, constant(M_SQRT1_2)));
  }
  return b.create<arith::MulFOp>(
      loc, b.create<arith::MulFOp>(loc, constant(0.5), x),
      b.create<arith::AddFOp>(loc, constant(1.0), inner));
}

/// Gelu (opset 20; `approximate` none or tanh) and ONNX Runtime's
/// com.microsoft Gelu, FastGelu (the tanh form) and BiasGelu, which add their
/// optional second input, a bias, first.
template <bool Tanh>
FailureOr<SmallVector<Value>> lowerGelu(NodeOp node, RewriterBase &b) {
  StringRef approximate = stringAttr(node, "approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return node.emitError() << node.getOpType() << " approximate '"
                            << approximate << "' is not none or tanh";
  bool tanh = Tanh || approximate == "tanh";
  bool biased = node.getDomainName() == "com.microsoft" && input(node, 1);
  SmallVector<Value> operands;
  if (Binder(node).first(biased ? 2 : 1, operands))
    return failure();
  Type element = elementTypeOf(operands[0]);
  if (failed(checkComputable(node, element, /*floatOnly=*/true)))
    return failure();
  if (biased && elementTypeOf(operands[1]) != element)
    return node.emitError() << node.getOpType()
                            << " bias must have the input's element type";
  return single(broadcastGeneric(
      node, b, operands, element,
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        Value x = biased ? nb.create<arith::AddFOp>(loc, args[0], args[1])
                               .getResult()
                         : args[0];
        return gelu(nb, loc, element, x, tanh);
      }));
}

/// com.microsoft.QuickGelu: x * sigmoid(alpha * x), alpha 1.702 by default.
FailureOr<SmallVector<Value>> lowerQuickGelu(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).computable(0, x, /*floatOnly=*/true))
    return failure();
  Type element = elementTypeOf(x);
  double alpha = floatAttr(node, "alpha", 1.702);
  return single(broadcastGeneric(
      node, b, ValueRange{x}, element,
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        Value scaled = nb.create<arith::MulFOp>(
            loc, args[0],
            nb.create<arith::ConstantOp>(loc, nb.getFloatAttr(element, alpha)));
        return nb.create<arith::MulFOp>(
            loc, args[0], sigmoid(nb, loc, element, ValueRange{scaled}));
      }));
}

/// BitwiseAnd / Or / Xor / Not (opset 18) on integers.
template <ScalarFn Fn, unsigned Count>
FailureOr<SmallVector<Value>> lowerBitwise(NodeOp node, RewriterBase &b) {
  Value x = input(node, 0);
  if (x && isFloat(getElementTypeOrSelf(x.getType())))
    return node.emitError() << node.getOpType() << " needs integer inputs";
  return elementwise(node, b, Count, Fn, /*floatOnly=*/false);
}

Value bitwiseNot(OpBuilder &b, Location loc, Type type, ValueRange args) {
  Value ones = b.create<arith::ConstantOp>(loc, b.getIntegerAttr(type, -1));
  return b.create<arith::XOrIOp>(loc, args[0], ones);
}

/// HardSigmoid: max(0, min(1, alpha * x + beta)), alpha 0.2 and beta 0.5 by
/// default.
FailureOr<SmallVector<Value>> lowerHardSigmoid(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).computable(0, x, /*floatOnly=*/true))
    return failure();
  Type element = elementTypeOf(x);
  double alpha = floatAttr(node, "alpha", 0.2), beta = floatAttr(node, "beta", 0.5);
  return single(broadcastGeneric(
      node, b, ValueRange{x}, element,
      [&](OpBuilder &nb, Location loc, ValueRange args) -> Value {
        Value scaled = nb.create<arith::AddFOp>(
            loc,
            nb.create<arith::MulFOp>(
                loc, args[0],
                nb.create<arith::ConstantOp>(loc, nb.getFloatAttr(element, alpha))),
            nb.create<arith::ConstantOp>(loc, nb.getFloatAttr(element, beta)));
        return nb.create<arith::MaximumFOp>(
            loc, zeroOf(nb, loc, element),
            nb.create<arith::MinimumFOp>(loc, oneOf(nb, loc, element), scaled));
      }));
}

/// Mod: integer modulo with the divisor's sign, or with fmod = 1 the
/// remainder with the dividend's sign (required for floating point).
FailureOr<SmallVector<Value>> lowerMod(NodeOp node, RewriterBase &b) {
  bool fmod = intAttr(node, "fmod", 0) != 0;
  Value x = input(node, 0);
  if (!fmod && x && isFloat(getElementTypeOrSelf(x.getType())))
    return node.emitError("Mod of floating-point inputs needs fmod = 1");
  return elementwise(node, b, 2, fmod ? truncMod : floorMod,
                     /*floatOnly=*/false);
}

/// Comparisons produce i1.
template <arith::CmpFPredicate FloatPredicate,
          arith::CmpIPredicate IntPredicate>
Value compare(OpBuilder &b, Location loc, Type type, ValueRange args) {
  if (isFloat(type))
    return b.create<arith::CmpFOp>(loc, FloatPredicate, args[0], args[1]);
  return b.create<arith::CmpIOp>(
      loc,
      type.isUnsignedInteger() ? unsignedPredicate(IntPredicate) : IntPredicate,
      args[0], args[1]);
}

template <arith::CmpFPredicate FloatPredicate,
          arith::CmpIPredicate IntPredicate>
FailureOr<SmallVector<Value>> lowerCompare(NodeOp node, RewriterBase &b) {
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
FailureOr<SmallVector<Value>> lowerLogical(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(Count, operands))
    return failure();
  for (Value operand : operands)
    if (!elementTypeOf(operand).isInteger(1))
      return node.emitError()
             << node.getOpType() << " needs boolean inputs, got "
             << elementTypeOf(operand);
  return elementwise(node, b, Count, Fn, /*floatOnly=*/false);
}

/// Where(condition, x, y), all three broadcast.
FailureOr<SmallVector<Value>> lowerWhere(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(3, operands))
    return failure();
  Type element = elementTypeOf(operands[1]);
  if (!elementTypeOf(operands[0]).isInteger(1) ||
      elementTypeOf(operands[2]) != element)
    return node.emitError()
           << "Where needs a boolean condition and two inputs of "
              "one element type";
  return single(broadcastGeneric(
      node, b, operands, element,
      [](OpBuilder &nested, Location loc, ValueRange args) -> Value {
        return nested.create<arith::SelectOp>(loc, args[0], args[1], args[2]);
      }));
}

/// Converts one scalar between element types with ONNX Cast semantics (float to
/// integer truncates toward zero; booleans are 0 and 1), to the signless type
/// of `to`; `fromUnsigned` says `value`'s bits are an unsigned integer.
Value convertScalar(OpBuilder &b, Location loc, Value value, Type to,
                    bool fromUnsigned = false) {
  bool toUnsigned = to.isUnsignedInteger();
  to = signlessOf(to);
  Type from = value.getType();
  fromUnsigned |= from.isInteger(1);
  if (from == to)
    return value;
  auto fromFloat = dyn_cast<FloatType>(from), toFloat = dyn_cast<FloatType>(to);
  if (fromFloat && toFloat)
    return fromFloat.getWidth() < toFloat.getWidth()
               ? b.create<arith::ExtFOp>(loc, to, value).getResult()
               : b.create<arith::TruncFOp>(loc, to, value).getResult();
  if (!fromFloat && toFloat)
    return fromUnsigned
               ? b.create<arith::UIToFPOp>(loc, to, value).getResult()
               : b.create<arith::SIToFPOp>(loc, to, value).getResult();
  if (fromFloat) {
    if (to.isInteger(1)) {
      Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(from));
      return b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE, value,
                                     zero);
    }
    if (toUnsigned)
      return b.create<arith::FPToUIOp>(loc, to, value);
    return b.create<arith::FPToSIOp>(loc, to, value);
  }
  unsigned fromWidth = from.getIntOrFloatBitWidth();
  unsigned toWidth = to.getIntOrFloatBitWidth();
  if (to.isInteger(1)) {
    Value zero = b.create<arith::ConstantOp>(loc, b.getZeroAttr(from));
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, value, zero);
  }
  if (fromWidth == toWidth)
    return value;
  if (fromWidth < toWidth)
    return fromUnsigned
               ? b.create<arith::ExtUIOp>(loc, to, value).getResult()
               : b.create<arith::ExtSIOp>(loc, to, value).getResult();
  return b.create<arith::TruncIOp>(loc, to, value);
}

FailureOr<SmallVector<Value>> lowerCast(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(1, operands))
    return failure();
  auto resultType = dyn_cast<ShapedType>(node.getResult(0).getType());
  if (!resultType)
    return node.emitError("Cast needs a tensor result type");
  Type to = resultType.getElementType();
  // Results are signless: the `to` attribute says whether they are unsigned
  // (ONNX's UINT8, UINT16, UINT32, UINT64).
  if (llvm::is_contained({2, 4, 12, 13}, intAttr(node, "to", 0)) &&
      to.isSignlessInteger())
    to = IntegerType::get(b.getContext(), to.getIntOrFloatBitWidth(),
                          IntegerType::Unsigned);
  Type from = elementTypeOf(operands[0]);
  if (failed(checkComputable(node, from, false)) ||
      failed(checkComputable(node, signlessOf(to), false)))
    return failure();
  bool fromUnsigned = isUnsignedInput(node, 0);
  return single(broadcastGeneric(
      node, b, operands, signlessOf(to),
      [&](OpBuilder &nested, Location loc, ValueRange args) {
        return convertScalar(nested, loc, args[0], to, fromUnsigned);
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
FailureOr<SmallVector<Value>> lowerClip(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(1, operands))
    return failure();
  return clip(node, b, operands[0], input(node, 1), input(node, 2));
}

/// Clip before opset 11: bounds in the `min` and `max` attributes.
FailureOr<SmallVector<Value>> lowerClip6(NodeOp node, RewriterBase &b) {
  Value x;
  if (Binder(node).tensors(x))
    return failure();
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

/// Pow: a base and an exponent of possibly different types (opset 12 and
/// later); the exponent is converted to the base's floating-point type.
FailureOr<SmallVector<Value>> lowerPow(NodeOp node, RewriterBase &b) {
  SmallVector<Value> operands;
  if (Binder(node).first(2, operands))
    return failure();
  Type element = elementTypeOf(operands[0]);
  Type exponent = elementTypeOf(operands[1]);
  if (failed(checkComputable(node, element, /*floatOnly=*/true)) ||
      failed(checkComputable(node, exponent, /*floatOnly=*/false)))
    return failure();
  return single(broadcastGeneric(
      node, b, operands, element,
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

} // namespace

void moe::onnx_to_linalg::registerElementwiseLowerings(HandlerTable &table) {
  // Binary arithmetic: multidirectional broadcasting since opset 7.
  table.add(
      "", "Add", 7,
      lowerElementwise<arithmetic<arith::AddFOp, arith::AddIOp>, 2, false>);
  table.add(
      "", "Sub", 7,
      lowerElementwise<arithmetic<arith::SubFOp, arith::SubIOp>, 2, false>);
  table.add(
      "", "Mul", 7,
      lowerElementwise<arithmetic<arith::MulFOp, arith::MulIOp>, 2, false>);
  table.add(
      "", "Div", 7,
      lowerElementwise<
          arithmetic<arith::DivFOp, arith::DivSIOp, arith::DivUIOp>, 2, false>);
  // Variadic since opset 8.
  table.add(
      "", "Max", 8,
      lowerElementwise<
          foldAll<arith::MaximumFOp, arith::MaxSIOp, arith::MaxUIOp>, 0, false>);
  table.add(
      "", "Min", 8,
      lowerElementwise<
          foldAll<arith::MinimumFOp, arith::MinSIOp, arith::MinUIOp>, 0, false>);
  table.add("", "Sum", 8,
            lowerElementwise<foldAll<arith::AddFOp, arith::AddIOp>, 0, false>);
  table.add("", "Mean", 8, lowerElementwise<meanAll, 0, true>);
  table.add("", "Gelu", 20, lowerGelu<false>);
  table.add("com.microsoft", "Gelu", 1, lowerGelu<false>);
  table.add("com.microsoft", "BiasGelu", 1, lowerGelu<false>);
  table.add("com.microsoft", "FastGelu", 1, lowerGelu<true>);
  table.add("com.microsoft", "QuickGelu", 1, lowerQuickGelu);
  table.add("", "BitwiseAnd", 18,
            lowerBitwise<logical<arith::AndIOp>, 2>);
  table.add("", "BitwiseOr", 18, lowerBitwise<logical<arith::OrIOp>, 2>);
  table.add("", "BitwiseXor", 18,
            lowerBitwise<logical<arith::XOrIOp>, 2>);
  table.add("", "BitwiseNot", 18, lowerBitwise<bitwiseNot, 1>);
  table.add("", "Pow", 7, lowerElementwise<power, 2, true>);
  table.add("", "Pow", 12, lowerPow);
  table.add("", "Neg", 6, lowerElementwise<negate, 1, false>);
  table.add("", "Abs", 6, lowerElementwise<absolute, 1, false>);
  table.add("", "Exp", 6, lowerElementwise<unaryFloat<math::ExpOp>, 1, true>);
  table.add("", "Log", 6, lowerElementwise<unaryFloat<math::LogOp>, 1, true>);
  table.add("", "Sqrt", 6, lowerElementwise<unaryFloat<math::SqrtOp>, 1, true>);
  table.add("", "Tanh", 6, lowerElementwise<unaryFloat<math::TanhOp>, 1, true>);
  table.add("", "Erf", 9, lowerElementwise<unaryFloat<math::ErfOp>, 1, true>);
  table.add("", "Cos", 7, lowerElementwise<unaryFloat<math::CosOp>, 1, true>);
  table.add("", "Sin", 7, lowerElementwise<unaryFloat<math::SinOp>, 1, true>);
  table.add("", "Floor", 6,
            lowerElementwise<unaryFloat<math::FloorOp>, 1, true>);
  table.add("", "Ceil", 6, lowerElementwise<unaryFloat<math::CeilOp>, 1, true>);
  // ONNX rounds halves to even.
  table.add("", "Round", 11,
            lowerElementwise<unaryFloat<math::RoundEvenOp>, 1, true>);
  table.add("", "Sign", 9, lowerElementwise<sign, 1, false>);
  table.add("", "Softplus", 1, lowerElementwise<softplus, 1, true>);
  table.add("", "IsNaN", 9, lowerIsNaN);
  table.add("", "IsInf", 10, lowerIsInf);
  table.add("", "HardSigmoid", 6, lowerHardSigmoid);
  table.add("", "Mod", 10, lowerMod);
  table.add("", "Reciprocal", 6, lowerElementwise<reciprocal, 1, true>);
  table.add("", "Sigmoid", 6, lowerElementwise<sigmoid, 1, true>);
  table.add("", "Relu", 6, lowerElementwise<relu, 1, false>);
  table.add("", "Equal", 11,
            lowerCompare<arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq>);
  table.add("", "Less", 9,
            lowerCompare<arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt>);
  table.add("", "LessOrEqual", 12,
            lowerCompare<arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle>);
  table.add("", "Greater", 9,
            lowerCompare<arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt>);
  table.add("", "GreaterOrEqual", 12,
            lowerCompare<arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge>);
  table.add("", "And", 7, lowerLogical<logical<arith::AndIOp>, 2>);
  table.add("", "Or", 7, lowerLogical<logical<arith::OrIOp>, 2>);
  table.add("", "Xor", 7, lowerLogical<logical<arith::XOrIOp>, 2>);
  table.add("", "Not", 1, lowerLogical<logicalNot, 1>);
  table.add("", "Where", 9, lowerWhere);
  table.add("", "Cast", 6, lowerCast);
  table.add("", "Clip", 6, lowerClip6);
  table.add("", "Clip", 11, lowerClip);
}
