//===- MoEGpuDialect.h - the moe_gpu dialect ------------------*- C++ -*-===//
#ifndef MOE_DIALECTS_GPU_IR_MOEGPUDIALECT_H
#define MOE_DIALECTS_GPU_IR_MOEGPUDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/gpu/IR/MoEGpuDialect.h.inc"

#define GET_OP_CLASSES
#include "dialects/gpu/IR/MoEGpuOps.h.inc"

#endif // MOE_DIALECTS_GPU_IR_MOEGPUDIALECT_H
