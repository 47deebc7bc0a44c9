// RUN: moe-opt %s --moe-expand-gpu-kernels=atomic-combine=true --verify-diagnostics

// Atomic adds of f32 need an f32 output.
func.func @f16(%x: memref<?x32xf16>, %ids: memref<?x2xi32>, %w: memref<?x2xf16>,
               %w1: memref<4x64x32xf16>, %w2: memref<4x32x64xf16>,
               %off: memref<5xi32>, %perm: memref<?xi32>, %y: memref<?x32xf16>) {
  // expected-error @+1 {{atomic-combine adds the expert rows into an f32 output; this layer's is 'f16'}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
      offsets(%off) permutation(%perm) result(%y)
      {activation = #moe.activation<silu>, compute = f16}
      : memref<?x32xf16>, memref<?x2xi32>, memref<?x2xf16>, memref<4x64x32xf16>,
        memref<4x32x64xf16>, memref<5xi32>, memref<?xi32>, memref<?x32xf16>
  return
}
