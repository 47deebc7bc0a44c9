//===- Pipelines.h - the targets' pass pipelines ---------------*- C++ -*-===//
//
// The pass pipelines the CPU and CUDA targets run, as C++ builders. The
// compiler driver (moe/Target/Artifact.h) runs them with its non-pass steps
// in between (weights to the weights file, PTX to cubin); moe-opt registers
// them whole: --moe-cpu-pipeline and --moe-cuda-pipeline.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_PIPELINES_H
#define MOE_TARGET_PIPELINES_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace moe {

/// What the CUDA targets' kernels are built for.
struct GpuKernelOptions {
  /// The GPU architecture: sm_90a's MoE GEMMs run on wgmma.
  std::string arch = "sm_90a";
  /// The matmuls' compute type: fp32, bf16 or fp16.
  std::string precision = "fp32";
  /// MoE layers run their decode kernels up to this many tokens (0: never;
  /// -1: per layer, the tuning file's bound for its shape, else E * 4 / k).
  int64_t decodeTokens = -1;
  /// sm_90a: above this many tokens the MoE GEMMs take 128-row tiles (-1:
  /// per layer, the tuning file's bound for its shape, else 64 E / k).
  int64_t wideTokens = -1;
  /// A tuning file (JSON, `scripts/gpu-check run` writes one): each MoE layer
  /// shape's decode and wide-tile bounds.
  std::string gpuConfig;
  /// The MoE down projection adds its rows, times their routing weights,
  /// into the output with atomics (summation order left to the hardware)
  /// instead of a combine kernel summing each token's rows in order.
  bool atomicCombine = false;
};

/// What the CPU target's kernels are built for.
struct CpuKernelOptions {
  /// The processor's vector registers: 256 bits (AVX2) or 512 (AVX-512).
  int64_t vectorBits = 256;
  /// MoE expert weights stored in bf16 and widened to f32 as they are read
  /// (`--precision=bf16`): half the bytes, each weight rounded once.
  bool bf16Weights = false;
};

/// onnx / moe / linalg on tensors → bufferized memref code with explicit
/// deallocation, on a module. With `gpu`, MoE layers take the CUDA targets'
/// own kernels (moe-lower-to-gpu) in its compute type, their weights tiled
/// for sm_90a's bulk copies when it is the architecture; with `cpu`, their
/// constant weights are packed into panels of the CPU kernels' vector width.
void buildTensorPipeline(mlir::OpPassManager &pm,
                         const GpuKernelOptions *gpu = nullptr,
                         const CpuKernelOptions *cpu = nullptr);

/// The CUDA targets' device mapping of bufferized code, on a module: the
/// matmuls on tensor cores (unless the precision is fp32), the MoE kernels,
/// every other parallel loop and all serial work in gpu.launch kernels.
void buildOffloadPipeline(mlir::OpPassManager &pm,
                          const GpuKernelOptions &options);

/// The CUDA emulator: the device mapping, then its kernels as loops on the
/// host.
void buildEmulationPipeline(mlir::OpPassManager &pm,
                            const GpuKernelOptions &options);

/// memref code → the LLVM dialect for the CPU (and the emulator), on a
/// module, its matmul kernels in `vectorBits`-bit vectors; with `openmp`,
/// parallel loops become OpenMP. For the CPU, math functions become
/// polynomials and reductions' sums reassociate, so that LLVM vectorizes
/// them; `emulated` CUDA kernels keep the C library's math and each sum's
/// order, as a GPU's libdevice and threads have them.
void buildCpuLoweringPipeline(mlir::OpPassManager &pm, bool openmp,
                              int64_t vectorBits = 256, bool emulated = false);

/// The CUDA target's kernels (the gpu.module after outlining) → NVVM and
/// PTX for `chip` with `features`, libdevice linked when `libdevice` is not
/// empty; the host code → the LLVM dialect calling the runtime.
void buildNvptxPipeline(mlir::OpPassManager &pm, llvm::StringRef chip,
                        llvm::StringRef features, llvm::StringRef libdevice);

/// Registers --moe-cpu-pipeline and --moe-cuda-pipeline with moe-opt.
void registerPipelines();

} // namespace moe

#endif // MOE_TARGET_PIPELINES_H
