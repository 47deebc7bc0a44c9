//===- MatmulToVector.cpp - register-blocked kernels for A x B^T ----------===//
//
// The expert projections are `rows x W^T` with both operands contiguous along
// the reduction, so the kernel keeps a block of rows x weight rows as vector
// accumulators over K, reduces them horizontally once, and walks the weight in
// blocks that stay in cache while every row block passes over them.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace moe {
#define GEN_PASS_DEF_MOEVECTORIZEMATMULS
#include "lib/Conversion/Passes.h.inc"
} // namespace moe

using namespace mlir;

namespace {

/// Vector lanes (AVX2: 8 x f32).
constexpr int64_t kLanes = 8;
/// Rows x weight rows per register block in the main loop.
constexpr int64_t kRowBlock = 4, kColBlock = 2;
/// Weight rows per register block for leftover rows (one at a time).
constexpr int64_t kTailColBlock = 4;
/// Bytes of weight kept in cache while all row blocks pass over them.
constexpr int64_t kWeightBlockBytes = 256 * 1024;
/// Weights at least this large split their row blocks across threads
/// (`scf.parallel`); smaller ones are not worth a fork.
constexpr int64_t kParallelWeightBytes = 1 << 20;

bool hasUnitInnerStride(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(getStridesAndOffset(type, strides, offset)) &&
         !strides.empty() && strides.back() == 1;
}

/// Emits `C[m0 .. m0+rows, n0 .. n0+cols] += A[m0.., :] x B[n0.., :]^T` with
/// `rows x cols` vector accumulators over `K`.
void emitBlock(OpBuilder &b, Location loc, Value A, Value B, Value C,
               Value m0, Value n0, int64_t rows, int64_t cols, int64_t K) {
  auto vecType = VectorType::get({kLanes}, b.getF32Type());
  Value zero = b.create<arith::ConstantOp>(
      loc, vecType, DenseElementsAttr::get(vecType, 0.0f));
  SmallVector<Value> init(rows * cols, zero);
  auto offset = [&](Value base, int64_t i) -> Value {
    if (i == 0)
      return base;
    return b.create<arith::AddIOp>(loc, base,
                                   b.create<arith::ConstantIndexOp>(loc, i));
  };
  SmallVector<Value> rowIndex, colIndex;
  for (int64_t i = 0; i < rows; ++i)
    rowIndex.push_back(offset(m0, i));
  for (int64_t j = 0; j < cols; ++j)
    colIndex.push_back(offset(n0, j));
  auto loop = b.create<scf::ForOp>(
      loc, b.create<arith::ConstantIndexOp>(loc, 0),
      b.create<arith::ConstantIndexOp>(loc, K),
      b.create<arith::ConstantIndexOp>(loc, kLanes), init,
      [&](OpBuilder &nb, Location nl, Value k, ValueRange accs) {
        SmallVector<Value> a, w, next;
        for (int64_t i = 0; i < rows; ++i)
          a.push_back(
              nb.create<vector::LoadOp>(nl, vecType, A, ValueRange{rowIndex[i], k}));
        for (int64_t j = 0; j < cols; ++j)
          w.push_back(
              nb.create<vector::LoadOp>(nl, vecType, B, ValueRange{colIndex[j], k}));
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j)
            next.push_back(
                nb.create<vector::FMAOp>(nl, a[i], w[j], accs[i * cols + j]));
        nb.create<scf::YieldOp>(nl, next);
      });
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      Value sum = b.create<vector::ReductionOp>(loc, vector::CombiningKind::ADD,
                                                loop.getResult(i * cols + j));
      SmallVector<Value, 2> at{rowIndex[i], colIndex[j]};
      Value old = b.create<memref::LoadOp>(loc, C, at);
      b.create<memref::StoreOp>(loc, b.create<arith::AddFOp>(loc, old, sum), C,
                                at);
    }
}

/// linalg.matmul_transpose_b on f32 memrefs with static N and K (K a multiple
/// of the vector width, N of the column block) → the blocked kernel.
struct VectorizeMatmulTransposeB
    : OpRewritePattern<linalg::MatmulTransposeBOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulTransposeBOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "not on memrefs");
    Value A = op.getDpsInputOperand(0)->get();
    Value B = op.getDpsInputOperand(1)->get();
    Value C = op.getDpsInitOperand(0)->get();
    auto aType = cast<MemRefType>(A.getType());
    auto bType = cast<MemRefType>(B.getType());
    auto cType = cast<MemRefType>(C.getType());
    if (!aType.getElementType().isF32() || !bType.getElementType().isF32() ||
        !cType.getElementType().isF32())
      return rewriter.notifyMatchFailure(op, "not f32");
    int64_t N = bType.getDimSize(0), K = bType.getDimSize(1);
    if (ShapedType::isDynamic(N) || ShapedType::isDynamic(K) ||
        K % kLanes != 0 || N % kColBlock != 0)
      return rewriter.notifyMatchFailure(op, "N, K not static multiples");
    if (!hasUnitInnerStride(aType) || !hasUnitInnerStride(bType))
      return rewriter.notifyMatchFailure(op, "operands not contiguous in K");
    int64_t tailCols = N % kTailColBlock == 0 ? kTailColBlock : kColBlock;
    int64_t weightRows =
        std::max<int64_t>(kColBlock * tailCols,
                          kWeightBlockBytes / (K * 4) / (kColBlock * tailCols) *
                              (kColBlock * tailCols));

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    Value M = b.create<memref::DimOp>(loc, A, 0);
    Value mMain = b.create<arith::SubIOp>(
        loc, M, b.create<arith::RemUIOp>(loc, M, cst(kRowBlock)));
    // Weight row blocks write disjoint columns of C: they may run in parallel.
    auto blockBody = [&](OpBuilder &nb, Location nl, Value nBlock) {
          Value nEnd = nb.create<arith::MinSIOp>(
              nl, nb.create<arith::AddIOp>(nl, nBlock, cst(weightRows)),
              cst(N));
          nb.create<scf::ForOp>(
              nl, cst(0), mMain, cst(kRowBlock), ValueRange{},
              [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
                mb.create<scf::ForOp>(
                    ml, nBlock, nEnd, cst(kColBlock), ValueRange{},
                    [&](OpBuilder &kb, Location kl, Value n0, ValueRange) {
                      emitBlock(kb, kl, A, B, C, m0, n0, kRowBlock, kColBlock,
                                K);
                      kb.create<scf::YieldOp>(kl);
                    });
                mb.create<scf::YieldOp>(ml);
              });
          nb.create<scf::ForOp>(
              nl, mMain, M, cst(1), ValueRange{},
              [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
                mb.create<scf::ForOp>(
                    ml, nBlock, nEnd, cst(tailCols), ValueRange{},
                    [&](OpBuilder &kb, Location kl, Value n0, ValueRange) {
                      emitBlock(kb, kl, A, B, C, m0, n0, 1, tailCols, K);
                      kb.create<scf::YieldOp>(kl);
                    });
                mb.create<scf::YieldOp>(ml);
              });
    };
    if (N * K * 4 >= kParallelWeightBytes) {
      b.create<scf::ParallelOp>(
          loc, ValueRange{cst(0)}, ValueRange{cst(N)}, ValueRange{cst(weightRows)},
          [&](OpBuilder &nb, Location nl, ValueRange ivs) {
            blockBody(nb, nl, ivs[0]);
          });
    } else {
      b.create<scf::ForOp>(
          loc, cst(0), cst(N), cst(weightRows), ValueRange{},
          [&](OpBuilder &nb, Location nl, Value nBlock, ValueRange) {
            blockBody(nb, nl, nBlock);
            nb.create<scf::YieldOp>(nl);
          });
    }
    rewriter.eraseOp(op);
    return success();
  }
};

struct MoEVectorizeMatmulsPass
    : ::moe::impl::MoEVectorizeMatmulsBase<MoEVectorizeMatmulsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<VectorizeMatmulTransposeB>(&getContext());
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      signalPassFailure();
  }
};

} // namespace
