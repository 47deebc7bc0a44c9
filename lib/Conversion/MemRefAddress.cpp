//===- MemRefAddress.cpp - the address of a memref's element -------------===//

#include "lib/Conversion/MemRefAddress.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

int64_t moe::elementBytes(Type type) {
  if (auto vector = dyn_cast<VectorType>(type))
    return vector.getNumElements() * elementBytes(vector.getElementType());
  if (type.isIndex())
    return 8;
  return std::max<int64_t>(1, type.getIntOrFloatBitWidth() / 8);
}

Value moe::elementAddress(OpBuilder &b, Location loc, Value memref,
                          ValueRange indices) {
  auto type = cast<MemRefType>(memref.getType());
  auto meta = b.create<memref::ExtractStridedMetadataOp>(loc, memref);
  Value linear = meta.getOffset();
  for (auto [i, stride] : llvm::enumerate(meta.getStrides()))
    linear = b.create<arith::AddIOp>(
        loc, linear, b.create<arith::MulIOp>(loc, indices[i], stride));
  // The aligned pointer of a memref.view (a weight in the weights buffer,
  // through casts) is its source's plus the byte shift; expand-strided-
  // metadata rewrites the view's extract_aligned_pointer_as_index to the
  // source's, so the shift is added here.
  Value root = memref;
  while (auto cast = root.getDefiningOp<memref::CastOp>())
    root = cast.getSource();
  Value base;
  if (auto view = root.getDefiningOp<memref::ViewOp>())
    base = elementAddress(b, loc, view.getSource(), view.getByteShift());
  else
    base = b.create<memref::ExtractAlignedPointerAsIndexOp>(loc, memref);
  return b.create<arith::AddIOp>(
      loc, base,
      b.create<arith::MulIOp>(
          loc, linear,
          b.create<arith::ConstantIndexOp>(loc,
                                           elementBytes(type.getElementType()))));
}
