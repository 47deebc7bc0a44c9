//===- OnnxProto.h - exception-safe access to libonnx -----------*- C++ -*-===//
//
// libonnx reports some errors by throwing; the rest of the compiler is built
// without exceptions. These wrappers, compiled with exceptions, turn every
// throw into a message.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_IMPORT_ONNXPROTO_H
#define MOE_LIB_IMPORT_ONNXPROTO_H

#include "onnx/onnx_pb.h"

#include <cstddef>
#include <string>

namespace moe::detail {

/// Parses a binary ModelProto. Returns "" on success, else the reason.
std::string parseBinaryModel(const char *data, size_t size,
                             onnx::ModelProto &model);

/// Parses ONNX's textual syntax (`<ir_version: 8, opset_import: [...]> graph
/// (...) {...}`).
std::string parseTextModel(const std::string &text, onnx::ModelProto &model);

/// Runs ONNX shape inference to fill `value_info`, best effort: nodes it cannot
/// infer are left alone. Returns "" or the reason it stopped.
std::string inferShapes(onnx::ModelProto &model);

} // namespace moe::detail

#endif // MOE_LIB_IMPORT_ONNXPROTO_H
