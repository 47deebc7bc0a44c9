//===- OnnxImporter.h - ONNX models to the onnx dialect ---------*- C++ -*-===//
//
// Reads a binary (.onnx) or textual (.onnxtext) ONNX model and builds a module
// with one `func.func @main_graph`: graph inputs become arguments, initializers
// constants, each node one `onnx.node`, graph outputs the returned values.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_ONNXIMPORTER_H
#define MOE_IMPORT_ONNXIMPORTER_H

#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlir {
class MLIRContext;
class ModuleOp;
} // namespace mlir

namespace moe {

struct ImportOptions {
  /// Shapes that replace those of graph inputs, by input name. The rank must
  /// match and static dimensions of the model must agree; -1 keeps a dimension
  /// dynamic.
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// Initializers with at most this many elements are printed inline as dense
  /// elements (shapes, axes, scalars); larger ones become dense resources.
  int64_t inlineElementLimit = 64;
};

/// Adds the input shape given as `name:1x128x4096` (`?` for a dynamic
/// dimension) to `options`; on failure returns false and sets `error`.
bool parseInputShape(llvm::StringRef spec, ImportOptions &options,
                     std::string &error);

/// True when `path` names a model this importer reads (.onnx or .onnxtext).
bool isOnnxModelPath(llvm::StringRef path);

/// Imports the model at `path`. Errors are emitted as diagnostics on `context`
/// located at the file (and node, where one is at fault); returns null on
/// failure.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxFile(mlir::MLIRContext *context,
                                                 llvm::StringRef path,
                                                 const ImportOptions &options);

/// Imports a model held in memory: `bytes` is a binary ModelProto, or ONNX text
/// when `isText`. `name` labels diagnostics. External data is resolved in
/// `baseDir`; with an empty `baseDir` a model that uses external data is
/// rejected.
mlir::OwningOpRef<mlir::ModuleOp>
importOnnxBuffer(mlir::MLIRContext *context, llvm::StringRef bytes,
                 llvm::StringRef name, bool isText, llvm::StringRef baseDir,
                 const ImportOptions &options);

} // namespace moe

#endif // MOE_IMPORT_ONNXIMPORTER_H
