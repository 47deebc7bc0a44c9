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
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

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

struct MoEGpuToPtx : public ::moe::impl::MoEGpuToPtxBase<MoEGpuToPtx> {
  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<moe_gpu::MmaSyncOp, moe_gpu::MmaSpOp, moe_gpu::LoadOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      if (auto mma = dyn_cast<moe_gpu::MmaSyncOp>(op))
        lowerToAsm(op, mma.getInstruction(),
                   {mma.getA().size(), mma.getB().size(), 4}, 0, "");
      else if (auto sparse = dyn_cast<moe_gpu::MmaSpOp>(op))
        lowerToAsm(op, sparse.getInstruction(), {4, 4, 4}, 1,
                   (", " + Twine(sparse.getSelector())).str());
      else
        lowerLoad(cast<moe_gpu::LoadOp>(op));
    }
  }
};

} // namespace
