//===- MoEGpuToPtx.cpp - moe_gpu ops as the PTX instructions they are -----===//
//
// The PTX lowering of the moe_gpu dialect: each warp-wide op becomes its
// instruction in inline assembly, which LLVM's NVPTX back end writes as it is;
// a vector load becomes the aligned LLVM load the back end makes it of. (The other
// lowering, the CUDA emulator's, is in LaunchesToLoops.cpp.)
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "lib/Conversion/MemRefAddress.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPUTOPTX
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// `op`'s instruction in inline assembly: `instruction {d}, {a}, {b}, {c}`
/// then `extra` operands, D's 4 f32 the outputs ("=f"), the groups' registers
/// the inputs ("r" for i32, "f" for f32) numbered in order; `suffix` ends
/// the line (an immediate).
void lowerToAsm(Operation *op, StringRef instruction, ArrayRef<size_t> groups,
                size_t extra, StringRef suffix) {
  OpBuilder b(op);
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto result = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  std::string text = (instruction + " {$0,$1,$2,$3}").str();
  std::string constraints = "=f,=f,=f,=f";
  unsigned next = 4;
  for (size_t group : groups) {
    text += ", {";
    for (size_t i = 0; i < group; ++i)
      text += (i ? ",$" : "$") + std::to_string(next++);
    text += "}";
  }
  for (size_t i = 0; i < extra; ++i)
    text += ", $" + std::to_string(next++);
  text += (suffix + ";").str();
  for (Value operand : op->getOperands())
    constraints += operand.getType().isF32() ? ",f" : ",r";
  auto assembly = b.create<LLVM::InlineAsmOp>(
      op->getLoc(), result, op->getOperands(), text, constraints,
      /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  for (auto [i, d] : llvm::enumerate(op->getResults()))
    d.replaceAllUsesWith(b.create<LLVM::ExtractValueOp>(
        op->getLoc(), assembly.getResult(0), int64_t(i)));
  op->erase();
}

/// moe_gpu.load as an `llvm.load` of i32 words from the element's global
/// address, aligned to the bytes it loads and `!invariant.load`: the NVPTX
/// back end writes one `ld.global.nc.v4` (`.v2`, scalar) for it.
void lowerLoad(moe_gpu::LoadOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value address =
      ::moe::elementAddress(b, loc, op.getMemref(), op.getIndices());
  auto global = LLVM::LLVMPointerType::get(
      b.getContext(),
      static_cast<unsigned>(NVVM::NVVMMemorySpace::kGlobalMemorySpace));
  Value pointer = b.create<LLVM::IntToPtrOp>(
      loc, global, b.create<arith::IndexCastOp>(loc, b.getI64Type(), address));
  int64_t bytes = op.getBytes();
  auto words = VectorType::get({bytes / 4}, b.getI32Type());
  Value loaded = b.create<LLVM::LoadOp>(loc, words, pointer, bytes,
                                        /*isVolatile=*/false,
                                        /*isNonTemporal=*/false,
                                        /*isInvariant=*/true);
  op.replaceAllUsesWith(
      b.create<LLVM::BitcastOp>(loc, op.getResult().getType(), loaded)
          .getResult());
  op->erase();
}

/// `text` as inline assembly with side effects: `outputs` f32 results, each
/// tied to the f32 operand of the same place in `operands`, whose other
/// operands are 64-bit ("l") or 32-bit ("r") integers. Returns the results.
SmallVector<Value> sideEffectAsm(OpBuilder &b, Location loc, StringRef text,
                                 size_t outputs, ValueRange operands) {
  MLIRContext *ctx = b.getContext();
  std::string constraints;
  auto add = [&](StringRef c) {
    if (!constraints.empty())
      constraints += ",";
    constraints += c.str();
  };
  for (size_t i = 0; i < outputs; ++i)
    add("=f");
  for (auto [i, operand] : llvm::enumerate(operands))
    add(i < outputs                       ? std::to_string(i)
        : operand.getType().isInteger(64) ? "l"
                                          : "r");
  Type result;
  if (outputs)
    result = LLVM::LLVMStructType::getLiteral(
        ctx, SmallVector<Type>(outputs, b.getF32Type()));
  auto assembly = b.create<LLVM::InlineAsmOp>(
      loc, result ? TypeRange(result) : TypeRange(), operands, text,
      constraints, /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  SmallVector<Value> values;
  for (size_t i = 0; i < outputs; ++i)
    values.push_back(
        b.create<LLVM::ExtractValueOp>(loc, assembly.getResult(0), int64_t(i)));
  return values;
}

/// The matrix descriptor of a wgmma operand: `bits` with the start address
/// of `memref[indices]` (its shared-memory address, bits 4 to 17).
Value descriptor(OpBuilder &b, Location loc, Value memref, ValueRange indices,
                 uint64_t bits) {
  Type i64 = b.getI64Type();
  Value address = b.create<arith::IndexCastOp>(
      loc, i64, ::moe::elementAddress(b, loc, memref, indices));
  auto constant = [&](uint64_t v) {
    return b.create<arith::ConstantOp>(loc, b.getI64IntegerAttr(int64_t(v)));
  };
  Value start = b.create<arith::ShRUIOp>(
      loc, b.create<arith::AndIOp>(loc, address, constant(0x3FFFF)),
      constant(4));
  return b.create<arith::OrIOp>(loc, start, constant(bits));
}

/// moe_gpu.wgmma: its two descriptors, then the instruction with D tied to
/// C (scale-d 1: D = A B + C).
void lowerWgmma(moe_gpu::WgmmaOp op) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  size_t n = op.getD().size();
  SmallVector<Value> operands(op.getC().begin(), op.getC().end());
  operands.push_back(descriptor(b, loc, op.getA(), op.getAIndices(),
                                op.getDescriptor(/*isA=*/true)));
  operands.push_back(descriptor(b, loc, op.getB(), op.getBIndices(),
                                op.getDescriptor(/*isA=*/false)));
  operands.push_back(b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(1)));
  // Operands $0.. are D, then C tied to them, then the descriptors and
  // scale-d.
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" +
                     std::to_string(2 * n + 2) + ", 0;\n" +
                     op.getInstruction() + " {";
  for (size_t i = 0; i < n; ++i)
    text += (i ? ",$" : "$") + std::to_string(i);
  text += "}, $" + std::to_string(2 * n) + ", $" + std::to_string(2 * n + 1) +
          ", p, 1, 1, 0, 0;\n}";
  op.replaceAllUsesWith(sideEffectAsm(b, loc, text, n, operands));
  op->erase();
}

/// The 32-bit shared-memory address of `memref[indices]` (a workgroup
/// buffer's pointer is its offset in the shared window).
Value sharedAddress(OpBuilder &b, Location loc, Value memref,
                    ValueRange indices) {
  return b.create<arith::IndexCastOp>(
      loc, b.getI32Type(), ::moe::elementAddress(b, loc, memref, indices));
}

/// The mbarrier ops and the bulk copy as their instructions; a wait spins
/// on `mbarrier.try_wait.parity` (which itself suspends the thread for a
/// while) until the phase completes.
void lowerMbarrier(Operation *op) {
  OpBuilder b(op);
  Location loc = op->getLoc();
  std::string text;
  SmallVector<Value> operands;
  if (auto init = dyn_cast<moe_gpu::MbarrierInitOp>(op)) {
    operands = {sharedAddress(b, loc, init.getBarriers(), init.getIndex())};
    text = "mbarrier.init.shared::cta.b64 [$0], " +
           std::to_string(init.getCount()) + ";";
  } else if (auto arrive = dyn_cast<moe_gpu::MbarrierArriveOp>(op)) {
    operands = {sharedAddress(b, loc, arrive.getBarriers(), arrive.getIndex())};
    text = arrive.getTxBytes()
               ? "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], " +
                     std::to_string(arrive.getTxBytes()) + ";"
               : std::string("mbarrier.arrive.shared::cta.b64 _, [$0];");
  } else if (auto wait = dyn_cast<moe_gpu::MbarrierWaitOp>(op)) {
    operands = {
        sharedAddress(b, loc, wait.getBarriers(), wait.getIndex()),
        b.create<arith::IndexCastOp>(loc, b.getI32Type(), wait.getParity())};
    text = "{\n.reg .pred done;\nMOE_MBARRIER_WAIT_${:uid}:\n"
           "mbarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\n"
           "@!done bra MOE_MBARRIER_WAIT_${:uid};\n}";
  } else {
    auto copy = cast<moe_gpu::BulkCopyOp>(op);
    operands = {
        sharedAddress(b, loc, copy.getDst(), copy.getDstIndices()),
        b.create<arith::IndexCastOp>(
            loc, b.getI64Type(),
            ::moe::elementAddress(b, loc, copy.getSrc(), copy.getSrcIndices())),
        sharedAddress(b, loc, copy.getBarriers(), copy.getIndex())};
    text = "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes "
           "[$0], [$1], " +
           std::to_string(copy.getBytes()) + ", [$2];";
  }
  sideEffectAsm(b, loc, text, 0, operands);
  op->erase();
}

/// The buffer `memref` is a view of.
Value rootOf(Value memref) {
  while (auto view = memref.getDefiningOp<ViewLikeOpInterface>())
    memref = view.getViewSource();
  return memref;
}

/// The workgroup attribution of its kernel that `memref` is a view of, or
/// -1.
int64_t attributionOf(Value memref) {
  auto argument = dyn_cast<BlockArgument>(rootOf(memref));
  auto kernel =
      argument ? dyn_cast<gpu::GPUFuncOp>(argument.getOwner()->getParentOp())
               : nullptr;
  if (!kernel)
    return -1;
  for (auto [i, attribution] :
       llvm::enumerate(kernel.getWorkgroupAttributions()))
    if (attribution == argument)
      return int64_t(i);
  return -1;
}

/// Aligns the workgroup buffers a swizzled wgmma reads to its swizzle's
/// span, as the layout assumes (`llvm.align`, which the GPU to NVVM
/// lowering gives the buffer's global). Views of dynamic shared memory are
/// the kernel's to align: it knows the address only at run time.
LogicalResult alignOperands(moe_gpu::WgmmaOp op) {
  int64_t alignment = op.getBufferAlignment();
  if (!alignment)
    return success();
  auto kernel = op->getParentOfType<gpu::GPUFuncOp>();
  for (Value operand : {op.getA(), op.getB()}) {
    if (rootOf(operand).getDefiningOp<gpu::DynamicSharedMemoryOp>())
      continue;
    int64_t index = attributionOf(operand);
    if (!kernel || index < 0)
      return op.emitOpError()
             << "reads a swizzled operand that is not a view of a workgroup "
                "buffer of its kernel, which could not be aligned to "
             << alignment << " bytes";
    StringRef name = LLVM::LLVMDialect::getAlignAttrName();
    auto old = dyn_cast_or_null<IntegerAttr>(
        kernel.getWorkgroupAttributionAttr(unsigned(index), name));
    if (!old || old.getInt() < alignment)
      kernel.setWorkgroupAttributionAttr(
          unsigned(index), name, OpBuilder(op).getI64IntegerAttr(alignment));
  }
  return success();
}

struct MoEGpuToPtx : public ::moe::impl::MoEGpuToPtxBase<MoEGpuToPtx> {
  void runOnOperation() override {
    // A kernel whose warps trade registers (setmaxnreg) runs one block a
    // multiprocessor at least: with its block size (.maxntid), ptxas then
    // knows the registers each thread has at entry, which setmaxnreg needs.
    getOperation()->walk([](NVVM::SetMaxRegisterOp op) {
      if (auto kernel = op->getParentOfType<gpu::GPUFuncOp>())
        kernel->setAttr(NVVM::NVVMDialect::getMinctasmAttrName(),
                        OpBuilder(op).getI32IntegerAttr(1));
    });
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<moe_gpu::MoEGpuDialect>(op->getDialect()))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      OpBuilder b(op);
      auto lowerTo = [&](StringRef text) {
        sideEffectAsm(b, op->getLoc(), text, 0, {});
        op->erase();
      };
      if (auto wgmma = dyn_cast<moe_gpu::WgmmaOp>(op)) {
        if (failed(alignOperands(wgmma)))
          return signalPassFailure();
        lowerWgmma(wgmma);
      } else if (isa<moe_gpu::WgmmaFenceOp>(op)) {
        lowerTo("wgmma.fence.sync.aligned;");
      } else if (isa<moe_gpu::WgmmaCommitOp>(op)) {
        lowerTo("wgmma.commit_group.sync.aligned;");
      } else if (auto wait = dyn_cast<moe_gpu::WgmmaWaitOp>(op)) {
        op->replaceAllUsesWith(
            sideEffectAsm(b, op->getLoc(),
                          "wgmma.wait_group.sync.aligned " +
                              std::to_string(wait.getPending()) + ";",
                          wait.getValues().size(), wait.getValues()));
        op->erase();
      } else if (isa<moe_gpu::FenceProxyAsyncOp>(op)) {
        lowerTo("fence.proxy.async.shared::cta;");
      } else if (isa<moe_gpu::MbarrierInitOp, moe_gpu::MbarrierArriveOp,
                     moe_gpu::MbarrierWaitOp, moe_gpu::BulkCopyOp>(op)) {
        lowerMbarrier(op);
      } else if (auto mma = dyn_cast<moe_gpu::MmaSyncOp>(op))
        lowerToAsm(op, mma.getInstruction(),
                   {mma.getA().size(), mma.getB().size(), 4}, 0, "");
      else if (auto sparse = dyn_cast<moe_gpu::MmaSpOp>(op))
        lowerToAsm(op, sparse.getInstruction(), {4, 4, 4}, 1,
                   (", " + Twine(sparse.getSelector())).str());
      else if (auto load = dyn_cast<moe_gpu::LoadOp>(op))
        lowerLoad(load);
      else {
        op->emitOpError("has no PTX lowering here (moe_gpu.route and "
                        "moe_gpu.routed_ffn are expanded into kernels first)");
        return signalPassFailure();
      }
    }
  }
};

} // namespace
