//===- MoEDialect.cpp - the moe dialect and its attributes ----------------===//

#include "dialects/moe/IR/MoEDialect.h"
#include "dialects/moe/IR/MoEAttrs.h"
#include "dialects/moe/IR/MoEOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;

#include "dialects/moe/IR/MoEDialect.cpp.inc"
#include "dialects/moe/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/moe/IR/MoEAttrs.cpp.inc"

void MoEDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/moe/IR/MoEAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/moe/IR/MoEOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// #moe.routing
//===----------------------------------------------------------------------===//

LogicalResult RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  RoutingKind kind, int64_t k, bool normalize,
                                  APFloat scaleValue, int64_t numGroups,
                                  int64_t topkGroups, APFloat capacityValue,
                                  APFloat epsilonValue, APFloat floorValue,
                                  APFloat jitterValue) {
  double scale = scaleValue.convertToDouble();
  double capacityFactor = capacityValue.convertToDouble();
  if (k < 1)
    return emitError() << "#moe.routing: k must be at least 1, got " << k;
  if (!(scale > 0.0) || !std::isfinite(scale))
    return emitError()
           << "#moe.routing: scale must be positive and finite, got " << scale;
  if (numGroups < 1)
    return emitError() << "#moe.routing: num_groups must be at least 1, got "
                       << numGroups;
  if (topkGroups < 1 || topkGroups > numGroups)
    return emitError()
           << "#moe.routing: topk_groups must be in [1, num_groups = "
           << numGroups << "], got " << topkGroups;
  if (!(capacityFactor >= 0.0) || !std::isfinite(capacityFactor))
    return emitError()
           << "#moe.routing: capacity_factor must be 0 (no dropping) "
              "or positive, got "
           << capacityFactor;
  double epsilon = epsilonValue.convertToDouble(),
         floor = floorValue.convertToDouble();
  if (!(epsilon >= 0.0) || !std::isfinite(epsilon) || !(floor >= 0.0) ||
      !std::isfinite(floor))
    return emitError() << "#moe.routing: norm_epsilon and norm_floor must be 0 "
                          "or positive, got "
                       << epsilon << " and " << floor;
  if ((epsilon != 0.0 || floor != 0.0) && !normalize)
    return emitError() << "#moe.routing: norm_epsilon and norm_floor apply only "
                          "with normalize = true";
  double jitter = jitterValue.convertToDouble();
  if (!(jitter >= 0.0) || !std::isfinite(jitter))
    return emitError() << "#moe.routing: jitter_eps must be 0 or positive, got "
                       << jitter;
  if (jitter != 0.0 && kind != RoutingKind::SparseMixer)
    return emitError() << "#moe.routing: jitter_eps applies only to "
                          "sparse_mixer";
  if (kind == RoutingKind::SparseMixer && numGroups != 1)
    return emitError() << "#moe.routing: sparse_mixer has no grouped top-k";
  if (kind == RoutingKind::TopKSoftmax && normalize)
    return emitError() << "#moe.routing: normalize has no effect with "
                          "topk_softmax, whose weights already sum to 1";
  return success();
}

//===----------------------------------------------------------------------===//
// #moe.activation
//===----------------------------------------------------------------------===//

LogicalResult
ActivationAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       ActivationFn fn, GateLayout gated, APFloat alphaValue,
                       APFloat betaValue, std::optional<APFloat> limitValue) {
  double alpha = alphaValue.convertToDouble();
  double beta = betaValue.convertToDouble();
  std::optional<double> limit;
  if (limitValue)
    limit = limitValue->convertToDouble();
  if (!(alpha > 0.0) || !std::isfinite(alpha))
    return emitError()
           << "#moe.activation: alpha must be positive and finite, got "
           << alpha;
  if (alpha != 1.0 && fn != ActivationFn::Silu)
    return emitError() << "#moe.activation: alpha applies to silu only, not "
                       << stringifyActivationFn(fn);
  if (!std::isfinite(beta))
    return emitError() << "#moe.activation: beta must be finite";
  if (beta != 0.0 && gated == GateLayout::None)
    return emitError() << "#moe.activation: beta needs a gated activation";
  if (limit) {
    if (gated == GateLayout::None)
      return emitError() << "#moe.activation: limit needs a gated activation";
    if (!(*limit > 0.0) || !std::isfinite(*limit))
      return emitError()
             << "#moe.activation: limit must be positive and finite, got "
             << *limit;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// #moe.attn_pattern
//===----------------------------------------------------------------------===//

LogicalResult
AttnPatternAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        bool causal, int64_t windowLeft, int64_t windowRight,
                        int64_t sinkBlocks, int64_t verticalStride,
                        int64_t blockQ, int64_t blockKv,
                        ArrayRef<int64_t> headSpans) {
  if (windowLeft < -1)
    return emitError() << "#moe.attn_pattern: window_left must be -1 "
                          "(unbounded) or at least 0, got "
                       << windowLeft;
  if (windowRight < -1)
    return emitError() << "#moe.attn_pattern: window_right must be -1 "
                          "(unbounded) or at least 0, got "
                       << windowRight;
  if (causal && windowRight > 0)
    return emitError() << "#moe.attn_pattern: window_right = " << windowRight
                       << " contradicts causal = true";
  if (sinkBlocks < 0)
    return emitError()
           << "#moe.attn_pattern: sink_blocks must be at least 0, got "
           << sinkBlocks;
  if (verticalStride < 0)
    return emitError() << "#moe.attn_pattern: vertical_stride must be at least "
                          "0, got "
                       << verticalStride;
  if (blockQ < 1 || blockKv < 1)
    return emitError()
           << "#moe.attn_pattern: block sizes must be positive, got "
              "block_q = "
           << blockQ << ", block_kv = " << blockKv;
  for (auto [head, span] : llvm::enumerate(headSpans))
    if (span < 0)
      return emitError() << "#moe.attn_pattern: head_spans[" << head
                         << "] must be at least 0, got " << span;
  if (!headSpans.empty() && windowLeft != -1)
    return emitError() << "#moe.attn_pattern: give either window_left or "
                          "head_spans, not both";
  return success();
}

//===----------------------------------------------------------------------===//
// #moe.nm
//===----------------------------------------------------------------------===//

LogicalResult NMAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             int64_t n, int64_t m) {
  if (m < 2 || m > 64)
    return emitError() << "#moe.nm: m must be in [2, 64], got " << m;
  if (n < 1 || n >= m)
    return emitError() << "#moe.nm: n must be in [1, m), got n = " << n
                       << ", m = " << m;
  return success();
}

LogicalResult
NMAttr::verifyEncoding(ArrayRef<int64_t> shape, Type elementType,
                       function_ref<InFlightDiagnostic()> emitError) const {
  if (shape.empty())
    return emitError() << "#moe.nm needs a tensor of rank 1 or more";
  if (!llvm::isa<FloatType>(elementType))
    return emitError() << "#moe.nm needs a floating-point element type, got "
                       << elementType;
  int64_t inner = shape.back();
  if (!ShapedType::isDynamic(inner) && inner % getM() != 0)
    return emitError() << "#moe.nm<" << getN() << ", " << getM()
                       << ">: innermost dimension " << inner
                       << " is not a multiple of m = " << getM();
  return success();
}
