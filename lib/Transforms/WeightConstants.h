//===- WeightConstants.h - the bytes of constant weights --------*- C++ -*-===//
//
// The passes that change a weight's layout or type in the compiler (layout
// folding, the CUDA kernels' bf16 tiles, the CPU kernels' panels) read a
// constant's raw elements and write a new constant; these are the helpers
// they share.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_TRANSFORMS_WEIGHTCONSTANTS_H
#define MOE_LIB_TRANSFORMS_WEIGHTCONSTANTS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace moe {

/// The bytes of a constant attribute's `count` elements of `width` bytes each
/// (a dense or dense-resource attribute; a splat is expanded into `storage`),
/// or nullopt when they are not at hand.
std::optional<llvm::ArrayRef<char>> constantBytes(mlir::Attribute value,
                                                  int64_t count, int64_t width,
                                                  std::vector<char> &storage);

/// The bytes of `value` when it is an `arith.constant` with a static shape.
std::optional<llvm::ArrayRef<char>> constantBytesOf(mlir::Value value,
                                                    std::vector<char> &storage);

/// `value` rounded to bf16, to nearest even (a NaN stays a quiet NaN).
uint16_t toBf16Bits(float value);

/// An `arith.constant` of `type` holding `bytes` (its elements, row-major),
/// as a dense resource named after `key`.
mlir::Value createWeightConstant(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::RankedTensorType type,
                                 llvm::StringRef key,
                                 llvm::ArrayRef<char> bytes);

} // namespace moe

#endif // MOE_LIB_TRANSFORMS_WEIGHTCONSTANTS_H
