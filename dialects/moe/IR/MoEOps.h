//===- MoEOps.h - operations of the moe dialect -----------------*- C++ -*-===//
#ifndef MOE_DIALECTS_MOE_IR_MOEOPS_H
#define MOE_DIALECTS_MOE_IR_MOEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/moe/IR/MoEAttrs.h"
#include "dialects/moe/IR/MoEDialect.h"

#define GET_OP_CLASSES
#include "dialects/moe/IR/MoEOps.h.inc"

#endif // MOE_DIALECTS_MOE_IR_MOEOPS_H
