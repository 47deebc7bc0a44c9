//===- Npy.h - host tensors and NumPy .npy files ----------------*- C++ -*-===//
//
// The runtime's host tensor and its .npy reader and writer, used by moe-run and
// moe-bench for inputs and outputs. No LLVM or MLIR dependency.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_NPY_H
#define MOE_RUNTIME_NPY_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moe::runtime {

/// Element types a tensor crossing the runtime boundary can have.
/// BF16 has no NumPy type: .npy files carry it as f32 (written widened,
/// exactly; given as f32 where a model takes bf16, rounded to nearest even).
enum class DType : uint8_t { F16, F32, F64, I8, I32, I64, U8, Bool, BF16 };

/// The short name of `dtype` (`f32`, `i64`, ...), as MLIR spells it.
const char *dtypeName(DType dtype);
/// Bytes per element of `dtype`.
size_t dtypeSize(DType dtype);

/// A dense, row-major, little-endian tensor in host memory.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  /// Product of the dimensions (1 for a scalar).
  int64_t numElements() const;
  /// `shape` written as `2x3xf32`.
  std::string typeString() const;
};

/// Success, or a message that names the file and what is wrong with it.
struct Status {
  bool ok = true;
  std::string message;

  static Status success() { return {}; }
  static Status error(std::string message) {
    return {false, std::move(message)};
  }
};

/// Parses the bytes of a .npy file (format versions 1.0 to 3.0). `source` names
/// the file in error messages. Rejects Fortran order, big-endian data, unknown
/// dtypes, and data whose size disagrees with the header.
Status parseNpy(const uint8_t *bytes, size_t size, std::string_view source,
                HostTensor &out);

/// Reads and parses the .npy file at `path`.
Status readNpy(const std::string &path, HostTensor &out);

/// The .npy (version 1.0) image of `tensor`.
std::vector<uint8_t> serializeNpy(const HostTensor &tensor);

/// Writes `tensor` to `path` through a temporary file renamed into place, so a
/// failure never leaves a partly written file behind.
Status writeNpy(const std::string &path, const HostTensor &tensor);

} // namespace moe::runtime

#endif // MOE_RUNTIME_NPY_H
