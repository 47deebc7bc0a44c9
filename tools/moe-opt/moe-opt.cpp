//===- moe-opt.cpp - the moe-mlir compiler driver -------------------------===//
//
// IR in, IR out, like mlir-opt, with the moe and onnx dialects and every pass.
// An input named *.onnx or *.onnxtext is imported first.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/OnnxImporter.h"
#include "moe/InitAll.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace {

llvm::cl::OptionCategory importCategory("ONNX import options");

llvm::cl::list<std::string> inputShapes(
    "shape",
    llvm::cl::desc("Fix a graph input's shape: --shape=x:1x128x4096 (? keeps a "
                   "dimension dynamic); may be repeated"),
    llvm::cl::value_desc("name:DIMS"), llvm::cl::cat(importCategory));

/// Imports the ONNX model at `inputPath` and runs the moe-opt pipeline on it.
mlir::LogicalResult runOnOnnxModel(llvm::StringRef inputPath,
                                   llvm::StringRef outputPath,
                                   mlir::DialectRegistry &registry) {
  moe::ImportOptions options;
  for (const std::string &spec : inputShapes) {
    std::string error;
    if (!moe::parseInputShape(spec, options, error)) {
      llvm::errs() << "moe-opt: " << error << "\n";
      return mlir::failure();
    }
  }
  std::string bytecode;
  {
    mlir::MLIRContext context(registry);
    // Import errors name the node or initializer at fault; the file is the
    // location.
    mlir::ScopedDiagnosticHandler handler(
        &context, [&](mlir::Diagnostic &diag) {
          const char *severity =
              diag.getSeverity() == mlir::DiagnosticSeverity::Error ? "error"
              : diag.getSeverity() == mlir::DiagnosticSeverity::Warning
                  ? "warning"
                  : "note";
          llvm::errs() << inputPath << ": " << severity << ": " << diag << "\n";
          for (mlir::Diagnostic &note : diag.getNotes())
            llvm::errs() << inputPath << ": note: " << note << "\n";
          return mlir::success();
        });
    mlir::OwningOpRef<mlir::ModuleOp> module =
        moe::importOnnxFile(&context, inputPath, options);
    if (!module)
      return mlir::failure();
    llvm::raw_string_ostream stream(bytecode);
    if (mlir::failed(mlir::writeBytecodeToFile(*module, stream)))
      return mlir::failure();
  }
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "moe-opt: " << error << "\n";
    return mlir::failure();
  }
  if (mlir::failed(mlir::MlirOptMain(
          output->os(),
          llvm::MemoryBuffer::getMemBufferCopy(bytecode, inputPath), registry,
          mlir::MlirOptMainConfig::createFromCLOptions())))
    return mlir::failure();
  output->keep();
  return mlir::success();
}

} // namespace

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  moe::registerAllDialects(registry);
  moe::registerAllPasses();
  auto [inputPath, outputPath] = mlir::registerAndParseCLIOptions(
      argc, argv,
      "moe-opt: the moe-mlir compiler driver (MLIR, .onnx or .onnxtext in)\n",
      registry);
  if (moe::isOnnxModelPath(inputPath))
    return mlir::asMainReturnCode(
        runOnOnnxModel(inputPath, outputPath, registry));
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, inputPath, outputPath, registry));
}
