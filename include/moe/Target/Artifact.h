//===- Artifact.h - compile a module to a runnable artifact -----*- C++ -*-===//
//
// The targets: ONNX-level or moe-level IR in, a shared library plus its
// weights file out, whose work runs on the CPU (x86-64 code) or on an NVIDIA
// GPU (NVPTX kernels launched through the runtime). docs/artifact.md
// describes the format.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_ARTIFACT_H
#define MOE_TARGET_ARTIFACT_H

#include "moe/Target/Pipelines.h"

#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir {
class OpPassManager;
class ModuleOp;
} // namespace mlir

namespace moe {

/// What `moe-opt --emit=...` writes. Ptx is the CUDA target's kernels only.
enum class EmitKind { Mlir, Llvm, Object, Library, Ptx };

/// Where the artifact's work runs. CudaEmulator is the CUDA target's lowering
/// with its kernels run as loops on the host: a CPU artifact that computes
/// what the GPU would (with fp32 matmuls), for checking without a GPU.
enum class Device { Cpu, Cuda, CudaEmulator };

struct TargetOptions {
  Device device = Device::Cpu;
  /// LLVM optimisation level of the host code, 0 to 3.
  unsigned optLevel = 2;
  /// The host processor to tune and select instructions for (`--mcpu`).
  std::string cpu = "x86-64-v3";
  /// The CUDA targets' kernels (moe/Target/Pipelines.h): the architecture
  /// (`--arch`, which the emulator follows too), the compute type of f32
  /// models' matmuls (`--precision`: fp32 on CUDA cores, bf16 / fp16 on
  /// tensor cores), the decode kernels' token bound (`--decode-tokens`) and
  /// the MoE combine (`--combine`).
  GpuKernelOptions gpu;
};

/// Runs the passes `build` adds to a pass manager anchored on the module.
mlir::LogicalResult
runPipeline(mlir::ModuleOp module,
            llvm::function_ref<void(mlir::OpPassManager &)> build);

/// The weights file that goes with the library at `libraryPath`.
std::string weightsPathFor(llvm::StringRef libraryPath);

/// Compiles `module` (onnx, moe or linalg-on-tensors level, entry
/// `@main_graph`) and writes `kind` to `outputPath` (for a library, also its
/// weights file beside it). Errors are reported on the module's context;
/// nothing is left at `outputPath` after a failure.
mlir::LogicalResult compileArtifact(mlir::ModuleOp module,
                                    const TargetOptions &options, EmitKind kind,
                                    llvm::StringRef outputPath);

} // namespace moe

#endif // MOE_TARGET_ARTIFACT_H
