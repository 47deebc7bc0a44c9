//===- moe-opt.cpp - the moe-mlir compiler driver -------------------------===//
//
// IR in, IR out, like mlir-opt, with the moe and onnx dialects and every pass.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  moe::registerAllDialects(registry);
  moe::registerAllPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "moe-opt: the moe-mlir compiler driver\n", registry));
}
