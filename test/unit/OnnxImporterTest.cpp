//===- OnnxImporterTest.cpp - the importer's C++ API ----------------------===//

#include "moe/Import/OnnxImporter.h"

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

#include <string>

namespace {

constexpr const char *kRouterText = R"(<ir_version: 8, opset_import: ["" : 17]>
router (float[T, 4] x) => (float[T, 4] y)
{
  y = Softmax <axis = -1> (x)
}
)";

class OnnxImporterTest : public ::testing::Test {
protected:
  OnnxImporterTest()
      : handler(&context, [this](mlir::Diagnostic &diag) {
          messages += diag.str() + "\n";
          return mlir::success();
        }) {
    context.loadDialect<mlir::onnx::OnnxDialect, mlir::func::FuncDialect,
                        mlir::arith::ArithDialect>();
  }

  mlir::OwningOpRef<mlir::ModuleOp>
  import(llvm::StringRef bytes, bool isText,
         const moe::ImportOptions &options = {}) {
    return moe::importOnnxBuffer(&context, bytes, "model", isText,
                                 /*baseDir=*/"", options);
  }

  mlir::MLIRContext context;
  std::string messages;
  mlir::ScopedDiagnosticHandler handler;
};

TEST(ParseInputShape, AcceptsDimensionsAndQuestionMarks) {
  moe::ImportOptions options;
  std::string error;
  ASSERT_TRUE(moe::parseInputShape("hidden:1x?x4096", options, error)) << error;
  EXPECT_EQ(options.inputShapes["hidden"], (std::vector<int64_t>{1, -1, 4096}));
  // The last ':' separates the name, so names may contain ':'.
  ASSERT_TRUE(moe::parseInputShape("a:b:7", options, error)) << error;
  EXPECT_EQ(options.inputShapes["a:b"], (std::vector<int64_t>{7}));
}

TEST(ParseInputShape, RejectsMalformedSpecs) {
  moe::ImportOptions options;
  std::string error;
  EXPECT_FALSE(moe::parseInputShape("x", options, error));
  EXPECT_NE(error.find("expects name:DIMS"), std::string::npos) << error;
  EXPECT_FALSE(moe::parseInputShape("x:2x-3", options, error));
  EXPECT_NE(error.find("'-3' is not a dimension"), std::string::npos) << error;
  EXPECT_FALSE(moe::parseInputShape(":4", options, error));
  EXPECT_TRUE(options.inputShapes.empty());
}

TEST(IsOnnxModelPath, RecognisesBothSpellings) {
  EXPECT_TRUE(moe::isOnnxModelPath("a/model.onnx"));
  EXPECT_TRUE(moe::isOnnxModelPath("m.onnxtext"));
  EXPECT_FALSE(moe::isOnnxModelPath("m.mlir"));
}

TEST_F(OnnxImporterTest, ImportsTextFromMemory) {
  mlir::OwningOpRef<mlir::ModuleOp> module = import(kRouterText, true);
  ASSERT_TRUE(module) << messages;
  auto func = module->lookupSymbol<mlir::func::FuncOp>("main_graph");
  ASSERT_TRUE(func);
  EXPECT_EQ(func.getNumArguments(), 1u);
  int nodes = 0;
  func.walk([&](mlir::onnx::NodeOp node) {
    ++nodes;
    EXPECT_EQ(node.getOpType(), "Softmax");
    EXPECT_EQ(node.getOpset(), 17u);
  });
  EXPECT_EQ(nodes, 1);
}

TEST_F(OnnxImporterTest, ShapeOverridePropagates) {
  moe::ImportOptions options;
  options.inputShapes["x"] = {3, 4};
  mlir::OwningOpRef<mlir::ModuleOp> module = import(kRouterText, true, options);
  ASSERT_TRUE(module) << messages;
  auto func = module->lookupSymbol<mlir::func::FuncOp>("main_graph");
  auto result =
      llvm::cast<mlir::RankedTensorType>(func.getFunctionType().getResult(0));
  EXPECT_EQ(result.getShape(), (llvm::ArrayRef<int64_t>{3, 4}));
}

TEST_F(OnnxImporterTest, RejectsGarbageWithOneMessage) {
  EXPECT_FALSE(import("definitely not a protobuf", false));
  EXPECT_NE(messages.find("not a valid ONNX protobuf"), std::string::npos)
      << messages;
  messages.clear();
  EXPECT_FALSE(import("<ir_version: 8> broken (", true));
  EXPECT_NE(messages.find("cannot parse the ONNX text"), std::string::npos)
      << messages;
}

} // namespace
