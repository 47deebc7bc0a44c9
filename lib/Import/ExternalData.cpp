//===- ExternalData.cpp - untrusted ONNX external data --------------------===//
//
// An ONNX file names its external data files itself, so a hostile model could
// point at any file on the machine. Locations are confined to the model's
// folder, checked after symlinks are resolved, and every range is checked
// against the file's size.
//
//===----------------------------------------------------------------------===//

#include "ExternalData.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

namespace moe::detail {

std::unique_ptr<llvm::MemoryBuffer> mapExternalData(llvm::StringRef modelDir,
                                                    const ExternalDataRef &ref,
                                                    uint64_t expectedBytes,
                                                    std::string &error) {
  namespace fs = llvm::sys::fs;
  namespace path = llvm::sys::path;
  llvm::StringRef location = ref.location;
  if (location.empty()) {
    error = "external data has no location";
    return nullptr;
  }
  if (path::is_absolute(location) ||
      path::is_absolute(location, path::Style::windows)) {
    error = "external data location '" + ref.location +
            "' is absolute; it must be relative to the model's folder";
    return nullptr;
  }
  for (llvm::StringRef component :
       llvm::make_range(path::begin(location), path::end(location)))
    if (component == "..") {
      error = "external data location '" + ref.location +
              "' leaves the model's folder ('..')";
      return nullptr;
    }

  llvm::SmallString<256> folder, candidate(modelDir.empty() ? "." : modelDir);
  path::append(candidate, location);
  llvm::SmallString<256> resolved;
  if (fs::real_path(modelDir.empty() ? "." : modelDir, folder) ||
      fs::real_path(candidate, resolved)) {
    error =
        "external data file '" + ref.location + "' not found next to the model";
    return nullptr;
  }
  llvm::SmallString<256> prefix(folder);
  path::append(prefix, "");
  if (!llvm::StringRef(resolved).starts_with(prefix)) {
    error = "external data location '" + ref.location +
            "' resolves outside the model's folder (through a symbolic link)";
    return nullptr;
  }
  fs::file_status status;
  if (fs::status(resolved, status) || !fs::is_regular_file(status)) {
    error =
        "external data location '" + ref.location + "' is not a regular file";
    return nullptr;
  }

  uint64_t fileSize = status.getSize();
  uint64_t offset = ref.offset.value_or(0);
  if (offset > fileSize) {
    error = "external data offset " + std::to_string(offset) +
            " is past the end of '" + ref.location + "' (" +
            std::to_string(fileSize) + " bytes)";
    return nullptr;
  }
  uint64_t length = ref.length.value_or(fileSize - offset);
  if (length > fileSize - offset) {
    error = "external data range [" + std::to_string(offset) + ", " +
            std::to_string(offset) + " + " + std::to_string(length) +
            ") runs past the end of '" + ref.location + "' (" +
            std::to_string(fileSize) + " bytes)";
    return nullptr;
  }
  if (length != expectedBytes) {
    error = "external data in '" + ref.location + "' holds " +
            std::to_string(length) +
            " bytes, but the tensor's shape and type need " +
            std::to_string(expectedBytes);
    return nullptr;
  }
  auto buffer = llvm::MemoryBuffer::getFileSlice(resolved, length, offset,
                                                 /*IsVolatile=*/false);
  if (!buffer) {
    error = "cannot read external data '" + ref.location +
            "': " + buffer.getError().message();
    return nullptr;
  }
  return std::move(*buffer);
}

} // namespace moe::detail
