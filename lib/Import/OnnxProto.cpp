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

#include <cerrno>
#include <climits>
#include <csignal>
#include <exception>
#include <string>
#include <unordered_set>

#include <sys/wait.h>
#include <unistd.h>

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
/// earlier nodes. The importer refuses any other graph, naming the node, so
/// inference (which can crash, not throw, on such a graph, also without data
/// propagation in this process) is not run on it.
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

/// What inference found in `graph`: its value_info and outputs and, node by
/// node, those of its subgraphs (If branches), in `types`.
static void collectTypes(const onnx::GraphProto &graph,
                         onnx::GraphProto &types) {
  *types.mutable_value_info() = graph.value_info();
  *types.mutable_output() = graph.output();
  for (const onnx::NodeProto &node : graph.node()) {
    onnx::NodeProto *slot = types.add_node();
    for (const onnx::AttributeProto &attr : node.attribute()) {
      if (!attr.has_g() && attr.graphs_size() == 0)
        continue;
      onnx::AttributeProto *copy = slot->add_attribute();
      copy->set_name(attr.name());
      if (attr.has_g())
        collectTypes(attr.g(), *copy->mutable_g());
      for (const onnx::GraphProto &g : attr.graphs())
        collectTypes(g, *copy->add_graphs());
    }
  }
}

/// Takes the types `collectTypes` found into `graph`'s subgraphs (the
/// graph's own value_info and outputs are taken by the caller).
static void applySubgraphTypes(onnx::GraphProto &graph,
                               const onnx::GraphProto &types) {
  for (int i = 0; i < graph.node_size() && i < types.node_size(); ++i) {
    for (onnx::AttributeProto &attr :
         *graph.mutable_node(i)->mutable_attribute()) {
      for (const onnx::AttributeProto &found : types.node(i).attribute()) {
        if (found.name() != attr.name())
          continue;
        auto apply = [](onnx::GraphProto &g, const onnx::GraphProto &t) {
          *g.mutable_value_info() = t.value_info();
          for (int o = 0; o < g.output_size() && o < t.output_size(); ++o)
            if (g.output(o).name() == t.output(o).name())
              *g.mutable_output(o) = t.output(o);
          applySubgraphTypes(g, t);
        };
        if (attr.has_g() && found.has_g())
          apply(*attr.mutable_g(), found.g());
        for (int k = 0; k < attr.graphs_size() && k < found.graphs_size(); ++k)
          apply(*attr.mutable_graphs(k), found.graphs(k));
      }
    }
  }
}

/// Shape inference (with data propagation when `dataProp`) in a child
/// process, so that a crash in libonnx (its data propagation dereferences
/// types that inference of a malformed graph left out; its Scan inference
/// trusts the body's inputs) cannot take the importer down. The child runs on
/// its copy-on-write view of the model, without the data of large
/// initializers, and sends back only the value types. False when the child
/// did not finish.
static bool inferInChild(onnx::ModelProto &model, bool dataProp) {
  int fds[2];
  if (pipe(fds) != 0)
    return false;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    // A crash here ends only this process, quietly: no sanitizer or fuzzer
    // report of a fault in libonnx, which the parent survives.
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    // Values of large initializers are never read by inference.
    for (onnx::TensorProto &init : *model.mutable_graph()->mutable_initializer())
      if (init.raw_data().size() > 4096)
        init.clear_raw_data();
    runInference(model, dataProp);
    onnx::GraphProto types;
    collectTypes(model.graph(), types);
    std::string bytes = types.SerializeAsString();
    const char *at = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      ssize_t written = write(fds[1], at, left);
      if (written <= 0)
        _exit(1);
      at += written;
      left -= static_cast<size_t>(written);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string bytes;
  char buffer[65536];
  for (ssize_t got; (got = read(fds[0], buffer, sizeof(buffer))) != 0;) {
    if (got < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    bytes.append(buffer, static_cast<size_t>(got));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  onnx::GraphProto types;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      !types.ParseFromString(bytes) ||
      types.output_size() != model.graph().output_size())
    return false;
  // Inference merges what it finds into the outputs' declared types too.
  *model.mutable_graph()->mutable_value_info() = types.value_info();
  for (int i = 0; i < types.output_size(); ++i)
    if (types.output(i).name() == model.graph().output(i).name())
      *model.mutable_graph()->mutable_output(i) = types.output(i);
  applySubgraphTypes(*model.mutable_graph(), types);
  return true;
}

std::string inferShapes(onnx::ModelProto &model) {
  if (!isWellFormed(model.graph()))
    return "the graph reads values nothing defines";
  // When data propagation crashes the child, inference without it, again in
  // a child: libonnx never runs on an untrusted graph in this process. When
  // both fail, the types are what the model declares.
  if (inferInChild(model, /*dataProp=*/true) ||
      inferInChild(model, /*dataProp=*/false))
    return "";
  return "shape inference failed on this graph";
}

} // namespace moe::detail
