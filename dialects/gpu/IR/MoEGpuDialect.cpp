//===- MoEGpuDialect.cpp - the moe_gpu dialect's ops ----------------------===//

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "dialects/moe/IR/MoEAttrs.h"
#include "moe/GPU/MmaLayout.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::moe_gpu;

#include "dialects/gpu/IR/MoEGpuDialect.cpp.inc"

void MoEGpuDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/gpu/IR/MoEGpuOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "dialects/gpu/IR/MoEGpuOps.cpp.inc"

namespace {

/// Checks `op`'s element type, registers (i32 where `isInteger` says, f32
/// elsewhere) and 4 f32 results.
template <typename Op>
LogicalResult verifyRegisters(Op op, size_t count, StringRef expected,
                              function_ref<bool(size_t)> isInteger) {
  Type type = op.getType();
  if (!type.isBF16() && !type.isF16())
    return op.emitOpError() << "multiplies " << type
                            << " elements; the instruction takes bf16 or f16";
  if (op.getRegisters().size() != count)
    return op.emitOpError() << "has " << op.getRegisters().size()
                            << " registers; " << expected;
  MLIRContext *ctx = op.getContext();
  for (auto [i, value] : llvm::enumerate(op.getRegisters())) {
    Type want = isInteger(i) ? Type(IntegerType::get(ctx, 32))
                             : Type(Float32Type::get(ctx));
    if (value.getType() != want)
      return op.emitOpError() << "register " << i << " is " << value.getType()
                              << "; " << expected;
  }
  if (op.getD().size() != 4)
    return op.emitOpError() << "has " << op.getD().size()
                            << " results; D is 4 f32 registers per lane";
  return success();
}

std::string typeName(Type type) { return type.isBF16() ? "bf16" : "f16"; }

} // namespace

LogicalResult MmaSyncOp::verify() {
  int64_t k = getK();
  if (k != 16 && k != 8)
    return emitOpError() << "k is " << k << "; mma.sync m16n8kK has K = 16 or 8";
  size_t ab = size_t(k / 4 + k / 8);
  std::string expected = "m16n8k" + std::to_string(k) + " takes " +
                         std::to_string(k / 4) + " i32 of A, " +
                         std::to_string(k / 8) + " i32 of B and 4 f32 of C";
  return verifyRegisters(*this, ab + 4, expected,
                         [&](size_t i) { return i < ab; });
}

std::string MmaSyncOp::getInstruction() {
  std::string type = typeName(getType());
  return "mma.sync.aligned.m16n8k" + std::to_string(getK()) + ".row.col.f32." +
         type + "." + type + ".f32";
}

LogicalResult MmaSpOp::verify() {
  if (getSelector() != 0 && getSelector() != 1)
    return emitOpError() << "selector is " << getSelector()
                         << "; m16n8k32 with 16-bit types takes 0 or 1";
  return verifyRegisters(
      *this, 13,
      "m16n8k32 takes 4 i32 of A, 4 i32 of B, 4 f32 of C and the i32 metadata",
      [](size_t i) { return i < 8 || i == 12; });
}

std::string MmaSpOp::getInstruction() {
  std::string type = typeName(getType());
  return "mma.sp.sync.aligned.m16n8k32.row.col.f32." + type + "." + type +
         ".f32";
}

LogicalResult RoutedFfnOp::verify() {
  auto act = dyn_cast<mlir::moe::ActivationAttr>(getActivation());
  if (!act)
    return emitOpError() << "activation is " << getActivation()
                         << "; expected a #moe.activation";
  Type compute = getCompute();
  if (!compute.isF32() && !compute.isBF16() && !compute.isF16())
    return emitOpError() << "compute type is " << compute
                         << "; expected f32, bf16 or f16";
  auto rank = [](Value v) { return cast<MemRefType>(v.getType()).getRank(); };
  auto dim = [](Value v, int64_t d) {
    return cast<MemRefType>(v.getType()).getDimSize(d);
  };
  bool tiled = getIntermediate().has_value();
  int64_t weightRank = tiled ? 5 : 3;
  if (rank(getTokens()) != 2 || rank(getIds()) != 2 ||
      rank(getWeights()) != 2 || rank(getResult()) != 2 ||
      rank(getGateUp()) != weightRank || rank(getDown()) != weightRank ||
      rank(getOffsets()) != 1 || rank(getPermutation()) != 1)
    return emitOpError() << "tokens, ids, weights and result are 2-D, gate_up "
                            "and down "
                         << weightRank << "-D, offsets and permutation 1-D";
  for (Value w : {getGateUp(), getDown()})
    if (cast<MemRefType>(w.getType()).getElementType() != compute)
      return emitOpError() << "weights are " << cast<MemRefType>(w.getType())
                                                   .getElementType()
                           << "; expected the compute type " << compute;
  if (ShapedType::isDynamic(dim(getIds(), 1)) ||
      ShapedType::isDynamic(dim(getTokens(), 1)) ||
      !cast<MemRefType>(getGateUp().getType()).hasStaticShape() ||
      !cast<MemRefType>(getDown().getType()).hasStaticShape())
    return emitOpError("k, the hidden size and the weights must be static");
  if (dim(getOffsets(), 0) != dim(getGateUp(), 0) + 1)
    return emitOpError() << "offsets has " << dim(getOffsets(), 0)
                         << " entries; expected experts + 1 = "
                         << dim(getGateUp(), 0) + 1;
  if (tiled)
    return verifyTiles();
  if (act.getGated() == mlir::moe::GateLayout::Separate && !getUp())
    return emitOpError("a separate gate layout needs the up weights");
  return success();
}

LogicalResult RoutedFfnOp::verifyTiles() {
  auto act = cast<mlir::moe::ActivationAttr>(getActivation());
  int64_t inter = getTiledIntermediate();
  int64_t hidden = cast<MemRefType>(getTokens().getType()).getDimSize(1);
  int64_t experts = cast<MemRefType>(getGateUp().getType()).getDimSize(0);
  int64_t sources = act.getGated() == mlir::moe::GateLayout::None ? 1 : 2;
  auto tiles = [](int64_t n) { return (n + kWeightTile - 1) / kWeightTile; };
  if (inter <= 0)
    return emitOpError() << "intermediate size is " << inter;
  if (getUp())
    return emitOpError("takes gate and up in one operand of tiles");
  for (auto [name, w, expected] :
       {std::tuple{"gate_up", getGateUp(),
                   SmallVector<int64_t>{experts, sources, columnTiles(inter),
                                        tiles(hidden),
                                        kWeightTile * kWeightTile}},
        std::tuple{"down", getDown(),
                   SmallVector<int64_t>{experts, 1, columnTiles(hidden),
                                        tiles(inter),
                                        kWeightTile * kWeightTile}}}) {
    auto type = cast<MemRefType>(w.getType());
    SmallVector<int64_t> strides;
    int64_t offset;
    if (type.getShape() != ArrayRef<int64_t>(expected) ||
        failed(getStridesAndOffset(type, strides, offset)) ||
        strides.back() != 1)
      return emitOpError() << name << " is " << type << "; the " << kWeightTile
                           << " x " << kWeightTile
                           << " tiles of this layer have the shape "
                           << expected[0] << "x" << expected[1] << "x"
                           << expected[2] << "x" << expected[3] << "x"
                           << expected[4] << ", innermost stride 1";
  }
  return success();
}

LogicalResult RouteOp::verify() {
  auto routing = dyn_cast<mlir::moe::RoutingAttr>(getRouting());
  if (!routing)
    return emitOpError() << "routing is " << getRouting()
                         << "; expected a #moe.routing";
  auto logits = cast<MemRefType>(getLogits().getType());
  auto weights = cast<MemRefType>(getWeights().getType());
  auto ids = cast<MemRefType>(getIds().getType());
  if (logits.getRank() != 2 || weights.getRank() != 2 || ids.getRank() != 2)
    return emitOpError("logits, weights and ids are 2-D");
  if (weights.getDimSize(1) != routing.getK() ||
      ids.getDimSize(1) != routing.getK())
    return emitOpError() << "weights and ids have " << weights.getDimSize(1)
                         << " and " << ids.getDimSize(1)
                         << " columns; expected k = " << routing.getK();
  if (ShapedType::isDynamic(logits.getDimSize(1)))
    return emitOpError("the number of experts must be static");
  return success();
}

int64_t LoadOp::getBytes() {
  auto vector = cast<VectorType>(getResult().getType());
  return vector.getNumElements() *
         vector.getElementType().getIntOrFloatBitWidth() / 8;
}

LogicalResult LoadOp::verify() {
  auto memref = cast<MemRefType>(getMemref().getType());
  auto vector = cast<VectorType>(getResult().getType());
  if (vector.getRank() != 1 || vector.getElementType() != memref.getElementType())
    return emitOpError() << "result is " << vector
                         << "; expected a 1-D vector of the memref's "
                         << memref.getElementType();
  if (static_cast<int64_t>(getIndices().size()) != memref.getRank())
    return emitOpError() << "has " << getIndices().size()
                         << " indices for a memref of rank "
                         << memref.getRank();
  if (auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(
          memref.getMemorySpace());
      space && space.getValue() != gpu::AddressSpace::Global)
    return emitOpError("loads from global memory; the memref is in ")
           << space;
  int64_t bytes = vector.getElementType().isIntOrFloat() ? getBytes() : 0;
  if (bytes != 4 && bytes != 8 && bytes != 16)
    return emitOpError() << "loads " << bytes
                         << " bytes; the instruction loads 4, 8 or 16";
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(getStridesAndOffset(memref, strides, offset)) ||
      (!strides.empty() && strides.back() != 1))
    return emitOpError("needs a memref whose innermost stride is 1");
  int64_t inner = memref.getRank() ? memref.getShape().back() : 1;
  if (!ShapedType::isDynamic(inner) && inner < vector.getNumElements())
    return emitOpError() << "loads " << vector.getNumElements()
                         << " elements along an innermost dimension of "
                         << inner;
  return success();
}

Type WgmmaOp::getType() {
  return cast<MemRefType>(getA().getType()).getElementType();
}

std::string WgmmaOp::getInstruction() {
  std::string type = typeName(getType());
  return "wgmma.mma_async.sync.aligned.m64n" + std::to_string(getN()) +
         "k16.f32." + type + "." + type;
}

uint64_t WgmmaOp::getDescriptor(bool isA) {
  ::moe::gpu::WgmmaDescriptor descriptor;
  descriptor.leading = unsigned(getLeading());
  descriptor.stride = unsigned(isA ? getAStride() : getBStride());
  descriptor.swizzleBytes = int(getSwizzle());
  return ::moe::gpu::WgmmaDescriptor::encode(descriptor);
}

LogicalResult WgmmaOp::verify() {
  for (auto [name, operand, indices] :
       {std::tuple{"A", getA(), getAIndices()},
        std::tuple{"B", getB(), getBIndices()}}) {
    auto memref = cast<MemRefType>(operand.getType());
    auto space =
        dyn_cast_or_null<gpu::AddressSpaceAttr>(memref.getMemorySpace());
    if (!space || space.getValue() != gpu::AddressSpace::Workgroup)
      return emitOpError() << name << " is " << memref
                           << "; wgmma reads its operands from shared memory "
                              "(#gpu.address_space<workgroup>)";
    Type element = memref.getElementType();
    if (!element.isBF16() && !element.isF16())
      return emitOpError() << name << " has " << element
                           << " elements; the instruction takes bf16 or f16";
    if (element != getType())
      return emitOpError() << "A has " << getType() << " elements and B "
                           << element << "; both must be the same";
    if (static_cast<int64_t>(indices.size()) != memref.getRank())
      return emitOpError() << name << " has " << indices.size()
                           << " indices for a memref of rank "
                           << memref.getRank();
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(getStridesAndOffset(memref, strides, offset)) ||
        (!strides.empty() && strides.back() != 1))
      return emitOpError() << name
                           << " needs a memref whose innermost stride is 1";
  }
  int64_t n = getN();
  if (n < 8 || n > 256 || n % 8)
    return emitOpError()
           << "n is " << n
           << "; wgmma m64nNk16 takes N a multiple of 8 up to 256";
  if (static_cast<int64_t>(getC().size()) != n / 2 ||
      static_cast<int64_t>(getD().size()) != n / 2)
    return emitOpError() << "has " << getC().size() << " registers of C and "
                         << getD().size() << " of D; m64n" << n << "k16 takes "
                         << n / 2 << " f32 each";
  int64_t swizzle = getSwizzle();
  if (swizzle != 0 && swizzle != 32 && swizzle != 64 && swizzle != 128)
    return emitOpError() << "swizzle is " << swizzle
                         << " bytes; the layouts swizzle 0, 32, 64 or 128";
  // (Signed, as written: the accessors give the unsigned value.)
  for (auto [name, bytes] : {std::pair{"leading", getLeadingAttr().getInt()},
                             std::pair{"a_stride", getAStrideAttr().getInt()},
                             std::pair{"b_stride", getBStrideAttr().getInt()}})
    if (bytes < 0 || bytes % 16 || bytes >= (int64_t(1) << 18))
      return emitOpError() << name << " is " << bytes
                           << " bytes; a descriptor holds multiples of 16 "
                              "below 256 KiB";
  for (Value d : getD())
    for (OpOperand &use : d.getUses()) {
      auto next = dyn_cast<WgmmaOp>(use.getOwner());
      bool asC =
          next && use.getOperandNumber() >= next.getC().getBeginOperandIndex();
      if (!asC && !isa<WgmmaWaitOp>(use.getOwner()))
        return emitOpError()
               << "result is used by '" << use.getOwner()->getName()
               << "' before a moe_gpu.wgmma_wait: an asynchronous wgmma's D "
                  "is C of the next wgmma or waited for";
    }
  return success();
}

LogicalResult WgmmaWaitOp::verify() {
  int64_t pending = getPendingAttr().getInt();
  if (pending < 0 || pending > 7)
    return emitOpError() << "waits for all but " << pending
                         << " groups; wgmma.wait_group takes 0 to 7";
  if (getValues().size() != getResults().size())
    return emitOpError() << "has " << getValues().size() << " operands and "
                         << getResults().size()
                         << " results; each accumulator is given back";
  return success();
}

//===----------------------------------------------------------------------===//
// mbarrier and bulk copies
//===----------------------------------------------------------------------===//

namespace {

bool inSpace(MemRefType type, gpu::AddressSpace space) {
  auto attr = dyn_cast_or_null<gpu::AddressSpaceAttr>(type.getMemorySpace());
  return attr ? attr.getValue() == space
              : space == gpu::AddressSpace::Global && !type.getMemorySpace();
}

/// `barriers` must be a 1-D buffer of i64 barrier objects in shared memory.
LogicalResult verifyBarriers(Operation *op, Value barriers) {
  auto type = cast<MemRefType>(barriers.getType());
  if (type.getRank() != 1 || !type.getElementType().isInteger(64) ||
      !inSpace(type, gpu::AddressSpace::Workgroup))
    return op->emitOpError()
           << "takes its barrier objects from a 1-D i64 workgroup buffer, not "
           << type;
  return success();
}

} // namespace

LogicalResult MbarrierInitOp::verify() {
  // (Signed, as written: the accessors give the unsigned value.)
  int64_t count = getCountAttr().getInt();
  if (count < 1 || count >= (int64_t(1) << 20))
    return emitOpError() << "expects " << count
                         << " arrivals; a phase has 1 to 2^20 - 1";
  return verifyBarriers(*this, getBarriers());
}

LogicalResult MbarrierArriveOp::verify() {
  int64_t bytes = getTxBytesAttr().getInt();
  if (bytes < 0 || bytes >= (int64_t(1) << 20))
    return emitOpError() << "expects " << bytes
                         << " transaction bytes; a phase takes 0 to 2^20 - 1";
  return verifyBarriers(*this, getBarriers());
}

LogicalResult MbarrierWaitOp::verify() {
  return verifyBarriers(*this, getBarriers());
}

LogicalResult ResidentGridOp::verify() {
  // The x grid size is ODS operand 1 of both launch ops (after the async
  // dependencies).
  auto isGridX = [](OpOperand &use) {
    Operation *user = use.getOwner();
    if (auto launch = dyn_cast<gpu::LaunchOp>(user))
      return use.getOperandNumber() ==
             launch.getODSOperandIndexAndLength(1).first;
    if (auto launch = dyn_cast<gpu::LaunchFuncOp>(user))
      return use.getOperandNumber() ==
             launch.getODSOperandIndexAndLength(1).first;
    return false;
  };
  for (OpOperand &use : getGrid().getUses())
    if (!isGridX(use))
      return emitOpError("is only the x grid size of launches; ")
             << use.getOwner()->getName() << " uses it as its operand "
             << use.getOperandNumber();
  return success();
}

LogicalResult BulkCopyOp::verify() {
  int64_t bytes = getBytes();
  if (bytes <= 0 || bytes % 16 || bytes >= (int64_t(1) << 20))
    return emitOpError() << "copies " << bytes
                         << " bytes; a bulk copy takes a positive multiple of "
                            "16 below 2^20";
  auto dst = cast<MemRefType>(getDst().getType());
  auto src = cast<MemRefType>(getSrc().getType());
  if (!inSpace(dst, gpu::AddressSpace::Workgroup))
    return emitOpError("copies into a workgroup buffer; the destination is ")
           << dst;
  if (!inSpace(src, gpu::AddressSpace::Global))
    return emitOpError("copies from global memory; the source is ") << src;
  if (dst.getElementType() != src.getElementType() ||
      !dst.getElementType().isIntOrFloat())
    return emitOpError() << "copies between " << src << " and " << dst
                         << ", whose element types differ";
  int64_t width = dst.getElementType().getIntOrFloatBitWidth() / 8;
  for (auto [name, type, indices] :
       {std::tuple{"destination", dst, getDstIndices()},
        std::tuple{"source", src, getSrcIndices()}}) {
    if (static_cast<int64_t>(indices.size()) != type.getRank())
      return emitOpError() << "has " << indices.size() << " indices for a "
                           << name << " of rank " << type.getRank();
    SmallVector<int64_t> strides;
    int64_t offset;
    if (type.getRank() == 0 ||
        failed(getStridesAndOffset(type, strides, offset)) ||
        strides.back() != 1)
      return emitOpError() << "needs a " << name
                           << " whose innermost stride is 1";
    int64_t inner = type.getShape().back();
    if (!ShapedType::isDynamic(inner) && inner * width < bytes)
      return emitOpError() << "copies " << bytes << " bytes along the " << name
                           << "'s innermost dimension of " << inner * width
                           << " bytes";
  }
  return verifyBarriers(*this, getBarriers());
}
