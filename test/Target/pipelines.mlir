// The targets' pipelines, registered with moe-opt (moe/Target/Pipelines.h): the
// CUDA target's device mapping puts a MoE layer in its kernels (routing, align,
// the two decode kernels for up to 16 tokens or the two grouped GEMMs on tensor
// cores, combine: five a run) on bufferized code, with decode-tokens=0 the GEMMs
// alone, on mma.sync for arch=sm_80 and on wgmma for sm_90a (the default, whose
// GEMMs come for 128-row and 64-row tiles: nine launches in all); with
// emulate=true they become loops on the host; the CPU pipeline ends in the LLVM
// dialect, its constant expert weights packed into panels of its vector width (8
// f32 by default; 16 with vector-bits=512, in bf16 with bf16-weights, where the down
// bank's 40 rows are no multiple of 16 and stay as they are).
// RUN: moe-opt %s --moe-cuda-pipeline=precision=bf16 | FileCheck %s --check-prefix=CUDA
// RUN: moe-opt %s --moe-cuda-pipeline="precision=bf16 decode-tokens=0" | FileCheck %s --check-prefix=GEMMS
// RUN: moe-opt %s --moe-cuda-pipeline="precision=bf16 arch=sm_80" | FileCheck %s --check-prefix=MMA
// RUN: moe-opt %s --moe-cuda-pipeline=precision=bf16 | FileCheck %s --check-prefix=WGMMA
// RUN: moe-opt %s --moe-cuda-pipeline="precision=fp32 emulate=true" | FileCheck %s --check-prefix=EMU
// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --check-prefix=CPU
// RUN: moe-opt %s --moe-cpu-pipeline=openmp=false | FileCheck %s --check-prefix=CPU
// RUN: moe-opt %s --moe-cpu-pipeline | FileCheck %s --check-prefix=PANELS
// RUN: moe-opt %s --moe-cpu-pipeline="vector-bits=512 bf16-weights" | FileCheck %s --check-prefix=WIDE

// CUDA-LABEL: func.func @main_graph(%arg0: memref<?x40xf32>, %arg1: memref<?x3xf32>) -> memref<?x40xf32>
// CUDA-COUNT-9: gpu.launch
// CUDA-NOT:     gpu.launch
// GEMMS-COUNT-7: gpu.launch
// GEMMS-NOT:     gpu.launch
// MMA:          moe_gpu.mma_sync
// MMA-NOT:      moe_gpu.wgmma
// WGMMA:        moe_gpu.wgmma
// WGMMA-NOT:    moe_gpu.mma_sync
// EMU-NOT:      gpu.launch
// EMU:          scf.parallel
// EMU-NOT:      gpu.launch
// CPU-NOT:      func.func
// CPU:          llvm.func @main_graph
// CPU-NOT:      func.func
// PANELS-DAG:   llvm.mlir.global private constant @__constant_3x18x40x8xf32
// PANELS-DAG:   llvm.mlir.global private constant @__constant_3x5x72x8xf32
// PANELS:       llvm.intr.fmuladd({{.*}}) : (vector<8xf32>, vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// WIDE-DAG:     llvm.mlir.global private constant @__constant_3x9x40x16xbf16
// WIDE-DAG:     llvm.mlir.global private constant @__constant_40x72xf32
// WIDE:         llvm.intr.fmuladd({{.*}}) : (vector<16xf32>, vector<16xf32>, vector<16xf32>) -> vector<16xf32>
func.func @main_graph(%x: tensor<?x40xf32>, %logits: tensor<?x3xf32>) -> tensor<?x40xf32> {
  %w1 = arith.constant dense<0.01> : tensor<3x144x40xf32>
  %w2 = arith.constant dense<0.02> : tensor<3x40x72xf32>
  %y = moe.layer %x, %logits gate_up %w1 down %w2
      {activation = #moe.activation<silu, gated = concatenated>,
       routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : (tensor<?x40xf32>, tensor<?x3xf32>, tensor<3x144x40xf32>, tensor<3x40x72xf32>) -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}
