//===- RaiseMoE.cpp - ONNX forms of MoE layers to moe.layer ---------------===//
//
// One pattern per form an exporter writes; each builds the moe.layer, checks it with
// the op's verifier, and leaves the graph untouched when anything does not fit.
//
//===----------------------------------------------------------------------===//

#include "moe/Transforms/Passes.h"

#include "dialects/moe/IR/MoEOps.h"
#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace moe {
#define GEN_PASS_DEF_MOERAISE
#include "lib/Transforms/Passes.h.inc"
} // namespace moe

using namespace mlir;
using namespace mlir::moe;
namespace onnxd = mlir::onnx;

namespace {

/// Counters the patterns update; the pass reports them.
struct RaiseCounts {
  int64_t contribMoE = 0;
  int64_t nearMisses = 0;
};

/// Reads ONNX attributes of a node with their ONNX defaults.
class NodeAttrs {
public:
  explicit NodeAttrs(onnxd::NodeOp node) : node(node) {}

  int64_t getInt(StringRef name, int64_t fallback) const {
    if (auto attr = dyn_cast_or_null<IntegerAttr>(node.getOnnxAttr(name)))
      return attr.getValue().getSExtValue();
    return fallback;
  }
  /// ONNX float attributes are f32; the value is read back through its shortest
  /// decimal form, so that 1.702f means 1.702 rather than 1.7020000219345093.
  double getFloat(StringRef name, double fallback) const {
    auto attr = dyn_cast_or_null<FloatAttr>(node.getOnnxAttr(name));
    if (!attr)
      return fallback;
    float single = static_cast<float>(attr.getValueAsDouble());
    for (int digits = 1; digits < 9; ++digits) {
      char text[32];
      std::snprintf(text, sizeof(text), "%.*g", digits, single);
      double shortest = std::strtod(text, nullptr);
      if (static_cast<float>(shortest) == single)
        return shortest;
    }
    return single;
  }
  StringRef getString(StringRef name, StringRef fallback) const {
    if (auto attr = dyn_cast_or_null<StringAttr>(node.getOnnxAttr(name)))
      return attr.getValue();
    return fallback;
  }

private:
  mutable onnxd::NodeOp node;
};

/// Operand `index` of `node`, or null when it is absent or an onnx.none.
Value optionalInput(onnxd::NodeOp node, unsigned index) {
  if (index >= node.getInputs().size())
    return Value();
  Value value = node.getInputs()[index];
  return isa<NoneType>(value.getType()) ? Value() : value;
}

/// `weight [E, a, b]` as `[E, b, a]`.
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

/// Verifies a freshly built op without printing anything; returns the first message
/// when it does not verify.
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

/// Base of the raising patterns: failure paths that count as near misses.
class RaisePattern : public OpRewritePattern<onnxd::NodeOp> {
public:
  RaisePattern(MLIRContext *context, RaiseCounts &counts, bool explain)
      : OpRewritePattern(context), counts(counts), explain(explain) {}

protected:
  /// Records that `node` looked like a MoE layer but is left as it was.
  LogicalResult nearMiss(Operation *node, PatternRewriter &rewriter,
                         const Twine &why) const {
    ++counts.nearMisses;
    if (explain)
      node->emitRemark() << "not raised to moe.layer: " << why;
    return rewriter.notifyMatchFailure(node, why);
  }

  RaiseCounts &counts;
  bool explain;
};

/// com.microsoft.MoE (ONNX Runtime's contrib op) → moe.layer.
class RaiseContribMoE : public RaisePattern {
public:
  using RaisePattern::RaisePattern;

  LogicalResult matchAndRewrite(onnxd::NodeOp node,
                                PatternRewriter &rewriter) const override {
    if (node.getOpType() != "MoE" || node.getDomainName() != "com.microsoft" ||
        node.getNumResults() != 1)
      return failure();
    NodeAttrs attrs(node);
    if (attrs.getInt("use_sparse_mixer", 0) != 0)
      return nearMiss(node, rewriter,
                      "the sparse-mixer routing has no #moe.routing form");

    StringRef activationName = attrs.getString("activation_type", "relu");
    std::optional<ActivationFn> fn =
        llvm::StringSwitch<std::optional<ActivationFn>>(activationName)
            .Case("relu", ActivationFn::Relu)
            // ONNX Runtime's MoE kernels compute gelu with the tanh approximation.
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
      int64_t fusion = attrs.getInt("swiglu_fusion", 0);
      if (fusion < 0 || fusion > 2)
        return nearMiss(node, rewriter,
                        "swiglu_fusion " + Twine(fusion) + " is not 0, 1 or 2");
      gated = fusion == 0   ? GateLayout::Separate
              : fusion == 1 ? GateLayout::Interleaved
                            : GateLayout::Concatenated;
      alpha = attrs.getFloat("activation_alpha", 1.0);
      beta = attrs.getFloat("activation_beta", 0.0);
      double clamp = attrs.getFloat("swiglu_limit", INFINITY);
      if (std::isfinite(clamp) && clamp > 0.0)
        limit = clamp;
    }

    Value tokens = optionalInput(node, 0), logits = optionalInput(node, 1);
    Value fc1 = optionalInput(node, 2), fc1Bias = optionalInput(node, 3);
    Value fc2 = optionalInput(node, 4), fc2Bias = optionalInput(node, 5);
    Value fc3 = optionalInput(node, 6), fc3Bias = optionalInput(node, 7);
    if (!tokens || !logits || !fc1 || !fc2)
      return nearMiss(node, rewriter,
                      "input, router_probs, fc1 and fc2 weights are required");
    if (fc3 && gated != GateLayout::Separate)
      return nearMiss(node, rewriter,
                      "fc3 weights are only used by swiglu with swiglu_fusion = 0");
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

    // Current ONNX Runtime: fc1 [E, F, H], fc2 [E, H, I]. Earlier: fc1 [E, H, F],
    // fc2 [E, I, H] (column-major). Only the current layout is taken when both fit.
    bool current = fc1Type.getDimSize(2) == hidden && fc2Type.getDimSize(1) == hidden;
    bool earlier = fc1Type.getDimSize(1) == hidden && fc2Type.getDimSize(2) == hidden;
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
      tokens = track(rewriter.create<tensor::CollapseShapeOp>(loc, tokens, flatten));
    auto logitsType = dyn_cast<RankedTensorType>(logits.getType());
    if (logitsType && logitsType.getRank() == 3)
      logits = track(rewriter.create<tensor::CollapseShapeOp>(loc, logits, flatten));

    MLIRContext *context = rewriter.getContext();
    auto routing = RoutingAttr::get(context, RoutingKind::SoftmaxTopK,
                                    attrs.getInt("k", 1),
                                    attrs.getInt("normalize_routing_weights", 0) != 0);
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
    if (tokensType.getRank() == 3)
      result = rewriter.create<tensor::ExpandShapeOp>(loc, tokensType,
                                                      result, flatten);
    Type expected = node.getResult(0).getType();
    if (result.getType() != expected)
      result = rewriter.create<tensor::CastOp>(loc, expected, result);
    rewriter.replaceOp(node, result);
    ++counts.contribMoE;
    return success();
  }
};

class MoERaisePass : public ::moe::impl::MoERaiseBase<MoERaisePass> {
public:
  using MoERaiseBase::MoERaiseBase;

  void runOnOperation() override {
    RaiseCounts counts;
    RewritePatternSet patterns(&getContext());
    patterns.add<RaiseContribMoE>(&getContext(), counts, remarks);
    GreedyRewriteConfig config;
    // Each node is looked at once: a near miss stays a near miss.
    config.maxIterations = 1;
    config.strictMode = GreedyRewriteStrictness::ExistingOps;
    (void)applyPatternsAndFoldGreedily(getOperation(), std::move(patterns),
                                       config);
    if (remarks && (counts.contribMoE || counts.nearMisses))
      getOperation().emitRemark()
          << "moe-raise: " << counts.contribMoE
          << " layer(s) raised (com.microsoft.MoE: " << counts.contribMoE
          << "), " << counts.nearMisses << " near miss(es) left as they were";
  }
};

} // namespace
