//===- InitAll.cpp - registration of every dialect and pass ---------------===//

#include "moe/InitAll.h"
#include "moe/Conversion/Passes.h"
#include "moe/Transforms/Passes.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"
#include "dialects/moe/IR/MoEDialect.h"
#include "dialects/moe/Transforms/Passes.h"
#include "dialects/onnx/IR/OnnxDialect.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"

void moe::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::moe::MoEDialect, mlir::moe_gpu::MoEGpuDialect,
                  mlir::onnx::OnnxDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
}

void moe::registerAllPasses() {
  mlir::registerAllPasses();
  registerMoETransformsPasses();
  registerMoEDialectTransformsPasses();
  registerMoEConversionPasses();
}
