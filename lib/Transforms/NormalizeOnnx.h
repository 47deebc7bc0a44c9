//===- NormalizeOnnx.h - one canonical graph for the raising matchers -*- C++ -*-===//
#ifndef MOE_LIB_TRANSFORMS_NORMALIZEONNX_H
#define MOE_LIB_TRANSFORMS_NORMALIZEONNX_H

namespace mlir::func {
class FuncOp;
} // namespace mlir::func

namespace moe {

/// Folds shape arithmetic, refines types and rewrites exporter idioms into one
/// spelling in `func` (see the moe-normalize-onnx pass); true when it changed
/// anything.
bool normalizeOnnxGraph(mlir::func::FuncOp func);

} // namespace moe

#endif // MOE_LIB_TRANSFORMS_NORMALIZEONNX_H
