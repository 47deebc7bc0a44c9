//===- MoEAttrs.h - attributes of the moe dialect ---------------*- C++ -*-===//
#ifndef MOE_DIALECTS_MOE_IR_MOEATTRS_H
#define MOE_DIALECTS_MOE_IR_MOEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/TensorEncoding.h"

#include <optional>

#include "dialects/moe/IR/MoEEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/moe/IR/MoEAttrs.h.inc"

#endif // MOE_DIALECTS_MOE_IR_MOEATTRS_H
