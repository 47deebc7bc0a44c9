//===- Npy.cpp - NumPy .npy reader and writer -----------------------------===//
//
// Format: NEP 1 / numpy.lib.format. Magic "\x93NUMPY", version, a little-endian
// header length (2 bytes in 1.0, 4 bytes in 2.0 and 3.0), then a Python dict
// literal with 'descr', 'fortran_order' and 'shape', padded with spaces and
// ended by '\n'.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace moe::runtime {

namespace {

struct DTypeInfo {
  DType dtype;
  const char *name;
  const char *descr;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::F16, "f16", "<f2", 2}, {DType::F32, "f32", "<f4", 4},
    {DType::F64, "f64", "<f8", 8}, {DType::I8, "i8", "|i1", 1},
    {DType::I32, "i32", "<i4", 4}, {DType::I64, "i64", "<i8", 8},
    {DType::U8, "u8", "|u1", 1},   {DType::Bool, "i1", "|b1", 1},
    // No .npy file has this descr: bf16 is written as f32.
    {DType::BF16, "bf16", "bf16", 2},
};

const DTypeInfo &info(DType dtype) {
  for (const DTypeInfo &entry : kDTypes)
    if (entry.dtype == dtype)
      return entry;
  return kDTypes[0];
}

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

/// A cursor over the header dict literal.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text(text) {}

  /// The raw text of the value stored under `key`, up to the next top-level
  /// comma or closing brace, or an empty view when the key is absent.
  std::string_view valueOf(std::string_view key) const {
    for (char quote : {'\'', '"'}) {
      std::string needle = std::string(1, quote) + std::string(key) + quote;
      size_t at = text.find(needle);
      if (at == std::string_view::npos)
        continue;
      size_t colon = text.find(':', at + needle.size());
      if (colon == std::string_view::npos)
        return {};
      size_t begin = colon + 1;
      int depth = 0;
      size_t end = begin;
      for (; end < text.size(); ++end) {
        char c = text[end];
        if (c == '(' || c == '[')
          ++depth;
        else if (c == ')' || c == ']')
          --depth;
        else if ((c == ',' || c == '}') && depth == 0)
          break;
      }
      return trim(text.substr(begin, end - begin));
    }
    return {};
  }

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
      s.remove_suffix(1);
    return s;
  }

private:
  std::string_view text;
};

Status fail(std::string_view source, const std::string &what) {
  return Status::error(std::string(source) + ": " + what);
}

/// Parses "(2, 3)", "(4,)" or "()" into `shape`.
bool parseShape(std::string_view text, std::vector<int64_t> &shape) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    return false;
  text = text.substr(1, text.size() - 2);
  shape.clear();
  while (true) {
    text = HeaderParser::trim(text);
    if (text.empty())
      return true;
    int64_t value = 0;
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10)
        return false;
      value = value * 10 + (text[digits] - '0');
      ++digits;
    }
    if (digits == 0)
      return false;
    shape.push_back(value);
    text = HeaderParser::trim(text.substr(digits));
    if (text.empty())
      return true;
    if (text.front() != ',')
      return false;
    text.remove_prefix(1);
  }
}

} // namespace

const char *dtypeName(DType dtype) { return info(dtype).name; }
size_t dtypeSize(DType dtype) { return info(dtype).size; }

int64_t HostTensor::numElements() const {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return count;
}

std::string HostTensor::typeString() const {
  std::string out;
  for (int64_t dim : shape)
    out += std::to_string(dim) + "x";
  return out + dtypeName(dtype);
}

Status parseNpy(const uint8_t *bytes, size_t size, std::string_view source,
                HostTensor &out) {
  if (size < kMagicSize + 2 || std::memcmp(bytes, kMagic, kMagicSize) != 0)
    return fail(source, "not a .npy file (no \\x93NUMPY magic)");
  uint8_t major = bytes[kMagicSize];
  size_t lengthBytes = major == 1 ? 2 : (major == 2 || major == 3) ? 4 : 0;
  if (lengthBytes == 0)
    return fail(source, "unsupported .npy format version " +
                            std::to_string(major) + "." +
                            std::to_string(bytes[kMagicSize + 1]));
  size_t prefix = kMagicSize + 2 + lengthBytes;
  if (size < prefix)
    return fail(source, "truncated .npy header");
  uint64_t headerLength = 0;
  for (size_t i = 0; i < lengthBytes; ++i)
    headerLength |= static_cast<uint64_t>(bytes[kMagicSize + 2 + i]) << (8 * i);
  if (headerLength > size - prefix)
    return fail(source, "header length " + std::to_string(headerLength) +
                            " runs past the end of the file");
  std::string_view header(reinterpret_cast<const char *>(bytes + prefix),
                          headerLength);
  if (header.empty() || header.back() != '\n' || header.front() != '{')
    return fail(source,
                "malformed .npy header (expected a dict ending in a newline)");

  HeaderParser parser(header);
  std::string_view descr = parser.valueOf("descr");
  if (descr.size() < 2)
    return fail(source, "header has no 'descr'");
  descr = descr.substr(1, descr.size() - 2);
  const DTypeInfo *found = nullptr;
  for (const DTypeInfo &entry : kDTypes) {
    std::string_view native(entry.descr);
    // '=' (native) equals '<' on the little-endian hosts we support.
    if (descr == native ||
        (descr.size() == 3 && descr[0] == '=' && native[0] == '<' &&
         descr.substr(1) == native.substr(1)))
      found = &entry;
  }
  if (!found) {
    std::string reason = "unsupported dtype '" + std::string(descr) + "'";
    if (!descr.empty() && descr[0] == '>')
      reason += " (big-endian data; save it little-endian)";
    return fail(source, reason);
  }
  std::string_view order = parser.valueOf("fortran_order");
  if (order == "True")
    return fail(source, "Fortran-ordered arrays are not supported; save with "
                        "numpy.ascontiguousarray");
  if (order != "False")
    return fail(source, "header has no valid 'fortran_order'");
  std::vector<int64_t> shape;
  if (!parseShape(parser.valueOf("shape"), shape))
    return fail(source, "header has no valid 'shape'");

  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() /
                                static_cast<uint64_t>(dim) / found->size)
      return fail(source, "shape is too large");
    count *= static_cast<uint64_t>(dim);
  }
  uint64_t payload = size - prefix - headerLength;
  uint64_t expected = count * found->size;
  if (payload != expected)
    return fail(source, "data holds " + std::to_string(payload) +
                            " bytes, but the header's shape and dtype need " +
                            std::to_string(expected));
  out.dtype = found->dtype;
  out.shape = std::move(shape);
  const uint8_t *data = bytes + prefix + headerLength;
  out.data.assign(data, data + expected);
  return Status::success();
}

Status readNpy(const std::string &path, HostTensor &out) {
  FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof(chunk), file)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + got);
  bool readError = std::ferror(file);
  std::fclose(file);
  if (readError)
    return fail(path, "read error");
  return parseNpy(bytes.data(), bytes.size(), path, out);
}

std::vector<uint8_t> serializeNpy(const HostTensor &tensor) {
  if (tensor.dtype == DType::BF16) {
    // Widened to f32, exactly: bf16 is f32's upper half.
    HostTensor wide;
    wide.dtype = DType::F32;
    wide.shape = tensor.shape;
    wide.data.assign(tensor.data.size() * 2, 0);
    for (size_t i = 0; i < tensor.data.size() / 2; ++i) {
      wide.data[4 * i + 2] = tensor.data[2 * i];
      wide.data[4 * i + 3] = tensor.data[2 * i + 1];
    }
    return serializeNpy(wide);
  }
  std::string header = "{'descr': '" + std::string(info(tensor.dtype).descr) +
                       "', 'fortran_order': False, 'shape': (";
  for (int64_t dim : tensor.shape)
    header += std::to_string(dim) + ", ";
  if (tensor.shape.size() == 1)
    header.resize(header.size() - 1); // "(4,)"
  else if (!tensor.shape.empty())
    header.resize(header.size() - 2);
  header += "), }";
  // Pad with spaces so that the data starts on a 64-byte boundary.
  size_t total = kMagicSize + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::vector<uint8_t> out(kMagic, kMagic + kMagicSize);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(header.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), tensor.data.begin(), tensor.data.end());
  return out;
}

Status writeNpy(const std::string &path, const HostTensor &tensor) {
  if (tensor.data.size() !=
      static_cast<size_t>(tensor.numElements()) * dtypeSize(tensor.dtype))
    return fail(path,
                "tensor data does not match its shape " + tensor.typeString());
  std::vector<uint8_t> bytes = serializeNpy(tensor);
  std::string temporary = path + ".partial";
  FILE *file = std::fopen(temporary.c_str(), "wb");
  if (!file)
    return fail(path, std::string("cannot create: ") + std::strerror(errno));
  bool written =
      std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  written = std::fclose(file) == 0 && written;
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    return fail(path, "cannot write: " + reason);
  }
  return Status::success();
}

} // namespace moe::runtime
