//===- MatmulToMma.cpp - f32 matmuls on tensor cores (mma.sync) -----------===//
//
// Each matmul becomes a launch in which every warp holds a 16 x 32 tile of C
// in mma.sync accumulators. The fragment layouts are moe/GPU/MmaLayout.h's
// (PTX ISA 8.5, 9.7.14.5.8), the tables the CUDA emulator runs mma.sync with.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "moe/GPU/MmaLayout.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

namespace moe {
#define GEN_PASS_DEF_MOEMATMULSTOMMA
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;
using Layout = moe::gpu::M16N8K16;

namespace {

constexpr int64_t kWarps = 4;
constexpr int64_t kTilesPerWarp = 4; // n8 tiles: 32 columns per warp
constexpr int64_t kBlockRows = 16;
constexpr int64_t kBlockCols = kWarps * kTilesPerWarp * 8;

/// Emits one kernel body; `b` builds inside the launch.
class MmaKernel {
public:
  MmaKernel(OpBuilder &b, Location loc, Value a, Value bMatrix, Value c,
            bool transposedB, Type compute)
      : b(b), loc(loc), a(a), bMatrix(bMatrix), c(c), transposedB(transposedB),
        compute(compute) {}

  void build(gpu::LaunchOp launch, Value rows, Value cols, int64_t depth) {
    f32 = b.getF32Type();
    m = rows;
    n = cols;
    Value tx = launch.getThreadIds().x;
    Value warp = b.create<arith::DivUIOp>(loc, tx, index(32));
    Value lane = b.create<arith::RemUIOp>(loc, tx, index(32));
    Value group = b.create<arith::DivUIOp>(loc, lane, index(4));
    Value inGroup = b.create<arith::RemUIOp>(loc, lane, index(4));
    // The block's rows, from this lane's group on.
    Value rowBase = b.create<arith::AddIOp>(
        loc,
        b.create<arith::MulIOp>(loc, launch.getBlockIds().x, index(kBlockRows)),
        group);
    auto plus = [&](Value base, int64_t offset) -> Value {
      return offset ? b.create<arith::AddIOp>(loc, base, index(offset))
                          .getResult()
                    : base;
    };
    Value colBase = b.create<arith::AddIOp>(
        loc,
        b.create<arith::MulIOp>(loc, launch.getBlockIds().y, index(kBlockCols)),
        b.create<arith::MulIOp>(loc, warp, index(kTilesPerWarp * 8)));
    Value pairCol = b.create<arith::MulIOp>(loc, inGroup, index(2));

    Value zero = b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(0.0f));
    SmallVector<Value> init(kTilesPerWarp * Layout::kCRegisters, zero);
    auto loop =
        b.create<scf::ForOp>(loc, index(0), index(depth), index(16), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value k = b.create<arith::AddIOp>(loc, loop.getInductionVar(), pairCol);
      // A, row-major 16 x 16: two elements of a row per register.
      SmallVector<Value> fragA;
      for (int64_t reg = 0; reg < Layout::kARegisters; ++reg)
        fragA.push_back(pairA(plus(rowBase, Layout::kARowOffset[reg]),
                              plus(k, Layout::kAColOffset[reg])));
      SmallVector<Value> next;
      for (int64_t j = 0; j < kTilesPerWarp; ++j) {
        // B, "col" 16 x 8: column g of the tile, two rows per register.
        Value col = b.create<arith::AddIOp>(
            loc, colBase, b.create<arith::AddIOp>(loc, index(j * 8), group));
        SmallVector<Value> fragB;
        for (int64_t reg = 0; reg < Layout::kBRegisters; ++reg)
          fragB.push_back(pairB(col, plus(k, Layout::kBRowOffset[reg])));
        ValueRange acc = loop.getRegionIterArgs().slice(j * 4, 4);
        SmallVector<Value> d = mma(fragA, fragB, acc);
        next.append(d.begin(), d.end());
      }
      b.create<scf::YieldOp>(loc, next);
    }
    // C/D, 16 x 8 per tile: one element per register.
    for (int64_t j = 0; j < kTilesPerWarp; ++j) {
      Value col = b.create<arith::AddIOp>(
          loc, colBase, b.create<arith::AddIOp>(loc, index(j * 8), pairCol));
      for (int64_t reg = 0; reg < Layout::kCRegisters; ++reg)
        accumulate(plus(rowBase, Layout::kCRowOffset[reg]),
                   plus(col, Layout::kCColOffset[reg]),
                   loop.getResult(j * Layout::kCRegisters + reg));
    }
  }

private:
  Value index(int64_t v) { return b.create<arith::ConstantIndexOp>(loc, v); }

  Value less(Value x, Value bound) {
    return b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, x, bound);
  }

  /// `source[i, j]`, or 0 when `check` is false (the index is then clamped
  /// to 0, which exists: the launch has work only when the size is not 0).
  Value guardedLoad(Value source, Value check, Value i, Value j, bool clampI) {
    Value zeroIndex = index(0);
    if (clampI)
      i = b.create<arith::SelectOp>(loc, check, i, zeroIndex);
    else
      j = b.create<arith::SelectOp>(loc, check, j, zeroIndex);
    Value v = b.create<memref::LoadOp>(loc, source, ValueRange{i, j});
    return b.create<arith::SelectOp>(
        loc, check, v,
        b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(0.0f)));
  }

  /// Two f32 values rounded to the compute type, packed into one b32 register
  /// with the first in the low half.
  Value pack(Value low, Value high) {
    auto half = [&](Value v) -> Value {
      Value narrow = b.create<arith::TruncFOp>(loc, compute, v);
      Value bits = b.create<arith::BitcastOp>(loc, b.getI16Type(), narrow);
      return b.create<arith::ExtUIOp>(loc, b.getI32Type(), bits);
    };
    Value shifted = b.create<arith::ShLIOp>(
        loc, half(high),
        b.create<arith::ConstantOp>(loc, b.getI32IntegerAttr(16)));
    return b.create<arith::OrIOp>(loc, half(low), shifted);
  }

  Value pairA(Value row, Value k) {
    Value ok = less(row, m);
    Value k1 = b.create<arith::AddIOp>(loc, k, index(1));
    return pack(guardedLoad(a, ok, row, k, true),
                guardedLoad(a, ok, row, k1, true));
  }

  Value pairB(Value col, Value k) {
    Value ok = less(col, n);
    Value k1 = b.create<arith::AddIOp>(loc, k, index(1));
    if (transposedB)
      return pack(guardedLoad(bMatrix, ok, col, k, true),
                  guardedLoad(bMatrix, ok, col, k1, true));
    return pack(guardedLoad(bMatrix, ok, k, col, false),
                guardedLoad(bMatrix, ok, k1, col, false));
  }

  SmallVector<Value> mma(ArrayRef<Value> fragA, ArrayRef<Value> fragB,
                         ValueRange acc) {
    SmallVector<Value> registers(fragA.begin(), fragA.end());
    registers.append(fragB.begin(), fragB.end());
    registers.append(acc.begin(), acc.end());
    auto op = b.create<moe_gpu::MmaSyncOp>(
        loc, SmallVector<Type>(4, f32), registers, b.getI64IntegerAttr(16),
        TypeAttr::get(compute));
    return SmallVector<Value>(op.getD());
  }

  void accumulate(Value row, Value col, Value value) {
    Value ok = b.create<arith::AndIOp>(loc, less(row, m), less(col, n));
    auto inside = b.create<scf::IfOp>(loc, ok, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inside.thenBlock());
    Value old = b.create<memref::LoadOp>(loc, c, ValueRange{row, col});
    b.create<memref::StoreOp>(loc, b.create<arith::AddFOp>(loc, old, value), c,
                              ValueRange{row, col});
  }

  OpBuilder &b;
  Location loc;
  Value a, bMatrix, c;
  bool transposedB;
  Type compute, f32;
  Value m, n;
};

/// Whether `op` is a matmul this pass handles; sets its operands.
bool matches(linalg::LinalgOp op, Value &a, Value &b, Value &c,
             bool &transposed, int64_t &depth) {
  transposed = isa<linalg::MatmulTransposeBOp>(op);
  if (!transposed && !isa<linalg::MatmulOp>(op))
    return false;
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2)
    return false;
  a = op.getDpsInputs()[0];
  b = op.getDpsInputs()[1];
  c = op.getDpsInits()[0];
  for (Value v : {a, b, c}) {
    auto type = dyn_cast<MemRefType>(v.getType());
    if (!type || type.getRank() != 2 || !type.getElementType().isF32())
      return false;
  }
  depth = cast<MemRefType>(a.getType()).getDimSize(1);
  return !ShapedType::isDynamic(depth) && depth > 0 && depth % 16 == 0;
}

struct MoEMatmulsToMma
    : public ::moe::impl::MoEMatmulsToMmaBase<MoEMatmulsToMma> {
  using MoEMatmulsToMmaBase::MoEMatmulsToMmaBase;

  void runOnOperation() override {
    Type compute;
    if (precision == "bf16") {
      compute = BFloat16Type::get(&getContext());
    } else if (precision == "fp16") {
      compute = Float16Type::get(&getContext());
    } else {
      getOperation().emitError() << "moe-matmuls-to-mma: precision '"
                                 << precision << "' is not bf16 or fp16";
      return signalPassFailure();
    }
    SmallVector<linalg::LinalgOp> matmuls;
    getOperation().walk([&](linalg::LinalgOp op) { matmuls.push_back(op); });
    for (linalg::LinalgOp op : matmuls) {
      Value a, bMatrix, c;
      bool transposed;
      int64_t depth;
      if (!matches(op, a, bMatrix, c, transposed, depth))
        continue;
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value rows = b.create<memref::DimOp>(loc, c, 0);
      Value cols = b.create<memref::DimOp>(loc, c, 1);
      auto cst = [&](int64_t v) {
        return b.create<arith::ConstantIndexOp>(loc, v);
      };
      Value gridX = b.create<arith::CeilDivUIOp>(loc, rows, cst(kBlockRows));
      Value gridY = b.create<arith::CeilDivUIOp>(loc, cols, cst(kBlockCols));
      Value one = cst(1);
      auto launch = b.create<gpu::LaunchOp>(loc, gridX, gridY, one,
                                            cst(kWarps * 32), one, one);
      OpBuilder body = OpBuilder::atBlockEnd(&launch.getBody().front());
      Operation *terminator = body.create<gpu::TerminatorOp>(loc);
      body.setInsertionPoint(terminator);
      MmaKernel(body, loc, a, bMatrix, c, transposed, compute)
          .build(launch, rows, cols, depth);
      op->erase();
    }
  }
};

} // namespace
