//===- NVPTX.h - GPU kernels of the CUDA target -----------------*- C++ -*-===//
//
// The device half of the CUDA target: the work of a bufferized module moved
// into NVVM kernels, their PTX from LLVM's NVPTX back end, a cubin from
// ptxas, and the symbols through which the host code reaches the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_NVPTX_H
#define MOE_TARGET_NVPTX_H

#include "moe/Target/Pipelines.h"

#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace llvm {
class Module;
} // namespace llvm

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace moe {

/// Whether LLVM's NVPTX back end supports `arch` (sm_80, sm_90, sm_90a...).
bool isKnownCudaArch(llvm::StringRef arch);

/// Moves the work of the bufferized `module` into one gpu.module of kernels
/// for `options` (moe/Target/Pipelines.h), lowers the host code to the LLVM
/// dialect with kernel launches and buffer allocations as calls into the
/// runtime, and returns the kernels' PTX for `options.arch`.
mlir::FailureOr<std::string> lowerForCuda(mlir::ModuleOp module,
                                          const GpuKernelOptions &options);

/// The path of ptxas (CUDA_HOME, CUDA_PATH, /usr/local/cuda, then PATH), if
/// there is one.
std::optional<std::string> findPtxas();

/// Assembles `ptx` for `arch` with `ptxas`; returns the cubin.
mlir::FailureOr<std::string> assemblePtx(mlir::ModuleOp module,
                                         llvm::StringRef ptxas,
                                         llvm::StringRef ptx,
                                         llvm::StringRef arch);

/// Links the LLVM IR `text` into `host`, its functions made internal (the
/// calls the lowered code makes into the runtime or the C library).
mlir::LogicalResult linkInternalShims(mlir::ModuleOp module, llvm::Module &host,
                                      llvm::StringRef text);

/// Adds the runtime's function table (`moe_gpu_api`), the calls through it,
/// and the kernel image (`moe_cuda_module`: PTX, and the cubin when there is
/// one) to the translated host module.
mlir::LogicalResult addCudaSymbols(mlir::ModuleOp module, llvm::Module &host,
                                   llvm::StringRef ptx, llvm::StringRef cubin);

} // namespace moe

#endif // MOE_TARGET_NVPTX_H
