//===- MoEGpuDialect.cpp - the moe_gpu dialect's ops ----------------------===//

#include "dialects/gpu/IR/MoEGpuDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::moe_gpu;

#include "dialects/gpu/IR/MoEGpuDialect.cpp.inc"

void MoEGpuDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/gpu/IR/MoEGpuOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "dialects/gpu/IR/MoEGpuOps.cpp.inc"

LogicalResult MmaSyncOp::verify() {
  int64_t k = getK();
  if (k != 16 && k != 8)
    return emitOpError() << "k is " << k << "; mma.sync m16n8kK has K = 16 or 8";
  Type type = getType();
  if (!type.isBF16() && !type.isF16())
    return emitOpError() << "multiplies " << type
                         << " elements; mma.sync takes bf16 or f16 here";
  int64_t a = k / 4, b = k / 8;
  if (getRegisters().size() != size_t(a + b + 4))
    return emitOpError() << "has " << getRegisters().size()
                         << " registers; m16n8k" << k << " takes " << a
                         << " of A, " << b << " of B and 4 of C";
  for (auto [i, value] : llvm::enumerate(getRegisters())) {
    bool accumulator = int64_t(i) >= a + b;
    if (value.getType() != (accumulator ? Type(Float32Type::get(getContext()))
                                        : Type(IntegerType::get(getContext(), 32))))
      return emitOpError() << "register " << i << " is " << value.getType()
                           << "; A's and B's are i32 (two elements each), C's f32";
  }
  if (getD().size() != 4)
    return emitOpError() << "has " << getD().size()
                         << " results; D is 4 f32 registers per lane";
  return success();
}

std::string MmaSyncOp::getInstruction() {
  std::string type = getType().isBF16() ? "bf16" : "f16";
  return "mma.sync.aligned.m16n8k" + std::to_string(getK()) + ".row.col.f32." +
         type + "." + type + ".f32";
}
