//===- OnnxProto.cpp - exception-safe access to libonnx -------------------===//
//
// The only file built with -fexceptions: libonnx's parser and shape inference
// throw.
//
//===----------------------------------------------------------------------===//

#include "OnnxProto.h"

#include "onnx/defs/parser.h"
#include "onnx/shape_inference/implementation.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <exception>

namespace moe::detail {

std::string parseBinaryModel(const char *data, size_t size,
                             onnx::ModelProto &model) {
  if (size > static_cast<size_t>(INT_MAX))
    return "the protobuf is over 2 GiB; keep the weights in external data "
           "files";
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t *>(data), static_cast<int>(size));
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    return "not a valid ONNX protobuf (truncated or not an ONNX model)";
  return "";
}

std::string parseTextModel(const std::string &text, onnx::ModelProto &model) {
  try {
    onnx::OnnxParser parser(text.c_str());
    onnx::Status status = parser.Parse(model);
    if (!status.IsOK())
      return "cannot parse the ONNX text: " + status.ErrorMessage();
    if (!parser.EndOfInput())
      return "cannot parse the ONNX text: unexpected text after the graph";
    return "";
  } catch (const std::exception &e) {
    return std::string("cannot parse the ONNX text: ") + e.what();
  } catch (...) {
    return "cannot parse the ONNX text";
  }
}

std::string inferShapes(onnx::ModelProto &model) {
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/false,
                                        /*strict_mode=*/0,
                                        /*data_prop=*/true);
    onnx::shape_inference::InferShapes(
        model, onnx::OpSchemaRegistry::Instance(), options);
    return "";
  } catch (const std::exception &e) {
    return e.what();
  } catch (...) {
    return "shape inference failed";
  }
}

} // namespace moe::detail
