//===- Passes.h - conversions between dialects ------------------*- C++ -*-===//
#ifndef MOE_CONVERSION_PASSES_H
#define MOE_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

#include <memory>

namespace mlir {
namespace func {
class FuncOp;
} // namespace func
} // namespace mlir

namespace moe {

/// A unit attribute on an `scf.for` whose iterations read and write disjoint
/// elements (routing's per-token loop): moe-offload-to-gpu runs one iteration
/// per GPU thread.
constexpr llvm::StringLiteral kIndependentIterations =
    "moe.independent_iterations";

/// `moe_gpu_read(host, device, bytes)`, through which moe-offload-to-gpu's
/// host code reads device memory (the runtime's, or the CUDA emulator's copy).
constexpr llvm::StringLiteral kGpuReadFunction = "moe_gpu_read";

/// A unit attribute on a kernel's `scf.if` whose branches are warp roles
/// that run concurrently and synchronise by mbarriers alone (a producer's
/// warps and its consumers'): the CUDA emulator runs each branch as a
/// coroutine over its threads.
constexpr llvm::StringLiteral kWarpRoles = "moe_gpu.roles";

#define GEN_PASS_DECL
#include "lib/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "lib/Conversion/Passes.h.inc"

} // namespace moe

#endif // MOE_CONVERSION_PASSES_H
