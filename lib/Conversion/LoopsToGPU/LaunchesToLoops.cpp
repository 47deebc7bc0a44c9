//===- LaunchesToLoops.cpp - gpu.launch kernels run as host loops ---------===//
//
// The CUDA emulator: a launch's body runs once per (block, thread), in loops,
// which is what the GPU computes when threads do not communicate; a kernel
// whose warps run mma.sync is split at each one, and each warp's mma.sync is
// the runtime emulator's, on its 32 lanes' registers.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPULAUNCHESTOLOOPS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// The table of the runtime's emulator functions an emulated artifact calls
/// (moe/Runtime/Emulator.h), filled when the artifact is loaded.
constexpr llvm::StringLiteral kEmulatorTable = "moe_emu_api";
constexpr int64_t kEmulatorTableSize = 2;

/// The mma.sync a tensor-core kernel's inline assembly runs, by its
/// instruction: m16n8k16 with bf16 (0) or f16 (1) operands and f32
/// accumulators, the ones moe-matmuls-to-mma emits.
std::optional<int64_t> mmaTypeOf(Operation *op) {
  auto assembly = dyn_cast<LLVM::InlineAsmOp>(op);
  if (!assembly)
    return std::nullopt;
  StringRef text = assembly.getAsmString();
  if (text.starts_with("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "))
    return 0;
  if (text.starts_with("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "))
    return 1;
  return std::nullopt;
}

/// Whether `op` is, or holds, an mma.sync.
bool holdsMma(Operation *op) {
  bool found = false;
  op->walk([&](Operation *inner) {
    if (mmaTypeOf(inner))
      found = true;
  });
  return found;
}

/// A kernel whose warps run mma.sync, emulated a block at a time: the body is
/// split at each mma.sync (and at the loops that hold one), the threads run
/// each part in turn, values live across parts are kept per thread, and each
/// warp's mma.sync is one call of the runtime's emulator
/// (moe_emu_mma_m16n8k16) on its 32 lanes' registers, as POCL's work-group
/// functions split kernels at barriers. Loops that hold an mma.sync must have
/// bounds every thread shares, as mma.sync's .aligned requires.
class WarpEmulation {
public:
  explicit WarpEmulation(gpu::LaunchOp launch)
      : launch(launch), b(launch), loc(launch.getLoc()) {}

  LogicalResult run() {
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    std::optional<int64_t> x = getConstantIntValue(block.x),
                           y = getConstantIntValue(block.y),
                           z = getConstantIntValue(block.z);
    if (!x || !y || !z || *y != 1 || *z != 1 || *x % 32 != 0)
      return launch.emitError(
          "the CUDA emulator runs mma.sync kernels with a static block of "
          "whole warps along x");
    threads = *x;
    zero = constant(0);
    one = constant(1);
    // The runtime fills moe_emu_api's first slot with moe_emu_mma_m16n8k16.
    table = b.create<LLVM::AddressOfOp>(
        loc, LLVM::LLVMPointerType::get(b.getContext()), kEmulatorTable);
    // Before the grid: every constant of the body (the same for every
    // thread), and the per-thread storage.
    for (Operation &op :
         llvm::make_early_inc_range(launch.getBody().front()))
      if (op.hasTrait<OpTrait::ConstantLike>())
        uniform.map(op.getResult(0), b.clone(op)->getResult(0));
    gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
    Value bounds[3] = {grid.z, grid.y, grid.x};
    SmallVector<Value> ivs;
    for (Value bound : bounds) {
      auto loop = b.create<scf::ForOp>(loc, zero, bound, one);
      // Storage goes before the grid's loops.
      if (ivs.empty())
        storageAt = OpBuilder::InsertPoint(loop->getBlock(),
                                           Block::iterator(loop));
      ivs.push_back(loop.getInductionVar());
      b.setInsertionPoint(loop.getBody()->getTerminator());
    }
    gpu::KernelDim3 ids = launch.getBlockIds();
    gpu::KernelDim3 gridSizes = launch.getGridSize(),
                    blockSizes = launch.getBlockSize();
    uniform.map(ids.z, ivs[0]);
    uniform.map(ids.y, ivs[1]);
    uniform.map(ids.x, ivs[2]);
    for (auto [from, to] :
         {std::pair{gridSizes.x, grid.x}, std::pair{gridSizes.y, grid.y},
          std::pair{gridSizes.z, grid.z}, std::pair{blockSizes.x, block.x},
          std::pair{blockSizes.y, block.y}, std::pair{blockSizes.z, block.z}})
      uniform.map(from, to);
    threadIds = launch.getThreadIds();
    if (failed(split(launch.getBody().front())))
      return failure();
    // Storage is freed after the grid.
    b.setInsertionPointAfter(launch);
    for (Value buffer : allocations)
      b.create<memref::DeallocOp>(loc, buffer);
    launch.erase();
    return success();
  }

private:
  Value constant(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }

  /// Storage of `count` x `type` elements, allocated before the grid.
  Value allocate(ArrayRef<int64_t> shape, Type type) {
    OpBuilder::InsertionGuard guard(b);
    b.restoreInsertionPoint(storageAt);
    Value buffer =
        b.create<memref::AllocOp>(loc, MemRefType::get(shape, type));
    allocations.push_back(buffer);
    return buffer;
  }

  /// The per-thread storage of `value`, made on first use.
  Value storageOf(Value value) {
    Value &buffer = perThread[value];
    if (!buffer)
      buffer = allocate({threads}, value.getType());
    return buffer;
  }

  /// `value` as thread `t` sees it: a uniform value, one of the current
  /// part's, or read from its per-thread storage.
  Value read(Value value, Value t, IRMapping &local) {
    if (Value mapped = local.lookupOrNull(value))
      return mapped;
    if (Value mapped = uniform.lookupOrNull(value)) {
      local.map(value, mapped);
      return mapped;
    }
    auto it = perThread.find(value);
    if (it == perThread.end())
      return value; // defined before the launch
    Value loaded = b.create<memref::LoadOp>(loc, it->second, ValueRange{t});
    local.map(value, loaded);
    return loaded;
  }

  /// Emits `ops` (of one block, no mma.sync among them) as one loop over the
  /// threads; their results that later parts use go to per-thread storage.
  void emitPart(ArrayRef<Operation *> ops) {
    if (ops.empty())
      return;
    llvm::SmallPtrSet<Operation *, 16> inPart(ops.begin(), ops.end());
    auto loop = b.create<scf::ForOp>(loc, zero, constant(threads), one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value t = loop.getInductionVar();
    IRMapping local;
    local.map(threadIds.x, t);
    local.map(threadIds.y, zero);
    local.map(threadIds.z, zero);
    for (Operation *op : ops) {
      // A field of an emulated mma.sync's result.
      SmallVector<Value> copies;
      auto extract = dyn_cast<LLVM::ExtractValueOp>(op);
      auto fields = extract ? mmaResults.find(extract.getContainer())
                            : mmaResults.end();
      if (fields != mmaResults.end()) {
        copies.push_back(b.create<memref::LoadOp>(
            loc, fields->second[extract.getPosition()[0]], ValueRange{t}));
        local.map(extract.getResult(), copies.back());
      } else {
        // The values it reads from other parts, nested regions included.
        op->walk([&](Operation *inner) {
          for (Value operand : inner->getOperands())
            if (!local.contains(operand))
              read(operand, t, local);
        });
        Operation *copy = b.clone(*op, local);
        copies.append(copy->result_begin(), copy->result_end());
      }
      for (auto [result, copied] : llvm::zip(op->getResults(), copies)) {
        bool usedLater = llvm::any_of(result.getUsers(), [&](Operation *user) {
          Operation *owner = op->getBlock()->findAncestorOpInBlock(*user);
          return !owner || !inPart.contains(owner);
        });
        if (usedLater)
          b.create<memref::StoreOp>(loc, copied, storageOf(result),
                                    ValueRange{t});
      }
    }
  }

  /// One warp at a time: the lanes' registers gathered from their threads,
  /// the emulator's mma.sync, the results scattered back.
  void emitMma(LLVM::InlineAsmOp mma, int64_t type) {
    MLIRContext *ctx = b.getContext();
    Type i32 = b.getI32Type(), f32 = b.getF32Type();
    Value a = allocate({32, 4}, i32), bRegs = allocate({32, 2}, i32);
    Value c = allocate({32, 4}, f32), d = allocate({32, 4}, f32);
    SmallVector<Value> fields;
    for (int64_t i = 0; i < 4; ++i)
      fields.push_back(allocate({threads}, f32));
    mmaResults[mma.getResult(0)] = fields;
    auto warps = b.create<scf::ForOp>(loc, zero, constant(threads / 32), one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(warps.getBody()->getTerminator());
    Value first = b.create<arith::MulIOp>(loc, warps.getInductionVar(),
                                          constant(32));
    auto lanes = [&](function_ref<void(Value lane, Value t)> body) {
      auto loop = b.create<scf::ForOp>(loc, zero, constant(32), one);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPoint(loop.getBody()->getTerminator());
      Value lane = loop.getInductionVar();
      body(lane, b.create<arith::AddIOp>(loc, first, lane));
    };
    // Operands: A's 4 registers, B's 2, C's 4 (moe/GPU/MmaLayout.h).
    lanes([&](Value lane, Value t) {
      IRMapping local;
      ValueRange operands = mma.getOperands();
      for (int64_t i = 0; i < 10; ++i) {
        Value target = i < 4 ? a : i < 6 ? bRegs : c;
        int64_t column = i < 4 ? i : i < 6 ? i - 4 : i - 6;
        b.create<memref::StoreOp>(loc, read(operands[i], t, local), target,
                                  ValueRange{lane, constant(column)});
      }
    });
    auto pointer = [&](Value buffer) -> Value {
      Value address =
          b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, buffer);
      return b.create<LLVM::IntToPtrOp>(
          loc, LLVM::LLVMPointerType::get(ctx),
          b.create<arith::IndexCastOp>(loc, b.getI64Type(), address));
    };
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    Value slot = b.create<LLVM::LoadOp>(loc, ptrType, table);
    auto signature = LLVM::LLVMFunctionType::get(
        LLVM::LLVMVoidType::get(ctx),
        {i32, ptrType, ptrType, ptrType, ptrType});
    b.create<LLVM::CallOp>(
        loc, signature,
        ValueRange{slot,
                   b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(type)),
                   pointer(a), pointer(bRegs), pointer(c), pointer(d)});
    lanes([&](Value lane, Value t) {
      for (int64_t i = 0; i < 4; ++i)
        b.create<memref::StoreOp>(
            loc,
            b.create<memref::LoadOp>(loc, d, ValueRange{lane, constant(i)}),
            fields[i], ValueRange{t});
    });
  }

  /// A loop holding an mma.sync, run once for the block: its carried values
  /// kept per thread.
  LogicalResult emitLoop(scf::ForOp loop) {
    IRMapping none;
    Value bounds[3];
    for (auto [i, bound] : llvm::enumerate(ValueRange{
             loop.getLowerBound(), loop.getUpperBound(), loop.getStep()})) {
      bounds[i] = uniform.lookupOrNull(bound);
      if (!bounds[i] && bound.getParentRegion()->isProperAncestor(
                            &launch.getBody()))
        bounds[i] = bound;
      if (!bounds[i])
        return loop.emitError("the CUDA emulator needs the bounds of a loop "
                              "holding mma.sync to be the same for every "
                              "thread");
    }
    // The carried values start as the threads' initial values.
    SmallVector<Value> carried;
    for (auto [init, argument] :
         llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs())) {
      carried.push_back(storageOf(argument));
      (void)init;
    }
    {
      auto threadsLoop = b.create<scf::ForOp>(loc, zero, constant(threads), one);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(threadsLoop.getBody()->getTerminator());
      Value t = threadsLoop.getInductionVar();
      IRMapping local;
      for (auto [init, storage] : llvm::zip(loop.getInitArgs(), carried))
        b.create<memref::StoreOp>(loc, read(init, t, local), storage,
                                  ValueRange{t});
    }
    auto copy = b.create<scf::ForOp>(loc, bounds[0], bounds[1], bounds[2]);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(copy.getBody()->getTerminator());
      uniform.map(loop.getInductionVar(), copy.getInductionVar());
      if (failed(split(*loop.getBody())))
        return failure();
      // The next iteration's values, read before any is written.
      auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
      auto threadsLoop = b.create<scf::ForOp>(loc, zero, constant(threads), one);
      b.setInsertionPoint(threadsLoop.getBody()->getTerminator());
      Value t = threadsLoop.getInductionVar();
      IRMapping local;
      SmallVector<Value> next;
      for (Value value : yield.getOperands())
        next.push_back(read(value, t, local));
      for (auto [value, storage] : llvm::zip(next, carried))
        b.create<memref::StoreOp>(loc, value, storage, ValueRange{t});
    }
    // After the loop its results are the carried values.
    for (auto [result, storage] : llvm::zip(loop.getResults(), carried))
      perThread[result] = storage;
    return success();
  }

  /// Emits `block`'s operations (but its terminator) part by part.
  LogicalResult split(Block &block) {
    SmallVector<Operation *> part;
    for (Operation &op : block.without_terminator()) {
      if (op.hasTrait<OpTrait::ConstantLike>() && uniform.contains(op.getResult(0)))
        continue;
      if (!holdsMma(&op)) {
        part.push_back(&op);
        continue;
      }
      emitPart(part);
      part.clear();
      if (std::optional<int64_t> type = mmaTypeOf(&op)) {
        emitMma(cast<LLVM::InlineAsmOp>(op), *type);
        continue;
      }
      auto loop = dyn_cast<scf::ForOp>(op);
      if (!loop)
        return op.emitError("the CUDA emulator runs mma.sync at the top of a "
                            "kernel or in loops every thread runs alike, not "
                            "under '")
               << op.getName() << "'";
      if (failed(emitLoop(loop)))
        return failure();
    }
    emitPart(part);
    return success();
  }

  gpu::LaunchOp launch;
  OpBuilder b;
  Location loc;
  Value table;
  int64_t threads = 0;
  Value zero, one;
  OpBuilder::InsertPoint storageAt;
  gpu::KernelDim3 threadIds;
  IRMapping uniform;
  llvm::DenseMap<Value, Value> perThread;
  llvm::DenseMap<Value, SmallVector<Value>> mmaResults;
  SmallVector<Value> allocations;
};

/// Whether threads of `launch` may communicate otherwise than by mma.sync:
/// then loops are not exact.
Operation *findCommunication(gpu::LaunchOp launch) {
  Operation *found = nullptr;
  launch.getBody().walk([&](Operation *op) {
    if (mmaTypeOf(op))
      return WalkResult::advance();
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
              "emulator cannot run it";
  if (!launch.getBody().hasOneBlock())
    return launch.emitError("the CUDA emulator runs kernels of one block only");
  if (holdsMma(launch))
    return WarpEmulation(launch).run();
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
    bool mma = llvm::any_of(launches, [](gpu::LaunchOp launch) {
      return holdsMma(launch);
    });
    if (mma && !module.lookupSymbol(kEmulatorTable)) {
      // moe_emu_api: a zeroed array of function pointers the runtime fills.
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      auto pointer = LLVM::LLVMPointerType::get(module.getContext());
      auto type = LLVM::LLVMArrayType::get(pointer, kEmulatorTableSize);
      auto global = b.create<LLVM::GlobalOp>(
          module.getLoc(), type, /*isConstant=*/false, LLVM::Linkage::External,
          kEmulatorTable, Attribute());
      OpBuilder init = OpBuilder::atBlockBegin(
          &global.getInitializerRegion().emplaceBlock());
      init.create<LLVM::ReturnOp>(
          module.getLoc(),
          init.create<LLVM::ZeroOp>(module.getLoc(), type).getResult());
    }
    for (gpu::LaunchOp launch : launches)
      if (failed(toLoops(launch)))
        return signalPassFailure();
    defineRead(module);
  }
};

} // namespace
