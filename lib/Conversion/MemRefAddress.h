//===- MemRefAddress.h - the address of a memref's element -----*- C++ -*-===//
#ifndef MOE_LIB_CONVERSION_MEMREFADDRESS_H
#define MOE_LIB_CONVERSION_MEMREFADDRESS_H

#include "mlir/IR/Builders.h"

namespace moe {

/// The bytes of an element of `type` in memory (an index is 8).
int64_t elementBytes(mlir::Type type);

/// The address (an index) of `memref`'s element at `indices`: its aligned
/// pointer plus the offset and strides, in bytes. A memref.view's byte shift
/// is added through its source (expand-strided-metadata would drop it).
mlir::Value elementAddress(mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value memref, mlir::ValueRange indices);

} // namespace moe

#endif // MOE_LIB_CONVERSION_MEMREFADDRESS_H
