//===- Passes.h - moe dialect transformations -------------------*- C++ -*-===//

#ifndef MOE_DIALECT_TRANSFORMS_PASSES_H
#define MOE_DIALECT_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace moe {

#define GEN_PASS_DECL
#include "dialects/moe/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/moe/Transforms/Passes.h.inc"

} // namespace moe

#endif // MOE_DIALECT_TRANSFORMS_PASSES_H
