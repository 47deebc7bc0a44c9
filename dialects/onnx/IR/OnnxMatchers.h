//===- OnnxMatchers.h - reading imported ONNX graphs ------------*- C++ -*-===//
//
// Small queries that raising and legalisation ask of onnx.node graphs: which
// node defines a value, what a constant holds, which axes a node reduces. They
// hide the differences between opsets (axes as attribute or input, Split sizes
// as input or num_outputs). Rewrites that add a node build it here too.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECTS_ONNX_IR_ONNXMATCHERS_H
#define MOE_DIALECTS_ONNX_IR_ONNXMATCHERS_H

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace moe::match {

using mlir::onnx::NodeOp;

/// The default-domain node of type `opType` that defines `value`, or null.
NodeOp node(mlir::Value value, llvm::StringRef opType);

/// Operand `index` of `node`, or null when absent or an onnx.none.
mlir::Value input(NodeOp node, unsigned index);

/// The integer attribute `name` of `node`, or `fallback`.
int64_t intAttr(NodeOp node, llvm::StringRef name, int64_t fallback);

/// The integer-list attribute `name` of `node`, if present.
std::optional<llvm::SmallVector<int64_t>> intsAttr(NodeOp node,
                                                   llvm::StringRef name);

/// True when `node` is a ConstantOfShape that fills with zeros.
bool isZeroFill(NodeOp node);

/// The integers a constant holds (arith.constant or an onnx Constant node).
std::optional<llvm::SmallVector<int64_t>> constInts(mlir::Value value);

/// An f32 value read back through its shortest decimal form, so that 1.702f
/// means 1.702 rather than 1.7020000219345093 (ONNX float attributes are f32).
double fromSingle(float value);

/// The float attribute `name` of `node` (see fromSingle), or `fallback`.
double floatAttr(NodeOp node, llvm::StringRef name, double fallback);

/// The string attribute `name` of `node`, or `fallback`.
llvm::StringRef stringAttr(NodeOp node, llvm::StringRef name,
                           llvm::StringRef fallback);

/// The value of a single-element floating-point constant (f32 through
/// fromSingle).
std::optional<double> constFloat(mlir::Value value);

/// The axes of a Reduce*, Squeeze or Unsqueeze node (input 1 or attribute
/// `axes`), made non-negative for `rank`; nullopt when not constant.
std::optional<llvm::SmallVector<int64_t>> axes(NodeOp node, int64_t rank);

/// `a op b` for an elementwise ONNX integer op on int64 elements (Add, Sub,
/// Mul, Div truncating, Mod with its fmod attribute, Max, Min, and Less,
/// Equal, And, Or as 0 or 1); nullopt for another op, a zero divisor or a
/// result that overflows int64.
std::optional<int64_t> evalIntBinary(NodeOp node, int64_t a, int64_t b);

/// The element count of a static shape; nullopt when a size is dynamic or
/// the product overflows int64 (a malformed model).
std::optional<int64_t> staticElementCount(llvm::ArrayRef<int64_t> shape);

/// A new default-domain node `opType` at `builder`'s insertion point, with
/// the opset and name of `like` (the node it replaces or stands beside).
NodeOp createNodeLike(mlir::OpBuilder &builder, NodeOp like,
                      llvm::StringRef opType, mlir::ValueRange inputs,
                      mlir::Type resultType,
                      llvm::ArrayRef<mlir::NamedAttribute> attributes = {});

/// The type two values of `a` and `b` (If branches' outputs, a Loop's value
/// before and after an iteration) can both be cast to: `a` when equal, else
/// the same rank and element type with the sizes they disagree on dynamic;
/// null when their ranks or element types differ, either is unranked, or
/// either is null.
mlir::Type joinTensorTypes(mlir::Type a, mlir::Type b);

/// The rank of a ranked tensor value, or -1.
int64_t rankOf(mlir::Value value);

/// True when `axis` (possibly negative) names dimension `dim` of a rank-`rank`
/// tensor.
bool isAxis(int64_t axis, int64_t dim, int64_t rank);

} // namespace moe::match

#endif // MOE_DIALECTS_ONNX_IR_ONNXMATCHERS_H
