//===- LaunchesToLoops.cpp - gpu.launch kernels run as host loops ---------===//
//
// The CUDA emulator: a launch's body runs once per (block, thread), in loops,
// which is what the GPU computes when threads do not communicate. A kernel
// whose threads do (gpu.barrier, gpu.shuffle, mma.sync, shared memory) is
// split at each collective operation, as POCL's work-group functions split
// kernels at barriers: the block's threads run each part in turn, values
// live across parts are kept per thread, and each warp's shuffle or mma.sync
// is the runtime emulator's, on its lanes' registers. Every memory access is
// checked as it runs: indices against their buffer's extents, shared memory
// against the runtime's shadow of it (uninitialised reads, races between
// barriers), and collectives against divergence.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Runtime/ArtifactAbi.h"
#include "moe/Runtime/Emulator.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "lib/Conversion/MemRefAddress.h"

#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Async/IR/Async.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/DialectConversion.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPULAUNCHESTOLOOPS
#define GEN_PASS_DEF_MOEGPUEMULATORASYNCRUNTIME
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// The static shared memory of a block, in bytes.
constexpr int64_t kStaticSharedBytes = 48 * 1024;
/// The blocks of a persistent kernel (moe_gpu.resident_grid) the emulated
/// device holds at once.
constexpr int64_t kResidentBlocks = 3;
/// The alignment of each emulated shared buffer: the span of the 128-byte
/// swizzle, which the PTX lowering gives the buffers a swizzled wgmma reads,
/// so that a swizzle acts on the same address bits as on the GPU.
constexpr int64_t kSharedAlignment = 1024;

/// The table of the runtime's emulator functions an emulated artifact calls
/// (moe/Runtime/Emulator.h, moe_emu_slot), filled when the artifact loads.
constexpr llvm::StringLiteral kEmulatorTable = MOE_ABI_EMU_API;
constexpr llvm::StringLiteral kEmulatorSlots = MOE_ABI_EMU_API_SLOTS;

/// The runtime's shfl.sync mode of a shuffle mode's name (the gpu dialect's
/// or NVVM's).
int64_t shflMode(StringRef name) {
  return llvm::StringSwitch<int64_t>(name)
      .Cases("xor", "bfly", MOE_EMU_SHFL_BFLY)
      .Case("up", MOE_EMU_SHFL_UP)
      .Case("down", MOE_EMU_SHFL_DOWN)
      .Default(MOE_EMU_SHFL_IDX);
}

/// Whether `op` makes the threads of a block communicate.
bool isCollective(Operation *op) {
  return isa<moe_gpu::MmaSyncOp, moe_gpu::MmaSpOp, moe_gpu::WgmmaOp,
             nvgpu::LdMatrixOp, gpu::BarrierOp, gpu::ShuffleOp,
             NVVM::Barrier0Op, NVVM::ShflOp, NVVM::VoteBallotOp, NVVM::ReduxOp>(
      op);
}

/// Whether `op` is, or holds, an async.await (a wait for an mbarrier).
bool holdsAwait(Operation *op) {
  bool found = false;
  op->walk([&](async::AwaitOp) { found = true; });
  return found;
}

/// Whether `op` is, or holds, a collective operation or warp roles.
bool holdsCollective(Operation *op) {
  bool found = false;
  op->walk([&](Operation *inner) {
    if (isCollective(inner) || inner->hasAttr(::moe::kWarpRoles))
      found = true;
  });
  return found;
}

bool isShared(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  auto space = memref ? dyn_cast_or_null<gpu::AddressSpaceAttr>(
                            memref.getMemorySpace())
                      : nullptr;
  return space && space.getValue() == gpu::AddressSpace::Workgroup;
}

/// `op` as the emulator's messages name it: its name and where it came from.
std::string describe(Operation *op) {
  std::string text = op->getName().getStringRef().str();
  FileLineColLoc file;
  NameLoc name;
  op->getLoc()->walk([&](Location loc) {
    if (!file)
      file = dyn_cast<FileLineColLoc>(loc);
    if (!name)
      name = dyn_cast<NameLoc>(loc);
    return WalkResult::advance();
  });
  if (file)
    text += (" at " + file.getFilename().getValue() + ":" +
             Twine(file.getLine()) + ":" + Twine(file.getColumn()))
                .str();
  if (name)
    text += (" (" + name.getName().getValue() + ")").str();
  return text;
}

/// Calls into the runtime through moe_emu_api, and the strings that name
/// kernels and operations in its messages.
class Runtime {
public:
  explicit Runtime(ModuleOp module) : module(module) {}

  /// A pointer to `text`, NUL-terminated, a constant of the module.
  Value string(OpBuilder &b, Location loc, StringRef text) {
    LLVM::GlobalOp &global = strings[text];
    if (!global) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(module.getBody());
      std::string bytes = (text + Twine('\0')).str();
      auto type = LLVM::LLVMArrayType::get(b.getI8Type(), bytes.size());
      global = b.create<LLVM::GlobalOp>(
          loc, type, /*isConstant=*/true, LLVM::Linkage::Internal,
          ("moe_emu_text_" + Twine(strings.size())).str(),
          b.getStringAttr(bytes));
    }
    return b.create<LLVM::AddressOfOp>(loc, global);
  }

  /// Calls the function in `slot` with `args` (i32, i64 or pointers),
  /// returning `result` (none when null).
  Value call(OpBuilder &b, Location loc, moe_emu_slot slot, ValueRange args,
             Type result = {}) {
    MLIRContext *ctx = b.getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    Value entry = b.create<LLVM::AddressOfOp>(loc, ptr, kEmulatorTable);
    if (slot != 0)
      entry = b.create<LLVM::GEPOp>(loc, ptr, ptr, entry,
                                    ArrayRef<LLVM::GEPArg>{int32_t(slot)});
    SmallVector<Value> operands{b.create<LLVM::LoadOp>(loc, ptr, entry)};
    operands.append(args.begin(), args.end());
    auto signature = LLVM::LLVMFunctionType::get(
        result ? result : LLVM::LLVMVoidType::get(ctx),
        llvm::to_vector(args.getTypes()));
    auto call = b.create<LLVM::CallOp>(loc, signature, operands);
    return result ? call.getResult() : Value();
  }

  /// moe_emu_fault(kind, op, tx, ty, tz, a, b, c), index operands as i64.
  void fault(OpBuilder &b, Location loc, moe_emu_fault_kind kind, Value op,
             ValueRange thread, ValueRange abc) {
    SmallVector<Value> args{
        b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(kind)), op};
    for (ValueRange range : {thread, abc})
      for (Value v : range)
        args.push_back(i64(b, loc, v));
    call(b, loc, MOE_EMU_SLOT_FAULT, args);
  }

  static Value i64(OpBuilder &b, Location loc, Value v) {
    if (v.getType().isInteger(64))
      return v;
    if (v.getType().isIndex())
      return b.create<arith::IndexCastOp>(loc, b.getI64Type(), v);
    return b.create<arith::ExtSIOp>(loc, b.getI64Type(), v);
  }

private:
  ModuleOp module;
  llvm::StringMap<LLVM::GlobalOp> strings;
};

/// The linear index of the thread running at `b`'s insertion point in
/// `launch`, as i64.
Value linearThread(gpu::LaunchOp launch, OpBuilder &b, Location loc) {
  gpu::KernelDim3 ids = launch.getThreadIds(), sizes = launch.getBlockSize();
  Value zy = b.create<arith::AddIOp>(
      loc, ids.y, b.create<arith::MulIOp>(loc, sizes.y, ids.z));
  return Runtime::i64(
      b, loc,
      b.create<arith::AddIOp>(loc, ids.x,
                              b.create<arith::MulIOp>(loc, sizes.x, zy)));
}

/// nvgpu's cp.async (device_async_copy, create_group, wait) as calls of
/// the runtime's per-thread queues of copies, which land at the wait; their
/// tokens may only link them.
LogicalResult lowerAsyncCopies(gpu::LaunchOp launch, Runtime &runtime) {
  SmallVector<Operation *> copies, groups, waits;
  launch.getBody().walk([&](Operation *op) {
    if (isa<nvgpu::DeviceAsyncCopyOp>(op))
      copies.push_back(op);
    else if (isa<nvgpu::DeviceAsyncCreateGroupOp>(op))
      groups.push_back(op);
    else if (isa<nvgpu::DeviceAsyncWaitOp>(op))
      waits.push_back(op);
  });
  for (Operation *op : llvm::concat<Operation *>(copies, groups))
    for (Operation *user : op->getResult(0).getUsers())
      if (!isa<nvgpu::DeviceAsyncCreateGroupOp, nvgpu::DeviceAsyncWaitOp>(user))
        return user->emitError("the CUDA emulator runs cp.async whose tokens "
                               "go only to device_async_create_group and "
                               "device_async_wait");
  auto i32 = [](OpBuilder &b, Location loc, Value index) {
    return b.create<arith::IndexCastOp>(loc, b.getI32Type(), index);
  };
  for (Operation *op : llvm::concat<Operation *>(copies, groups, waits)) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    Value thread = linearThread(launch, b, loc);
    if (auto copy = dyn_cast<nvgpu::DeviceAsyncCopyOp>(op)) {
      int64_t bytes = ::moe::elementBytes(copy.getDst().getType().getElementType());
      Value dst = ::moe::elementAddress(b, loc, copy.getDst(), copy.getDstIndices());
      Value src = ::moe::elementAddress(b, loc, copy.getSrc(), copy.getSrcIndices());
      Value elements = b.create<arith::ConstantIndexOp>(
          loc, copy.getDstElements().getZExtValue());
      Value given = copy.getSrcElements() ? copy.getSrcElements() : elements;
      Value width = b.create<arith::ConstantIndexOp>(loc, bytes);
      runtime.call(b, loc, MOE_EMU_SLOT_CP_ASYNC,
                   {runtime.string(b, loc, describe(op)), thread,
                    Runtime::i64(b, loc, dst), Runtime::i64(b, loc, src),
                    i32(b, loc, b.create<arith::MulIOp>(loc, elements, width)),
                    i32(b, loc, b.create<arith::MulIOp>(loc, given, width))},
                   b.getI32Type());
    } else if (isa<nvgpu::DeviceAsyncCreateGroupOp>(op)) {
      runtime.call(b, loc, MOE_EMU_SLOT_CP_ASYNC_COMMIT, {thread});
    } else {
      auto wait = cast<nvgpu::DeviceAsyncWaitOp>(op);
      runtime.call(b, loc, MOE_EMU_SLOT_CP_ASYNC_WAIT,
                   {runtime.string(b, loc, describe(op)), thread,
                    b.create<arith::ConstantOp>(
                        loc, b.getI32IntegerAttr(wait.getNumGroups().value_or(0)))});
    }
  }
  for (Operation *op : llvm::concat<Operation *>(waits, groups, copies))
    op->erase();
  return success();
}

/// Whether an access of `count` elements along the innermost dimension of
/// `memref` from `indices` on is in bounds, else the first dimension that
/// is not, its index and its extent.
struct Bounds {
  Value inBounds, dim, index, extent;
};
Bounds checkBounds(OpBuilder &b, Location loc, Value memref,
                   ValueRange indices, int64_t count = 1) {
  auto type = cast<MemRefType>(memref.getType());
  Value inBounds = b.create<arith::ConstantIntOp>(loc, 1, 1);
  Value dim = b.create<arith::ConstantIndexOp>(loc, -1);
  Value index = b.create<arith::ConstantIndexOp>(loc, 0), extent = index;
  for (int64_t i = type.getRank() - 1; i >= 0; --i) {
    Value size = b.createOrFold<memref::DimOp>(loc, memref, i);
    Value last = indices[i];
    if (i == type.getRank() - 1 && count > 1)
      last = b.create<arith::AddIOp>(
          loc, last, b.create<arith::ConstantIndexOp>(loc, count - 1));
    Value ok =
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, last, size);
    inBounds = b.create<arith::AndIOp>(loc, inBounds, ok);
    dim = b.create<arith::SelectOp>(
        loc, ok, dim, b.create<arith::ConstantIndexOp>(loc, i));
    index = b.create<arith::SelectOp>(loc, ok, index, last);
    extent = b.create<arith::SelectOp>(loc, ok, extent, size);
  }
  return {inBounds, dim, index, extent};
}

/// moe_gpu.load as the thread's vector load, checked: its last element past
/// the innermost extent (or any index past its dimension's) is a read out
/// of bounds, an address not aligned to the bytes it loads is misaligned;
/// either fault skips the load, which gives zeros.
void lowerVectorLoads(gpu::LaunchOp launch, Runtime &runtime) {
  SmallVector<moe_gpu::LoadOp> loads;
  launch.getBody().walk([&](moe_gpu::LoadOp op) { loads.push_back(op); });
  gpu::KernelDim3 ids = launch.getThreadIds();
  SmallVector<Value> thread{ids.x, ids.y, ids.z};
  for (moe_gpu::LoadOp op : loads) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    Value memref = op.getMemref();
    auto type = cast<VectorType>(op.getResult().getType());
    Value what = runtime.string(b, loc, describe(op));
    auto [inBounds, dim, index, extent] =
        checkBounds(b, loc, memref, op.getIndices(), type.getNumElements());
    Value bytes = b.create<arith::ConstantIndexOp>(loc, op.getBytes());
    Value address = ::moe::elementAddress(b, loc, memref, op.getIndices());
    Value aligned = b.create<arith::CmpIOp>(
        loc, arith::CmpIPredicate::eq,
        b.create<arith::RemUIOp>(loc, address, bytes),
        b.create<arith::ConstantIndexOp>(loc, 0));
    Value ok = b.create<arith::AndIOp>(loc, inBounds, aligned);
    auto guard = b.create<scf::IfOp>(loc, TypeRange{type}, ok,
                                     /*withElseRegion=*/true);
    b.setInsertionPointToStart(guard.thenBlock());
    b.create<scf::YieldOp>(
        loc, ValueRange{b.create<vector::LoadOp>(loc, type, memref,
                                                 op.getIndices())});
    b.setInsertionPointToStart(guard.elseBlock());
    auto fault = b.create<scf::IfOp>(loc, inBounds, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPoint(fault.thenBlock()->getTerminator());
      runtime.fault(b, loc, MOE_EMU_FAULT_MISALIGNED, what, thread,
                    {address, bytes, b.create<arith::ConstantIndexOp>(loc, 0)});
      b.setInsertionPoint(fault.elseBlock()->getTerminator());
      runtime.fault(b, loc, MOE_EMU_FAULT_READ_OUT_OF_BOUNDS, what, thread,
                    {dim, index, extent});
    }
    b.create<scf::YieldOp>(
        loc, ValueRange{b.create<arith::ConstantOp>(
                 loc, cast<TypedAttr>(b.getZeroAttr(type)))});
    op.replaceAllUsesWith(guard.getResult(0));
    op->erase();
  }
}

/// The mbarrier ops and bulk copies as calls of the runtime, each thread's
/// in its turn: the barrier objects live in the block's shared memory; a
/// bulk copy whose source runs past its buffer is a read out of bounds
/// (and is not issued), else the runtime queues it on its barrier, where it
/// lands when a thread waits for the barrier.
void lowerMbarriers(gpu::LaunchOp launch, Runtime &runtime) {
  SmallVector<Operation *> ops;
  launch.getBody().walk([&](Operation *op) {
    if (isa<moe_gpu::MbarrierInitOp, moe_gpu::MbarrierArriveOp,
            moe_gpu::MbarrierWaitOp, moe_gpu::BulkCopyOp>(op))
      ops.push_back(op);
  });
  gpu::KernelDim3 ids = launch.getThreadIds();
  for (Operation *op : ops) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    Value what = runtime.string(b, loc, describe(op));
    Value thread = linearThread(launch, b, loc);
    auto i32 = [&](Value v) {
      if (v.getType().isIndex())
        return b.create<arith::IndexCastOp>(loc, b.getI32Type(), v).getResult();
      return v;
    };
    auto constant = [&](int64_t v) {
      return b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(int32_t(v)))
          .getResult();
    };
    auto address = [&](Value memref, ValueRange indices) {
      return Runtime::i64(b, loc,
                          ::moe::elementAddress(b, loc, memref, indices));
    };
    if (auto init = dyn_cast<moe_gpu::MbarrierInitOp>(op)) {
      runtime.call(b, loc, MOE_EMU_SLOT_MBARRIER_INIT,
                   {what, thread, address(init.getBarriers(), init.getIndex()),
                    constant(init.getCount())},
                   b.getI32Type());
    } else if (auto arrive = dyn_cast<moe_gpu::MbarrierArriveOp>(op)) {
      runtime.call(b, loc, MOE_EMU_SLOT_MBARRIER_ARRIVE,
                   {what, thread,
                    address(arrive.getBarriers(), arrive.getIndex()),
                    constant(arrive.getTxBytes())},
                   b.getI32Type());
    } else if (auto wait = dyn_cast<moe_gpu::MbarrierWaitOp>(op)) {
      Value bar = address(wait.getBarriers(), wait.getIndex());
      Value parity = i32(wait.getParity());
      // In a warp role, a phase not complete yet suspends the role until it
      // is: the runtime's token (available at once when there is nothing to
      // wait for, and outside roles).
      // (Its address as an integer, which per-thread storage can hold.)
      Value pending = runtime.call(b, loc, MOE_EMU_SLOT_MBARRIER_PENDING,
                                   {what, thread, bar, parity}, b.getI64Type());
      Value token = b.create<LLVM::IntToPtrOp>(
          loc, LLVM::LLVMPointerType::get(b.getContext()), pending);
      b.create<async::AwaitOp>(
          loc, b.create<UnrealizedConversionCastOp>(
                    loc, async::TokenType::get(b.getContext()), token)
                   .getResult(0));
      runtime.call(b, loc, MOE_EMU_SLOT_MBARRIER_WAIT,
                   {what, thread, bar, parity}, b.getI32Type());
    } else {
      auto copy = cast<moe_gpu::BulkCopyOp>(op);
      auto type = cast<MemRefType>(copy.getSrc().getType());
      int64_t count =
          copy.getBytes() / ::moe::elementBytes(type.getElementType());
      auto [inBounds, dim, index, extent] =
          checkBounds(b, loc, copy.getSrc(), copy.getSrcIndices(), count);
      auto guard = b.create<scf::IfOp>(loc, inBounds, /*withElseRegion=*/true);
      b.setInsertionPoint(guard.thenBlock()->getTerminator());
      runtime.call(b, loc, MOE_EMU_SLOT_BULK_COPY,
                   {what, thread, address(copy.getDst(), copy.getDstIndices()),
                    address(copy.getSrc(), copy.getSrcIndices()),
                    constant(copy.getBytes()),
                    address(copy.getBarriers(), copy.getIndex())},
                   b.getI32Type());
      b.setInsertionPoint(guard.elseBlock()->getTerminator());
      runtime.fault(b, loc, MOE_EMU_FAULT_READ_OUT_OF_BOUNDS, what,
                    {ids.x, ids.y, ids.z}, {dim, index, extent});
    }
    op->erase();
  }
}

/// Checks every memref.load and memref.store of `launch` as it runs: an
/// index past its dimension's extent is a fault that skips the access (a
/// load gives 0), and a shared-memory access goes past the runtime's shadow
/// of the block's shared memory first.
LogicalResult instrumentAccesses(gpu::LaunchOp launch, Runtime &runtime) {
  SmallVector<Operation *> accesses;
  WalkResult walked = launch.getBody().walk([&](Operation *op) {
    if (auto atomic = dyn_cast<memref::AtomicRMWOp>(op);
        atomic && isShared(atomic.getMemref().getType())) {
      op->emitError("the CUDA emulator runs atomics on global memory, not on "
                    "shared memory");
      return WalkResult::interrupt();
    }
    if (isa<memref::LoadOp, memref::StoreOp, memref::AtomicRMWOp>(op))
      accesses.push_back(op);
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();
  gpu::KernelDim3 ids = launch.getThreadIds();
  SmallVector<Value> thread{ids.x, ids.y, ids.z};
  for (Operation *op : accesses) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    // A store, a load, or an atomic read-modify-write (global memory only),
    // which writes and gives a value.
    auto store = dyn_cast<memref::StoreOp>(op);
    auto atomic = dyn_cast<memref::AtomicRMWOp>(op);
    Value memref = store    ? store.getMemRef()
                   : atomic ? atomic.getMemref()
                            : cast<memref::LoadOp>(op).getMemRef();
    ValueRange indices = store    ? store.getIndices()
                         : atomic ? atomic.getIndices()
                                  : cast<memref::LoadOp>(op).getIndices();
    bool writes = store || atomic;
    auto type = cast<MemRefType>(memref.getType());
    Value what = runtime.string(b, loc, describe(op));
    auto [inBounds, dim, index, extent] = checkBounds(b, loc, memref, indices);
    SmallVector<Type> results(op->getResultTypes());
    bool gives = !results.empty();
    auto guard = b.create<scf::IfOp>(loc, results, inBounds,
                                     /*withElseRegion=*/true);
    // In bounds: the shadow's check, then the access unless it skips it.
    {
      OpBuilder::InsertionGuard inner(b);
      Block *then = guard.thenBlock();
      b.setInsertionPointToEnd(then);
      if (!then->empty())
        b.setInsertionPoint(then->getTerminator());
      if (!isShared(type)) {
        Operation *copy = b.clone(*op);
        if (gives)
          b.create<scf::YieldOp>(loc, copy->getResults());
      } else {
        int64_t bytes = ::moe::elementBytes(type.getElementType());
        Value address = ::moe::elementAddress(b, loc, memref, indices);
        SmallVector<Value> args{what};
        for (Value v : thread)
          args.push_back(Runtime::i64(b, loc, v));
        args.push_back(Runtime::i64(b, loc, address));
        args.push_back(b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(bytes)));
        args.push_back(b.create<arith::ConstantOp>(
            loc, b.getI32IntegerAttr(writes ? 1 : 0)));
        Value skip = runtime.call(b, loc, MOE_EMU_SLOT_SHARED_ACCESS, args,
                                  b.getI32Type());
        Value perform = b.create<arith::CmpIOp>(
            loc, arith::CmpIPredicate::eq, skip,
            b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(0)));
        auto access = b.create<scf::IfOp>(loc, results, perform, true);
        {
          OpBuilder::InsertionGuard innermost(b);
          b.setInsertionPointToStart(access.thenBlock());
          Operation *copy = b.clone(*op);
          if (gives)
            b.create<scf::YieldOp>(loc, copy->getResults());
          b.setInsertionPointToStart(access.elseBlock());
          if (gives)
            b.create<scf::YieldOp>(
                loc,
                ValueRange{b.create<arith::ConstantOp>(
                    loc, cast<TypedAttr>(b.getZeroAttr(results.front())))});
        }
        if (gives)
          b.create<scf::YieldOp>(loc, access.getResults());
      }
    }
    // Out of bounds: the fault.
    {
      OpBuilder::InsertionGuard inner(b);
      Block *otherwise = guard.elseBlock();
      b.setInsertionPointToEnd(otherwise);
      if (!otherwise->empty())
        b.setInsertionPoint(otherwise->getTerminator());
      runtime.fault(b, loc,
                    writes ? MOE_EMU_FAULT_WRITE_OUT_OF_BOUNDS
                           : MOE_EMU_FAULT_READ_OUT_OF_BOUNDS,
                    what, thread, {dim, index, extent});
      if (gives)
        b.create<scf::YieldOp>(
            loc, ValueRange{b.create<arith::ConstantOp>(
                     loc, cast<TypedAttr>(b.getZeroAttr(results.front())))});
    }
    op->replaceAllUsesWith(guard.getResults());
    op->erase();
  }
  return success();
}

/// The grid of `launch` as one scf.parallel over its blocks (z, y, x), `b`
/// left inside it after moe_emu_block_begin(kernel, block index, block
/// size); `mapping` maps the launch's block ids and grid and block sizes.
scf::ParallelOp openGrid(OpBuilder &b, Location loc, Runtime &runtime,
                         Value name, gpu::LaunchOp launch, IRMapping &mapping,
                         Value zero, Value one) {
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  auto blocks = b.create<scf::ParallelOp>(
      loc, ValueRange{zero, zero, zero}, ValueRange{grid.z, grid.y, grid.x},
      ValueRange{one, one, one});
  b.setInsertionPoint(blocks.getBody()->getTerminator());
  SmallVector<Value> ivs(blocks.getInductionVars());
  SmallVector<Value> args{name};
  for (Value v : {ivs[2], ivs[1], ivs[0], block.x, block.y, block.z})
    args.push_back(Runtime::i64(b, loc, v));
  runtime.call(b, loc, MOE_EMU_SLOT_BLOCK_BEGIN, args);
  gpu::KernelDim3 ids = launch.getBlockIds();
  gpu::KernelDim3 gridSizes = launch.getGridSize(),
                  blockSizes = launch.getBlockSize();
  for (auto [from, to] :
       {std::pair{ids.z, ivs[0]}, std::pair{ids.y, ivs[1]},
        std::pair{ids.x, ivs[2]}, std::pair{gridSizes.x, grid.x},
        std::pair{gridSizes.y, grid.y}, std::pair{gridSizes.z, grid.z},
        std::pair{blockSizes.x, block.x}, std::pair{blockSizes.y, block.y},
        std::pair{blockSizes.z, block.z}})
    mapping.map(from, to);
  return blocks;
}

/// A kernel whose threads communicate, emulated a block at a time: the body
/// is split at each collective operation (and at the loops and conditionals
/// that hold one), the threads run each part in turn, values live across
/// parts are kept per thread, and
/// - gpu.barrier ends the runtime's barrier interval (its race checks);
/// - each warp's mma.sync or gpu.shuffle is one call of the runtime's
///   emulator on its lanes' registers;
/// - a loop or conditional holding one runs once for the block, with the
///   bounds or condition of thread 0, each thread that disagrees a fault
///   (the divergent barrier of a GPU);
/// - the workgroup memory of the launch (static and dynamic) is the block's,
///   registered with the runtime as each block begins.
class BlockEmulation {
public:
  BlockEmulation(gpu::LaunchOp launch, Runtime &runtime, StringRef kernel)
      : launch(launch), module(launch->getParentOfType<ModuleOp>()),
        runtime(runtime), kernel(kernel.str()), b(launch),
        loc(launch.getLoc()) {}

  LogicalResult run() {
    gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
    std::optional<int64_t> x = getConstantIntValue(block.x),
                           y = getConstantIntValue(block.y),
                           z = getConstantIntValue(block.z);
    if (!x || !y || !z)
      return launch.emitError("the CUDA emulator runs kernels whose threads "
                              "communicate with a static block size");
    sizes[0] = *x;
    sizes[1] = *y;
    sizes[2] = *z;
    threads = *x * *y * *z;
    if (threads > 1024)
      return launch.emitError() << "a block of " << threads
                                << " threads: CUDA allows at most 1024";
    if (!launch.getPrivateAttributions().empty())
      return launch.emitError("the CUDA emulator does not run kernels with "
                              "private memory attributions");
    zero = constant(0);
    one = constant(1);
    // Static shared memory is at most 48 KiB a block on every architecture
    // (more only as dynamic shared memory, by opting in): ptxas refuses more.
    int64_t staticBytes = 0;
    for (BlockArgument argument : launch.getWorkgroupAttributions()) {
      auto type = cast<MemRefType>(argument.getType());
      staticBytes = llvm::alignTo(staticBytes, 16) +
                    type.getNumElements() * ::moe::elementBytes(type.getElementType());
    }
    if (staticBytes > kStaticSharedBytes)
      return launch.emitError()
             << "kernel '" << kernel << "' has " << staticBytes
             << " bytes of static shared memory; a block has at most "
             << kStaticSharedBytes << " (48 KiB)";
    Value name = runtime.string(b, loc, kernel);
    // Before the grid: every constant of the body (the same for every
    // thread).
    for (Operation &op : launch.getBody().front())
      if (op.hasTrait<OpTrait::ConstantLike>())
        uniform.map(op.getResult(0), b.clone(op)->getResult(0));
    // The blocks in parallel, each with its own storage, which goes before
    // all of the block's code; each begins with its shared memory unwritten.
    scf::ParallelOp blocks =
        openGrid(b, loc, runtime, name, launch, uniform, zero, one);
    storageAt = OpBuilder::InsertPoint(blocks.getBody(),
                                       blocks.getBody()->begin());
    // The block's shared memory: the workgroup attributions and the dynamic
    // shared memory.
    for (BlockArgument argument : launch.getWorkgroupAttributions()) {
      auto type = cast<MemRefType>(argument.getType());
      Value buffer =
          allocate(type.getShape(), type.getElementType(), kSharedAlignment);
      uniform.map(argument, buffer);
      sharedRegion(buffer, constant(type.getNumElements() *
                                    ::moe::elementBytes(type.getElementType())));
    }
    if (Value bytes = launch.getDynamicSharedMemorySize()) {
      Value size = b.create<arith::IndexCastOp>(loc, b.getIndexType(), bytes);
      auto type = MemRefType::get({ShapedType::kDynamic}, b.getI8Type());
      Value buffer = b.create<memref::AllocOp>(
          loc, type, ValueRange{size}, b.getI64IntegerAttr(kSharedAlignment));
      allocations.push_back(buffer);
      launch.getBody().walk([&](gpu::DynamicSharedMemoryOp op) {
        uniform.map(op.getResult(), buffer);
      });
      sharedRegion(buffer, size);
    }
    threadIds = launch.getThreadIds();
    if (failed(split(launch.getBody().front())) || failed(status))
      return failure();
    for (async::FuncOp function : outlined) {
      RewritePatternSet patterns(b.getContext());
      populateSCFToControlFlowConversionPatterns(patterns);
      ConversionTarget target(*b.getContext());
      target.addIllegalDialect<scf::SCFDialect>();
      target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
      if (failed(applyPartialConversion(function, target, std::move(patterns))))
        return function.emitError("the CUDA emulator could not make blocks of "
                                  "a warp role's control flow");
    }
    runtime.call(b, loc, MOE_EMU_SLOT_BLOCK_END, {});
    // Storage is freed as the block ends.
    for (Value buffer : allocations)
      b.create<memref::DeallocOp>(loc, buffer);
    launch.erase();
    return success();
  }

private:
  Value constant(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }

  /// Registers `bytes` of shared memory at `buffer` with the runtime.
  void sharedRegion(Value buffer, Value bytes) {
    Value address =
        b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, buffer);
    runtime.call(b, loc, MOE_EMU_SLOT_SHARED_REGION,
                 {Runtime::i64(b, loc, address), Runtime::i64(b, loc, bytes)});
  }
  Value i32(int64_t v) {
    return b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(int32_t(v)));
  }

  /// Storage of `shape` x `type`, allocated before the grid, aligned to
  /// `alignment` bytes when it is not 0.
  Value allocate(ArrayRef<int64_t> shape, Type type, int64_t alignment = 0) {
    OpBuilder::InsertionGuard guard(b);
    b.restoreInsertionPoint(storageAt);
    Value buffer = b.create<memref::AllocOp>(
        loc, MemRefType::get(shape, type), ValueRange{},
        alignment ? b.getI64IntegerAttr(alignment) : IntegerAttr());
    allocations.push_back(buffer);
    return buffer;
  }

  /// Whether per-thread storage can hold values of `type`: memrefs, tokens
  /// and pointers are computed again where used.
  static bool isStorable(Type type) {
    return !isa<MemRefType, async::TokenType, LLVM::LLVMPointerType>(type);
  }

  /// What per-thread storage holds a value of `type` as: n-D vectors (which
  /// memrefs of the CPU lowering cannot hold) flattened.
  static Type storedType(Type type) {
    auto vector = dyn_cast<VectorType>(type);
    if (!vector || vector.getRank() <= 1)
      return type;
    return VectorType::get({vector.getNumElements()}, vector.getElementType());
  }

  /// The per-thread storage of `value`, made on first use.
  Value storageOf(Value value) {
    Value &buffer = perThread[value];
    if (!buffer)
      buffer = allocate({threads}, storedType(value.getType()));
    return buffer;
  }

  /// Stores thread `t`'s `value` to its per-thread `storage`.
  void keep(Value value, Value storage, Value t) {
    Type stored = cast<MemRefType>(storage.getType()).getElementType();
    if (value.getType() != stored)
      value = b.create<vector::ShapeCastOp>(loc, stored, value);
    b.create<memref::StoreOp>(loc, value, storage, ValueRange{t});
  }

  /// Maps the launch's thread ids to those of the block's thread `t`.
  void mapThread(Value t, IRMapping &local) {
    Value x = constant(sizes[0]);
    local.map(threadIds.x,
              sizes[0] == threads ? t : b.create<arith::RemUIOp>(loc, t, x));
    local.map(threadIds.y,
              sizes[1] == 1
                  ? zero
                  : b.create<arith::RemUIOp>(
                        loc, b.create<arith::DivUIOp>(loc, t, x),
                        constant(sizes[1])));
    local.map(threadIds.z,
              sizes[2] == 1 ? zero
                            : b.create<arith::DivUIOp>(
                                  loc, t, constant(sizes[0] * sizes[1])));
  }

  /// A loop over the block's threads, with `body(t, local)` for each thread
  /// of the running warp role (all of them outside roles) but `skip`.
  void forThreads(function_ref<void(Value, IRMapping &)> body,
                  Value skip = {}) {
    auto loop = b.create<scf::ForOp>(loc, zero, constant(threads), one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value t = loop.getInductionVar();
    Value runs;
    if (active)
      runs = b.create<memref::LoadOp>(loc, active, ValueRange{t});
    if (skip) {
      Value other =
          b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, t, skip);
      runs = runs ? b.create<arith::AndIOp>(loc, runs, other) : other;
    }
    if (runs)
      b.setInsertionPoint(
          b.create<scf::IfOp>(loc, runs, false).thenBlock()->getTerminator());
    IRMapping local;
    mapThread(t, local);
    body(t, local);
  }

  /// The first thread of the running warp role (thread 0 outside roles).
  Value leaderThread() { return leader ? leader : zero; }

  /// `body()` for the group of `size` threads from `first` (a warp, a
  /// warpgroup) when it is in the running warp role; in a role, a group
  /// whose threads disagree on it is a fault of `op`.
  void ifGroupRuns(Operation *op, Value first, Value size,
                   function_ref<void()> body) {
    if (!active)
      return body();
    Value runs = b.create<memref::LoadOp>(loc, active, ValueRange{first});
    Value what = runtime.string(b, loc, describe(op));
    auto loop = b.create<scf::ForOp>(loc, one, size, one);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(loop.getBody()->getTerminator());
      Value t = b.create<arith::AddIOp>(loc, first, loop.getInductionVar());
      Value differs = b.create<arith::CmpIOp>(
          loc, arith::CmpIPredicate::ne,
          b.create<memref::LoadOp>(loc, active, ValueRange{t}), runs);
      auto check = b.create<scf::IfOp>(loc, differs, false);
      b.setInsertionPoint(check.thenBlock()->getTerminator());
      IRMapping local;
      mapThread(t, local);
      runtime.fault(b, loc, MOE_EMU_FAULT_DIVERGENT, what,
                    {local.lookup(threadIds.x), local.lookup(threadIds.y),
                     local.lookup(threadIds.z)},
                    {first, zero, zero});
    }
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(
        b.create<scf::IfOp>(loc, runs, false).thenBlock()->getTerminator());
    body();
  }

  /// `value` as thread `t` sees it: a uniform value, one of the current
  /// part's, read from its per-thread storage, or (a memref view, which has
  /// no storage) computed again.
  Value read(Value value, Value t, IRMapping &local) {
    if (Value mapped = local.lookupOrNull(value))
      return mapped;
    if (Value mapped = uniform.lookupOrNull(value)) {
      local.map(value, mapped);
      return mapped;
    }
    auto it = perThread.find(value);
    if (it != perThread.end()) {
      Value loaded = b.create<memref::LoadOp>(loc, it->second, ValueRange{t});
      if (loaded.getType() != value.getType())
        loaded = b.create<vector::ShapeCastOp>(loc, value.getType(), loaded);
      local.map(value, loaded);
      return loaded;
    }
    if (!launch.getBody().isAncestor(value.getParentRegion()))
      return value; // defined before the launch
    Operation *def = value.getDefiningOp();
    if (!def || def->getNumRegions() || !isMemoryEffectFree(def)) {
      if (succeeded(status))
        status = (def ? def : launch.getOperation())->emitError()
                 << "the CUDA emulator cannot keep this value across a "
                    "collective operation";
      return value;
    }
    for (Value operand : def->getOperands())
      read(operand, t, local);
    Operation *copy = b.clone(*def, local);
    return copy->getResult(cast<OpResult>(value).getResultNumber());
  }

  /// Emits `ops` (of one block, no collective among them) as one loop over
  /// the threads; their results that later parts use go to per-thread
  /// storage.
  void emitPart(ArrayRef<Operation *> ops) {
    if (ops.empty())
      return;
    llvm::SmallPtrSet<Operation *, 16> inPart(ops.begin(), ops.end());
    forThreads([&](Value t, IRMapping &local) {
      for (Operation *op : ops) {
        SmallVector<Value> copies;
        // A field of an emulated mma.sync's result.
        auto extract = dyn_cast<LLVM::ExtractValueOp>(op);
        auto fields = extract ? fieldsOf.find(extract.getContainer())
                              : fieldsOf.end();
        if (fields != fieldsOf.end()) {
          copies.push_back(b.create<memref::LoadOp>(
              loc, fields->second[extract.getPosition()[0]], ValueRange{t}));
          local.map(extract.getResult(), copies.back());
        } else {
          // The values it reads from other parts, nested regions included.
          op->walk([&](Operation *inner) {
            for (Value operand : inner->getOperands())
              if (!local.contains(operand) &&
                  !op->isAncestor(operand.getParentRegion()->getParentOp()))
                read(operand, t, local);
          });
          Operation *copy = b.clone(*op, local);
          copies.append(copy->result_begin(), copy->result_end());
        }
        for (auto [result, copied] : llvm::zip(op->getResults(), copies)) {
          if (!isStorable(result.getType()))
            continue; // computed again where used
          // (A token is computed again from the integer it is made of.)
          std::function<bool(Value)> usedLater = [&](Value value) {
            return llvm::any_of(value.getUsers(), [&](Operation *user) {
              Operation *owner = op->getBlock()->findAncestorOpInBlock(*user);
              if (!owner || !inPart.contains(owner))
                return true;
              return isa<UnrealizedConversionCastOp, LLVM::IntToPtrOp>(user) &&
                     !isStorable(user->getResult(0).getType()) &&
                     usedLater(user->getResult(0));
            });
          };
          if (usedLater(result))
            keep(copied, storageOf(result), t);
        }
      }
    });
  }

  /// `value` as thread 0 holds it; each thread that holds another is a
  /// fault of the collective `holder` holds.
  Value uniformOf(Value value, Operation *holder) {
    if (Value mapped = uniform.lookupOrNull(value))
      return mapped;
    if (!launch.getBody().isAncestor(value.getParentRegion()))
      return value;
    Value lead = leaderThread();
    IRMapping first;
    mapThread(lead, first);
    Value theirs = read(value, lead, first);
    Value what = runtime.string(b, loc, describe(holder));
    forThreads(
        [&](Value t, IRMapping &local) {
          Value mine = read(value, t, local);
          Value differs =
              isa<FloatType>(value.getType())
                  ? b.create<arith::CmpFOp>(loc, arith::CmpFPredicate::UNE,
                                            mine, theirs)
                        .getResult()
                  : b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne,
                                            mine, theirs)
                        .getResult();
          auto check = b.create<scf::IfOp>(loc, differs, false);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(check.thenBlock()->getTerminator());
          runtime.fault(b, loc, MOE_EMU_FAULT_DIVERGENT, what,
                        {local.lookup(threadIds.x), local.lookup(threadIds.y),
                         local.lookup(threadIds.z)},
                        {lead, zero, zero});
        },
        /*skip=*/lead);
    return theirs;
  }

  /// For each warp: `body(first thread, lanes)`, lanes the warp's threads
  /// (fewer than 32 in the last warp of a block that is not whole warps).
  /// In a warp role, only its warps (`op` names the operation of a warp
  /// that is partly in it, a fault).
  void forWarps(Operation *op, function_ref<void(Value, Value)> body) {
    int64_t warps = (threads + 31) / 32;
    auto loop = b.create<scf::ForOp>(loc, zero, constant(warps), one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value first = b.create<arith::MulIOp>(loc, loop.getInductionVar(),
                                          constant(32));
    Value lanes = b.create<arith::MinUIOp>(
        loc, constant(32),
        b.create<arith::SubIOp>(loc, constant(threads), first));
    ifGroupRuns(op, first, lanes, [&] { body(first, lanes); });
  }

  /// For each of `lanes` lanes from thread `first`: `body(lane, t, local)`.
  void forLanes(Value first, Value lanes,
                function_ref<void(Value, Value, IRMapping &)> body) {
    auto loop = b.create<scf::ForOp>(loc, zero, lanes, one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value lane = loop.getInductionVar();
    Value t = b.create<arith::AddIOp>(loc, first, lane);
    IRMapping local;
    mapThread(t, local);
    body(lane, t, local);
  }

  Value pointer(Value buffer) {
    Value address =
        b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, buffer);
    return b.create<LLVM::IntToPtrOp>(
        loc, LLVM::LLVMPointerType::get(b.getContext()),
        b.create<arith::IndexCastOp>(loc, b.getI64Type(), address));
  }

  /// One warp at a time: the lanes' registers gathered from their threads,
  /// the emulator's mma.sync or mma.sp, the results scattered back; a lane
  /// whose sparse metadata the ISA leaves undefined is a fault.
  LogicalResult emitMma(Operation *mma) {
    if (threads % 32)
      return mma->emitError("mma needs a block of whole warps");
    auto dense = dyn_cast<moe_gpu::MmaSyncOp>(mma);
    auto sparse = dyn_cast<moe_gpu::MmaSpOp>(mma);
    Type f32 = b.getF32Type();
    // A's, B's and C's registers of every lane (moe/GPU/MmaLayout.h), and
    // mma.sp's metadata.
    SmallVector<OperandRange> operands =
        dense ? SmallVector<OperandRange>{dense.getA(), dense.getB(),
                                          dense.getC()}
              : SmallVector<OperandRange>{sparse.getA(), sparse.getB(),
                                          sparse.getC(),
                                          sparse.getRegisters().take_back()};
    SmallVector<Value> groups;
    for (OperandRange registers : operands)
      groups.push_back(
          registers.size() == 1 && sparse
              ? allocate({32}, b.getI32Type())
              : allocate({32, int64_t(registers.size())},
                         registers.front().getType()));
    Value d = allocate({32, 4}, f32);
    SmallVector<Value> results;
    for (Value result : mma->getResults())
      results.push_back(storageOf(result));
    Type element = dense ? dense.getType() : sparse.getType();
    moe_emu_type type = element.isBF16() ? MOE_EMU_BF16 : MOE_EMU_F16;
    Value what = runtime.string(b, loc, describe(mma));
    forWarps(mma, [&](Value first, Value lanes) {
      forLanes(first, lanes, [&](Value lane, Value t, IRMapping &local) {
        for (auto [group, registers] : llvm::zip(groups, operands))
          for (auto [i, value] : llvm::enumerate(registers)) {
            SmallVector<Value> at{lane};
            if (cast<MemRefType>(group.getType()).getRank() == 2)
              at.push_back(constant(i));
            b.create<memref::StoreOp>(loc, read(value, t, local), group, at);
          }
      });
      if (dense) {
        runtime.call(b, loc,
                     dense.getK() == 16 ? MOE_EMU_SLOT_MMA_M16N8K16
                                        : MOE_EMU_SLOT_MMA_M16N8K8,
                     {i32(type), pointer(groups[0]), pointer(groups[1]),
                      pointer(groups[2]), pointer(d)});
      } else {
        Value lane = runtime.call(
            b, loc, MOE_EMU_SLOT_MMA_SP_M16N8K32,
            {i32(type), pointer(groups[0]), pointer(groups[1]),
             pointer(groups[2]), pointer(groups[3]), i32(sparse.getSelector()),
             pointer(d)},
            b.getI32Type());
        auto check = b.create<scf::IfOp>(
            loc,
            b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge, lane,
                                    i32(0)),
            false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(check.thenBlock()->getTerminator());
        Value index = b.create<arith::IndexCastOp>(loc, b.getIndexType(), lane);
        IRMapping local;
        mapThread(b.create<arith::AddIOp>(loc, first, index), local);
        Value metadata =
            b.create<memref::LoadOp>(loc, groups[3], ValueRange{index});
        runtime.fault(b, loc, MOE_EMU_FAULT_SPARSE_METADATA, what,
                      {local.lookup(threadIds.x), local.lookup(threadIds.y),
                       local.lookup(threadIds.z)},
                      {b.create<arith::ExtUIOp>(loc, b.getI64Type(), metadata),
                       zero, zero});
      }
      scatter(first, lanes, d, results);
    });
    return success();
  }

  /// Register i of each of `lanes` threads from `first` (row `lane` of
  /// `registers`) to its per-thread storage `results[i]`.
  void scatter(Value first, Value lanes, Value registers,
               ArrayRef<Value> results) {
    forLanes(first, lanes, [&](Value lane, Value t, IRMapping &) {
      for (auto [i, storage] : llvm::enumerate(results))
        b.create<memref::StoreOp>(
            loc,
            b.create<memref::LoadOp>(loc, registers,
                                     ValueRange{lane, constant(i)}),
            storage, ValueRange{t});
    });
  }

  /// One warpgroup at a time: its threads' C registers gathered, each
  /// thread's operand addresses checked against its first thread's (the
  /// instruction is the warpgroup's), the runtime's checked wgmma, D
  /// scattered back.
  LogicalResult emitWgmma(moe_gpu::WgmmaOp wgmma) {
    constexpr int64_t kWarpgroup = 128;
    if (threads % kWarpgroup)
      return wgmma.emitError("wgmma needs a block of whole warpgroups (128 "
                             "threads each)");
    int64_t registers = int64_t(wgmma.getC().size());
    Value c = allocate({kWarpgroup, registers}, b.getF32Type());
    Value addresses = allocate({2}, b.getI64Type());
    SmallVector<Value> results;
    for (Value result : wgmma.getD())
      results.push_back(storageOf(result));
    Value what = runtime.string(b, loc, describe(wgmma));
    moe_emu_type type = wgmma.getType().isBF16() ? MOE_EMU_BF16 : MOE_EMU_F16;
    auto loop =
        b.create<scf::ForOp>(loc, zero, constant(threads / kWarpgroup), one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    Value first = b.create<arith::MulIOp>(loc, loop.getInductionVar(),
                                          constant(kWarpgroup));
    // In a warp role, its warpgroups only.
    ifGroupRuns(wgmma, first, constant(kWarpgroup), [] {});
    if (active)
      b.setInsertionPoint(
          b.create<scf::IfOp>(
               loc, b.create<memref::LoadOp>(loc, active, ValueRange{first}),
               false)
              .thenBlock()
              ->getTerminator());
    forLanes(first, constant(kWarpgroup),
             [&](Value lane, Value t, IRMapping &local) {
               for (auto [i, value] : llvm::enumerate(wgmma.getC()))
                 b.create<memref::StoreOp>(loc, read(value, t, local), c,
                                           ValueRange{lane, constant(i)});
               for (auto [i, operand] : llvm::enumerate(
                        std::array<std::pair<Value, OperandRange>, 2>{
                            std::pair{wgmma.getA(), wgmma.getAIndices()},
                            std::pair{wgmma.getB(), wgmma.getBIndices()}})) {
                 SmallVector<Value> indices;
                 for (Value index : operand.second)
                   indices.push_back(read(index, t, local));
                 Value address = Runtime::i64(
                     b, loc,
                     ::moe::elementAddress(
                         b, loc, read(operand.first, t, local), indices));
                 Value at = constant(i);
                 auto isFirst = b.create<scf::IfOp>(
                     loc,
                     b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq,
                                             lane, zero),
                     /*withElseRegion=*/true);
                 {
                   OpBuilder::InsertionGuard inner(b);
                   b.setInsertionPoint(isFirst.thenBlock()->getTerminator());
                   b.create<memref::StoreOp>(loc, address, addresses,
                                             ValueRange{at});
                   b.setInsertionPoint(isFirst.elseBlock()->getTerminator());
                   Value theirs =
                       b.create<memref::LoadOp>(loc, addresses, ValueRange{at});
                   auto differs = b.create<scf::IfOp>(
                       loc,
                       b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne,
                                               address, theirs),
                       false);
                   b.setInsertionPoint(differs.thenBlock()->getTerminator());
                   IRMapping firstIds;
                   mapThread(first, firstIds);
                   runtime.fault(b, loc, MOE_EMU_FAULT_DIVERGENT, what,
                                 {local.lookup(threadIds.x),
                                  local.lookup(threadIds.y),
                                  local.lookup(threadIds.z)},
                                 {first, zero, zero});
                 }
               }
             });
    runtime.call(
        b, loc, MOE_EMU_SLOT_WGMMA,
        {what, Runtime::i64(b, loc, first), i32(type), i32(wgmma.getN()),
         b.create<memref::LoadOp>(loc, addresses, ValueRange{zero}),
         b.create<memref::LoadOp>(loc, addresses, ValueRange{one}),
         b.create<arith::ConstantOp>(
             loc,
             b.getI64IntegerAttr(int64_t(wgmma.getDescriptor(/*isA=*/true)))),
         b.create<arith::ConstantOp>(
             loc,
             b.getI64IntegerAttr(int64_t(wgmma.getDescriptor(/*isA=*/false)))),
         pointer(c)},
        b.getI32Type());
    scatter(first, constant(kWarpgroup), c, results);
    return success();
  }

  /// The lanes of a warp of `lanes` threads, as a 32-bit mask.
  Value existingLanes(Value lanes) {
    Value count = b.create<arith::IndexCastOp>(loc, b.getI32Type(), lanes);
    return b.create<arith::SelectOp>(
        loc,
        b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, count, i32(32)),
        i32(-1),
        b.create<arith::SubIOp>(
            loc, b.create<arith::ShLIOp>(loc, i32(1), count), i32(1)));
  }

  /// A fault of `op` at lane `lane` (i32) of the warp from thread `first`,
  /// when `bad`.
  void laneFault(Operation *op, Value bad, Value first, Value lane,
                 Value members, bool reads) {
    auto check = b.create<scf::IfOp>(loc, bad, false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(check.thenBlock()->getTerminator());
    Value t = b.create<arith::AddIOp>(
        loc, first, b.create<arith::IndexCastOp>(loc, b.getIndexType(), lane));
    IRMapping local;
    mapThread(t, local);
    runtime.fault(b, loc, MOE_EMU_FAULT_INACTIVE_LANE,
                  runtime.string(b, loc, describe(op)),
                  {local.lookup(threadIds.x), local.lookup(threadIds.y),
                   local.lookup(threadIds.z)},
                  {b.create<arith::ExtUIOp>(loc, b.getI64Type(), members),
                   constant(reads), zero});
  }

  /// A warp-wide operation, one warp at a time: each lane's `operands(t,
  /// local)` stored to 32-element arrays of `types`, then `body(first, lanes,
  /// members, arrays)` calls the runtime and scatters the results. The
  /// member mask is the first lane's `mask`; a lane of the warp outside it
  /// runs the operation, which the ISA leaves undefined: a fault.
  void perWarp(Operation *op, ArrayRef<Type> types, Value mask,
               function_ref<SmallVector<Value>(Value, IRMapping &)> operands,
               function_ref<void(Value, Value, Value, ArrayRef<Value>)> body) {
    SmallVector<Value> arrays;
    for (Type type : types)
      arrays.push_back(allocate({32}, type));
    Value masks = allocate({32}, b.getI32Type());
    forWarps(op, [&](Value first, Value lanes) {
      forLanes(first, lanes, [&](Value lane, Value t, IRMapping &local) {
        for (auto [value, array] : llvm::zip(operands(t, local), arrays))
          b.create<memref::StoreOp>(loc, value, array, ValueRange{lane});
        b.create<memref::StoreOp>(loc, read(mask, t, local), masks,
                                  ValueRange{lane});
      });
      Value members = b.create<memref::LoadOp>(loc, masks, ValueRange{zero});
      Value existing = existingLanes(lanes);
      Value outside = b.create<arith::AndIOp>(
          loc, existing, b.create<arith::XOrIOp>(loc, members, i32(-1)));
      laneFault(op,
                b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ne, outside,
                                        i32(0)),
                first,
                b.create<LLVM::CountTrailingZerosOp>(loc, b.getI32Type(),
                                                     outside, false),
                members, /*reads=*/false);
      body(first, lanes, b.create<arith::AndIOp>(loc, members, existing),
           arrays);
    });
  }

  /// shfl.sync on each warp: `value`, `offset` and `clamp` per lane, the
  /// runtime's moe_emu_shfl_sync, the value (and whether its source lane
  /// was in range) back to each lane.
  void emitShfl(Operation *op, int64_t mode, Value value, Value offset,
                Value clamp, Value mask, Value results, Value validity) {
    Type type = value.getType(), i32Type = b.getI32Type();
    Value d = allocate({32}, i32Type), p = allocate({32}, b.getI8Type());
    perWarp(
        op, {i32Type, i32Type, i32Type}, mask,
        [&](Value t, IRMapping &local) -> SmallVector<Value> {
          Value v = read(value, t, local);
          if (!type.isInteger(32))
            v = b.create<arith::BitcastOp>(loc, i32Type, v);
          return {v, read(offset, t, local), read(clamp, t, local)};
        },
        [&](Value first, Value lanes, Value members, ArrayRef<Value> arrays) {
          Value fault = runtime.call(
              b, loc, MOE_EMU_SLOT_SHFL_SYNC,
              {i32(mode), members, pointer(arrays[0]), pointer(arrays[1]),
               pointer(arrays[2]), pointer(d), pointer(p)},
              i32Type);
          laneFault(op,
                    b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::sge,
                                            fault, i32(0)),
                    first, fault, members, /*reads=*/true);
          forLanes(first, lanes, [&](Value lane, Value t, IRMapping &) {
            Value v = b.create<memref::LoadOp>(loc, d, ValueRange{lane});
            if (!type.isInteger(32))
              v = b.create<arith::BitcastOp>(loc, type, v);
            b.create<memref::StoreOp>(loc, v, results, ValueRange{t});
            if (!validity)
              return;
            Value inRange = b.create<arith::CmpIOp>(
                loc, arith::CmpIPredicate::ne,
                b.create<memref::LoadOp>(loc, p, ValueRange{lane}),
                b.create<arith::ConstantOp>(loc, b.getI8IntegerAttr(0)));
            b.create<memref::StoreOp>(loc, inRange, validity, ValueRange{t});
          });
        });
  }

  /// gpu.shuffle as the NVVM lowering emits it: shfl.sync with the member
  /// mask of its width's lanes and the clamp of its mode.
  LogicalResult emitShuffle(gpu::ShuffleOp shuffle) {
    Type type = shuffle.getValue().getType();
    if (!type.isInteger(32) && !type.isF32())
      return shuffle.emitError("the CUDA emulator shuffles 32-bit values");
    Value width = uniformOf(shuffle.getWidth(), shuffle);
    Value inactive = b.create<arith::SubIOp>(loc, i32(32), width);
    Value mask = b.create<arith::ShRUIOp>(loc, i32(-1), inactive);
    Value clamp = shuffle.getMode() == gpu::ShuffleMode::UP
                      ? inactive
                      : b.create<arith::SubIOp>(loc, width, i32(1));
    int64_t mode = shflMode(gpu::stringifyShuffleMode(shuffle.getMode()));
    emitShfl(shuffle, mode, shuffle.getValue(), shuffle.getOffset(), clamp,
             mask, storageOf(shuffle.getShuffleResult()),
             storageOf(shuffle.getValid()));
    return success();
  }

  /// nvvm.shfl.sync, its result a value or {value, i1} (the fields then
  /// kept per thread as an mma.sync's are).
  LogicalResult emitNvvmShfl(NVVM::ShflOp shfl) {
    Type type = shfl.getVal().getType();
    if (!type.isInteger(32) && !type.isF32())
      return shfl.emitError("the CUDA emulator shuffles 32-bit values");
    int64_t mode = shflMode(NVVM::stringifyShflKind(shfl.getKind()));
    Value results, validity;
    if (shfl.getReturnValueAndIsValid()) {
      // Two fields, each kept per thread.
      results = allocate({threads}, type);
      validity = allocate({threads}, b.getI1Type());
      fieldsOf[shfl.getRes()] = {results, validity};
    } else {
      results = storageOf(shfl.getRes());
    }
    emitShfl(shfl, mode, shfl.getVal(), shfl.getOffset(),
             shfl.getMaskAndClamp(), shfl.getThreadMask(), results, validity);
    return success();
  }

  /// nvvm.vote.ballot.sync: the members' predicates, one ballot for all.
  LogicalResult emitBallot(NVVM::VoteBallotOp vote) {
    emitWarpReduction(vote, vote.getRes(), vote.getMask(), b.getI8Type(),
                      [&](Value t, IRMapping &local) -> Value {
                        return b.create<arith::ExtUIOp>(
                            loc, b.getI8Type(), read(vote.getPred(), t, local));
                      },
                      MOE_EMU_SLOT_VOTE_SYNC, MOE_EMU_VOTE_BALLOT);
    return success();
  }

  /// A warp-wide operation whose one i32 result every lane receives: each
  /// lane's `operand` (of `type`) to the runtime's function in `slot`, with
  /// `mode`, the member mask and the lanes' values.
  void emitWarpReduction(Operation *op, Value result, Value mask, Type type,
                         function_ref<Value(Value, IRMapping &)> operand,
                         moe_emu_slot slot, int64_t mode) {
    Value results = storageOf(result);
    perWarp(
        op, {type}, mask,
        [&](Value t, IRMapping &local) -> SmallVector<Value> {
          return {operand(t, local)};
        },
        [&](Value first, Value lanes, Value members, ArrayRef<Value> arrays) {
          Value reduced =
              runtime.call(b, loc, slot, {i32(mode), members, pointer(arrays[0])},
                           b.getI32Type());
          forLanes(first, lanes, [&](Value, Value t, IRMapping &) {
            b.create<memref::StoreOp>(loc, reduced, results, ValueRange{t});
          });
        });
  }

  /// nvvm.redux.sync: the members' values reduced, one result for all.
  LogicalResult emitRedux(NVVM::ReduxOp redux) {
    if (!redux.getVal().getType().isInteger(32))
      return redux.emitError("the CUDA emulator reduces 32-bit integers");
    int64_t op = llvm::StringSwitch<int64_t>(
                     NVVM::stringifyReduxKind(redux.getKind()))
                     .Case("add", MOE_EMU_REDUX_ADD)
                     .Case("and", MOE_EMU_REDUX_AND)
                     .Case("or", MOE_EMU_REDUX_OR)
                     .Case("xor", MOE_EMU_REDUX_XOR)
                     .Case("max", MOE_EMU_REDUX_MAX_S32)
                     .Case("min", MOE_EMU_REDUX_MIN_S32)
                     .Case("umax", MOE_EMU_REDUX_MAX_U32)
                     .Case("umin", MOE_EMU_REDUX_MIN_U32)
                     .Default(-1);
    if (op < 0)
      return redux.emitError("redux.sync has no such reduction");
    emitWarpReduction(
        redux, redux.getRes(), redux.getMaskAndClamp(), b.getI32Type(),
        [&](Value t, IRMapping &local) { return read(redux.getVal(), t, local); },
        MOE_EMU_SLOT_REDUX_SYNC, op);
    return success();
  }

  /// nvgpu.ldmatrix: each lane's row address, the runtime's checked
  /// ldmatrix for the warp (its shared reads past the shadow), each lane's
  /// registers back as the rows of its vector<tiles x 2 x T>.
  LogicalResult emitLdmatrix(nvgpu::LdMatrixOp ldmatrix) {
    auto type = cast<VectorType>(ldmatrix.getRes().getType());
    int64_t tiles = ldmatrix.getNumTiles();
    if (type.getRank() != 2 || type.getDimSize(0) != tiles ||
        type.getDimSize(1) != 2 || ::moe::elementBytes(type.getElementType()) != 2 ||
        !(tiles == 1 || tiles == 2 || tiles == 4))
      return ldmatrix.emitError("the CUDA emulator runs ldmatrix of 1, 2 or 4 "
                                "8 x 8 tiles of 16-bit elements");
    if (threads % 32)
      return ldmatrix.emitError("ldmatrix needs a block of whole warps");
    Value rows = allocate({32}, b.getI64Type());
    Value d = allocate({32, 4}, b.getI32Type());
    Value results = storageOf(ldmatrix.getRes());
    Value what = runtime.string(b, loc, describe(ldmatrix));
    auto pair = VectorType::get({2}, type.getElementType());
    forWarps(ldmatrix, [&](Value first, Value lanes) {
      forLanes(first, lanes, [&](Value lane, Value t, IRMapping &local) {
        SmallVector<Value> indices;
        for (Value index : ldmatrix.getIndices())
          indices.push_back(read(index, t, local));
        Value address = ::moe::elementAddress(
            b, loc, read(ldmatrix.getSrcMemref(), t, local), indices);
        b.create<memref::StoreOp>(loc, Runtime::i64(b, loc, address), rows,
                                  ValueRange{lane});
      });
      runtime.call(b, loc, MOE_EMU_SLOT_LDMATRIX,
                   {what, Runtime::i64(b, loc, first), i32(tiles),
                    i32(ldmatrix.getTranspose()), pointer(rows), pointer(d)},
                   b.getI32Type());
      forLanes(first, lanes, [&](Value lane, Value t, IRMapping &) {
        Value vector = b.create<arith::ConstantOp>(loc, b.getZeroAttr(type));
        for (int64_t i = 0; i < tiles; ++i) {
          Value bits =
              b.create<memref::LoadOp>(loc, d, ValueRange{lane, constant(i)});
          Value halves = b.create<vector::BitCastOp>(
              loc, pair,
              b.create<vector::BroadcastOp>(
                  loc, VectorType::get({1}, b.getI32Type()), bits));
          vector = b.create<vector::InsertOp>(loc, halves, vector,
                                              ArrayRef<int64_t>{i});
        }
        keep(vector, results, t);
      });
    });
    return success();
  }

  /// A loop holding a collective, run once for the block with thread 0's
  /// bounds: its carried values kept per thread.
  LogicalResult emitLoop(scf::ForOp loop) {
    Value bounds[3] = {loop.getLowerBound(), loop.getUpperBound(),
                       loop.getStep()};
    for (Value &bound : bounds)
      bound = uniformOf(bound, loop);
    // The carried values start as the threads' initial values.
    SmallVector<Value> carried;
    for (BlockArgument argument : loop.getRegionIterArgs())
      carried.push_back(storageOf(argument));
    forThreads([&](Value t, IRMapping &local) {
      for (auto [init, storage] : llvm::zip(loop.getInitArgs(), carried))
        keep(read(init, t, local), storage, t);
    });
    auto copy = b.create<scf::ForOp>(loc, bounds[0], bounds[1], bounds[2]);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(copy.getBody()->getTerminator());
      uniform.map(loop.getInductionVar(), copy.getInductionVar());
      if (failed(split(*loop.getBody())))
        return failure();
      storeYields(cast<scf::YieldOp>(loop.getBody()->getTerminator()), carried);
    }
    // After the loop its results are the carried values.
    for (auto [result, storage] : llvm::zip(loop.getResults(), carried))
      perThread[result] = storage;
    return success();
  }

  /// The values `yield` gives, every thread's, to `storage` (all read
  /// before any is written).
  void storeYields(Operation *yield, ArrayRef<Value> storage) {
    if (storage.empty())
      return;
    forThreads([&](Value t, IRMapping &local) {
      SmallVector<Value> next;
      for (Value value : yield->getOperands())
        next.push_back(read(value, t, local));
      for (auto [value, buffer] : llvm::zip(next, storage))
        keep(value, buffer, t);
    });
  }

  /// A conditional holding a collective, run once for the block on thread
  /// 0's condition (the running role's first thread's), or, marked
  /// moe_gpu.roles, as the block's warp roles.
  LogicalResult emitIf(scf::IfOp conditional) {
    if (conditional->hasAttr(::moe::kWarpRoles))
      return emitRoles(conditional);
    Value condition = uniformOf(conditional.getCondition(), conditional);
    SmallVector<Value> results;
    for (Value result : conditional.getResults()) {
      if (isa<MemRefType>(result.getType()))
        return conditional.emitError(
            "the CUDA emulator cannot keep a memref a conditional yields "
            "across a collective operation");
      results.push_back(storageOf(result));
    }
    bool otherwise = !conditional.getElseRegion().empty();
    auto copy = b.create<scf::IfOp>(loc, condition, otherwise);
    for (auto [from, to] :
         {std::pair{&conditional.getThenRegion(), &copy.getThenRegion()},
          std::pair{&conditional.getElseRegion(), &copy.getElseRegion()}}) {
      if (from->empty())
        continue;
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(to->front().getTerminator());
      if (failed(split(from->front())))
        return failure();
      storeYields(from->front().getTerminator(), results);
    }
    return success();
  }

  /// A conditional marked moe_gpu.roles: the threads whose condition holds
  /// run its then region, the others its else region, each a warp role,
  /// concurrently: each region is a coroutine (an async.func) over its
  /// role's threads, which a wait for an mbarrier phase not complete yet
  /// suspends until another role completes it. The block goes on once both
  /// have ended.
  LogicalResult emitRoles(scf::IfOp conditional) {
    if (conditional.getNumResults())
      return conditional.emitError("the CUDA emulator runs warp roles "
                                   "(moe_gpu.roles) that yield no results");
    // Each thread's condition.
    Value holds = allocate({threads}, b.getI1Type());
    forThreads([&](Value t, IRMapping &local) {
      b.create<memref::StoreOp>(loc, read(conditional.getCondition(), t, local),
                                holds, ValueRange{t});
    });
    SmallVector<Value> ends;
    for (auto [region, then] :
         {std::pair{&conditional.getThenRegion(), true},
          std::pair{&conditional.getElseRegion(), false}}) {
      if (region->empty())
        continue;
      // The role's threads, and its first (`threads` when it has none).
      Value role = allocate({threads}, b.getI1Type());
      auto loop = b.create<scf::ForOp>(
          loc, zero, constant(threads), one, ValueRange{constant(threads)},
          [](OpBuilder &nested, Location at, Value, ValueRange carried) {
            nested.create<scf::YieldOp>(at, carried);
          });
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(loop.getBody()->getTerminator());
        Value t = loop.getInductionVar();
        Value in = b.create<memref::LoadOp>(loc, holds, ValueRange{t});
        if (!then)
          in = b.create<arith::XOrIOp>(
              loc, in, b.create<arith::ConstantIntOp>(loc, 1, 1));
        if (active)
          in = b.create<arith::AndIOp>(
              loc, in, b.create<memref::LoadOp>(loc, active, ValueRange{t}));
        b.create<memref::StoreOp>(loc, in, role, ValueRange{t});
        Value first = loop.getRegionIterArgs()[0];
        Value isFirst = b.create<arith::AndIOp>(
            loc, in,
            b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, first,
                                    constant(threads)));
        loop.getBody()->getTerminator()->setOperands(
            b.create<arith::SelectOp>(loc, isFirst, t, first).getResult());
      }
      // The role's code, in a container outlined below.
      auto container = b.create<scf::ExecuteRegionOp>(loc, TypeRange{});
      Block *body = new Block();
      container.getRegion().push_back(body);
      Value outerActive = active, outerLeader = leader;
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(body);
        Operation *end = b.create<scf::YieldOp>(loc);
        b.setInsertionPoint(end);
        runtime.call(b, loc, MOE_EMU_SLOT_ROLE_BEGIN, {});
        auto any = b.create<scf::IfOp>(
            loc,
            b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult,
                                    loop.getResult(0), constant(threads)),
            false);
        runtime.call(b, loc, MOE_EMU_SLOT_ROLE_END, {});
        b.setInsertionPoint(any.thenBlock()->getTerminator());
        active = role;
        leader = loop.getResult(0);
        LogicalResult emitted = split(region->front());
        active = outerActive;
        leader = outerLeader;
        if (failed(emitted))
          return failure();
      }
      ends.push_back(outline(container));
    }
    for (Value end : ends)
      b.create<async::AwaitOp>(loc, end);
    return success();
  }

  /// `container`'s code as an async.func of the values it uses from above,
  /// its structured control flow as blocks (the coroutine lowering suspends
  /// between blocks); the container is replaced by the call, whose token
  /// this returns.
  Value outline(scf::ExecuteRegionOp container) {
    Region &region = container.getRegion();
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(region, captured);
    MLIRContext *ctx = b.getContext();
    auto tokenType = async::TokenType::get(ctx);
    auto type = FunctionType::get(ctx, TypeRange(captured.getArrayRef()),
                                  TypeRange{tokenType});
    OpBuilder atModule = OpBuilder::atBlockEnd(module.getBody());
    std::string name = kernel + "_role_" + std::to_string(roles++);
    auto function = atModule.create<async::FuncOp>(loc, name, type);
    function.setPrivate();
    Block *entry = function.addEntryBlock();
    entry->getOperations().splice(entry->end(), region.front().getOperations());
    Operation *yield = entry->getTerminator();
    OpBuilder(yield).create<async::ReturnOp>(loc, ValueRange{});
    yield->erase();
    for (auto [i, argument] : llvm::enumerate(entry->getArguments())) {
      Value value = captured[i];
      value.replaceUsesWithIf(argument, [&](OpOperand &use) {
        return function->isProperAncestor(use.getOwner());
      });
    }
    auto call = b.create<async::CallOp>(loc, function, captured.getArrayRef());
    container.erase();
    outlined.push_back(function);
    return call.getResult(0);
  }

  /// Emits `block`'s operations (but its terminator) part by part.
  LogicalResult split(Block &block) {
    SmallVector<Operation *> part;
    for (Operation &op : block.without_terminator()) {
      if (op.hasTrait<OpTrait::ConstantLike>() &&
          uniform.contains(op.getResult(0)))
        continue;
      if (isa<gpu::DynamicSharedMemoryOp>(op))
        continue;
      // In a warp role, its threads' waits are collective too: the role's
      // threads each reach theirs before any waits, so that a thread
      // suspended does not hold back those the emulator runs after it.
      if (!holdsCollective(&op) && !(active && holdsAwait(&op))) {
        part.push_back(&op);
        continue;
      }
      emitPart(part);
      part.clear();
      LogicalResult emitted = success();
      if (isa<moe_gpu::MmaSyncOp, moe_gpu::MmaSpOp>(op))
        emitted = emitMma(&op);
      else if (auto wgmma = dyn_cast<moe_gpu::WgmmaOp>(op))
        emitted = emitWgmma(wgmma);
      else if (auto ldmatrix = dyn_cast<nvgpu::LdMatrixOp>(op))
        emitted = emitLdmatrix(ldmatrix);
      else if (isa<gpu::BarrierOp, NVVM::Barrier0Op>(op) && active)
        return op.emitError("a block-wide barrier in a warp role "
                            "(moe_gpu.roles): the other roles' threads never "
                            "reach it");
      else if (isa<gpu::BarrierOp, NVVM::Barrier0Op>(op))
        runtime.call(b, loc, MOE_EMU_SLOT_BARRIER, {});
      else if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op))
        emitted = emitShuffle(shuffle);
      else if (auto shfl = dyn_cast<NVVM::ShflOp>(op))
        emitted = emitNvvmShfl(shfl);
      else if (auto vote = dyn_cast<NVVM::VoteBallotOp>(op))
        emitted = emitBallot(vote);
      else if (auto redux = dyn_cast<NVVM::ReduxOp>(op))
        emitted = emitRedux(redux);
      else if (auto await = dyn_cast<async::AwaitOp>(op))
        forThreads([&](Value t, IRMapping &local) {
          b.create<async::AwaitOp>(loc, read(await.getOperand(), t, local));
        });
      else if (auto loop = dyn_cast<scf::ForOp>(op))
        emitted = emitLoop(loop);
      else if (auto conditional = dyn_cast<scf::IfOp>(op))
        emitted = emitIf(conditional);
      else
        return op.emitError("the CUDA emulator runs collective operations at "
                            "the top of a kernel, in scf.for and in scf.if, "
                            "not under '")
               << op.getName() << "'";
      if (failed(emitted) || failed(status))
        return failure();
    }
    emitPart(part);
    return status;
  }

public:
  /// The roles' async.funcs, whose structured control flow is made blocks
  /// once the block is emitted.
  SmallVector<async::FuncOp> outlined;

private:
  gpu::LaunchOp launch;
  ModuleOp module;
  Runtime &runtime;
  std::string kernel;
  OpBuilder b;
  Location loc;
  /// In a warp role: its threads (i1 per thread), and its first thread.
  Value active, leader;
  int64_t roles = 0;
  int64_t sizes[3] = {1, 1, 1};
  int64_t threads = 0;
  Value zero, one;
  OpBuilder::InsertPoint storageAt;
  gpu::KernelDim3 threadIds;
  IRMapping uniform;
  llvm::DenseMap<Value, Value> perThread;
  llvm::DenseMap<Value, SmallVector<Value>> fieldsOf;
  SmallVector<Value> allocations;
  LogicalResult status = success();
};

/// An operation of `launch` that lets its threads communicate in a way the
/// emulator does not model.
Operation *findUnmodelled(gpu::LaunchOp launch) {
  Operation *found = nullptr;
  launch.getBody().walk([&](Operation *op) {
    if (isCollective(op))
      return WalkResult::advance();
    if (isa<nvgpu::DeviceAsyncCopyOp, nvgpu::DeviceAsyncCreateGroupOp,
            nvgpu::DeviceAsyncWaitOp>(op))
      return WalkResult::advance();
    if (isa<LLVM::InlineAsmOp>(op) ||
        isa_and_nonnull<NVVM::NVVMDialect, nvgpu::NVGPUDialect>(
            op->getDialect()) ||
        (isa<gpu::GPUDialect>(op->getDialect()) &&
         !isa<gpu::TerminatorOp, gpu::DynamicSharedMemoryOp, gpu::ThreadIdOp,
              gpu::BlockIdOp, gpu::BlockDimOp, gpu::GridDimOp>(op))) {
      found = op;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

/// Whether the threads of `launch` communicate: then it is run a block at a
/// time.
bool communicates(gpu::LaunchOp launch) {
  if (!launch.getWorkgroupAttributions().empty() ||
      launch.getDynamicSharedMemorySize())
    return true;
  bool found = false;
  launch.getBody().walk([&](Operation *op) {
    if (isCollective(op) || isa<gpu::DynamicSharedMemoryOp>(op))
      found = true;
  });
  return found;
}

/// The ordering around wgmma, which the emulator runs when it is reached:
/// a wait gives its operands back, fences have nothing to do, commits and
/// waits are the runtime's record of which groups may still read their
/// operands, and fence.proxy.async is the runtime's (which orders the
/// block's generic writes so far before the async proxy's reads).
void lowerWgmmaOrdering(gpu::LaunchOp launch, Runtime &runtime) {
  SmallVector<Operation *> ops;
  launch.getBody().walk([&](Operation *op) {
    if (isa<moe_gpu::WgmmaFenceOp, moe_gpu::WgmmaCommitOp, moe_gpu::WgmmaWaitOp,
            moe_gpu::FenceProxyAsyncOp>(op))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    if (auto wait = dyn_cast<moe_gpu::WgmmaWaitOp>(op)) {
      wait.replaceAllUsesWith(wait.getValues());
      runtime.call(b, loc, MOE_EMU_SLOT_WGMMA_WAIT,
                   {runtime.string(b, loc, describe(op)),
                    linearThread(launch, b, loc),
                    b.create<arith::ConstantOp>(
                        loc, b.getI32IntegerAttr(int32_t(wait.getPending())))});
    }
    if (isa<moe_gpu::WgmmaCommitOp>(op))
      runtime.call(b, loc, MOE_EMU_SLOT_WGMMA_COMMIT,
                   {linearThread(launch, b, loc)});
    if (isa<moe_gpu::FenceProxyAsyncOp>(op))
      runtime.call(b, loc, MOE_EMU_SLOT_FENCE_PROXY_ASYNC, {});
    op->erase();
  }
}

LogicalResult toLoops(gpu::LaunchOp launch, Runtime &runtime,
                      StringRef kernel) {
  // A warp role's register budget means nothing to host threads.
  launch.getBody().walk([](NVVM::SetMaxRegisterOp op) { op->erase(); });
  if (Operation *op = findUnmodelled(launch))
    return op->emitError()
           << "'" << op->getName()
           << "' lets the threads of a kernel communicate in a way the CUDA "
              "emulator does not model";
  if (!launch.getBody().hasOneBlock())
    return launch.emitError("the CUDA emulator runs kernels of one block only");
  if (failed(lowerAsyncCopies(launch, runtime)))
    return failure();
  lowerMbarriers(launch, runtime);
  if (failed(instrumentAccesses(launch, runtime)))
    return failure();
  lowerVectorLoads(launch, runtime);
  lowerWgmmaOrdering(launch, runtime);
  if (communicates(launch))
    return BlockEmulation(launch, runtime, kernel).run();
  OpBuilder b(launch);
  Location loc = launch.getLoc();
  Value name = runtime.string(b, loc, kernel);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  // The blocks in parallel, the threads of each in turn.
  IRMapping mapping;
  scf::ParallelOp blocks =
      openGrid(b, loc, runtime, name, launch, mapping, zero, one);
  gpu::KernelDim3 threadIds = launch.getThreadIds();
  for (auto [id, bound] : {std::pair{threadIds.z, block.z},
                           std::pair{threadIds.y, block.y},
                           std::pair{threadIds.x, block.x}}) {
    auto loop = b.create<scf::ForOp>(loc, zero, bound, one);
    mapping.map(id, loop.getInductionVar());
    b.setInsertionPoint(loop.getBody()->getTerminator());
  }
  for (Operation &op : launch.getBody().front().without_terminator())
    b.clone(op, mapping);
  b.setInsertionPoint(blocks.getBody()->getTerminator());
  runtime.call(b, loc, MOE_EMU_SLOT_BLOCK_END, {});
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

/// The kernel names the CUDA target's outlining gives a function's
/// launches, in order: <function>_kernel, then _kernel_0, _kernel_1...
std::string kernelName(gpu::LaunchOp launch, unsigned index) {
  auto function = launch->getParentOfType<FunctionOpInterface>();
  std::string name = (function ? function.getName() : StringRef("kernel")).str();
  name += "_kernel";
  if (index)
    name += "_" + std::to_string(index - 1);
  return name;
}

struct MoEGpuLaunchesToLoops
    : public ::moe::impl::MoEGpuLaunchesToLoopsBase<MoEGpuLaunchesToLoops> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchOp> launches;
    module.walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    if (!launches.empty() && !module.lookupSymbol(kEmulatorTable)) {
      // moe_emu_api: a zeroed array of function pointers the runtime fills.
      OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
      auto pointer = LLVM::LLVMPointerType::get(module.getContext());
      auto type = LLVM::LLVMArrayType::get(pointer, MOE_EMU_SLOTS);
      auto global = b.create<LLVM::GlobalOp>(
          module.getLoc(), type, /*isConstant=*/false, LLVM::Linkage::External,
          kEmulatorTable, Attribute());
      OpBuilder init = OpBuilder::atBlockBegin(
          &global.getInitializerRegion().emplaceBlock());
      init.create<LLVM::ReturnOp>(
          module.getLoc(),
          init.create<LLVM::ZeroOp>(module.getLoc(), type).getResult());
      // How many slots it has, so that a runtime that fills fewer refuses it.
      b.create<LLVM::GlobalOp>(module.getLoc(), b.getI32Type(),
                               /*isConstant=*/true, LLVM::Linkage::External,
                               kEmulatorSlots,
                               b.getI32IntegerAttr(MOE_EMU_SLOTS));
    }
    // Persistent kernels: the emulator holds kResidentBlocks blocks at once,
    // so that each takes several of a layer's tiles.
    module.walk([](moe_gpu::ResidentGridOp op) {
      OpBuilder b(op);
      Value blocks =
          b.create<arith::ConstantIndexOp>(op.getLoc(), kResidentBlocks);
      Value grid = b.create<arith::MinUIOp>(op.getLoc(), op.getWork(), blocks);
      op.replaceAllUsesWith(grid);
      op.erase();
    });
    Runtime runtime(module);
    llvm::DenseMap<Operation *, unsigned> perFunction;
    for (gpu::LaunchOp launch : launches) {
      unsigned &index =
          perFunction[launch->getParentOfType<FunctionOpInterface>()];
      if (failed(toLoops(launch, runtime, kernelName(launch, index++))))
        return signalPassFailure();
    }
    // Shared memory is host memory now.
    AttrTypeReplacer replacer;
    replacer.addReplacement([](MemRefType type) -> std::optional<Type> {
      if (!isShared(type))
        return std::nullopt;
      return MemRefType::get(type.getShape(), type.getElementType(),
                             type.getLayout());
    });
    replacer.recursivelyReplaceElementsIn(module, /*replaceAttrs=*/true,
                                          /*replaceLocs=*/false,
                                          /*replaceTypes=*/true);
    defineRead(module);
  }
};

} // namespace

namespace {

/// The emulator's slot for each function of the async runtime that the
/// lowering of warp roles calls.
std::optional<moe_emu_slot> asyncRuntimeSlot(StringRef name) {
  return llvm::StringSwitch<std::optional<moe_emu_slot>>(name)
      .Case("mlirAsyncRuntimeCreateToken", MOE_EMU_SLOT_ASYNC_CREATE_TOKEN)
      .Case("mlirAsyncRuntimeEmplaceToken", MOE_EMU_SLOT_ASYNC_EMPLACE_TOKEN)
      .Case("mlirAsyncRuntimeSetTokenError", MOE_EMU_SLOT_ASYNC_SET_TOKEN_ERROR)
      .Case("mlirAsyncRuntimeIsTokenError", MOE_EMU_SLOT_ASYNC_IS_TOKEN_ERROR)
      .Case("mlirAsyncRuntimeExecute", MOE_EMU_SLOT_ASYNC_EXECUTE)
      .Case("mlirAsyncRuntimeAwaitTokenAndExecute",
            MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN_AND_EXECUTE)
      .Case("mlirAsyncRuntimeAwaitToken", MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN)
      .Cases("mlirAsyncRuntimeAddRef", "mlirAsyncRuntimeDropRef",
             MOE_EMU_SLOT_ASYNC_REFERENCE)
      .Default(std::nullopt);
}

/// `__truncsfbf2` (f32 to bf16, to nearest even, NaN to a quiet NaN), weak
/// and hidden: LLVM's x86-64 back end calls it for bf16 values of the warp
/// roles' coroutines, and the C library may not have it.
void defineTruncation(ModuleOp module) {
  constexpr llvm::StringLiteral kName = "__truncsfbf2";
  if (module.lookupSymbol(kName))
    return;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  Type f32 = b.getF32Type(), i32 = b.getI32Type(), i16 = b.getI16Type();
  auto function = b.create<LLVM::LLVMFuncOp>(
      loc, kName, LLVM::LLVMFunctionType::get(b.getBF16Type(), {f32}),
      LLVM::Linkage::Weak);
  function.setVisibility_(LLVM::Visibility::Hidden);
  Block *entry = function.addEntryBlock(b);
  b.setInsertionPointToEnd(entry);
  auto constant = [&](int64_t v) {
    return b.create<LLVM::ConstantOp>(loc, i32,
                                      b.getI32IntegerAttr(int32_t(v)));
  };
  Value x = entry->getArgument(0);
  Value bits = b.create<LLVM::BitcastOp>(loc, i32, x);
  Value odd = b.create<LLVM::AndOp>(
      loc, b.create<LLVM::LShrOp>(loc, bits, constant(16)), constant(1));
  Value rounded = b.create<LLVM::LShrOp>(
      loc,
      b.create<LLVM::AddOp>(
          loc, b.create<LLVM::AddOp>(loc, bits, constant(0x7FFF)), odd),
      constant(16));
  Value nan = b.create<LLVM::FCmpOp>(loc, LLVM::FCmpPredicate::uno, x, x);
  Value result = b.create<LLVM::SelectOp>(loc, nan, constant(0x7FC0), rounded);
  b.create<LLVM::ReturnOp>(
      loc,
      ValueRange{b.create<LLVM::BitcastOp>(
          loc, b.getBF16Type(), b.create<LLVM::TruncOp>(loc, i16, result))});
}

struct MoEGpuEmulatorAsyncRuntime
    : public ::moe::impl::MoEGpuEmulatorAsyncRuntimeBase<
          MoEGpuEmulatorAsyncRuntime> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool coroutines = false;
    for (auto function : module.getOps<LLVM::LLVMFuncOp>())
      if (auto passthrough = function.getPassthrough())
        coroutines |= llvm::any_of(*passthrough, [](Attribute attribute) {
          auto name = dyn_cast<StringAttr>(attribute);
          return name && name.getValue() == "presplitcoroutine";
        });
    if (coroutines)
      defineTruncation(module);
    Runtime runtime(module);
    for (auto function : module.getOps<LLVM::LLVMFuncOp>()) {
      StringRef name = function.getName();
      if (!function.isExternal() || !name.starts_with("mlirAsyncRuntime"))
        continue;
      // (The lowering declares them all; unused ones stay declarations.)
      if (SymbolTable::symbolKnownUseEmpty(function, module))
        continue;
      std::optional<moe_emu_slot> slot = asyncRuntimeSlot(name);
      if (!slot) {
        function.emitError()
            << "the CUDA emulator's async runtime has no '" << name << "'";
        return signalPassFailure();
      }
      OpBuilder b(function);
      Block *entry = function.addEntryBlock(b);
      b.setInsertionPointToEnd(entry);
      Location loc = function.getLoc();
      Type result = function.getFunctionType().getReturnType();
      bool returns = !isa<LLVM::LLVMVoidType>(result);
      Value value = runtime.call(b, loc, *slot, entry->getArguments(),
                                 returns ? result : Type());
      b.create<LLVM::ReturnOp>(loc, returns ? ValueRange{value} : ValueRange{});
      function.setLinkage(LLVM::Linkage::Internal);
    }
  }
};

} // namespace
