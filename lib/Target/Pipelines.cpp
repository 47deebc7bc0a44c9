//===- Pipelines.cpp - the targets' pass pipelines ------------------------===//

#include "moe/Target/Pipelines.h"

#include "dialects/moe/Transforms/Passes.h"
#include "moe/Conversion/Passes.h"
#include "moe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Async/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {

void addCleanup(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

struct CpuPipelineOptions : PassPipelineOptions<CpuPipelineOptions> {
  PassOptions::Option<bool> openmp{
      *this, "openmp",
      llvm::cl::desc("parallel loops as OpenMP (else they run serially)"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("the kernels' vector width: 256 (AVX2) or 512 (AVX-512)"),
      llvm::cl::init(256)};
  PassOptions::Option<bool> bf16Weights{
      *this, "bf16-weights",
      llvm::cl::desc("MoE expert weights stored in bf16, widened as read"),
      llvm::cl::init(false)};
};

struct CudaPipelineOptions : PassPipelineOptions<CudaPipelineOptions> {
  PassOptions::Option<std::string> precision{
      *this, "precision",
      llvm::cl::desc("the matmuls' compute type: fp32, bf16 or fp16"),
      llvm::cl::init("fp32")};
  PassOptions::Option<bool> emulate{
      *this, "emulate",
      llvm::cl::desc("then run the kernels as loops (the CUDA emulator)"),
      llvm::cl::init(false)};
  PassOptions::Option<int64_t> decodeTokens{
      *this, "decode-tokens",
      llvm::cl::desc("MoE layers run their decode kernels up to this many "
                     "tokens (0: never; -1: per layer shape)"),
      llvm::cl::init(-1)};
  PassOptions::Option<int64_t> wideTokens{
      *this, "wide-tokens",
      llvm::cl::desc("sm_90a: MoE GEMMs take 128-row tiles above this many "
                     "tokens (-1: per layer shape)"),
      llvm::cl::init(-1)};
  PassOptions::Option<std::string> gpuConfig{
      *this, "gpu-config",
      llvm::cl::desc("a tuning file with each MoE layer shape's decode and "
                     "wide-tile bounds"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> arch{
      *this, "arch",
      llvm::cl::desc("the GPU architecture (sm_90a: the MoE GEMMs on wgmma)"),
      llvm::cl::init("sm_90a")};
  PassOptions::Option<bool> atomicCombine{
      *this, "atomic-combine",
      llvm::cl::desc("MoE layers combine in the down projection's epilogue "
                     "with atomics (else a combine kernel, in order)"),
      llvm::cl::init(false)};
};

} // namespace

void moe::buildTensorPipeline(OpPassManager &pm, const GpuKernelOptions *gpu,
                              const CpuKernelOptions *cpu) {
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createMoEFoldWeightLayouts());
  func.addPass(createMoEExpand());
  if (gpu) {
    MoELowerToGPUOptions options;
    options.precision = gpu->precision;
    options.weightTiles = gpu->arch == "sm_90a";
    func.addPass(createMoELowerToGPU(options));
  }
  MoELowerToLinalgOptions linalg;
  if (cpu) {
    linalg.panelWidth = cpu->vectorBits / 32;
    linalg.bf16Weights = cpu->bf16Weights;
    linalg.grouped = true;
  }
  func.addPass(createMoELowerToLinalg(linalg));
  func.addPass(createMoELegalizeOnnx());
  func.addPass(createMoEFoldWeightLayouts());
  if (cpu) {
    MoEPackMatmulWeightsOptions pack;
    pack.panelWidth = cpu->vectorBits / 32;
    func.addPass(createMoEPackMatmulWeights(pack));
  }
  addCleanup(pm);
  bufferization::OneShotBufferizationOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.setFunctionBoundaryTypeConversion(
      bufferization::LayoutMapOption::IdentityLayoutMap);
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferDeallocationPipelineOptions deallocation;
  bufferization::buildBufferDeallocationPipeline(pm, deallocation);
  pm.addPass(createBufferizationToMemRefPass());
  addCleanup(pm);
}

void moe::buildOffloadPipeline(OpPassManager &pm,
                               const GpuKernelOptions &options) {
  OpPassManager &func = pm.nest<func::FuncOp>();
  if (options.precision != "fp32") {
    MoEMatmulsToMmaOptions mma;
    mma.precision = options.precision;
    func.addPass(createMoEMatmulsToMma(mma));
  }
  MoEExpandGpuKernelsOptions kernels;
  kernels.decodeTokens = options.decodeTokens;
  kernels.wideTokens = options.wideTokens;
  kernels.gpuConfig = options.gpuConfig;
  kernels.arch = options.arch;
  kernels.atomicCombine = options.atomicCombine;
  func.addPass(createMoEExpandGpuKernels(kernels));
  func.addPass(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createMoEOffloadToGPU());
}

void moe::buildEmulationPipeline(OpPassManager &pm,
                                 const GpuKernelOptions &options) {
  buildOffloadPipeline(pm, options);
  pm.addPass(createMoEGpuLaunchesToLoops());
  // Warp roles as coroutines.
  pm.addPass(createAsyncFuncToAsyncRuntimePass());
  pm.addPass(createAsyncToAsyncRuntimePass());
  // Conversions to bf16 as integer code (rounding to nearest even): the C
  // library may have no such routine.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.nest<func::FuncOp>().addPass(arith::createArithExpandOpsPass(expand));
}

void moe::buildCpuLoweringPipeline(OpPassManager &pm, bool openmp,
                                   int64_t vectorBits, bool emulated) {
  OpPassManager &func = pm.nest<func::FuncOp>();
  MoEVectorizeMatmulsOptions vectorize;
  vectorize.vectorBits = vectorBits;
  func.addPass(createMoEVectorizeMatmuls(vectorize));
  // The rest on every thread where it is large, and its math vectorisable.
  if (openmp)
    func.addPass(createMoEParallelizeLoops());
  if (!emulated)
    func.addPass(createMoEReassociateReductions());
  func.addPass(createConvertLinalgToLoopsPass());
  if (!emulated)
    func.addPass(createMoEApproximateMath());
  func.addPass(createForallToParallelLoopPass());
  if (openmp)
    pm.addPass(createConvertSCFToOpenMPPass());
  // The CUDA emulator's warp roles: coroutines, their runtime the moe
  // runtime's scheduler.
  pm.addPass(createConvertAsyncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // bf16 arithmetic in f32, each result rounded back to bf16, and every
  // conversion to bf16 (the math library's results' too) as integer code,
  // rounding to nearest even: x86-64 without AVX-512 BF16 has no instruction
  // for it, and the C library may have no routine.
  std::string bf16 = "bf16";
  arith::ArithEmulateUnsupportedFloatsOptions emulate;
  emulate.sourceTypeStrs = llvm::ArrayRef<std::string>(bf16);
  pm.addPass(arith::createArithEmulateUnsupportedFloats(emulate));
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  // Buffers from the artifact's allocator (memref's generic allocation
  // functions, aligned: a returned buffer starts where its data does, so the
  // runtime can hand it to the caller instead of copying it).
  FinalizeMemRefToLLVMConversionPassOptions memref;
  memref.useAlignedAlloc = true;
  memref.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memref));
  pm.addPass(createConvertSCFToCFPass());
  // LLVM's intrinsics first (fma, floor: instructions), the C library for
  // what has none.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(arith::createArithExpandOpsPass(expand));
  ConvertVectorToLLVMPassOptions vector;
  vector.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vector));
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memref));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createMoEGpuEmulatorAsyncRuntime());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void moe::buildNvptxPipeline(OpPassManager &pm, llvm::StringRef chip,
                             llvm::StringRef features,
                             llvm::StringRef libdevice) {
  GpuNVVMAttachTargetOptions target;
  target.chip = chip.str();
  target.features = features.str();
  target.optLevel = 3;
  std::string library = libdevice.str();
  if (!library.empty())
    target.linkLibs = llvm::ArrayRef<std::string>(library);
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createMoEGpuToPtx());
  kernels.addPass(createConvertNVGPUToNVVMPass());
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(arith::createArithExpandOpsPass());
  kernels.addPass(createConvertSCFToCFPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  // NVVM ops that are PTX in inline assembly (setmaxnreg).
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  // The host: buffers from the runtime's device allocator (memref's generic
  // allocation functions), launches through the runtime.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(arith::createArithExpandOpsPass());
  FinalizeMemRefToLLVMConversionPassOptions memref;
  memref.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memref));
  pm.addPass(createConvertSCFToCFPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void moe::registerPipelines() {
  PassPipelineRegistration<CpuPipelineOptions>(
      "moe-cpu-pipeline",
      "The CPU target's passes on a raised module: MoE layers and ONNX ops to "
      "bufferized loops, then the LLVM dialect (constants stay in the "
      "module; --emit=lib moves the large ones to the weights file)",
      [](OpPassManager &pm, const CpuPipelineOptions &options) {
        CpuKernelOptions kernels{options.vectorBits, options.bf16Weights};
        buildTensorPipeline(pm, nullptr, &kernels);
        buildCpuLoweringPipeline(pm, options.openmp, options.vectorBits);
      });
  PassPipelineRegistration<CudaPipelineOptions>(
      "moe-cuda-pipeline",
      "The CUDA target's device mapping on a raised module: MoE layers as "
      "their own kernels, every other op in gpu.launch kernels on bufferized "
      "code (with emulate=true, the kernels then as loops on the host)",
      [](OpPassManager &pm, const CudaPipelineOptions &options) {
        GpuKernelOptions kernels{options.arch,         options.precision,
                                 options.decodeTokens, options.wideTokens,
                                 options.gpuConfig,    options.atomicCombine};
        buildTensorPipeline(pm, &kernels);
        if (options.emulate)
          buildEmulationPipeline(pm, kernels);
        else
          buildOffloadPipeline(pm, kernels);
      });
}
