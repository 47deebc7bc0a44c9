//===- MatmulToVector.cpp - register-blocked kernels for the CPU ----------===//
//
// The expert projections are `rows x W^T`. With W as it is (both operands
// contiguous along the reduction) the kernel keeps a block of rows x weight
// rows as vector accumulators over K and reduces them horizontally once; with
// W packed into panels of output columns (constant weights) it broadcasts
// each row's element against one vector of each panel, so the accumulators
// are columns of C and need no reduction. Both walk the weight in blocks that
// stay in cache while every row block passes over them.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "lib/Conversion/MatmulToVector/WeightPanels.h"

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

/// Rows x weight rows per register block in the main loop.
constexpr int64_t kRowBlock = 4, kColBlock = 2;
/// Weight rows per register block for leftover rows (one at a time).
constexpr int64_t kTailColBlock = 4;
/// Bytes of weight kept in cache while all row blocks pass over them.
constexpr int64_t kWeightBlockBytes = 256 * 1024;
/// Weights at least this large split their row blocks across threads
/// (`scf.parallel`); smaller ones are not worth a fork.
constexpr int64_t kParallelWeightBytes = 1 << 20;

/// Whether `op` runs inside a parallel loop already (an expert of a layer
/// whose experts run side by side): its kernel then runs serially.
bool inParallelLoop(Operation *op) {
  return op->getParentOfType<scf::ForallOp>() ||
         op->getParentOfType<scf::ParallelOp>();
}

/// `body(block)` for each block start in `[0, upper)` by `step`: the blocks
/// write disjoint columns of C, so they run in parallel (`scf.parallel`) for
/// weights of kParallelWeightBytes or more, unless `op` is in a parallel loop
/// already.
void emitWeightBlocks(OpBuilder &b, Location loc, Operation *op, int64_t upper,
                      int64_t step, int64_t weightBytes,
                      function_ref<void(OpBuilder &, Location, Value)> body) {
  auto cst = [&](int64_t v) -> Value {
    return b.create<arith::ConstantIndexOp>(loc, v);
  };
  if (weightBytes >= kParallelWeightBytes && !inParallelLoop(op)) {
    b.create<scf::ParallelOp>(
        loc, ValueRange{cst(0)}, ValueRange{cst(upper)}, ValueRange{cst(step)},
        [&](OpBuilder &nb, Location nl, ValueRange ivs) {
          body(nb, nl, ivs[0]);
        });
    return;
  }
  b.create<scf::ForOp>(loc, cst(0), cst(upper), cst(step), ValueRange{},
                       [&](OpBuilder &nb, Location nl, Value block, ValueRange) {
                         body(nb, nl, block);
                         nb.create<scf::YieldOp>(nl);
                       });
}

bool hasUnitInnerStride(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  return succeeded(getStridesAndOffset(type, strides, offset)) &&
         !strides.empty() && strides.back() == 1;
}

/// Emits `C[m0 .. m0+rows, n0 .. n0+cols] += A[m0.., :] x B[n0.., :]^T` with
/// `rows x cols` vector accumulators of `lanes` f32 over `K`.
void emitBlock(OpBuilder &b, Location loc, Value A, Value B, Value C, Value m0,
               Value n0, int64_t rows, int64_t cols, int64_t K, int64_t lanes) {
  auto vecType = VectorType::get({lanes}, b.getF32Type());
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
      b.create<arith::ConstantIndexOp>(loc, lanes), init,
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
  VectorizeMatmulTransposeB(MLIRContext *ctx, int64_t lanes)
      : OpRewritePattern(ctx), lanes(lanes) {}

  /// f32 lanes of a vector register.
  int64_t lanes;

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
        K % lanes != 0 || N % kColBlock != 0)
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
                                K, lanes);
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
                      emitBlock(kb, kl, A, B, C, m0, n0, 1, tailCols, K, lanes);
                      kb.create<scf::YieldOp>(kl);
                    });
                mb.create<scf::YieldOp>(ml);
              });
    };
    emitWeightBlocks(b, loc, op, N, weightRows, N * K * 4, blockBody);
    rewriter.eraseOp(op);
    return success();
  }
};

/// `C [M, N] += A [M, K] x panels [N / W, K, W]` (column `p * W + l` of C
/// reads lane `l` of panel `p`), as moe-lower-to-linalg writes it for packed
/// weights → the broadcast-FMA kernel.
struct VectorizePanelMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizePanelMatmul(MLIRContext *ctx, int64_t lanes)
      : OpRewritePattern(ctx), lanes(lanes) {}

  /// f32 lanes of a vector register.
  int64_t lanes;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getNumLoops() != 4)
      return rewriter.notifyMatchFailure(op, "not a panel product on memrefs");
    Value A = op.getDpsInputOperand(0)->get();
    Value panels = op.getDpsInputOperand(1)->get();
    Value C = op.getDpsInitOperand(0)->get();
    auto aType = cast<MemRefType>(A.getType());
    auto pType = cast<MemRefType>(panels.getType());
    auto cType = cast<MemRefType>(C.getType());
    if (aType.getRank() != 2 || pType.getRank() != 3 || cType.getRank() != 2 ||
        !aType.getElementType().isF32() || !cType.getElementType().isF32() ||
        !(pType.getElementType().isF32() || pType.getElementType().isBF16()))
      return rewriter.notifyMatchFailure(op,
                                         "not f32 rows and f32/bf16 panels");
    int64_t numPanels = pType.getDimSize(0), K = pType.getDimSize(1),
            width = pType.getDimSize(2);
    if (ShapedType::isDynamic(numPanels) || ShapedType::isDynamic(K) ||
        ShapedType::isDynamic(width) || width % lanes != 0 ||
        cType.getDimSize(1) != numPanels * width)
      return rewriter.notifyMatchFailure(op, "panels not static vectors");
    MLIRContext *ctx = op.getContext();
    AffineExpr m = getAffineDimExpr(0, ctx), p = getAffineDimExpr(1, ctx),
               l = getAffineDimExpr(2, ctx), k = getAffineDimExpr(3, ctx);
    SmallVector<AffineMap> expected{
        AffineMap::get(4, 0, {m, k}, ctx), AffineMap::get(4, 0, {p, k, l}, ctx),
        AffineMap::get(4, 0, {m, p * width + l}, ctx)};
    SmallVector<utils::IteratorType> iterators{
        utils::IteratorType::parallel, utils::IteratorType::parallel,
        utils::IteratorType::parallel, utils::IteratorType::reduction};
    if (op.getIndexingMapsArray() != expected ||
        op.getIteratorTypesArray() != iterators ||
        !::moe::isMultiplyAdd(op, /*widened=*/true))
      return rewriter.notifyMatchFailure(op, "not C += A x panels");
    SmallVector<int64_t> pStrides;
    int64_t pOffset;
    if (!hasUnitInnerStride(aType) || !hasUnitInnerStride(cType) ||
        failed(getStridesAndOffset(pType, pStrides, pOffset)) ||
        pStrides[2] != 1 || pStrides[1] != width)
      return rewriter.notifyMatchFailure(op, "operands not contiguous");

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    Type weightType = pType.getElementType();
    int64_t weightBytes = weightType.getIntOrFloatBitWidth() / 8;
    int64_t vectors = numPanels * width / lanes;
    // Accumulators: 32 vector registers hold 8 x 2 (AVX-512), 16 hold 6 x 2
    // (AVX2), beside the panel vectors and a broadcast.
    int64_t mainRows = lanes >= 16 ? 8 : 6;
    auto widest = [&](int64_t most) {
      int64_t v = most;
      while (vectors % v != 0)
        v /= 2;
      return v;
    };
    int64_t mainVectors = widest(2), narrowVectors = widest(4);
    // Weight columns (in vectors) per cache block: about kWeightBlockBytes.
    int64_t unit = std::max(mainVectors, narrowVectors);
    int64_t blockVectors = std::min(
        vectors,
        std::max<int64_t>(unit, kWeightBlockBytes / (K * lanes * weightBytes) /
                                    unit * unit));
    SmallVector<std::pair<int64_t, int64_t>> rowBlocks{{mainRows, mainVectors}};
    for (int64_t rows : {4, 2, 1})
      rowBlocks.push_back({rows, narrowVectors});
    Value M = b.create<memref::DimOp>(loc, A, 0);

    auto blockBody = [&](OpBuilder &nb, Location nl, Value vBlock) {
      Value vEnd = nb.create<arith::MinSIOp>(
          nl, nb.create<arith::AddIOp>(nl, vBlock, cst(blockVectors)),
          cst(vectors));
      Value start = cst(0);
      for (auto [rows, cols] : rowBlocks) {
        // Rows [start, end): as many blocks of `rows` as fit.
        Value left = nb.create<arith::SubIOp>(nl, M, start);
        Value end = nb.create<arith::AddIOp>(
            nl, start,
            nb.create<arith::SubIOp>(
                nl, left, nb.create<arith::RemUIOp>(nl, left, cst(rows))));
        int64_t r = rows, c = cols;
        nb.create<scf::ForOp>(
            nl, start, end, cst(rows), ValueRange{},
            [&](OpBuilder &mb, Location ml, Value m0, ValueRange) {
              mb.create<scf::ForOp>(
                  ml, vBlock, vEnd, cst(cols), ValueRange{},
                  [&](OpBuilder &kb, Location kl, Value v0, ValueRange) {
                    emitPanelBlock(kb, kl, A, panels, C, m0, v0, r, c, K,
                                   width);
                    kb.create<scf::YieldOp>(kl);
                  });
              mb.create<scf::YieldOp>(ml);
            });
        start = end;
      }
    };
    emitWeightBlocks(b, loc, op, vectors, blockVectors,
                     numPanels * K * width * weightBytes, blockBody);
    rewriter.eraseOp(op);
    return success();
  }

  /// `C[m0 .. m0+rows, vector v0 .. v0+cols] += A[m0.., :] x panels`: the
  /// block of C in `rows x cols` vector registers over all of K, each step
  /// one load of each column vector (widened to f32) and one broadcast of
  /// each row's element.
  void emitPanelBlock(OpBuilder &b, Location loc, Value A, Value panels,
                      Value C, Value m0, Value v0, int64_t rows, int64_t cols,
                      int64_t K, int64_t width) const {
    auto vecType = VectorType::get({lanes}, b.getF32Type());
    Type weightElement = cast<MemRefType>(panels.getType()).getElementType();
    auto weightVecType = VectorType::get({lanes}, weightElement);
    auto cst = [&](int64_t v) -> Value {
      return b.create<arith::ConstantIndexOp>(loc, v);
    };
    auto plus = [&](Value base, int64_t i) -> Value {
      return i == 0 ? base : b.create<arith::AddIOp>(loc, base, cst(i));
    };
    SmallVector<Value> rowIndex, column, panel, lane;
    for (int64_t i = 0; i < rows; ++i)
      rowIndex.push_back(plus(m0, i));
    for (int64_t j = 0; j < cols; ++j) {
      Value c = b.create<arith::MulIOp>(loc, plus(v0, j), cst(lanes));
      column.push_back(c);
      panel.push_back(b.create<arith::DivUIOp>(loc, c, cst(width)));
      lane.push_back(b.create<arith::RemUIOp>(loc, c, cst(width)));
    }
    SmallVector<Value> init;
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        init.push_back(b.create<vector::LoadOp>(
            loc, vecType, C, ValueRange{rowIndex[i], column[j]}));
    auto loop = b.create<scf::ForOp>(
        loc, cst(0), cst(K), cst(1), init,
        [&](OpBuilder &nb, Location nl, Value k, ValueRange accs) {
          SmallVector<Value> w, next;
          for (int64_t j = 0; j < cols; ++j) {
            Value v = nb.create<vector::LoadOp>(
                nl, weightVecType, panels, ValueRange{panel[j], k, lane[j]});
            if (weightVecType != vecType)
              v = nb.create<arith::ExtFOp>(nl, vecType, v);
            w.push_back(v);
          }
          for (int64_t i = 0; i < rows; ++i) {
            Value a = nb.create<vector::BroadcastOp>(
                nl, vecType,
                nb.create<memref::LoadOp>(nl, A, ValueRange{rowIndex[i], k}));
            for (int64_t j = 0; j < cols; ++j)
              next.push_back(
                  nb.create<vector::FMAOp>(nl, a, w[j], accs[i * cols + j]));
          }
          nb.create<scf::YieldOp>(nl, next);
        });
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        b.create<vector::StoreOp>(loc, loop.getResult(i * cols + j), C,
                                  ValueRange{rowIndex[i], column[j]});
  }
};

struct MoEVectorizeMatmulsPass
    : ::moe::impl::MoEVectorizeMatmulsBase<MoEVectorizeMatmulsPass> {
  using MoEVectorizeMatmulsBase::MoEVectorizeMatmulsBase;

  void runOnOperation() override {
    if (vectorBits != 256 && vectorBits != 512) {
      getOperation().emitError()
          << "moe-vectorize-matmuls: vector-bits=" << int64_t(vectorBits)
          << " is not 256 (AVX2) or 512 (AVX-512)";
      return signalPassFailure();
    }
    int64_t lanes = vectorBits / 32;
    RewritePatternSet patterns(&getContext());
    patterns.add<VectorizeMatmulTransposeB, VectorizePanelMatmul>(&getContext(),
                                                                  lanes);
    GreedyRewriteConfig config;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                            config)))
      signalPassFailure();
  }
};

} // namespace
