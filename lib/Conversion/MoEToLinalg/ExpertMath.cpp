//===- ExpertMath.cpp - an expert's activation on scalars -----------------===//

#include "lib/Conversion/MoEToLinalg/ExpertMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;

namespace {

Value real(OpBuilder &b, Location loc, Type type, double value) {
  return b.create<arith::ConstantOp>(loc, type, b.getFloatAttr(type, value));
}

/// `fn(v)` of `act` (silu with its alpha).
Value apply(OpBuilder &b, Location loc, ActivationAttr act, Value v) {
  Type t = v.getType();
  switch (act.getFn()) {
  case ActivationFn::Identity:
    return v;
  case ActivationFn::Relu:
    return b.create<arith::MaximumFOp>(loc, v, real(b, loc, t, 0.0));
  case ActivationFn::Silu: {
    double alpha = act.getAlpha().convertToDouble();
    Value scaled = alpha == 1.0 ? v
                                : b.create<arith::MulFOp>(
                                      loc, v, real(b, loc, t, alpha));
    Value one = real(b, loc, t, 1.0);
    Value e = b.create<math::ExpOp>(loc, b.create<arith::NegFOp>(loc, scaled));
    Value sigmoid = b.create<arith::DivFOp>(
        loc, one, b.create<arith::AddFOp>(loc, one, e));
    return b.create<arith::MulFOp>(loc, v, sigmoid);
  }
  case ActivationFn::Gelu: {
    // 0.5 x (1 + erf(x / sqrt 2))
    Value erf = b.create<math::ErfOp>(
        loc, b.create<arith::MulFOp>(loc, v, real(b, loc, t, M_SQRT1_2)));
    return b.create<arith::MulFOp>(
        loc, b.create<arith::MulFOp>(loc, v, real(b, loc, t, 0.5)),
        b.create<arith::AddFOp>(loc, erf, real(b, loc, t, 1.0)));
  }
  case ActivationFn::GeluTanh: {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Value cube =
        b.create<arith::MulFOp>(loc, v, b.create<arith::MulFOp>(loc, v, v));
    Value inner = b.create<arith::MulFOp>(
        loc,
        b.create<arith::AddFOp>(
            loc, v,
            b.create<arith::MulFOp>(loc, cube, real(b, loc, t, 0.044715))),
        real(b, loc, t, std::sqrt(2.0 / M_PI)));
    return b.create<arith::MulFOp>(
        loc, b.create<arith::MulFOp>(loc, v, real(b, loc, t, 0.5)),
        b.create<arith::AddFOp>(loc, b.create<math::TanhOp>(loc, inner),
                                real(b, loc, t, 1.0)));
  }
  }
  llvm_unreachable("activation");
}

} // namespace

namespace moe {

Value activateScalar(OpBuilder &b, Location loc, ActivationAttr act,
                     Value gate, Value up) {
  if (!up)
    return apply(b, loc, act, gate);
  Type t = gate.getType();
  if (std::optional<APFloat> limit = act.getLimit()) {
    double bound = limit->convertToDouble();
    gate = b.create<arith::MinimumFOp>(loc, gate, real(b, loc, t, bound));
    up = b.create<arith::MaximumFOp>(
        loc, b.create<arith::MinimumFOp>(loc, up, real(b, loc, t, bound)),
        real(b, loc, t, -bound));
  }
  double beta = act.getBeta().convertToDouble();
  if (beta != 0.0)
    up = b.create<arith::AddFOp>(loc, up, real(b, loc, t, beta));
  return b.create<arith::MulFOp>(loc, apply(b, loc, act, gate), up);
}

bool finishRoutingWeights(OpBuilder &b, Location loc, RoutingAttr routing,
                          MutableArrayRef<Value> weights) {
  Type t = weights.front().getType();
  auto sumOf = [&]() {
    Value sum = weights.front();
    for (Value v : weights.drop_front())
      sum = b.create<arith::AddFOp>(loc, sum, v);
    return sum;
  };
  bool changed = false;
  if (routing.getKind() == RoutingKind::TopKSoftmax) {
    Value max = weights.front();
    for (Value v : weights.drop_front())
      max = b.create<arith::MaximumFOp>(loc, max, v);
    for (Value &v : weights)
      v = b.create<math::ExpOp>(loc, b.create<arith::SubFOp>(loc, v, max));
    Value sum = sumOf();
    for (Value &v : weights)
      v = b.create<arith::DivFOp>(loc, v, sum);
    changed = true;
  }
  if (routing.getNormalize()) {
    Value sum = sumOf();
    if (double epsilon = routing.getNormEpsilon().convertToDouble())
      sum = b.create<arith::AddFOp>(loc, sum, real(b, loc, t, epsilon));
    if (double floor = routing.getNormFloor().convertToDouble())
      sum = b.create<arith::MaximumFOp>(loc, sum, real(b, loc, t, floor));
    for (Value &v : weights)
      v = b.create<arith::DivFOp>(loc, v, sum);
    changed = true;
  }
  if (double scale = routing.getScale().convertToDouble(); scale != 1.0) {
    Value factor = real(b, loc, t, scale);
    for (Value &v : weights)
      v = b.create<arith::MulFOp>(loc, v, factor);
    changed = true;
  }
  return changed;
}

Value convertFloat(OpBuilder &b, Location loc, Value value, Type to) {
  Type from = value.getType();
  if (from == to)
    return value;
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return b.create<arith::ExtFOp>(loc, to, value);
  return b.create<arith::TruncFOp>(loc, to, value);
}

} // namespace moe
