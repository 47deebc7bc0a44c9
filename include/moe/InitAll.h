//===- InitAll.h - registration of every dialect and pass -------*- C++ -*-===//
//
// The one registration header every tool includes.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_INITALL_H
#define MOE_INITALL_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace moe {

/// Registers the moe and onnx dialects, every upstream dialect and their
/// extensions and interface models.
void registerAllDialects(mlir::DialectRegistry &registry);

/// Registers every upstream pass and every moe-mlir pass with the pass
/// registry.
void registerAllPasses();

} // namespace moe

#endif // MOE_INITALL_H
