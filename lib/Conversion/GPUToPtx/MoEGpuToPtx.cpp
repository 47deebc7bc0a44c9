//===- MoEGpuToPtx.cpp - moe_gpu ops as the PTX instructions they are -----===//
//
// The PTX lowering of the moe_gpu dialect: each op becomes its instruction in
// inline assembly, which LLVM's NVPTX back end writes as it is. (The other
// lowering, the CUDA emulator's, is in LaunchesToLoops.cpp.)
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace moe {
#define GEN_PASS_DEF_MOEGPUTOPTX
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// mma.sync d, a, b, c: "=f" outputs, then "r" A and B registers, "f" C.
void lower(moe_gpu::MmaSyncOp mma) {
  OpBuilder b(mma);
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto result = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  size_t a = mma.getA().size(), bRegs = mma.getB().size();
  // {$0..$3}, {A}, {B}, {C}, numbered in order.
  std::string text = mma.getInstruction() + " {$0,$1,$2,$3}, ";
  std::string constraints = "=f,=f,=f,=f";
  unsigned next = 4;
  for (size_t group : {a, bRegs, size_t(4)}) {
    text += "{";
    for (size_t i = 0; i < group; ++i)
      text += (i ? ",$" : "$") + std::to_string(next++);
    text += next == 4 + a + bRegs + 4 ? "};" : "}, ";
  }
  for (size_t i = 0; i < a + bRegs; ++i)
    constraints += ",r";
  constraints += ",f,f,f,f";
  auto assembly = b.create<LLVM::InlineAsmOp>(
      mma.getLoc(), result, mma.getRegisters(), text, constraints,
      /*has_side_effects=*/false, /*is_align_stack=*/false,
      LLVM::AsmDialectAttr::get(ctx, LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  for (auto [i, d] : llvm::enumerate(mma.getD()))
    d.replaceAllUsesWith(b.create<LLVM::ExtractValueOp>(
        mma.getLoc(), assembly.getResult(0), int64_t(i)));
  mma.erase();
}

struct MoEGpuToPtx : public ::moe::impl::MoEGpuToPtxBase<MoEGpuToPtx> {
  void runOnOperation() override {
    SmallVector<moe_gpu::MmaSyncOp> ops;
    getOperation()->walk([&](moe_gpu::MmaSyncOp op) { ops.push_back(op); });
    for (moe_gpu::MmaSyncOp op : ops)
      lower(op);
  }
};

} // namespace
