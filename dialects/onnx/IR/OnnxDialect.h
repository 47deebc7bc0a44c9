//===- OnnxDialect.h - the onnx import dialect ------------------*- C++ -*-===//
#ifndef MOE_DIALECTS_ONNX_IR_ONNXDIALECT_H
#define MOE_DIALECTS_ONNX_IR_ONNXDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/onnx/IR/OnnxDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/onnx/IR/OnnxOps.h.inc"

#endif // MOE_DIALECTS_ONNX_IR_ONNXDIALECT_H
