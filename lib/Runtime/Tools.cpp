//===- Tools.cpp - what moe-run and moe-bench share -----------------------===//

#include "moe/Runtime/Tools.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

extern char **environ;

namespace moe::runtime {

namespace {

struct DTypePair {
  DType host;
  moe_dtype runtime;
};
constexpr DTypePair kPairs[] = {
    {DType::F16, MOE_DTYPE_F16}, {DType::F32, MOE_DTYPE_F32},
    {DType::F64, MOE_DTYPE_F64}, {DType::I8, MOE_DTYPE_I8},
    {DType::I32, MOE_DTYPE_I32}, {DType::I64, MOE_DTYPE_I64},
    {DType::U8, MOE_DTYPE_U8},   {DType::Bool, MOE_DTYPE_BOOL},
    {DType::BF16, MOE_DTYPE_BF16}};

/// `value` as bf16 bits, rounded to nearest even (NaN stays a quiet NaN).
uint16_t toBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

bool parseTypeName(const std::string &text, DType &out) {
  for (const DTypePair &pair : kPairs)
    if (text == moe_dtype_name(pair.runtime) || text == dtypeName(pair.host)) {
      out = pair.host;
      return true;
    }
  return false;
}

/// `2x4xf32` → shape and dtype.
bool parseTypeSpec(const std::string &text, std::vector<int64_t> &shape,
                   DType &dtype) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, 'x'))
    parts.push_back(part);
  if (parts.empty() || !parseTypeName(parts.back(), dtype))
    return false;
  shape.clear();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty() ||
        parts[i].find_first_not_of("0123456789") != std::string::npos ||
        parts[i].size() > 12)
      return false;
    shape.push_back(std::stoll(parts[i]));
  }
  return true;
}

/// Writes `value` as element `index` of `tensor`.
void store(HostTensor &tensor, int64_t index, double value) {
  uint8_t *p = tensor.data.data() + index * dtypeSize(tensor.dtype);
  switch (tensor.dtype) {
  case DType::F32: {
    float v = static_cast<float>(value);
    std::memcpy(p, &v, 4);
    break;
  }
  case DType::F64:
    std::memcpy(p, &value, 8);
    break;
  case DType::I8:
  case DType::U8:
    *p = static_cast<uint8_t>(static_cast<int64_t>(value));
    break;
  case DType::Bool:
    *p = value != 0;
    break;
  case DType::I32: {
    int32_t v = static_cast<int32_t>(value);
    std::memcpy(p, &v, 4);
    break;
  }
  case DType::I64: {
    int64_t v = static_cast<int64_t>(value);
    std::memcpy(p, &v, 8);
    break;
  }
  case DType::BF16: {
    uint16_t half = toBf16(static_cast<float>(value));
    std::memcpy(p, &half, 2);
    break;
  }
  case DType::F16: {
    // Round to nearest even through float's bits (normal range only).
    float f = static_cast<float>(value);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    uint16_t sign = (bits >> 16) & 0x8000;
    int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xff) - 127 + 15;
    uint32_t mantissa = bits & 0x7fffff;
    uint16_t half;
    if (exponent <= 0)
      half = sign;
    else if (exponent >= 31)
      half = sign | 0x7c00;
    else {
      half = sign | static_cast<uint16_t>(exponent << 10) |
             static_cast<uint16_t>(mantissa >> 13);
      uint32_t rest = mantissa & 0x1fff;
      if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        ++half;
    }
    std::memcpy(p, &half, 2);
    break;
  }
  }
}

double load(const HostTensor &tensor, int64_t index) {
  const uint8_t *p = tensor.data.data() + index * dtypeSize(tensor.dtype);
  switch (tensor.dtype) {
  case DType::F32: {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::F64: {
    double v;
    std::memcpy(&v, p, 8);
    return v;
  }
  case DType::I8:
    return static_cast<int8_t>(*p);
  case DType::U8:
  case DType::Bool:
    return *p;
  case DType::I32: {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::I64: {
    int64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<double>(v);
  }
  case DType::BF16: {
    uint16_t h;
    std::memcpy(&h, p, 2);
    uint32_t bits = static_cast<uint32_t>(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  case DType::F16: {
    uint16_t h;
    std::memcpy(&h, p, 2);
    int exponent = (h >> 10) & 0x1f;
    double mantissa = h & 0x3ff;
    double v = exponent == 0 ? std::ldexp(mantissa, -24)
               : exponent == 31
                   ? (mantissa ? NAN : INFINITY)
                   : std::ldexp(mantissa + 1024, exponent - 25);
    return (h & 0x8000) ? -v : v;
  }
  }
  return 0;
}

Status parseInline(const std::string &typeSpec, const std::string &values,
                   HostTensor &out) {
  if (!parseTypeSpec(typeSpec, out.shape, out.dtype))
    return Status::error("'" + typeSpec +
                         "' is not a type such as 2x4xf32");
  std::vector<double> numbers;
  std::string cleaned = values;
  for (char &c : cleaned)
    if (c == ',' || c == '[' || c == ']')
      c = ' ';
  std::stringstream stream(cleaned);
  std::string word;
  while (stream >> word) {
    char *end = nullptr;
    double v = std::strtod(word.c_str(), &end);
    if (end == word.c_str() || *end)
      return Status::error("'" + word + "' in the values of " + typeSpec +
                           " is not a number");
    numbers.push_back(v);
  }
  int64_t count = out.numElements();
  if (numbers.size() != 1 && static_cast<int64_t>(numbers.size()) != count)
    return Status::error(typeSpec + " needs " + std::to_string(count) +
                         " values (or one to fill it), got " +
                         std::to_string(numbers.size()));
  out.data.assign(count * dtypeSize(out.dtype), 0);
  for (int64_t i = 0; i < count; ++i)
    store(out, i, numbers.size() == 1 ? numbers[0] : numbers[i]);
  return Status::success();
}

} // namespace

Status parseInputSpec(const std::string &spec, InputSpec &out) {
  std::string rest = spec;
  out.name.clear();
  // A leading `name=` unless what precedes the first '=' is a type.
  size_t eq = rest.find('=');
  if (rest.empty() || rest[0] != '@') {
    if (eq == std::string::npos)
      return Status::error("--input=" + spec +
                           ": expected @file.npy, name=@file.npy or "
                           "2x4xf32=values");
    std::vector<int64_t> shape;
    DType dtype;
    std::string head = rest.substr(0, eq);
    if (!parseTypeSpec(head, shape, dtype)) {
      // `4x8xq7=...` is a type gone wrong rather than an input's name.
      size_t lastX = head.rfind('x');
      if (lastX != std::string::npos && lastX > 0 &&
          head.substr(0, lastX).find_first_not_of("0123456789x") ==
              std::string::npos)
        return Status::error("--input=" + spec + ": '" + head +
                             "' is not a type such as 2x4xf32");
      out.name = head;
      rest = rest.substr(eq + 1);
    }
  }
  if (!rest.empty() && rest[0] == '@') {
    Status status = readNpy(rest.substr(1), out.tensor);
    if (!status.ok)
      return Status::error("--input=" + spec + ": " + status.message);
    return Status::success();
  }
  eq = rest.find('=');
  if (eq == std::string::npos)
    return Status::error("--input=" + spec + ": expected @file.npy or "
                                             "2x4xf32=values after the name");
  Status status = parseInline(rest.substr(0, eq), rest.substr(eq + 1), out.tensor);
  if (!status.ok)
    return Status::error("--input=" + spec + ": " + status.message);
  return Status::success();
}

Status toRuntime(HostTensor &tensor, moe_tensor &out) {
  out = moe_tensor{};
  bool found = false;
  for (const DTypePair &pair : kPairs)
    if (pair.host == tensor.dtype) {
      out.dtype = pair.runtime;
      found = true;
    }
  if (!found)
    return Status::error(std::string("element type ") +
                         dtypeName(tensor.dtype) +
                         " is not one the runtime takes");
  if (tensor.shape.size() > MOE_MAX_RANK)
    return Status::error("rank " + std::to_string(tensor.shape.size()) +
                         " is above the runtime's limit of " +
                         std::to_string(MOE_MAX_RANK));
  out.rank = static_cast<int32_t>(tensor.shape.size());
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    out.dims[i] = tensor.shape[i];
  out.data = tensor.data.data();
  return Status::success();
}

Status fromRuntime(const moe_tensor &tensor, HostTensor &out) {
  for (const DTypePair &pair : kPairs)
    if (pair.runtime == tensor.dtype) {
      out.dtype = pair.host;
      out.shape.assign(tensor.dims, tensor.dims + tensor.rank);
      size_t bytes = out.numElements() * dtypeSize(out.dtype);
      const uint8_t *data = static_cast<const uint8_t *>(tensor.data);
      out.data.assign(data, data + bytes);
      return Status::success();
    }
  return Status::error("unknown element type");
}

Status bindInputs(const moe_artifact *artifact, std::vector<InputSpec> &specs,
                  std::vector<moe_tensor> &bound) {
  size_t count = moe_artifact_num_inputs(artifact);
  std::vector<InputSpec *> slots(count, nullptr);
  size_t next = 0;
  for (InputSpec &spec : specs) {
    size_t index = count;
    if (!spec.name.empty()) {
      for (size_t i = 0; i < count; ++i)
        if (spec.name == moe_artifact_input(artifact, i).name)
          index = i;
      if (index == count)
        return Status::error("the model has no input named '" + spec.name +
                             "'");
    } else {
      while (next < count && slots[next])
        ++next;
      if (next == count)
        return Status::error("more inputs given than the model's " +
                             std::to_string(count));
      index = next;
    }
    if (slots[index])
      return Status::error(std::string("input '") +
                           moe_artifact_input(artifact, index).name +
                           "' is given twice");
    slots[index] = &spec;
  }
  bound.assign(count, moe_tensor{});
  for (size_t i = 0; i < count; ++i) {
    const char *name = moe_artifact_input(artifact, i).name;
    if (!slots[i])
      return Status::error(std::string("input '") + name +
                           "' is not given (--input)");
    // .npy has no bf16: an f32 tensor given for a bf16 input is rounded.
    HostTensor &given = slots[i]->tensor;
    if (moe_artifact_input(artifact, i).dtype == MOE_DTYPE_BF16 &&
        given.dtype == DType::F32) {
      HostTensor narrow;
      narrow.dtype = DType::BF16;
      narrow.shape = given.shape;
      narrow.data.assign(given.data.size() / 2, 0);
      for (int64_t e = 0; e < given.numElements(); ++e)
        store(narrow, e, load(given, e));
      given = std::move(narrow);
    }
    Status status = toRuntime(slots[i]->tensor, bound[i]);
    if (!status.ok)
      return Status::error(std::string("input '") + name + "': " +
                           status.message);
  }
  return Status::success();
}

Status parseAndBindInputs(const moe_artifact *artifact,
                          const std::vector<std::string> &specs,
                          std::vector<InputSpec> &inputs,
                          std::vector<moe_tensor> &bound) {
  inputs.assign(specs.size(), InputSpec{});
  for (size_t i = 0; i < specs.size(); ++i) {
    Status status = parseInputSpec(specs[i], inputs[i]);
    if (!status.ok)
      return status;
  }
  return bindInputs(artifact, inputs, bound);
}

namespace {

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// moe-opt beside the running executable, else on PATH.
std::string findCompiler() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    std::string candidate = dir + "/moe-opt";
    if (access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "moe-opt";
}

} // namespace

LoadedArtifact::~LoadedArtifact() {
  if (artifact)
    moe_artifact_free(artifact);
  if (!tempDir.empty()) {
    for (const char *file : {"/model.so", "/model.so.weights"})
      unlink((tempDir + file).c_str());
    rmdir(tempDir.c_str());
  }
}

Status LoadedArtifact::load(const std::string &path, const std::string &tool,
                           const std::string &device) {
  if (!device.empty() && device != "cpu" && device != "cuda")
    return Status::error(tool + ": --device=" + device +
                         " is not one of cpu, cuda");
  std::string library = path;
  if (endsWith(path, ".onnx") || endsWith(path, ".onnxtext") ||
      endsWith(path, ".mlir")) {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/moe-run.XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back(0);
    if (!mkdtemp(buffer.data()))
      return Status::error(std::string("cannot create a temporary folder: ") +
                           std::strerror(errno));
    tempDir = buffer.data();
    library = tempDir + "/model.so";
    std::string compiler = findCompiler();
    std::vector<std::string> args{compiler, path, "--emit=lib",
                                  "--target=" + (device.empty() ? "cpu" : device),
                                  "-o", library};
    std::vector<char *> argv;
    for (std::string &arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid;
    int rc = posix_spawnp(&pid, compiler.c_str(), nullptr, nullptr,
                          argv.data(), environ);
    if (rc != 0)
      return Status::error(tool + ": cannot run " + compiler +
                           " to compile " + path + ": " + std::strerror(rc));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return Status::error(path + ": compilation failed (see above)");
  }
  if (moe_error *error = moe_artifact_load(library.c_str(), &artifact)) {
    Status status = Status::error(moe_error_message(error));
    moe_error_free(error);
    return status;
  }
  std::string compiledFor = moe_artifact_device(artifact);
  if (!device.empty() && device != compiledFor)
    return Status::error(path + " is compiled for " + compiledFor +
                         ", not for --device=" + device);
  return Status::success();
}

std::string formatTensor(const std::string &name, const HostTensor &tensor,
                         int64_t limit) {
  std::ostringstream os;
  os << name << ": ";
  for (int64_t d : tensor.shape)
    os << d << "x";
  os << dtypeName(tensor.dtype) << "=";
  int64_t count = tensor.numElements();
  int64_t inner = tensor.shape.empty() ? 1 : tensor.shape.back();
  os.precision(7);
  for (int64_t i = 0; i < count && i < limit; ++i) {
    if (inner > 0 && i % inner == 0)
      os << (i ? "][" : "[");
    else
      os << " ";
    os << load(tensor, i);
  }
  if (count > 0)
    os << (count > limit ? " ...]" : "]");
  return os.str();
}

} // namespace moe::runtime
