//===- LaunchesToLoops.cpp - gpu.launch kernels run as host loops ---------===//
//
// The CUDA emulator: a launch's body runs once per (block, thread), in loops,
// which is what the GPU computes when threads do not communicate.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPULAUNCHESTOLOOPS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// Whether threads of `launch` may communicate: then loops are not exact.
Operation *findCommunication(gpu::LaunchOp launch) {
  Operation *found = nullptr;
  launch.getBody().walk([&](Operation *op) {
    if (isa<gpu::BarrierOp, gpu::ShuffleOp, LLVM::InlineAsmOp>(op) ||
        op->getDialect() == op->getContext()->getLoadedDialect("nvvm")) {
      found = op;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

LogicalResult toLoops(gpu::LaunchOp launch) {
  if (Operation *op = findCommunication(launch))
    return op->emitError()
           << "'" << op->getName()
           << "' lets the threads of a kernel communicate, so the CUDA "
              "emulator cannot run it (tensor-core matmuls need "
              "--precision=fp32 there)";
  if (!launch.getBody().hasOneBlock())
    return launch.emitError("the CUDA emulator runs kernels of one block only");
  OpBuilder b(launch);
  Location loc = launch.getLoc();
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value bounds[6] = {grid.z, grid.y, grid.x, block.z, block.y, block.x};
  SmallVector<Value> ivs;
  for (Value bound : bounds) {
    auto loop = b.create<scf::ForOp>(loc, zero, bound, one);
    ivs.push_back(loop.getInductionVar());
    b.setInsertionPoint(loop.getBody()->getTerminator());
  }
  IRMapping mapping;
  gpu::KernelDim3 blockIds = launch.getBlockIds(),
                  threadIds = launch.getThreadIds();
  gpu::KernelDim3 gridSizes = launch.getGridSize(),
                  blockSizes = launch.getBlockSize();
  mapping.map(blockIds.z, ivs[0]);
  mapping.map(blockIds.y, ivs[1]);
  mapping.map(blockIds.x, ivs[2]);
  mapping.map(threadIds.z, ivs[3]);
  mapping.map(threadIds.y, ivs[4]);
  mapping.map(threadIds.x, ivs[5]);
  mapping.map(gridSizes.x, grid.x);
  mapping.map(gridSizes.y, grid.y);
  mapping.map(gridSizes.z, grid.z);
  mapping.map(blockSizes.x, block.x);
  mapping.map(blockSizes.y, block.y);
  mapping.map(blockSizes.z, block.z);
  for (Operation &op : launch.getBody().front().without_terminator())
    b.clone(op, mapping);
  launch.erase();
  return success();
}

/// `moe_gpu_read(host, device, bytes)` as a copy within host memory.
void defineRead(ModuleOp module) {
  auto read = module.lookupSymbol<func::FuncOp>(::moe::kGpuReadFunction);
  if (!read || !read.isExternal())
    return;
  MLIRContext *ctx = module.getContext();
  Block *body = read.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockEnd(body);
  Location loc = read.getLoc();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto pointer = [&](Value address) -> Value {
    Value bits = b.create<arith::IndexCastOp>(loc, b.getI64Type(), address);
    return b.create<LLVM::IntToPtrOp>(loc, ptrType, bits);
  };
  Value destination = pointer(body->getArgument(0));
  Value source = pointer(body->getArgument(1));
  Value bytes =
      b.create<arith::IndexCastOp>(loc, b.getI64Type(), body->getArgument(2));
  b.create<LLVM::MemcpyOp>(loc, destination, source, bytes,
                           /*isVolatile=*/false);
  b.create<func::ReturnOp>(loc);
  read.setPrivate();
}

struct MoEGpuLaunchesToLoops
    : public ::moe::impl::MoEGpuLaunchesToLoopsBase<MoEGpuLaunchesToLoops> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchOp> launches;
    module.walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches)
      if (failed(toLoops(launch)))
        return signalPassFailure();
    defineRead(module);
  }
};

} // namespace
