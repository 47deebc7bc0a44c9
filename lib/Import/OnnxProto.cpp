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
#include <string>
#include <unordered_set>
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

/// True when every node reads only graph inputs, initializers and outputs of
/// earlier nodes. libonnx's shape inference can crash (not throw) on a graph
/// that reads undefined names, so such a graph is left to the importer, which
/// names the node at fault.
static bool isWellFormed(const onnx::GraphProto &graph) {
  std::unordered_set<std::string> defined;
  for (const onnx::ValueInfoProto &input : graph.input())
    defined.insert(input.name());
  for (const onnx::TensorProto &init : graph.initializer())
    defined.insert(init.name());
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &name : node.input())
      if (!name.empty() && !defined.count(name))
        return false;
    for (const std::string &name : node.output())
      defined.insert(name);
  }
  return true;
}

/// True when every input of a Shape or Size node has a tensor type in
/// `inferred`. libonnx's data propagation dereferences the type of a Shape's
/// input without checking it, and crashes where inference could not type it.
static bool shapesAreTyped(const onnx::ModelProto &inferred) {
  std::unordered_set<std::string> typed;
  auto record = [&](const onnx::ValueInfoProto &info) {
    if (info.type().has_tensor_type())
      typed.insert(info.name());
  };
  const onnx::GraphProto &graph = inferred.graph();
  for (const onnx::ValueInfoProto &info : graph.input())
    record(info);
  for (const onnx::ValueInfoProto &info : graph.value_info())
    record(info);
  for (const onnx::ValueInfoProto &info : graph.output())
    record(info);
  for (const onnx::TensorProto &init : graph.initializer())
    typed.insert(init.name());
  for (const onnx::NodeProto &node : graph.node())
    if ((node.op_type() == "Shape" || node.op_type() == "Size") &&
        node.input_size() > 0 && !typed.count(node.input(0)))
      return false;
  return true;
}

static std::string runInference(onnx::ModelProto &model, bool dataProp) {
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/false,
                                        /*strict_mode=*/0, dataProp);
    onnx::shape_inference::InferShapes(
        model, onnx::OpSchemaRegistry::Instance(), options);
    return "";
  } catch (const std::exception &e) {
    return e.what();
  } catch (...) {
    return "shape inference failed";
  }
}

std::string inferShapes(onnx::ModelProto &model) {
  if (!isWellFormed(model.graph()))
    return "the graph reads values nothing defines";
  // Inference without data propagation first; with it (the shapes Shape ->
  // Gather -> Concat compute) only where that is safe.
  onnx::ModelProto plain = model;
  std::string reason = runInference(plain, /*dataProp=*/false);
  if (!shapesAreTyped(plain)) {
    model = std::move(plain);
    return reason.empty() ? "a Shape reads a value inference cannot type"
                          : reason;
  }
  return runInference(model, /*dataProp=*/true);
}

} // namespace moe::detail
