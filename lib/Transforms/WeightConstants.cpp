//===- WeightConstants.cpp - the bytes of constant weights ----------------===//

#include "lib/Transforms/WeightConstants.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include <cstring>

using namespace mlir;

std::optional<ArrayRef<char>> moe::constantBytes(Attribute value, int64_t count,
                                                 int64_t width,
                                                 std::vector<char> &storage) {
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || static_cast<int64_t>(blob->getData().size()) != count * width)
      return std::nullopt;
    return blob->getData();
  }
  auto dense = dyn_cast<DenseElementsAttr>(value);
  if (!dense)
    return std::nullopt;
  ArrayRef<char> raw = dense.getRawData();
  if (dense.isSplat()) {
    storage.resize(count * width);
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(&storage[i * width], raw.data(), width);
    return ArrayRef<char>(storage);
  }
  if (static_cast<int64_t>(raw.size()) != count * width)
    return std::nullopt;
  return raw;
}

std::optional<ArrayRef<char>> moe::constantBytesOf(Value value,
                                                   std::vector<char> &storage) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  Attribute attr;
  if (!type || !type.hasStaticShape() ||
      !type.getElementType().isIntOrFloat() ||
      type.getElementTypeBitWidth() % 8 != 0 ||
      !matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  return constantBytes(attr, type.getNumElements(),
                       type.getElementTypeBitWidth() / 8, storage);
}

uint16_t moe::toBf16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40); // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);               // to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

Value moe::createWeightConstant(OpBuilder &b, Location loc,
                                RankedTensorType type, StringRef key,
                                ArrayRef<char> bytes) {
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      bytes, alignof(std::max_align_t));
  auto attr = DenseResourceElementsAttr::get(type, key, std::move(blob));
  return b.create<arith::ConstantOp>(loc, type, attr);
}
