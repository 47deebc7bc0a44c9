//===- OnnxImportFuzzer.cpp - libFuzzer target for the ONNX importer ------===//
//
// Any byte string must import cleanly or be rejected with a diagnostic: no
// crash, no sanitizer report, and whatever imports must verify. Inputs starting
// with '<' go to the text parser, the rest to the protobuf parser.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/OnnxImporter.h"

#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  context.loadDialect<mlir::onnx::OnnxDialect, mlir::func::FuncDialect,
                      mlir::arith::ArithDialect>();
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  bool isText = !bytes.empty() && bytes.front() == '<';
  moe::ImportOptions options;
  mlir::OwningOpRef<mlir::ModuleOp> module = moe::importOnnxBuffer(
      &context, bytes, "fuzz-input", isText, /*baseDir=*/"", options);
  if (module && mlir::failed(mlir::verify(*module))) {
    std::fprintf(stderr, "imported module does not verify\n");
    std::abort();
  }
  return 0;
}
