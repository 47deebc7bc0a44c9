//===- ExpertMath.h - an expert's activation on scalars ---------*- C++ -*-===//
//
// The one definition of `#moe.activation` and of routing's last steps on
// scalars (and of float conversions), used by every lowering
// of moe.experts (linalg on tensors, the CUDA kernels' epilogues), so that
// they compute the same function.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_EXPERTMATH_H
#define MOE_LIB_CONVERSION_EXPERTMATH_H

#include "dialects/moe/IR/MoEAttrs.h"

#include "mlir/IR/Builders.h"

namespace moe {

/// `fn(gate)` of `act`, or, for a gated activation, `fn(gate') * (up' +
/// beta)` where `gate'` and `up'` are clamped by `act`'s limit (gpt-oss).
/// `up` is null when `act` is not gated. Both have the same float type.
mlir::Value activateScalar(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::moe::ActivationAttr act, mlir::Value gate,
                           mlir::Value up);

/// The last steps of routing on a token's `k` chosen weights, in place:
/// softmax over them (topk_softmax), renormalisation (with its epsilon and
/// floor) and scale, as `routing` asks. Returns whether any step applied.
bool finishRoutingWeights(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::moe::RoutingAttr routing,
                          llvm::MutableArrayRef<mlir::Value> weights);

/// Float `value` widened or narrowed to the float type `to` (itself when it
/// has that type already).
mlir::Value convertFloat(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Value value, mlir::Type to);

} // namespace moe

#endif // MOE_LIB_CONVERSION_EXPERTMATH_H
