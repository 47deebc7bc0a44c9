//===- WeightPanels.cpp - weights packed for the CPU's GEMM kernel --------===//

#include "lib/Conversion/MatmulToVector/WeightPanels.h"

#include "lib/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <cstring>
#include <vector>

using namespace mlir;

Value moe::packWeightPanels(OpBuilder &b, Location loc, ArrayRef<char> bytes,
                            int64_t batch, int64_t columns, int64_t depth,
                            bool depthMajor, int64_t width, bool bf16) {
  int64_t size = bf16 ? 2 : 4;
  std::vector<char> packed(size_t(batch * columns * depth * size));
  const float *from = reinterpret_cast<const float *>(bytes.data());
  for (int64_t x = 0; x < batch; ++x)
    for (int64_t r = 0; r < columns; ++r)
      for (int64_t k = 0; k < depth; ++k) {
        float value = depthMajor ? from[(x * depth + k) * columns + r]
                                 : from[(x * columns + r) * depth + k];
        int64_t at = ((x * (columns / width) + r / width) * depth + k) * width +
                     r % width;
        if (bf16) {
          uint16_t bits = toBf16Bits(value);
          std::memcpy(&packed[size_t(at * 2)], &bits, 2);
        } else {
          std::memcpy(&packed[size_t(at * 4)], &value, 4);
        }
      }
  Type element = bf16 ? Type(b.getBF16Type()) : b.getF32Type();
  auto type =
      RankedTensorType::get({batch, columns / width, depth, width}, element);
  return createWeightConstant(b, loc, type, "weight_panels", packed);
}

bool moe::isMultiplyAdd(linalg::GenericOp generic, bool widened) {
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || add.getLhs() != body.getArgument(2))
    return false;
  auto mul = add.getRhs().getDefiningOp<arith::MulFOp>();
  if (!mul || mul.getLhs() != body.getArgument(0))
    return false;
  Value w = mul.getRhs();
  if (auto ext = w.getDefiningOp<arith::ExtFOp>(); ext && widened)
    w = ext.getIn();
  return w == body.getArgument(1);
}

Value moe::createPanelMatmul(OpBuilder &b, Location loc, Value input,
                             Value panels, Value acc) {
  MLIRContext *ctx = b.getContext();
  int64_t width = cast<ShapedType>(panels.getType()).getDimSize(2);
  AffineExpr m = getAffineDimExpr(0, ctx), p = getAffineDimExpr(1, ctx),
             l = getAffineDimExpr(2, ctx), k = getAffineDimExpr(3, ctx);
  SmallVector<AffineMap> maps{AffineMap::get(4, 0, {m, k}, ctx),
                              AffineMap::get(4, 0, {p, k, l}, ctx),
                              AffineMap::get(4, 0, {m, p * width + l}, ctx)};
  return b
      .create<linalg::GenericOp>(
          loc, acc.getType(), ValueRange{input, panels}, ValueRange{acc}, maps,
          ArrayRef<utils::IteratorType>{
              utils::IteratorType::parallel, utils::IteratorType::parallel,
              utils::IteratorType::parallel, utils::IteratorType::reduction},
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value w = args[1];
            if (w.getType() != args[0].getType())
              w = nb.create<arith::ExtFOp>(nl, args[0].getType(), w);
            Value sum = nb.create<arith::AddFOp>(
                nl, args[2], nb.create<arith::MulFOp>(nl, args[0], w));
            nb.create<linalg::YieldOp>(nl, sum);
          })
      .getResult(0);
}
