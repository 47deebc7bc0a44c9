//===- MoEOpsTest.cpp - build moe ops with the C++ builders and verify them
//===//

#include "dialects/moe/IR/MoEOps.h"
#include "dialects/onnx/IR/OnnxDialect.h"
#include "moe/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

class MoEOpsTest : public ::testing::Test {
protected:
  MoEOpsTest() : builder(&context) {
    DialectRegistry registry;
    ::moe::registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadDialect<MoEDialect, onnx::OnnxDialect, func::FuncDialect>();
    module = ModuleOp::create(builder.getUnknownLoc());
  }

  RankedTensorType f32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getF32Type());
  }
  RankedTensorType i32(ArrayRef<int64_t> shape) {
    return RankedTensorType::get(shape, builder.getI32Type());
  }

  /// Starts a function whose arguments have `types` and returns them.
  SmallVector<Value> startFunction(ArrayRef<Type> types) {
    builder.setInsertionPointToEnd(module->getBody());
    auto func = builder.create<func::FuncOp>(
        builder.getUnknownLoc(), "f", builder.getFunctionType(types, {}));
    Block *body = func.addEntryBlock();
    builder.setInsertionPointToStart(body);
    return SmallVector<Value>(body->getArguments());
  }

  /// Verifies `op` alone and returns the first error message, or "" when it
  /// verifies.
  std::string verifyMessage(Operation *op) {
    std::string message;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
      if (message.empty())
        message = diag.str();
      return success();
    });
    if (succeeded(mlir::verify(op)))
      return "";
    return message.empty() ? "<no message>" : message;
  }

  MLIRContext context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
};

TEST_F(MoEOpsTest, AttributesKeepTheirFields) {
  auto routing = RoutingAttr::get(&context, RoutingKind::SoftmaxTopK, 2, true);
  EXPECT_EQ(routing.getK(), 2);
  EXPECT_TRUE(routing.getNormalize());
  EXPECT_EQ(routing.getNumGroups(), 1);
  EXPECT_EQ(routing.getScale().convertToDouble(), 1.0);

  auto swiglu = ActivationAttr::get(&context, ActivationFn::Silu,
                                    GateLayout::Concatenated);
  EXPECT_TRUE(swiglu.isGated());
  EXPECT_EQ(swiglu.gateUpFactor(), 2);
  auto separate =
      ActivationAttr::get(&context, ActivationFn::Silu, GateLayout::Separate);
  EXPECT_TRUE(separate.isGated());
  EXPECT_EQ(separate.gateUpFactor(), 1);
  EXPECT_FALSE(ActivationAttr::get(&context, ActivationFn::Gelu).isGated());
}

TEST_F(MoEOpsTest, CheckedAttributesRejectBadFields) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto emitError = [&]() -> InFlightDiagnostic {
    return mlir::emitError(builder.getUnknownLoc());
  };
  EXPECT_FALSE(RoutingAttr::getChecked(
      emitError, &context, RoutingKind::SoftmaxTopK, int64_t{0}, false,
      APFloat(1.0), int64_t{1}, int64_t{1}, APFloat(0.0), APFloat(0.0),
      APFloat(0.0), APFloat(0.0)));
  EXPECT_NE(message.find("k must be at least 1"), std::string::npos) << message;
  EXPECT_FALSE(RoutingAttr::getChecked(
      emitError, &context, RoutingKind::SoftmaxTopK, int64_t{2}, false,
      APFloat(1.0), int64_t{1}, int64_t{1}, APFloat(0.0), APFloat(0.0),
      APFloat(0.0), APFloat(0.01)));
  EXPECT_NE(message.find("jitter_eps applies only to sparse_mixer"),
            std::string::npos)
      << message;
  EXPECT_FALSE(NMAttr::getChecked(emitError, &context, int64_t{4}, int64_t{4}));
  EXPECT_NE(message.find("n must be in [1, m)"), std::string::npos) << message;
  EXPECT_FALSE(ActivationAttr::getChecked(
      emitError, &context, ActivationFn::Relu, GateLayout::None, APFloat(1.702),
      APFloat(0.0), std::optional<APFloat>()));
  EXPECT_NE(message.find("alpha applies to silu only"), std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, LayerBuildsAndVerifies) {
  SmallVector<Value> args = startFunction(
      {f32({kDyn, 64}), f32({kDyn, 8}), f32({8, 256, 64}), f32({8, 64, 128})});
  auto layer = builder.create<LayerOp>(
      builder.getUnknownLoc(), args[0], args[1], args[2], args[3], Value(),
      RoutingAttr::get(&context, RoutingKind::SoftmaxTopK, 2, true),
      ActivationAttr::get(&context, ActivationFn::Silu,
                          GateLayout::Concatenated));
  EXPECT_EQ(verifyMessage(layer), "");
  EXPECT_EQ(layer.getNumExperts(), 8);
  EXPECT_EQ(layer.getNumNullExperts(), 0);
  EXPECT_EQ(layer.getType(), args[0].getType());
}

TEST_F(MoEOpsTest, LayerRejectsWrongGateUpRows) {
  SmallVector<Value> args = startFunction(
      {f32({kDyn, 64}), f32({kDyn, 8}), f32({8, 128, 64}), f32({8, 64, 128})});
  auto layer = builder.create<LayerOp>(
      builder.getUnknownLoc(), args[0], args[1], args[2], args[3], Value(),
      RoutingAttr::get(&context, RoutingKind::SoftmaxTopK, 2, true),
      ActivationAttr::get(&context, ActivationFn::Silu,
                          GateLayout::Concatenated));
  std::string message = verifyMessage(layer);
  EXPECT_NE(message.find("operand 'gate_up' has 128 rows per expert"),
            std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, LayerNamesTheOperandWithTheWrongHiddenSize) {
  SmallVector<Value> args = startFunction(
      {f32({4, 64}), f32({4, 8}), f32({8, 128, 64}), f32({8, 32, 128})});
  auto layer = builder.create<LayerOp>(
      builder.getUnknownLoc(), args[0], args[1], args[2], args[3], Value(),
      RoutingAttr::get(&context, RoutingKind::SoftmaxTopK, 2),
      ActivationAttr::get(&context, ActivationFn::Gelu));
  std::string message = verifyMessage(layer);
  EXPECT_NE(message.find("operand 'down' dimension 1 (H, hidden size) is 32"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("'tokens' gives H = 64"), std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, ExpandedStagesChainTogether) {
  SmallVector<Value> args =
      startFunction({f32({kDyn, 64}), f32({kDyn, 8}), f32({8, 128, 64}),
                     f32({8, 64, 128}), f32({8, 128, 64})});
  Location loc = builder.getUnknownLoc();
  auto routing = RoutingAttr::get(&context, RoutingKind::TopKSoftmax, 2);
  auto route = builder.create<RouteOp>(loc, f32({kDyn, 2}), i32({kDyn, 2}),
                                       args[1], Value(), routing);
  auto dispatch = builder.create<DispatchOp>(
      loc, f32({kDyn, 64}), i32({9}), i32({kDyn}), args[0], route.getIds(),
      Value());
  auto experts = builder.create<ExpertsOp>(
      loc, f32({kDyn, 64}), dispatch.getRows(), dispatch.getOffsets(), args[2],
      args[3], args[4], Value(), Value(), Value(),
      ActivationAttr::get(&context, ActivationFn::Silu, GateLayout::Separate));
  auto combine =
      builder.create<CombineOp>(loc, f32({kDyn, 64}), experts.getResult(),
                                route.getWeights(), dispatch.getPermutation());
  for (Operation *op : {route.getOperation(), dispatch.getOperation(),
                        experts.getOperation(), combine.getOperation()})
    EXPECT_EQ(verifyMessage(op), "") << op->getName().getStringRef().str();
}

TEST_F(MoEOpsTest, ExpertsRejectsOffsetsOfTheWrongLength) {
  SmallVector<Value> args = startFunction(
      {f32({kDyn, 64}), i32({8}), f32({8, 128, 64}), f32({8, 64, 128})});
  auto experts = builder.create<ExpertsOp>(
      builder.getUnknownLoc(), f32({kDyn, 64}), args[0], args[1], args[2],
      args[3], Value(), Value(), Value(), Value(),
      ActivationAttr::get(&context, ActivationFn::Relu));
  std::string message = verifyMessage(experts);
  EXPECT_NE(message.find("operand 'offsets' has 8 elements"), std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, SparseAttentionAndNMMatmulVerify) {
  SmallVector<Value> args =
      startFunction({f32({1, 8, 128, 64}), f32({1, 2, 128, 64}),
                     f32({1, 2, 128, 64}), f32({kDyn, 128}), f32({64, 64}),
                     RankedTensorType::get({64, 64}, builder.getI8Type())});
  Location loc = builder.getUnknownLoc();
  auto pattern = AttnPatternAttr::get(&context, /*causal=*/true,
                                      /*window_left=*/32, /*window_right=*/-1,
                                      /*sink_blocks=*/1, /*vertical_stride=*/0,
                                      /*block_q=*/64, /*block_kv=*/64, {});
  auto attention = builder.create<SparseAttentionOp>(
      loc, f32({1, 8, 128, 64}), args[0], args[1], args[2], Value(), Value(),
      pattern, FloatAttr());
  EXPECT_EQ(verifyMessage(attention), "");

  auto matmul =
      builder.create<NMMatmulOp>(loc, f32({kDyn, 64}), args[3], args[4],
                                 args[5], NMAttr::get(&context, 2, 4));
  EXPECT_EQ(verifyMessage(matmul), "");
  auto wrong =
      builder.create<NMMatmulOp>(loc, f32({kDyn, 64}), args[3], args[4],
                                 args[5], NMAttr::get(&context, 1, 4));
  std::string message = verifyMessage(wrong);
  EXPECT_NE(message.find("input features x n / m = 32"), std::string::npos)
      << message;
}

TEST_F(MoEOpsTest, OnnxNodeKeepsDomainOpsetAndAttributes) {
  SmallVector<Value> args = startFunction({f32({kDyn, 8})});
  auto node = builder.create<onnx::NodeOp>(
      builder.getUnknownLoc(), TypeRange{f32({kDyn, 8})},
      builder.getStringAttr("Softmax"), StringAttr(),
      builder.getI64IntegerAttr(13), builder.getStringAttr("router/softmax"),
      ValueRange{args[0]},
      builder.getDictionaryAttr(builder.getNamedAttr(
          "axis", builder.getIntegerAttr(
                      builder.getIntegerType(64, /*isSigned=*/true), -1))));
  EXPECT_EQ(verifyMessage(node), "");
  EXPECT_EQ(node.getDomainName(), "");
  EXPECT_EQ(node.getOpset(), 13u);
  ASSERT_TRUE(node.getOnnxAttr("axis"));
  EXPECT_FALSE(node.getOnnxAttr("missing"));
}

} // namespace
