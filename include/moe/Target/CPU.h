//===- CPU.h - compile a module to an x86-64 artifact -----------*- C++ -*-===//
//
// The CPU target: ONNX-level or moe-level IR in, a shared library plus its
// memory-mapped weights file out (docs/artifact.md describes the format).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_CPU_H
#define MOE_TARGET_CPU_H

#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace moe {

/// What `moe-opt --emit=...` writes.
enum class EmitKind { Mlir, Llvm, Object, Library };

struct CpuTargetOptions {
  /// LLVM optimisation level, 0 to 3.
  unsigned optLevel = 2;
  /// The processor to tune and select instructions for (`--mcpu`).
  std::string cpu = "x86-64-v3";
};

/// The weights file that goes with the library at `libraryPath`.
std::string weightsPathFor(llvm::StringRef libraryPath);

/// Compiles `module` (onnx, moe or linalg-on-tensors level, entry
/// `@main_graph`) and writes `kind` to `outputPath` (for a library, also its
/// weights file beside it). Errors are reported on the module's context;
/// nothing is left at `outputPath` after a failure.
mlir::LogicalResult compileForCpu(mlir::ModuleOp module,
                                  const CpuTargetOptions &options,
                                  EmitKind kind, llvm::StringRef outputPath);

} // namespace moe

#endif // MOE_TARGET_CPU_H
