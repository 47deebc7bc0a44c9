//===- OffloadToGPU.cpp - the work of host functions into GPU kernels -----===//
//
// Parallel loops become linearised launches, serial work becomes one-thread
// launches, and the few loads the host needs read device memory through the
// runtime, so that no buffer is touched on the host.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace moe {
#define GEN_PASS_DEF_MOEOFFLOADTOGPU
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

constexpr int64_t kThreadsPerBlock = 256;

/// Whether `op` or anything nested in it reads or writes a buffer. Ops that
/// only allocate or free do not count; an op that says nothing of its effects
/// does.
bool touchesMemory(Operation *op) {
  WalkResult walk = op->walk([](Operation *nested) {
    if (nested->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
      return WalkResult::advance();
    auto effects = dyn_cast<MemoryEffectOpInterface>(nested);
    if (!effects)
      return WalkResult::interrupt();
    if (effects.hasEffect<MemoryEffects::Read>() ||
        effects.hasEffect<MemoryEffects::Write>())
      return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return walk.wasInterrupted();
}

/// Whether `op` holds a parallel loop or a kernel already launched (a tensor
/// core matmul), which must stay launches of their own.
bool holdsKernelWork(Operation *op) {
  return op
      ->walk([](Operation *nested) {
        return isa<scf::ParallelOp, gpu::LaunchOp>(nested)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      })
      .wasInterrupted();
}

/// A launch of `blocks` x `threads` (x dimension only) whose body the caller
/// fills before the terminator it returns.
std::pair<gpu::LaunchOp, Operation *>
createLaunch(OpBuilder &b, Location loc, Value blocks, Value threads) {
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  auto launch =
      b.create<gpu::LaunchOp>(loc, blocks, one, one, threads, one, one);
  Block &body = launch.getBody().front();
  OpBuilder inner = OpBuilder::atBlockEnd(&body);
  Operation *terminator = inner.create<gpu::TerminatorOp>(loc);
  return {launch, terminator};
}

/// Runs `op` (no results) on one thread.
void launchSerial(Operation *op) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  auto [launch, terminator] = createLaunch(b, loc, one, one);
  op->moveBefore(terminator);
}

/// One thread per iteration of the loop nest `loop` (bounds `lbs`, `ubs`,
/// `steps`, induction variables `ivs`, body `body` without its terminator),
/// whose iteration space is linearised in row-major order.
void launchParallel(Operation *loop, ValueRange lbs, ValueRange ubs,
                    ValueRange steps, ValueRange ivs, Block *body) {
  OpBuilder b(loop);
  Location loc = loop->getLoc();
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  SmallVector<Value> trips;
  Value total = one;
  for (auto [lb, ub, step] : llvm::zip(lbs, ubs, steps)) {
    Value span = b.create<arith::SubIOp>(loc, ub, lb);
    Value trip = b.create<arith::CeilDivSIOp>(loc, span, step);
    trip = b.create<arith::MaxSIOp>(loc, trip, zero);
    trips.push_back(trip);
    total = b.create<arith::MulIOp>(loc, total, trip);
  }
  Value threads = b.create<arith::ConstantIndexOp>(loc, kThreadsPerBlock);
  Value blocks = b.create<arith::CeilDivSIOp>(loc, total, threads);
  auto [launch, terminator] = createLaunch(b, loc, blocks, threads);

  OpBuilder in(terminator);
  Value id = in.create<arith::AddIOp>(
      loc, in.create<arith::MulIOp>(loc, launch.getBlockIds().x, threads),
      launch.getThreadIds().x);
  Value inRange =
      in.create<arith::CmpIOp>(loc, arith::CmpIPredicate::slt, id, total);
  auto guard = in.create<scf::IfOp>(loc, inRange, /*withElseRegion=*/false);
  OpBuilder inner = guard.getThenBodyBuilder();
  IRMapping mapping;
  Value rest = id;
  for (int64_t i = static_cast<int64_t>(trips.size()) - 1; i >= 0; --i) {
    Value index =
        i == 0 ? rest : inner.create<arith::RemSIOp>(loc, rest, trips[i]);
    if (i > 0)
      rest = inner.create<arith::DivSIOp>(loc, rest, trips[i]);
    Value iv = inner.create<arith::AddIOp>(
        loc, lbs[i], inner.create<arith::MulIOp>(loc, index, steps[i]));
    mapping.map(ivs[i], iv);
  }
  for (Operation &op : body->without_terminator())
    inner.clone(op, mapping);
  loop->erase();
}

void launchParallel(scf::ParallelOp loop) {
  launchParallel(loop, loop.getLowerBound(), loop.getUpperBound(),
                 loop.getStep(), loop.getInductionVars(), loop.getBody());
}

/// The first operation of the function `op` is in, where host scalars go so
/// that loops do not grow the stack.
Block &entryBlock(Operation *op) {
  return op->getParentOfType<FunctionOpInterface>().getFunctionBody().front();
}

/// The address of the first element of `buffer`, as an index. A memref.view
/// (a weight placed in the weights file) starts its byte shift past its
/// source's: folds take the aligned pointer of a view to be its source's,
/// which would lose the shift.
Value alignedAddress(OpBuilder &b, Location loc, Value buffer) {
  if (auto view = buffer.getDefiningOp<memref::ViewOp>())
    return b.create<arith::AddIOp>(
        loc, alignedAddress(b, loc, view.getSource()), view.getByteShift());
  return b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, buffer);
}

/// Copies `bytes` at device address `device` to host address `host`.
void emitRead(OpBuilder &b, Location loc, Value host, Value device,
              int64_t bytes) {
  b.create<func::CallOp>(
      loc, ::moe::kGpuReadFunction, TypeRange{},
      ValueRange{host, device, b.create<arith::ConstantIndexOp>(loc, bytes)});
}

int64_t elementBytes(Type element) {
  if (isa<IndexType>(element))
    return 8;
  return std::max<int64_t>(1, element.getIntOrFloatBitWidth() / 8);
}

/// The outermost host loop around `load` in which its buffer is only read,
/// when the buffer is small, static and not viewed through another value:
/// the whole buffer can then be copied to the host once, before that loop.
scf::ForOp mirrorLoop(memref::LoadOp load) {
  constexpr int64_t kMaxMirrorBytes = 64 * 1024;
  Value buffer = load.getMemRef();
  auto type = load.getMemRefType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
      type.getNumElements() * elementBytes(type.getElementType()) >
          kMaxMirrorBytes ||
      !buffer.getDefiningOp<memref::AllocOp>())
    return nullptr;
  for (Operation *user : buffer.getUsers())
    if (isa<ViewLikeOpInterface>(user) ||
        isa<memref::ExtractStridedMetadataOp, memref::CastOp>(user))
      return nullptr;
  scf::ForOp outermost;
  for (auto loop = load->getParentOfType<scf::ForOp>(); loop;
       loop = loop->getParentOfType<scf::ForOp>()) {
    if (loop->isAncestor(buffer.getDefiningOp()))
      break;
    bool onlyRead = llvm::all_of(buffer.getUsers(), [&](Operation *user) {
      return !loop->isAncestor(user) || isa<memref::LoadOp>(user);
    });
    if (!onlyRead)
      break;
    outermost = loop;
  }
  return outermost;
}

/// Host copies of device buffers, keyed by buffer and the loop they serve.
using Mirrors = llvm::DenseMap<std::pair<Value, Operation *>, Value>;

/// Replaces a host `memref.load` of device memory with a read of a host
/// copy: of the whole buffer, made once before the loop that reads it when
/// that is safe (an expert loop reading the dispatch offsets), else of the
/// element alone.
void readBack(memref::LoadOp load, Mirrors &mirrors) {
  OpBuilder b(load);
  Location loc = load.getLoc();
  MemRefType type = load.getMemRefType();
  Type element = type.getElementType();
  int64_t bytes = elementBytes(element);
  OpBuilder atEntry = OpBuilder::atBlockBegin(&entryBlock(load));
  if (scf::ForOp loop = mirrorLoop(load)) {
    Value &mirror = mirrors[{load.getMemRef(), loop}];
    if (!mirror) {
      mirror = atEntry.create<memref::AllocaOp>(
          loc, MemRefType::get(type.getShape(), element));
      OpBuilder before(loop);
      Value host =
          before.create<memref::ExtractAlignedPointerAsIndexOp>(loc, mirror);
      Value device = alignedAddress(before, loc, load.getMemRef());
      emitRead(before, loc, host, device, type.getNumElements() * bytes);
    }
    Value value = b.create<memref::LoadOp>(loc, mirror, load.getIndices());
    load.replaceAllUsesWith(value);
    load.erase();
    return;
  }
  auto metadata =
      b.create<memref::ExtractStridedMetadataOp>(loc, load.getMemRef());
  Value linear = metadata.getOffset();
  for (auto [index, stride] :
       llvm::zip(load.getIndices(), metadata.getStrides()))
    linear = b.create<arith::AddIOp>(
        loc, linear, b.create<arith::MulIOp>(loc, index, stride));
  Value base = alignedAddress(b, loc, load.getMemRef());
  Value address = b.create<arith::AddIOp>(
      loc, base,
      b.create<arith::MulIOp>(loc, linear,
                              b.create<arith::ConstantIndexOp>(loc, bytes)));
  Value host =
      atEntry.create<memref::AllocaOp>(loc, MemRefType::get({1}, element));
  Value hostAddress =
      b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, host);
  emitRead(b, loc, hostAddress, address, bytes);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value value = b.create<memref::LoadOp>(loc, host, zero);
  load.replaceAllUsesWith(value);
  load.erase();
}

/// Moves the memory accesses of `block`, a host block, onto the device.
LogicalResult offloadBlock(Block &block, Mirrors &mirrors) {
  for (Operation &op : llvm::make_early_inc_range(block.without_terminator())) {
    if (auto loop = dyn_cast<scf::ParallelOp>(op);
        loop && loop.getNumResults() == 0) {
      launchParallel(loop);
      continue;
    }
    if (auto loop = dyn_cast<scf::ForOp>(op);
        loop && loop.getNumResults() == 0 &&
        loop->hasAttr(::moe::kIndependentIterations)) {
      launchParallel(loop, loop.getLowerBound(), loop.getUpperBound(),
                     loop.getStep(), loop.getInductionVar(), loop.getBody());
      continue;
    }
    if (auto load = dyn_cast<memref::LoadOp>(op)) {
      readBack(load, mirrors);
      continue;
    }
    if (isa<memref::AllocaOp>(op))
      return op.emitError("a buffer on the host stack cannot be reached by GPU "
                          "kernels; allocate it with memref.alloc");
    if (isa<gpu::LaunchOp>(op) || !touchesMemory(&op))
      continue;
    if (op.getNumRegions() > 0 &&
        (holdsKernelWork(&op) || op.getNumResults() > 0)) {
      for (Region &region : op.getRegions())
        for (Block &nested : region)
          if (failed(offloadBlock(nested, mirrors)))
            return failure();
      continue;
    }
    if (op.getNumResults() > 0)
      return op.emitError("reads memory and yields a value on the host; the "
                          "CUDA target cannot run it");
    launchSerial(&op);
  }
  return success();
}

struct MoEOffloadToGPU
    : public ::moe::impl::MoEOffloadToGPUBase<MoEOffloadToGPU> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func :
         llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
      if (func.isExternal())
        continue;
      Mirrors mirrors;
      for (Block &block : func.getBody())
        if (failed(offloadBlock(block, mirrors)))
          return signalPassFailure();
    }
    // Kernels get their buffers from the host: one allocated per thread
    // would need device-side malloc.
    WalkResult inKernel = module.walk([](memref::AllocOp op) {
      if (!op->getParentOfType<gpu::LaunchOp>())
        return WalkResult::advance();
      op.emitError("a buffer allocated inside work that runs on the GPU; "
                   "the CUDA target needs it allocated outside the loop");
      return WalkResult::interrupt();
    });
    if (inKernel.wasInterrupted())
      return signalPassFailure();
    bool reads = false;
    module.walk([&](func::CallOp call) {
      reads |= call.getCallee() == ::moe::kGpuReadFunction;
    });
    if (reads && !module.lookupSymbol(::moe::kGpuReadFunction)) {
      OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
      Type index = b.getIndexType();
      auto decl =
          b.create<func::FuncOp>(module.getLoc(), ::moe::kGpuReadFunction,
                                 b.getFunctionType({index, index, index}, {}));
      decl.setPrivate();
    }
  }
};

} // namespace
