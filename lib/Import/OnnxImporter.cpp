//===- OnnxImporter.cpp - ONNX models to the onnx dialect -----------------===//
//
// Everything read from the file is untrusted: sizes are checked before any
// copy, value names are resolved through the graph, and external data stays in
// the model's folder.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/OnnxImporter.h"

#include "ExternalData.h"
#include "OnnxProto.h"

#include "dialects/onnx/IR/OnnxDialect.h"
#include "dialects/onnx/IR/OnnxMatchers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <deque>

using namespace mlir;
namespace proto = ::onnx;

namespace moe {

bool isOnnxModelPath(llvm::StringRef path) {
  return path.ends_with(".onnx") || path.ends_with(".onnxtext");
}

bool parseInputShape(llvm::StringRef spec, ImportOptions &options,
                     std::string &error) {
  auto [name, dims] = spec.rsplit(':');
  if (name.empty() || dims.empty() || name == spec) {
    error = "--shape expects name:DIMS such as x:1x128x4096, got '" +
            spec.str() + "'";
    return false;
  }
  std::vector<int64_t> shape;
  llvm::SmallVector<llvm::StringRef> parts;
  dims.split(parts, 'x');
  for (llvm::StringRef part : parts) {
    int64_t dim;
    if (part == "?")
      shape.push_back(-1);
    else if (!part.getAsInteger(10, dim) && dim >= 0)
      shape.push_back(dim);
    else {
      error = "--shape " + spec.str() + ": '" + part.str() +
              "' is not a dimension (a non-negative integer or ?)";
      return false;
    }
  }
  options.inputShapes[name.str()] = std::move(shape);
  return true;
}

namespace {

/// ONNX TensorProto.DataType values (onnx.proto).
enum OnnxDataType : int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
};

/// Ops whose outputs, when neither the model nor shape inference gives their
/// type, have the element type of their first input.
const llvm::StringSet<> kSameElementTypeOps = {
    "Abs",
    "Add",
    "BatchNormalization",
    "Clip",
    "Concat",
    "Div",
    "Dropout",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gelu",
    "Gemm",
    "GroupQueryAttention",
    "HardSigmoid",
    "Identity",
    "LayerNormalization",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "Mean",
    "Min",
    "MoE",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "QMoE",
    "RMSNormalization",
    "Reciprocal",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "Relu",
    "Reshape",
    "Resize",
    "RotaryEmbedding",
    "ScatterElements",
    "ScatterND",
    "Sigmoid",
    "SimplifiedLayerNormalization",
    "Sin",
    "Cos",
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "Slice",
    "Softmax",
    "SparseAttention",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "TopK",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Attention",
    "MultiHeadAttention"};

/// Ops whose outputs are int64 (TopK's second output is handled separately).
const llvm::StringSet<> kInt64ResultOps = {"ArgMax", "ArgMin", "NonZero",
                                           "Shape", "Size"};
const llvm::StringSet<> kBoolResultOps = {
    "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not",
    "And",   "Or",   "Xor",     "IsNaN",       "IsInf"};

class Importer {
public:
  Importer(MLIRContext *context, llvm::StringRef name, llvm::StringRef baseDir,
           const ImportOptions &options)
      : context(context), builder(context), modelDir(baseDir.str()),
        options(options), fileLoc(FileLineColLoc::get(context, name, 0, 0)) {}

  OwningOpRef<ModuleOp> run(const proto::ModelProto &model);

private:
  InFlightDiagnostic error(Location loc) { return emitError(loc); }
  InFlightDiagnostic error() { return emitError(fileLoc); }

  FailureOr<Type> convertElementType(int32_t dataType, Location loc,
                                     const llvm::Twine &what);
  FailureOr<Type> convertType(const proto::TypeProto &type, Location loc,
                              const llvm::Twine &what);
  FailureOr<ElementsAttr> convertTensor(const proto::TensorProto &tensor,
                                        Location loc, const llvm::Twine &what,
                                        llvm::StringRef resourceKey);
  FailureOr<Attribute> convertAttribute(const proto::AttributeProto &attr,
                                        Location loc, llvm::StringRef nodeDesc);
  FailureOr<Type> fallbackResultType(const proto::NodeProto &node, int index,
                                     ArrayRef<Value> inputs, Location loc,
                                     llvm::StringRef nodeDesc);
  LogicalResult importNode(const proto::NodeProto &node, int index);
  LogicalResult importIf(const proto::NodeProto &node, Location loc,
                         llvm::StringRef nodeDesc, int64_t opset);
  FailureOr<Type> declaredOrInferred(llvm::StringRef name, Type inferred,
                                     Location loc, llvm::StringRef nodeDesc);
  LogicalResult importBranch(const proto::GraphProto &graph, Region &region,
                             Location loc, llvm::StringRef what,
                             ArrayRef<Type> argTypes = {});
  LogicalResult importLoop(const proto::NodeProto &node, Location loc,
                           llvm::StringRef nodeDesc, int64_t opset);
  LogicalResult importScan(const proto::NodeProto &node, Location loc,
                           llvm::StringRef nodeDesc, int64_t opset);
  LogicalResult defineValue(llvm::StringRef name, Value value, Location loc);
  /// Defines each named output of `node` as its value in `results`.
  LogicalResult defineOutputs(const proto::NodeProto &node, ValueRange results,
                              Location loc);
  /// The node's name as an attribute, null when it has none.
  StringAttr nameOf(const proto::NodeProto &node) {
    return node.name().empty() ? StringAttr()
                               : builder.getStringAttr(node.name());
  }
  FailureOr<SmallVector<int>> sortNodes(const proto::GraphProto &graph,
                                        const llvm::StringSet<> &defined);
  Value getNone();

  MLIRContext *context;
  OpBuilder builder;
  /// Where external data files are looked up; empty when there is no such
  /// folder.
  std::string modelDir;
  const ImportOptions &options;
  Location fileLoc;
  std::map<std::string, int64_t> opsets;
  llvm::StringMap<Value> values;
  llvm::StringMap<const proto::TypeProto *> declaredTypes;
  Block *body = nullptr;
  Value none;
};

std::string describeNode(const proto::NodeProto &node, int index) {
  std::string domain = node.domain().empty() ? "" : node.domain() + ".";
  std::string name = node.name().empty() ? "#" + std::to_string(index)
                                         : "'" + node.name() + "'";
  return "node " + name + " (" + domain + node.op_type() + ")";
}

FailureOr<Type> Importer::convertElementType(int32_t dataType, Location loc,
                                             const llvm::Twine &what) {
  Builder &b = builder;
  switch (dataType) {
  case kFloat:
    return b.getF32Type();
  case kDouble:
    return b.getF64Type();
  case kFloat16:
    return b.getF16Type();
  case kBFloat16:
    return b.getBF16Type();
  case kFloat8E4M3FN:
    return b.getFloat8E4M3FNType();
  case kFloat8E4M3FNUZ:
    return b.getFloat8E4M3FNUZType();
  case kFloat8E5M2:
    return b.getFloat8E5M2Type();
  case kFloat8E5M2FNUZ:
    return b.getFloat8E5M2FNUZType();
  case kBool:
    return b.getI1Type();
  case kInt8:
    return b.getIntegerType(8);
  case kInt16:
    return b.getIntegerType(16);
  case kInt32:
    return b.getIntegerType(32);
  case kInt64:
    return b.getIntegerType(64);
  case kUint8:
    return b.getIntegerType(8, /*isSigned=*/false);
  case kUint16:
    return b.getIntegerType(16, /*isSigned=*/false);
  case kUint32:
    return b.getIntegerType(32, /*isSigned=*/false);
  case kUint64:
    return b.getIntegerType(64, /*isSigned=*/false);
  default:
    break;
  }
  const char *name = dataType == kString       ? "string"
                     : dataType == kComplex64  ? "complex64"
                     : dataType == kComplex128 ? "complex128"
                                               : nullptr;
  InFlightDiagnostic diag = error(loc);
  diag << what << " has element type ";
  if (name)
    diag << name;
  else
    diag << "code " << dataType;
  diag << ", which is not supported";
  return failure();
}

FailureOr<Type> Importer::convertType(const proto::TypeProto &type,
                                      Location loc, const llvm::Twine &what) {
  if (!type.has_tensor_type()) {
    error(loc) << what
               << " is not a tensor (sequence, map and optional types are not "
                  "supported)";
    return failure();
  }
  const proto::TypeProto_Tensor &tensor = type.tensor_type();
  FailureOr<Type> element = convertElementType(tensor.elem_type(), loc, what);
  if (failed(element))
    return failure();
  if (!tensor.has_shape())
    return Type(UnrankedTensorType::get(*element));
  SmallVector<int64_t> shape;
  for (const proto::TensorShapeProto_Dimension &dim : tensor.shape().dim()) {
    // A symbolic size that is a number is that size (torch's exporters write
    // the sizes they specialised as dim_params such as "2").
    int64_t literal;
    if (dim.has_dim_value() && dim.dim_value() >= 0)
      shape.push_back(dim.dim_value());
    else if (dim.has_dim_value()) {
      error(loc) << what << " has a negative dimension " << dim.dim_value();
      return failure();
    } else if (dim.has_dim_param() &&
               !llvm::StringRef(dim.dim_param()).getAsInteger(10, literal) &&
               literal >= 0)
      shape.push_back(literal);
    else
      shape.push_back(ShapedType::kDynamic);
  }
  return Type(RankedTensorType::get(shape, *element));
}

/// The symbolic names of a tensor type's dimensions (`dim_param`, "" where a
/// dimension has none), or null when it has none at all.
ArrayAttr dimParams(OpBuilder &builder, const proto::TypeProto &type) {
  if (!type.has_tensor_type() || !type.tensor_type().has_shape())
    return nullptr;
  SmallVector<Attribute> names;
  bool any = false;
  for (const proto::TensorShapeProto_Dimension &dim :
       type.tensor_type().shape().dim()) {
    names.push_back(builder.getStringAttr(dim.has_dim_param() ? dim.dim_param()
                                                              : ""));
    any |= dim.has_dim_param() && !dim.dim_param().empty();
  }
  return any ? builder.getArrayAttr(names) : nullptr;
}

/// Copies ONNX's typed repeated fields (used when raw_data is absent) into the
/// raw little-endian layout of `elementType`.
template <typename Field>
void appendTyped(const Field &field, Type elementType,
                 std::vector<char> &bytes) {
  unsigned width =
      elementType.isInteger(1) ? 8 : elementType.getIntOrFloatBitWidth();
  for (auto value : field) {
    uint64_t bits = 0;
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, float>)
      bits = llvm::bit_cast<uint32_t>(value);
    else if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>)
      bits = llvm::bit_cast<uint64_t>(value);
    else
      bits = static_cast<uint64_t>(value);
    for (unsigned byte = 0; byte < width / 8; ++byte)
      bytes.push_back(static_cast<char>((bits >> (8 * byte)) & 0xff));
  }
}

FailureOr<ElementsAttr>
Importer::convertTensor(const proto::TensorProto &tensor, Location loc,
                        const llvm::Twine &what, llvm::StringRef resourceKey) {
  FailureOr<Type> element = convertElementType(tensor.data_type(), loc, what);
  if (failed(element))
    return failure();
  SmallVector<int64_t> shape;
  uint64_t count = 1;
  for (int64_t dim : tensor.dims()) {
    if (dim < 0 || (dim > 0 && count > (uint64_t(1) << 48) / uint64_t(dim))) {
      error(loc) << what << " has an invalid or too large dimension " << dim;
      return failure();
    }
    shape.push_back(dim);
    count *= uint64_t(dim);
  }
  if (tensor.has_segment()) {
    error(loc) << what << " is a segmented tensor, which is not supported";
    return failure();
  }
  auto type = RankedTensorType::get(shape, *element);
  unsigned width = element->isInteger(1) ? 8 : element->getIntOrFloatBitWidth();
  uint64_t bytesNeeded = count * (width / 8);

  // Where the bytes come from: external file, raw_data, or the typed fields.
  std::unique_ptr<llvm::MemoryBuffer> mapped;
  std::vector<char> typed;
  ArrayRef<char> bytes;
  if (tensor.data_location() == proto::TensorProto_DataLocation_EXTERNAL) {
    detail::ExternalDataRef ref;
    for (const proto::StringStringEntryProto &entry : tensor.external_data()) {
      uint64_t number = 0;
      bool numeric = !llvm::StringRef(entry.value()).getAsInteger(10, number);
      if (entry.key() == "location")
        ref.location = entry.value();
      else if (entry.key() == "offset" || entry.key() == "length") {
        if (!numeric) {
          error(loc) << what << ": external data " << entry.key() << " '"
                     << entry.value() << "' is not a number";
          return failure();
        }
        (entry.key() == "offset" ? ref.offset : ref.length) = number;
      }
    }
    if (modelDir.empty()) {
      error(loc)
          << what
          << " uses external data, which needs the model's folder; import "
             "the model from its file";
      return failure();
    }
    std::string reason;
    mapped = detail::mapExternalData(modelDir, ref, bytesNeeded, reason);
    if (!mapped) {
      error(loc) << what << ": " << reason;
      return failure();
    }
    bytes = ArrayRef<char>(mapped->getBufferStart(), mapped->getBufferSize());
  } else if (tensor.has_raw_data()) {
    if (tensor.raw_data().size() != bytesNeeded) {
      error(loc) << what << " holds " << tensor.raw_data().size()
                 << " bytes of raw data, but its shape and type need "
                 << bytesNeeded;
      return failure();
    }
    bytes = ArrayRef<char>(tensor.raw_data().data(), tensor.raw_data().size());
  } else {
    switch (tensor.data_type()) {
    case kFloat:
      appendTyped(tensor.float_data(), *element, typed);
      break;
    case kDouble:
      appendTyped(tensor.double_data(), *element, typed);
      break;
    case kInt64:
      appendTyped(tensor.int64_data(), *element, typed);
      break;
    case kUint32:
    case kUint64:
      appendTyped(tensor.uint64_data(), *element, typed);
      break;
    default:
      appendTyped(tensor.int32_data(), *element, typed);
      break;
    }
    if (typed.size() != bytesNeeded) {
      error(loc) << what << " holds " << typed.size() / (width / 8)
                 << " values, but its shape needs " << count;
      return failure();
    }
    bytes = typed;
  }

  if (element->isInteger(1)) {
    SmallVector<bool> flags;
    for (char byte : bytes)
      flags.push_back(byte != 0);
    return ElementsAttr(DenseElementsAttr::get(type, flags));
  }
  if (static_cast<int64_t>(count) <= options.inlineElementLimit)
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, bytes));

  size_t align = width / 8;
  AsmResourceBlob blob;
  if (mapped && reinterpret_cast<uintptr_t>(bytes.data()) % align == 0) {
    // Weights stay in the mapped file: the blob releases the mapping when
    // dropped.
    std::shared_ptr<llvm::MemoryBuffer> owner(std::move(mapped));
    blob = UnmanagedAsmResourceBlob::allocateWithAlign(
        bytes, align,
        [owner](void *, size_t, size_t) mutable { owner.reset(); });
  } else {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, align);
  }
  std::string key = resourceKey.str();
  for (char &c : key)
    if (!llvm::isAlnum(c) && c != '_' && c != '.')
      c = '_';
  return ElementsAttr(
      DenseResourceElementsAttr::get(type, key, std::move(blob)));
}

FailureOr<Attribute>
Importer::convertAttribute(const proto::AttributeProto &attr, Location loc,
                           llvm::StringRef nodeDesc) {
  Builder &b = builder;
  Type si64 = b.getIntegerType(64, /*isSigned=*/true);
  auto what = [&] {
    return (nodeDesc + " attribute '" + attr.name() + "'").str();
  };
  using proto::AttributeProto_AttributeType;
  AttributeProto_AttributeType kind = attr.type();
  if (kind == proto::AttributeProto_AttributeType_UNDEFINED) {
    // Old exporters leave `type` unset; the field that is set tells.
    if (attr.has_f())
      kind = proto::AttributeProto_AttributeType_FLOAT;
    else if (attr.has_i())
      kind = proto::AttributeProto_AttributeType_INT;
    else if (attr.has_s())
      kind = proto::AttributeProto_AttributeType_STRING;
    else if (attr.has_t())
      kind = proto::AttributeProto_AttributeType_TENSOR;
    else if (attr.has_g())
      kind = proto::AttributeProto_AttributeType_GRAPH;
    else if (attr.floats_size())
      kind = proto::AttributeProto_AttributeType_FLOATS;
    else if (attr.ints_size())
      kind = proto::AttributeProto_AttributeType_INTS;
    else if (attr.strings_size())
      kind = proto::AttributeProto_AttributeType_STRINGS;
  }
  switch (kind) {
  case proto::AttributeProto_AttributeType_FLOAT:
    return Attribute(b.getF32FloatAttr(attr.f()));
  case proto::AttributeProto_AttributeType_INT:
    return Attribute(b.getIntegerAttr(si64, attr.i()));
  case proto::AttributeProto_AttributeType_STRING:
    return Attribute(b.getStringAttr(attr.s()));
  case proto::AttributeProto_AttributeType_TENSOR: {
    FailureOr<ElementsAttr> tensor =
        convertTensor(attr.t(), loc, what(), attr.name());
    if (failed(tensor))
      return failure();
    return Attribute(*tensor);
  }
  case proto::AttributeProto_AttributeType_FLOATS: {
    SmallVector<Attribute> items;
    for (float value : attr.floats())
      items.push_back(b.getF32FloatAttr(value));
    return Attribute(b.getArrayAttr(items));
  }
  case proto::AttributeProto_AttributeType_INTS: {
    SmallVector<Attribute> items;
    for (int64_t value : attr.ints())
      items.push_back(b.getIntegerAttr(si64, value));
    return Attribute(b.getArrayAttr(items));
  }
  case proto::AttributeProto_AttributeType_STRINGS: {
    SmallVector<Attribute> items;
    for (const std::string &value : attr.strings())
      items.push_back(b.getStringAttr(value));
    return Attribute(b.getArrayAttr(items));
  }
  case proto::AttributeProto_AttributeType_TYPE_PROTO: {
    FailureOr<Type> type = convertType(attr.tp(), loc, what());
    if (failed(type))
      return failure();
    return Attribute(TypeAttr::get(*type));
  }
  case proto::AttributeProto_AttributeType_GRAPH:
  case proto::AttributeProto_AttributeType_GRAPHS:
    error(loc)
        << what()
        << " is a subgraph, which only If, Loop and Scan take";
    return failure();
  default:
    error(loc) << what() << " has an unsupported attribute type ("
               << static_cast<int>(kind) << ")";
    return failure();
  }
}

FailureOr<Type> Importer::fallbackResultType(const proto::NodeProto &node,
                                             int index, ArrayRef<Value> inputs,
                                             Location loc,
                                             llvm::StringRef nodeDesc) {
  auto inputElement = [&](size_t i) -> Type {
    if (i >= inputs.size())
      return {};
    if (auto shaped = dyn_cast<ShapedType>(inputs[i].getType()))
      return shaped.getElementType();
    return {};
  };
  auto attrInt = [&](llvm::StringRef name) -> std::optional<int64_t> {
    for (const proto::AttributeProto &attr : node.attribute())
      if (attr.name() == name)
        return attr.i();
    return std::nullopt;
  };
  const std::string &op = node.op_type();
  Type element;
  if (kInt64ResultOps.contains(op) || (op == "TopK" && index == 1))
    element = builder.getIntegerType(64);
  else if (kBoolResultOps.contains(op))
    element = builder.getI1Type();
  else if (op == "Cast") {
    if (std::optional<int64_t> to = attrInt("to")) {
      FailureOr<Type> converted = convertElementType(
          static_cast<int32_t>(*to), loc, nodeDesc + " attribute 'to'");
      if (failed(converted))
        return failure();
      element = *converted;
    }
  } else if (op == "CastLike" || op == "Where")
    element = inputElement(1);
  else if (op == "OneHot")
    element = inputElement(2);
  else if (op == "Constant" || op == "ConstantOfShape") {
    element = op == "ConstantOfShape" ? Type(builder.getF32Type()) : Type();
    for (const proto::AttributeProto &attr : node.attribute()) {
      if (attr.name() == "value" && attr.has_t()) {
        FailureOr<Type> converted = convertElementType(
            attr.t().data_type(), loc, nodeDesc + " attribute 'value'");
        if (failed(converted))
          return failure();
        element = *converted;
      } else if (attr.name() == "value_float" || attr.name() == "value_floats")
        element = builder.getF32Type();
      else if (attr.name() == "value_int" || attr.name() == "value_ints")
        element = builder.getIntegerType(64);
    }
  } else if ((op == "SkipSimplifiedLayerNormalization" ||
              op == "SkipLayerNormalization") &&
             (index == 1 || index == 2)) {
    // Its mean and inverse standard deviation outputs are always f32.
    element = builder.getF32Type();
  } else if (kSameElementTypeOps.contains(op)) {
    element = inputElement(0);
  }
  if (!element) {
    error(loc) << "cannot tell the type of output '" << node.output(index)
               << "' of " << nodeDesc << "; give it in the model's value_info";
    return failure();
  }
  return Type(UnrankedTensorType::get(element));
}

Value Importer::getNone() {
  if (!none) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(body);
    none = builder.create<mlir::onnx::NoneOp>(fileLoc, builder.getNoneType())
               .getResult();
  }
  return none;
}

LogicalResult Importer::defineOutputs(const proto::NodeProto &node,
                                       ValueRange results, Location loc) {
  for (auto [name, result] : llvm::zip(node.output(), results))
    if (!name.empty() && failed(defineValue(name, result, loc)))
      return failure();
  return success();
}

LogicalResult Importer::defineValue(llvm::StringRef name, Value value,
                                    Location loc) {
  if (!values.try_emplace(name, value).second) {
    error(loc) << "value '" << name << "' is defined more than once";
    return failure();
  }
  return success();
}

LogicalResult Importer::importNode(const proto::NodeProto &node, int index) {
  std::string nodeDesc = describeNode(node, index);
  // Diagnostics name the node: by its name, or as `#<index> (<op>)`.
  Location loc = NameLoc::get(
      builder.getStringAttr(node.name().empty()
                                ? "#" + std::to_string(index) + " (" +
                                      node.op_type() + ")"
                                : node.name()),
      fileLoc);
  if (node.op_type().empty()) {
    error(loc) << nodeDesc << " has no op_type";
    return failure();
  }
  std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
  auto opset = opsets.find(domain);
  if (opset == opsets.end() && domain == "com.microsoft") {
    // transformers' exporter writes ONNX Runtime's contrib ops without
    // importing their domain; ONNX Runtime takes them as version 1.
    emitWarning(loc) << nodeDesc
                     << " uses domain 'com.microsoft', which the model does not "
                        "import (opset_import); taken as version 1, as ONNX "
                        "Runtime does";
    opset = opsets.emplace(domain, 1).first;
  }
  if (opset == opsets.end()) {
    error(loc) << nodeDesc << " uses domain '"
               << (domain.empty() ? "ai.onnx" : domain)
               << "', which the model does not import (opset_import)";
    return failure();
  }

  if (domain.empty() && node.op_type() == "If")
    return importIf(node, loc, nodeDesc, opset->second);
  if (domain.empty() && node.op_type() == "Loop")
    return importLoop(node, loc, nodeDesc, opset->second);
  if (domain.empty() && node.op_type() == "Scan")
    return importScan(node, loc, nodeDesc, opset->second);

  SmallVector<Value> inputs;
  for (const std::string &name : node.input()) {
    if (name.empty()) {
      inputs.push_back(getNone());
      continue;
    }
    auto it = values.find(name);
    if (it == values.end()) {
      error(loc) << nodeDesc << " reads '" << name << "', which is not defined";
      return failure();
    }
    inputs.push_back(it->second);
  }

  SmallVector<NamedAttribute> attrs;
  for (const proto::AttributeProto &attr : node.attribute()) {
    if (!attr.ref_attr_name().empty()) {
      error(loc) << nodeDesc << " attribute '" << attr.name()
                 << "' refers to a function attribute, which is not supported";
      return failure();
    }
    FailureOr<Attribute> converted = convertAttribute(attr, loc, nodeDesc);
    if (failed(converted))
      return failure();
    attrs.push_back(builder.getNamedAttr(attr.name(), *converted));
  }

  // A Constant's output is its value: the value's type stands, whatever the
  // value_info says (onnxruntime-genai's builder declares its one-element
  // constants as scalars, which ONNX Runtime ignores).
  Type constantType;
  if (node.op_type() == "Constant" && domain.empty())
    for (const NamedAttribute &attr : attrs)
      if (attr.getName() == "value")
        if (auto value = dyn_cast<ElementsAttr>(attr.getValue()))
          constantType = value.getShapedType();

  SmallVector<Type> resultTypes;
  for (auto [i, name] : llvm::enumerate(node.output())) {
    if (name.empty()) {
      resultTypes.push_back(builder.getNoneType());
      continue;
    }
    if (constantType) {
      resultTypes.push_back(constantType);
      continue;
    }
    auto declared = declaredTypes.find(name);
    FailureOr<Type> type =
        declared != declaredTypes.end()
            ? convertType(*declared->second, loc,
                          nodeDesc + " output '" + name + "'")
            : fallbackResultType(node, static_cast<int>(i), inputs, loc,
                                 nodeDesc);
    if (failed(type))
      return failure();
    resultTypes.push_back(*type);
  }

  auto op = builder.create<mlir::onnx::NodeOp>(
      loc, resultTypes, builder.getStringAttr(node.op_type()),
      domain.empty() ? StringAttr() : builder.getStringAttr(domain),
      builder.getI64IntegerAttr(opset->second),
      nameOf(node),
      inputs,
      attrs.empty() ? DictionaryAttr() : builder.getDictionaryAttr(attrs));
  return defineOutputs(node, op->getResults(), loc);
}

/// The type two branches' outputs share: the same type, or the same rank and
/// element type with the sizes they disagree on dynamic, or an unranked tensor
/// of `a`'s element type.
Type joinTypes(Type a, Type b) {
  if (Type joined = ::moe::match::joinTensorTypes(a, b))
    return joined;
  if (auto shaped = dyn_cast<ShapedType>(a))
    return UnrankedTensorType::get(shaped.getElementType());
  return a;
}

LogicalResult Importer::importBranch(const proto::GraphProto &graph,
                                     Region &region, Location loc,
                                     llvm::StringRef what,
                                     ArrayRef<Type> argTypes) {
  if (graph.input_size() != static_cast<int>(argTypes.size())) {
    error(loc) << what << " has " << graph.input_size() << " inputs, not "
               << argTypes.size();
    return failure();
  }
  Block *block = new Block();
  region.push_back(block);
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(block);
  // The subgraph sees the enclosing graph's values; what it defines, and the
  // types its value_info declares, are its own (a sibling branch may reuse
  // the names).
  llvm::StringMap<Value> outerValues = values;
  llvm::StringMap<const proto::TypeProto *> outerTypes = declaredTypes;
  auto restore = llvm::make_scope_exit([&] {
    values = std::move(outerValues);
    declaredTypes = std::move(outerTypes);
  });
  // Its inputs (a Loop body's) are the block's arguments, shadowing outer
  // names.
  for (auto [input, type] : llvm::zip(graph.input(), argTypes))
    values[input.name()] = block->addArgument(type, loc);
  for (const proto::ValueInfoProto &info : graph.value_info())
    declaredTypes[info.name()] = &info.type();
  for (const proto::ValueInfoProto &info : graph.output())
    if (info.has_type())
      declaredTypes[info.name()] = &info.type();
  for (const proto::TensorProto &init : graph.initializer()) {
    Location initLoc =
        NameLoc::get(builder.getStringAttr(init.name()), fileLoc);
    FailureOr<ElementsAttr> value =
        convertTensor(init, initLoc, what + " initializer '" + init.name() + "'",
                      init.name());
    if (failed(value))
      return failure();
    auto constant =
        builder.create<arith::ConstantOp>(initLoc, cast<TypedAttr>(*value));
    values[init.name()] = constant;
  }
  llvm::StringSet<> defined;
  for (const auto &entry : values)
    defined.insert(entry.first());
  FailureOr<SmallVector<int>> order = sortNodes(graph, defined);
  if (failed(order))
    return failure();
  for (int index : *order)
    if (failed(importNode(graph.node(index), index)))
      return failure();
  SmallVector<Value> results;
  for (const proto::ValueInfoProto &output : graph.output()) {
    Value value = values.lookup(output.name());
    if (!value) {
      error(loc) << what << " output '" << output.name() << "' is not defined";
      return failure();
    }
    results.push_back(value);
  }
  builder.create<mlir::onnx::YieldOp>(loc, results);
  return success();
}

/// The type of output `name` of a node: the model's declared one, or
/// `inferred` where it declares none.
FailureOr<Type> Importer::declaredOrInferred(llvm::StringRef name,
                                             Type inferred, Location loc,
                                             llvm::StringRef nodeDesc) {
  auto declared = declaredTypes.find(name);
  if (name.empty() || declared == declaredTypes.end())
    return inferred;
  return convertType(*declared->second, loc,
                     nodeDesc + " output '" + name + "'");
}

LogicalResult Importer::importIf(const proto::NodeProto &node, Location loc,
                                 llvm::StringRef nodeDesc, int64_t opset) {
  if (node.input_size() != 1 || node.input(0).empty()) {
    error(loc) << nodeDesc << " needs one condition input";
    return failure();
  }
  Value condition = values.lookup(node.input(0));
  if (!condition) {
    error(loc) << nodeDesc << " reads '" << node.input(0)
               << "', which is not defined";
    return failure();
  }
  const proto::GraphProto *thenGraph = nullptr, *elseGraph = nullptr;
  for (const proto::AttributeProto &attr : node.attribute()) {
    const proto::GraphProto **slot = attr.name() == "then_branch" ? &thenGraph
                                     : attr.name() == "else_branch"
                                         ? &elseGraph
                                         : nullptr;
    if (!slot || !attr.has_g()) {
      error(loc) << nodeDesc << " attribute '" << attr.name()
                 << "' is not a then_branch or else_branch subgraph";
      return failure();
    }
    *slot = &attr.g();
  }
  if (!thenGraph || !elseGraph) {
    error(loc) << nodeDesc << " needs then_branch and else_branch";
    return failure();
  }
  for (const proto::GraphProto *graph : {thenGraph, elseGraph})
    if (graph->output_size() != node.output_size()) {
      error(loc) << nodeDesc << " has " << node.output_size()
                 << " outputs, but a branch has " << graph->output_size();
      return failure();
    }
  // Both branches are imported into regions of their own first; the node's
  // output types are the declared ones, or what the branches agree on.
  Region thenRegion, elseRegion;
  if (failed(importBranch(*thenGraph, thenRegion, loc,
                          nodeDesc.str() + " then_branch")) ||
      failed(importBranch(*elseGraph, elseRegion, loc,
                          nodeDesc.str() + " else_branch")))
    return failure();
  auto yielded = [](Region &region) {
    return cast<mlir::onnx::YieldOp>(region.front().back()).getValues();
  };
  SmallVector<Type> resultTypes;
  for (auto [i, name] : llvm::enumerate(node.output())) {
    FailureOr<Type> type = declaredOrInferred(
        name,
        joinTypes(yielded(thenRegion)[i].getType(),
                  yielded(elseRegion)[i].getType()),
        loc, nodeDesc);
    if (failed(type))
      return failure();
    resultTypes.push_back(*type);
  }
  auto op = builder.create<mlir::onnx::IfOp>(
      loc, resultTypes, condition, builder.getI64IntegerAttr(opset),
      nameOf(node));
  op.getThenBranch().takeBody(thenRegion);
  op.getElseBranch().takeBody(elseRegion);
  return defineOutputs(node, op->getResults(), loc);
}

LogicalResult Importer::importLoop(const proto::NodeProto &node, Location loc,
                                   llvm::StringRef nodeDesc, int64_t opset) {
  const proto::GraphProto *body = nullptr;
  for (const proto::AttributeProto &attr : node.attribute()) {
    if (attr.name() != "body" || !attr.has_g()) {
      error(loc) << nodeDesc << " attribute '" << attr.name()
                 << "' is not the body subgraph";
      return failure();
    }
    body = &attr.g();
  }
  if (!body || node.input_size() < 2) {
    error(loc) << nodeDesc
               << " needs a body and the inputs M and cond (either may be empty)";
    return failure();
  }
  SmallVector<Value> operands;
  for (const std::string &name : node.input()) {
    if (name.empty()) {
      operands.push_back(getNone());
      continue;
    }
    Value value = values.lookup(name);
    if (!value) {
      error(loc) << nodeDesc << " reads '" << name << "', which is not defined";
      return failure();
    }
    operands.push_back(value);
  }
  int carried = node.input_size() - 2;
  if (body->input_size() != carried + 2 || body->output_size() < carried + 1 ||
      node.output_size() != body->output_size() - 1) {
    error(loc) << nodeDesc << " body takes " << body->input_size()
               << " inputs and gives " << body->output_size()
               << " outputs; with " << carried << " carried values and "
               << node.output_size() << " outputs it needs " << carried + 2
               << " and " << node.output_size() + 1;
    return failure();
  }
  // The body's arguments: the iteration number, the condition, and each
  // carried value with its declared type or, where the body leaves it out,
  // the initial value's.
  SmallVector<Type> argTypes;
  for (auto [i, input] : llvm::enumerate(body->input())) {
    Type fallback = i == 0   ? Type(RankedTensorType::get({}, builder.getI64Type()))
                    : i == 1 ? Type(RankedTensorType::get({}, builder.getI1Type()))
                             : operands[i].getType();
    Type type = fallback;
    if (input.has_type() && input.type().has_tensor_type() &&
        input.type().tensor_type().elem_type() != 0) {
      FailureOr<Type> declared =
          convertType(input.type(), loc,
                      nodeDesc + " body input '" + input.name() + "'");
      if (failed(declared))
        return failure();
      type = *declared;
    }
    argTypes.push_back(type);
  }
  Region region;
  if (failed(importBranch(*body, region, loc, nodeDesc.str() + " body",
                          argTypes)))
    return failure();
  auto yielded = cast<mlir::onnx::YieldOp>(region.front().back()).getValues();
  SmallVector<Type> resultTypes;
  for (auto [i, name] : llvm::enumerate(node.output())) {
    Type each = yielded[i + 1].getType();
    Type inferred;
    if (static_cast<int>(i) < carried) {
      inferred = joinTypes(each, operands[i + 2].getType());
    } else if (auto ranked = dyn_cast<RankedTensorType>(each)) {
      // A scan output stacks its values along a new leading dimension.
      SmallVector<int64_t> shape{ShapedType::kDynamic};
      shape.append(ranked.getShape().begin(), ranked.getShape().end());
      inferred = RankedTensorType::get(shape, ranked.getElementType());
    } else {
      inferred = UnrankedTensorType::get(getElementTypeOrSelf(each));
    }
    FailureOr<Type> type = declaredOrInferred(name, inferred, loc, nodeDesc);
    if (failed(type))
      return failure();
    resultTypes.push_back(*type);
  }
  auto op = builder.create<mlir::onnx::LoopOp>(
      loc, resultTypes, operands[0], operands[1],
      ArrayRef<Value>(operands).drop_front(2), builder.getI64IntegerAttr(opset),
      nameOf(node));
  op.getBody().takeBody(region);
  return defineOutputs(node, op->getResults(), loc);
}

LogicalResult Importer::importScan(const proto::NodeProto &node, Location loc,
                                   llvm::StringRef nodeDesc, int64_t opset) {
  if (opset < 9) {
    error(loc) << nodeDesc << " before opset 9 (with sequence_lens) is not "
                              "supported";
    return failure();
  }
  const proto::GraphProto *body = nullptr;
  int64_t scanInputs = -1;
  llvm::StringMap<SmallVector<int64_t>> lists;
  for (const proto::AttributeProto &attr : node.attribute()) {
    if (attr.name() == "body" && attr.has_g()) {
      body = &attr.g();
    } else if (attr.name() == "num_scan_inputs") {
      scanInputs = attr.i();
    } else if (attr.name() == "scan_input_axes" ||
               attr.name() == "scan_output_axes" ||
               attr.name() == "scan_input_directions" ||
               attr.name() == "scan_output_directions") {
      lists[attr.name()].assign(attr.ints().begin(), attr.ints().end());
    } else {
      error(loc) << nodeDesc << " has an unknown attribute '" << attr.name()
                 << "'";
      return failure();
    }
  }
  int states = node.input_size() - static_cast<int>(scanInputs);
  if (!body || scanInputs < 1 || states < 0 ||
      body->input_size() != node.input_size() ||
      body->output_size() != node.output_size() ||
      body->output_size() < states) {
    error(loc) << nodeDesc << " needs a body taking its " << node.input_size()
               << " inputs and giving its " << node.output_size()
               << " outputs, and num_scan_inputs between 1 and its inputs";
    return failure();
  }
  int scanOutputs = node.output_size() - states;
  // Each list has one entry per scan input or output (0, forward, when
  // absent); directions are 0 or 1, axes are checked against ranks below.
  auto listOf = [&](StringRef name, int count,
                    bool direction) -> FailureOr<SmallVector<int64_t>> {
    auto it = lists.find(name);
    if (it == lists.end())
      return SmallVector<int64_t>(count, 0);
    if (static_cast<int>(it->second.size()) != count ||
        (direction && llvm::any_of(it->second,
                                   [](int64_t v) { return v != 0 && v != 1; }))) {
      error(loc) << nodeDesc << " attribute '" << name << "' must hold "
                 << count << (direction ? " directions (0 or 1)" : " axes");
      return failure();
    }
    return it->second;
  };
  FailureOr<SmallVector<int64_t>> inputAxes =
      listOf("scan_input_axes", scanInputs, false);
  FailureOr<SmallVector<int64_t>> inputDirections =
      listOf("scan_input_directions", scanInputs, true);
  FailureOr<SmallVector<int64_t>> outputAxes =
      listOf("scan_output_axes", scanOutputs, false);
  FailureOr<SmallVector<int64_t>> outputDirections =
      listOf("scan_output_directions", scanOutputs, true);
  if (failed(inputAxes) || failed(inputDirections) || failed(outputAxes) ||
      failed(outputDirections))
    return failure();
  // An axis in [-rank, rank), made non-negative.
  auto normalizeAxis = [&](int64_t &axis, int64_t rank, const Twine &what) {
    if (axis < -rank || axis >= rank) {
      error(loc) << nodeDesc << " " << what << " axis " << axis
                 << " is out of range for rank " << rank;
      return failure();
    }
    if (axis < 0)
      axis += rank;
    return success();
  };
  SmallVector<Value> operands;
  SmallVector<Type> argTypes;
  for (auto [i, name] : llvm::enumerate(node.input())) {
    Value value = name.empty() ? Value() : values.lookup(name);
    if (!value) {
      error(loc) << nodeDesc << " input " << i << " ('" << name
                 << "') is not defined";
      return failure();
    }
    operands.push_back(value);
    Type type = value.getType();
    // A scan input's row drops its scan axis.
    if (static_cast<int>(i) >= states) {
      auto ranked = dyn_cast<RankedTensorType>(type);
      if (!ranked || ranked.getRank() < 1) {
        error(loc) << nodeDesc << " scan input " << i
                   << " must be a ranked tensor of rank 1 or more";
        return failure();
      }
      int64_t &axis = (*inputAxes)[i - states];
      if (failed(normalizeAxis(axis, ranked.getRank(),
                               "scan input " + Twine(i - states))))
        return failure();
      SmallVector<int64_t> row(ranked.getShape());
      row.erase(row.begin() + axis);
      type = RankedTensorType::get(row, ranked.getElementType());
    }
    argTypes.push_back(type);
  }
  Region region;
  if (failed(importBranch(*body, region, loc, nodeDesc.str() + " body",
                          argTypes)))
    return failure();
  auto yielded = cast<mlir::onnx::YieldOp>(region.front().back()).getValues();
  // The node's output types are the declared ones, or what the body gives:
  // the states' joined with their initial values', the scan outputs' rows
  // stacked along their axes.
  SmallVector<Type> resultTypes;
  for (auto [i, value] : llvm::enumerate(yielded)) {
    Type inferred;
    if (static_cast<int>(i) < states) {
      inferred = joinTypes(value.getType(), operands[i].getType());
    } else {
      auto ranked = dyn_cast<RankedTensorType>(value.getType());
      if (!ranked) {
        error(loc) << nodeDesc << " scan output " << i - states
                   << " has no rank the importer can tell";
        return failure();
      }
      // The rows stack along the scan output's axis.
      int64_t &axis = (*outputAxes)[i - states];
      if (failed(normalizeAxis(axis, ranked.getRank() + 1,
                               "scan output " + Twine(i - states))))
        return failure();
      SmallVector<int64_t> shape(ranked.getShape());
      shape.insert(shape.begin() + axis, ShapedType::kDynamic);
      inferred = RankedTensorType::get(shape, ranked.getElementType());
    }
    FailureOr<Type> type =
        declaredOrInferred(node.output(i), inferred, loc, nodeDesc);
    if (failed(type))
      return failure();
    resultTypes.push_back(*type);
  }
  // Lists of the defaults (the first axis, forward) are left out.
  auto listAttr = [&](ArrayRef<int64_t> list) {
    return llvm::all_of(list, [](int64_t v) { return v == 0; })
               ? DenseI64ArrayAttr()
               : builder.getDenseI64ArrayAttr(list);
  };
  auto op = builder.create<mlir::onnx::ScanOp>(
      loc, resultTypes, operands, builder.getI64IntegerAttr(scanInputs),
      listAttr(*inputAxes), listAttr(*inputDirections), listAttr(*outputAxes),
      listAttr(*outputDirections),
      builder.getI64IntegerAttr(opset),
      nameOf(node));
  op.getBody().takeBody(region);
  return defineOutputs(node, op->getResults(), loc);
}

/// The names the subgraphs of `node` (and theirs) read from enclosing graphs:
/// those they use but do not define.
void capturedNames(const proto::NodeProto &node,
                   llvm::SmallVectorImpl<std::string> &captured) {
  for (const proto::AttributeProto &attr : node.attribute()) {
    SmallVector<const proto::GraphProto *> graphs;
    if (attr.has_g())
      graphs.push_back(&attr.g());
    for (const proto::GraphProto &g : attr.graphs())
      graphs.push_back(&g);
    for (const proto::GraphProto *graph : graphs) {
      llvm::StringSet<> inside;
      for (const proto::ValueInfoProto &input : graph->input())
        inside.insert(input.name());
      for (const proto::TensorProto &init : graph->initializer())
        inside.insert(init.name());
      for (const proto::NodeProto &inner : graph->node())
        for (const std::string &name : inner.output())
          inside.insert(name);
      auto take = [&](const std::string &name) {
        if (!name.empty() && !inside.contains(name))
          captured.push_back(name);
      };
      for (const proto::NodeProto &inner : graph->node()) {
        for (const std::string &name : inner.input())
          take(name);
        SmallVector<std::string> nested;
        capturedNames(inner, nested);
        for (const std::string &name : nested)
          take(name);
      }
      for (const proto::ValueInfoProto &output : graph->output())
        take(output.name());
    }
  }
}

FailureOr<SmallVector<int>>
Importer::sortNodes(const proto::GraphProto &graph,
                    const llvm::StringSet<> &defined) {
  // Kahn's algorithm over value names: ONNX requires topological order, but
  // some exporters do not keep it, so the importer sorts instead of trusting.
  int count = graph.node_size();
  llvm::StringMap<int> producer;
  for (int i = 0; i < count; ++i)
    for (const std::string &name : graph.node(i).output())
      if (!name.empty())
        producer.try_emplace(name, i);
  std::vector<int> missing(count, 0);
  llvm::StringMap<SmallVector<int>> consumers;
  for (int i = 0; i < count; ++i) {
    // A node also depends on the values its subgraphs read from this graph.
    SmallVector<std::string> reads(graph.node(i).input().begin(),
                                   graph.node(i).input().end());
    capturedNames(graph.node(i), reads);
    llvm::StringSet<> counted;
    for (const std::string &name : reads) {
      if (!name.empty() && !counted.insert(name).second)
        continue;
      if (name.empty() || defined.contains(name))
        continue;
      if (!producer.count(name)) {
        error(
            NameLoc::get(builder.getStringAttr(graph.node(i).name()), fileLoc))
            << describeNode(graph.node(i), i) << " reads '" << name
            << "', which no node, graph input or initializer defines";
        return failure();
      }
      ++missing[i];
      consumers[name].push_back(i);
    }
  }
  std::deque<int> ready;
  for (int i = 0; i < count; ++i)
    if (missing[i] == 0)
      ready.push_back(i);
  SmallVector<int> order;
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (const std::string &name : graph.node(i).output()) {
      auto it = consumers.find(name);
      if (name.empty() || it == consumers.end())
        continue;
      for (int consumer : it->second)
        if (--missing[consumer] == 0)
          ready.push_back(consumer);
      consumers.erase(it);
    }
  }
  if (static_cast<int>(order.size()) != count) {
    for (int i = 0; i < count; ++i)
      if (missing[i] > 0) {
        error() << "the graph has a cycle through "
                << describeNode(graph.node(i), i);
        return failure();
      }
  }
  return order;
}

OwningOpRef<ModuleOp> Importer::run(const proto::ModelProto &model) {
  context->loadDialect<mlir::onnx::OnnxDialect, func::FuncDialect,
                       arith::ArithDialect>();
  for (const proto::OperatorSetIdProto &opset : model.opset_import()) {
    std::string domain = opset.domain() == "ai.onnx" ? "" : opset.domain();
    if (opset.version() < 1) {
      error() << "opset_import for domain '"
              << (domain.empty() ? "ai.onnx" : domain) << "' has version "
              << opset.version();
      return nullptr;
    }
    opsets[domain] = opset.version();
  }
  if (!opsets.count("")) {
    error() << "the model imports no version of the default ONNX domain "
               "(opset_import)";
    return nullptr;
  }
  if (!model.has_graph()) {
    error() << "the model has no graph";
    return nullptr;
  }
  const proto::GraphProto &graph = model.graph();
  for (const proto::ValueInfoProto &info : graph.value_info())
    declaredTypes[info.name()] = &info.type();
  for (const proto::ValueInfoProto &info : graph.output())
    if (info.has_type())
      declaredTypes[info.name()] = &info.type();

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  builder.setInsertionPointToEnd(module->getBody());

  // Graph inputs that have an initializer are constants (IR version 3 and
  // earlier list initializers among the inputs).
  llvm::StringSet<> initializerNames;
  for (const proto::TensorProto &init : graph.initializer())
    initializerNames.insert(init.name());
  SmallVector<Type> argTypes;
  SmallVector<const proto::ValueInfoProto *> args;
  for (const proto::ValueInfoProto &input : graph.input()) {
    if (initializerNames.contains(input.name()))
      continue;
    FailureOr<Type> type = convertType(input.type(), fileLoc,
                                       "graph input '" + input.name() + "'");
    if (failed(type))
      return nullptr;
    argTypes.push_back(*type);
    args.push_back(&input);
  }
  auto func = builder.create<func::FuncOp>(
      fileLoc, "main_graph", builder.getFunctionType(argTypes, {}));
  body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  for (auto [i, input] : llvm::enumerate(args)) {
    func.setArgAttr(i, "onnx.name", builder.getStringAttr(input->name()));
    if (ArrayAttr names = dimParams(builder, input->type()))
      func.setArgAttr(i, "onnx.dim_params", names);
    if (failed(defineValue(input->name(), body->getArgument(i), fileLoc)))
      return nullptr;
  }
  for (const proto::TensorProto &init : graph.initializer()) {
    Location loc = NameLoc::get(builder.getStringAttr(init.name()), fileLoc);
    FailureOr<ElementsAttr> value = convertTensor(
        init, loc, "initializer '" + init.name() + "'", init.name());
    if (failed(value))
      return nullptr;
    auto constant =
        builder.create<arith::ConstantOp>(loc, cast<TypedAttr>(*value));
    if (failed(defineValue(init.name(), constant, loc)))
      return nullptr;
  }

  llvm::StringSet<> defined;
  for (const auto &entry : values)
    defined.insert(entry.first());
  FailureOr<SmallVector<int>> order = sortNodes(graph, defined);
  if (failed(order))
    return nullptr;
  for (int index : *order)
    if (failed(importNode(graph.node(index), index)))
      return nullptr;

  SmallVector<Value> results;
  for (const proto::ValueInfoProto &output : graph.output()) {
    auto it = values.find(output.name());
    if (it == values.end()) {
      error() << "graph output '" << output.name() << "' is not defined";
      return nullptr;
    }
    results.push_back(it->second);
  }
  builder.create<func::ReturnOp>(fileLoc, results);
  func.setType(
      builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output())) {
    func.setResultAttr(i, "onnx.name", builder.getStringAttr(output.name()));
    if (ArrayAttr names = dimParams(builder, output.type()))
      func.setResultAttr(i, "onnx.dim_params", names);
  }
  // Every check above should make this redundant; it keeps a missed case from
  // reaching later passes as invalid IR.
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

/// Writes the shapes of `options.inputShapes` into the graph's inputs, so that
/// shape inference propagates them, after checking them against the model.
LogicalResult applyInputShapes(proto::ModelProto &model,
                               const ImportOptions &options, Location fileLoc) {
  proto::GraphProto *graph = model.mutable_graph();
  llvm::StringSet<> initializers;
  for (const proto::TensorProto &init : graph->initializer())
    initializers.insert(init.name());
  for (const auto &[name, shape] : options.inputShapes) {
    proto::ValueInfoProto *input = nullptr;
    for (proto::ValueInfoProto &candidate : *graph->mutable_input())
      if (candidate.name() == name && !initializers.contains(name))
        input = &candidate;
    if (!input) {
      InFlightDiagnostic diag = emitError(fileLoc);
      diag << "--shape names '" << name
           << "', which is not a graph input; the inputs are:";
      for (const proto::ValueInfoProto &candidate : graph->input())
        if (!initializers.contains(candidate.name()))
          diag << " '" << candidate.name() << "'";
      return failure();
    }
    if (!input->type().has_tensor_type()) {
      emitError(fileLoc) << "--shape " << name << ": the input is not a tensor";
      return failure();
    }
    proto::TypeProto_Tensor *tensor =
        input->mutable_type()->mutable_tensor_type();
    if (tensor->has_shape() &&
        tensor->shape().dim_size() != static_cast<int>(shape.size())) {
      emitError(fileLoc) << "--shape " << name
                         << ": the model's input has rank "
                         << tensor->shape().dim_size() << ", not "
                         << shape.size();
      return failure();
    }
    bool hadShape = tensor->has_shape();
    proto::TensorShapeProto *dims = tensor->mutable_shape();
    for (auto [i, dim] : llvm::enumerate(shape)) {
      if (!hadShape)
        dims->add_dim();
      proto::TensorShapeProto_Dimension *target = dims->mutable_dim(i);
      if (dim < 0)
        continue;
      if (target->has_dim_value() && target->dim_value() != dim) {
        emitError(fileLoc) << "--shape " << name << ": dimension " << i
                           << " is " << target->dim_value()
                           << " in the model, not " << dim;
        return failure();
      }
      target->set_dim_value(dim);
    }
  }
  return success();
}

} // namespace

OwningOpRef<ModuleOp> importOnnxBuffer(MLIRContext *context,
                                       llvm::StringRef bytes,
                                       llvm::StringRef name, bool isText,
                                       llvm::StringRef baseDir,
                                       const ImportOptions &options) {
  Location fileLoc = FileLineColLoc::get(context, name, 0, 0);
  proto::ModelProto model;
  std::string reason =
      isText ? detail::parseTextModel(bytes.str(), model)
             : detail::parseBinaryModel(bytes.data(), bytes.size(), model);
  if (!reason.empty()) {
    emitError(fileLoc) << reason;
    return nullptr;
  }
  if (!model.has_graph()) {
    emitError(fileLoc) << "the model has no graph";
    return nullptr;
  }
  if (failed(applyInputShapes(model, options, fileLoc)))
    return nullptr;
  // Types the model leaves out come from ONNX shape inference where it can
  // tell; a failure there only means fewer known shapes.
  (void)detail::inferShapes(model);
  return Importer(context, name, baseDir, options).run(model);
}

OwningOpRef<ModuleOp> importOnnxFile(MLIRContext *context, llvm::StringRef path,
                                     const ImportOptions &options) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!file) {
    emitError(FileLineColLoc::get(context, path, 0, 0))
        << "cannot read the model: " << file.getError().message();
    return nullptr;
  }
  llvm::StringRef folder = llvm::sys::path::parent_path(path);
  return importOnnxBuffer(context, (*file)->getBuffer(), path,
                          path.ends_with(".onnxtext"),
                          folder.empty() ? "." : folder, options);
}

} // namespace moe
