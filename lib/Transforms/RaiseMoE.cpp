//===- RaiseMoE.cpp - ONNX forms of MoE layers to moe.layer ---------------===//
//
// One pattern per form an exporter writes; each builds the moe.layer, checks it
// with the op's verifier, and leaves the graph untouched when anything does not
// fit.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

#include "NormalizeOnnx.h"
#include "RaisePatterns.h"
#include "dialects/onnx/IR/OnnxMatchers.h"

#include "dialects/moe/IR/MoEOps.h"
#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <optional>

namespace moe {
#define GEN_PASS_DEF_MOERAISE
#include "lib/Transforms/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace mlir::moe;
using ::moe::RaiseCounts;
using ::moe::RaisePattern;
using ::moe::transposeExperts;
using ::moe::verifyQuietly;
namespace onnxd = mlir::onnx;

namespace moe {

LogicalResult RaisePattern::nearMiss(Operation *node, PatternRewriter &rewriter,
                                     const Twine &why) const {
  ++counts.nearMisses;
  if (explain)
    node->emitRemark() << "not raised to moe.layer: " << why;
  return rewriter.notifyMatchFailure(node, why);
}

Value transposeExperts(PatternRewriter &rewriter, Location loc, Value weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  SmallVector<int64_t> shape{type.getDimSize(0), type.getDimSize(2),
                             type.getDimSize(1)};
  Value init =
      rewriter.create<tensor::EmptyOp>(loc, shape, type.getElementType());
  return rewriter
      .create<linalg::TransposeOp>(loc, weight, init,
                                   ArrayRef<int64_t>{0, 2, 1})
      .getResult()[0];
}

std::optional<std::string> verifyQuietly(Operation *op) {
  std::string message;
  ScopedDiagnosticHandler handler(op->getContext(), [&](Diagnostic &diag) {
    if (message.empty())
      message = diag.str();
    return success();
  });
  if (succeeded(verify(op)))
    return std::nullopt;
  return message;
}

} // namespace moe

namespace {

/// com.microsoft.MoE (ONNX Runtime's contrib op) → moe.layer.
class RaiseContribMoE : public RaisePattern {
public:
  using RaisePattern::RaisePattern;

  LogicalResult matchAndRewrite(onnxd::NodeOp node,
                                PatternRewriter &rewriter) const override {
    if (node.getOpType() != "MoE" || node.getDomainName() != "com.microsoft" ||
        node.getNumResults() != 1)
      return failure();
    // ONNX Runtime's sparse mixer is Phi-MoE's, top-2 with the jitter fixed
    // at 0.01 (Phi-3.5-MoE's router_jitter_noise); it ignores
    // normalize_routing_weights.
    bool sparseMixer = ::moe::match::intAttr(node, "use_sparse_mixer", 0) != 0;
    int64_t k = ::moe::match::intAttr(node, "k", 1);
    if (sparseMixer && k != 2)
      return nearMiss(node, rewriter,
                      "use_sparse_mixer = 1 needs k = 2, got k = " +
                          std::to_string(k));

    StringRef activationName =
        ::moe::match::stringAttr(node, "activation_type", "relu");
    std::optional<ActivationFn> fn =
        llvm::StringSwitch<std::optional<ActivationFn>>(activationName)
            .Case("relu", ActivationFn::Relu)
            // ONNX Runtime's MoE kernels compute gelu with the tanh
            // approximation.
            .Case("gelu", ActivationFn::GeluTanh)
            .Case("silu", ActivationFn::Silu)
            .Case("swiglu", ActivationFn::Silu)
            .Case("identity", ActivationFn::Identity)
            .Default(std::nullopt);
    if (!fn)
      return nearMiss(node, rewriter,
                      "unknown activation_type '" + activationName + "'");
    GateLayout gated = GateLayout::None;
    double alpha = 1.0, beta = 0.0;
    std::optional<double> limit;
    if (activationName == "swiglu") {
      int64_t fusion = ::moe::match::intAttr(node, "swiglu_fusion", 0);
      if (fusion < 0 || fusion > 2)
        return nearMiss(node, rewriter,
                        "swiglu_fusion " + Twine(fusion) + " is not 0, 1 or 2");
      gated = fusion == 0   ? GateLayout::Separate
              : fusion == 1 ? GateLayout::Interleaved
                            : GateLayout::Concatenated;
      alpha = ::moe::match::floatAttr(node, "activation_alpha", 1.0);
      beta = ::moe::match::floatAttr(node, "activation_beta", 0.0);
      double clamp = ::moe::match::floatAttr(node, "swiglu_limit", INFINITY);
      if (std::isfinite(clamp) && clamp > 0.0)
        limit = clamp;
    }

    Value tokens = ::moe::match::input(node, 0),
          logits = ::moe::match::input(node, 1);
    Value fc1 = ::moe::match::input(node, 2),
          fc1Bias = ::moe::match::input(node, 3);
    Value fc2 = ::moe::match::input(node, 4),
          fc2Bias = ::moe::match::input(node, 5);
    Value fc3 = ::moe::match::input(node, 6),
          fc3Bias = ::moe::match::input(node, 7);
    if (!tokens || !logits || !fc1 || !fc2)
      return nearMiss(node, rewriter,
                      "input, router_probs, fc1 and fc2 weights are required");
    // With fc3, ONNX Runtime gates every activation: act(x fc1^T) * (x fc3^T)
    // (transformers' exporter with CUDA fusions, onnxruntime-genai's Mixtral).
    if (fc3 && gated == GateLayout::None)
      gated = GateLayout::Separate;
    if (fc3 && gated != GateLayout::Separate)
      return nearMiss(node, rewriter,
                      "fc3 weights with swiglu_fusion = " +
                          Twine(::moe::match::intAttr(node, "swiglu_fusion", 0)) +
                          ": the up projection would be given twice");
    auto tokensType = dyn_cast<RankedTensorType>(tokens.getType());
    auto fc1Type = dyn_cast<RankedTensorType>(fc1.getType());
    auto fc2Type = dyn_cast<RankedTensorType>(fc2.getType());
    if (!tokensType || !fc1Type || !fc2Type || fc1Type.getRank() != 3 ||
        fc2Type.getRank() != 3 ||
        (tokensType.getRank() != 2 && tokensType.getRank() != 3))
      return nearMiss(node, rewriter,
                      "needs ranked input [T, H] or [B, S, H] and rank-3 "
                      "fc1/fc2 weights");
    int64_t hidden = tokensType.getShape().back();
    if (ShapedType::isDynamic(hidden))
      return nearMiss(node, rewriter, "the hidden size is dynamic");
    if (!tensor::CastOp::areCastCompatible(tokensType,
                                           node.getResult(0).getType()))
      return nearMiss(node, rewriter,
                      "the output type does not match the input's");

    // Current ONNX Runtime: fc1 [E, F, H], fc2 [E, H, I]. Earlier: fc1 [E, H,
    // F], fc2 [E, I, H] (column-major). Only the current layout is taken when
    // both fit.
    bool current =
        fc1Type.getDimSize(2) == hidden && fc2Type.getDimSize(1) == hidden;
    bool earlier =
        fc1Type.getDimSize(1) == hidden && fc2Type.getDimSize(2) == hidden;
    if (!current && !earlier)
      return nearMiss(node, rewriter,
                      "expert weight shapes match neither MoE weight layout");

    Location loc = node.getLoc();
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(node);
    SmallVector<Operation *> created;
    auto track = [&](Value v) {
      if (Operation *op = v.getDefiningOp())
        created.push_back(op);
      return v;
    };
    if (!current) {
      fc1 = track(transposeExperts(rewriter, loc, fc1));
      fc2 = track(transposeExperts(rewriter, loc, fc2));
      if (fc3)
        fc3 = track(transposeExperts(rewriter, loc, fc3));
    }
    // A [B, S, H] input runs as [B*S, H] tokens.
    SmallVector<ReassociationIndices> flatten{{0, 1}, {2}};
    if (tokensType.getRank() == 3)
      tokens =
          track(rewriter.create<tensor::CollapseShapeOp>(loc, tokens, flatten));
    auto logitsType = dyn_cast<RankedTensorType>(logits.getType());
    if (logitsType && logitsType.getRank() == 3)
      logits =
          track(rewriter.create<tensor::CollapseShapeOp>(loc, logits, flatten));

    MLIRContext *context = rewriter.getContext();
    auto routing =
        sparseMixer
            ? RoutingAttr::get(context, RoutingKind::SparseMixer, k,
                               /*normalize=*/false, APFloat(1.0), 1, 1,
                               APFloat(0.0), APFloat(0.0), APFloat(0.0),
                               APFloat(0.01))
            : RoutingAttr::get(
                  context, RoutingKind::SoftmaxTopK, k,
                  ::moe::match::intAttr(node, "normalize_routing_weights", 0) !=
                      0);
    auto activation = ActivationAttr::get(
        context, *fn, gated, APFloat(alpha), APFloat(beta),
        limit ? std::optional<APFloat>(APFloat(*limit)) : std::nullopt);
    auto layer = rewriter.create<LayerOp>(
        loc, tokens.getType(), tokens, logits, fc1, fc2, fc3, fc1Bias, fc2Bias,
        fc3Bias, Value(), Value(), Value(), Value(), Value(), Value(), routing,
        activation);
    created.push_back(layer);
    if (std::optional<std::string> problem = verifyQuietly(layer)) {
      for (Operation *op : llvm::reverse(created))
        rewriter.eraseOp(op);
      return nearMiss(node, rewriter, *problem);
    }

    Value result = layer.getResult();
    if (tokensType.getRank() == 3 &&
        llvm::count_if(tokensType.getShape(), ShapedType::isDynamic) <= 1) {
      result = rewriter.create<tensor::ExpandShapeOp>(loc, tokensType, result,
                                                      flatten);
    } else if (tokensType.getRank() == 3) {
      // [B*S, H] back to [B, S, H] with B and S read at run time. MLIR 19
      // bufferizes an expand_shape with two dynamic sizes in one group
      // without them, so this is a tensor.reshape by the input's shape.
      Value original = ::moe::match::input(node, 0);
      SmallVector<Value> sizes;
      for (int64_t d = 0; d < 3; ++d) {
        Value size =
            tokensType.isDynamicDim(d)
                ? rewriter.create<tensor::DimOp>(loc, original, d).getResult()
                : rewriter
                      .create<arith::ConstantIndexOp>(loc,
                                                      tokensType.getDimSize(d))
                      .getResult();
        sizes.push_back(rewriter.create<arith::IndexCastOp>(
            loc, rewriter.getI64Type(), size));
      }
      Value shape = rewriter.create<tensor::FromElementsOp>(loc, sizes);
      result = rewriter.create<tensor::ReshapeOp>(loc, tokensType, result, shape);
    }
    Type expected = node.getResult(0).getType();
    if (result.getType() != expected)
      result = rewriter.create<tensor::CastOp>(loc, expected, result);
    rewriter.replaceOp(node, result);
    ++counts.contribMoE;
    return success();
  }
};

} // namespace

void ::moe::populateRaiseContribMoEPatterns(RewritePatternSet &patterns,
                                            RaiseCounts &counts, bool explain) {
  patterns.add<RaiseContribMoE>(patterns.getContext(), counts, explain);
}

namespace {

class MoERaisePass : public ::moe::impl::MoERaiseBase<MoERaisePass> {
public:
  using MoERaiseBase::MoERaiseBase;

  void runOnOperation() override {
    ::moe::normalizeOnnxGraph(getOperation());
    ::moe::RaiseCounts counts;
    RewritePatternSet patterns(&getContext());
    ::moe::populateRaiseContribMoEPatterns(patterns, counts, remarks);
    ::moe::populateRaiseDecomposedMoEPatterns(patterns, counts, remarks);
    GreedyRewriteConfig config;
    // Each node is looked at once: a near miss stays a near miss.
    config.maxIterations = 1;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    (void)applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                       config);
    ::moe::foldSharedExperts(getOperation(), counts, remarks);
    int64_t raised = counts.raised();
    if (remarks)
      getOperation().emitRemark()
          << "moe-raise: " << raised
          << " layer(s) raised (com.microsoft.MoE: " << counts.contribMoE
          << ", batched matmul: " << counts.batchedMatmul
          << ", dense: " << counts.dense << ", loop: " << counts.loop << "), "
          << counts.sharedExperts << " shared expert(s) folded, "
          << counts.nearMisses << " near miss(es) left as they were";
  }
};

} // namespace
