//===- OnnxPipelineFuzzer.cpp - libFuzzer target for import to legalisation ===//
//
// Any byte string that imports goes on through moe-raise (moe-normalize-onnx
// first) and moe-legalize-onnx: no crash, no sanitizer report, a failing pass
// says why in an error, and what every pass accepted verifies. Seeded with the
// real exporters' files (test/models/real), so mutations stay close to the
// graphs the matchers read. Inputs starting with '<' go to the text parser.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Import/OnnxImporter.h"
#include "moe/InitAll.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

// LLVM's BumpPtrAllocator poisons the rest of each new slab in code built with
// ASan (this binary) and unpoisons what it hands out; Debian's libMLIR.so is
// not instrumented, so attribute storage it then allocates from a slab this
// binary started reads as poisoned. Manual poisoning is turned off; ASan's own
// checks (heap, stack, use after free) stay.
extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::DialectRegistry registry;
  moe::registerAllDialects(registry);
  mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
  context.loadAllAvailableDialects();
  int errors = 0;
  mlir::ScopedDiagnosticHandler count(&context, [&](mlir::Diagnostic &diag) {
    errors += diag.getSeverity() == mlir::DiagnosticSeverity::Error;
    return mlir::success();
  });
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  bool isText = !bytes.empty() && bytes.front() == '<';
  moe::ImportOptions options;
  mlir::OwningOpRef<mlir::ModuleOp> module = moe::importOnnxBuffer(
      &context, bytes, "fuzz-input", isText, /*baseDir=*/"", options);
  if (!module)
    return 0;
  mlir::PassManager pm(&context);
  // Verified below, so that IR a pass leaves invalid is a finding, not an
  // error the pass manager reports.
  pm.enableVerifier(false);
  mlir::OpPassManager &func = pm.nest<mlir::func::FuncOp>();
  func.addPass(moe::createMoERaise());
  func.addPass(moe::createMoELegalizeOnnx());
  errors = 0;
  if (mlir::failed(pm.run(*module))) {
    if (errors == 0) {
      std::fprintf(stderr, "a pass failed without an error\n");
      std::abort();
    }
    return 0;
  }
  if (mlir::failed(mlir::verify(*module))) {
    std::fprintf(stderr, "the raised and legalised module does not verify\n");
    std::abort();
  }
  return 0;
}
