//===- ExternalData.h - untrusted ONNX external data ------------*- C++ -*-===//
#ifndef MOE_LIB_IMPORT_EXTERNALDATA_H
#define MOE_LIB_IMPORT_EXTERNALDATA_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace moe::detail {

/// Where a tensor's bytes live outside the model file, as the TensorProto says.
struct ExternalDataRef {
  std::string location;
  std::optional<uint64_t> offset;
  std::optional<uint64_t> length;
};

/// Maps the bytes `ref` names, after checking that they stay inside `modelDir`
/// (relative location, no `..`, no symlink leading out) and inside the file,
/// and that there are exactly `expectedBytes` of them. On failure returns null
/// and sets `error`.
std::unique_ptr<llvm::MemoryBuffer> mapExternalData(llvm::StringRef modelDir,
                                                    const ExternalDataRef &ref,
                                                    uint64_t expectedBytes,
                                                    std::string &error);

} // namespace moe::detail

#endif // MOE_LIB_IMPORT_EXTERNALDATA_H
