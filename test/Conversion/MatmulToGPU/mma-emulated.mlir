// Under the CUDA emulator a kernel that runs mma.sync is split at it: the
// threads run the part before it, each warp's mma.sync is a call through the
// runtime's moe_emu_api table on its 32 lanes' registers, and the loop that
// holds it runs once per block, its accumulators kept per thread.
// RUN: moe-opt %s --pass-pipeline="builtin.module(func.func(moe-matmuls-to-mma{precision=bf16}), moe-gpu-launches-to-loops)" | FileCheck %s

// CHECK:       llvm.mlir.global external @moe_emu_api() {{.*}} : !llvm.array<{{[0-9]+}} x ptr>
// CHECK-LABEL: func.func @matmul
// CHECK-NOT:   gpu.launch
// The grid's blocks in parallel, each with its per-thread storage; each block
// begins with a call of the runtime (slot 3), then the threads run their first
// part.
// CHECK:       scf.parallel
// CHECK:       memref.alloc() : memref<128xf32>
// CHECK:       llvm.getelementptr %{{.*}}[3]
// CHECK:       scf.for %{{.*}} = %{{.*}} to %c128
// The loop along K, once per block; in it the four warps' mma.sync per tile
// (slot 0: moe_emu_mma_m16n8k16, bf16).
// CHECK:       scf.for %{{.*}} = %{{.*}} to %c32{{.*}} step %c16
// CHECK-COUNT-4: llvm.call %{{.*}}(%c0_i32{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : !llvm.ptr, (i32, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK-NOT:   llvm.inline_asm
// CHECK:       memref.dealloc
func.func @matmul(%a: memref<?x32xf32>, %b: memref<32x64xf32>, %c: memref<?x64xf32>) {
  linalg.matmul ins(%a, %b : memref<?x32xf32>, memref<32x64xf32>) outs(%c : memref<?x64xf32>)
  return
}
