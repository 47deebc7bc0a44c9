// RUN: moe-opt %s --split-input-file --verify-diagnostics \
// RUN:   --pass-pipeline='builtin.module(gpu.module(moe-gpu-to-ptx))' | FileCheck %s

!tile = memref<2x4096xbf16, #gpu.address_space<workgroup>>
!small = memref<64xbf16, #gpu.address_space<workgroup>>

// A swizzled wgmma: each descriptor is the operand's shared address (bits 4
// to 17, in 16-byte units) ORed with the layout's constant bits, the
// instruction ties D to C with scale-d 1, and both workgroup buffers it reads
// are aligned to the 128-byte swizzle's 1024-byte span; a buffer no wgmma
// reads keeps its alignment.
// CHECK-LABEL: gpu.func @swizzled
// CHECK-SAME:    workgroup(%[[A:arg[0-9]+]] : memref<2x4096xbf16, #gpu.address_space<workgroup>> {llvm.align = 1024 : i64},
// CHECK-SAME:    %[[B:arg[0-9]+]] : memref<2x4096xbf16, #gpu.address_space<workgroup>> {llvm.align = 1024 : i64},
// CHECK-SAME:    %{{.*}} : memref<64xbf16, #gpu.address_space<workgroup>>)
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "wgmma.fence.sync.aligned;", ""
// CHECK:         memref.extract_aligned_pointer_as_index %[[A]]
// CHECK:         %[[MASK:.*]] = arith.andi %{{.*}}, %c262143_i64
// CHECK:         %[[START:.*]] = arith.shrui %[[MASK]], %c4_i64
// 1 << 62 (128-byte swizzle) | (1024 >> 4) << 32 (stride) | (16 >> 4) << 16:
// CHECK:         %[[DA:.*]] = arith.ori %[[START]], %c4611686293305360384_i64
// CHECK:         memref.extract_aligned_pointer_as_index %[[B]]
// CHECK:         %[[DB:.*]] = arith.ori %{{.*}}, %c4611686293305360384_i64
// CHECK:         %[[R:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "{\0A.reg .pred p;\0Asetp.ne.b32 p, $10, 0;\0Awgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {$0,$1,$2,$3}, $8, $9, p, 1, 1, 0, 0;\0A}", "=f,=f,=f,=f,0,1,2,3,l,l,r" %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[DA]], %[[DB]], %c1_i32
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "wgmma.commit_group.sync.aligned;", ""
// CHECK:         %[[W:.*]] = llvm.inline_asm has_side_effects asm_dialect = att "wgmma.wait_group.sync.aligned 1;", "=f,=f,=f,=f,0,1,2,3"
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "fence.proxy.async.shared::cta;", ""
// CHECK-NOT:     moe_gpu.
gpu.module @kernels {
  gpu.func @swizzled(%out: memref<4xf32>)
      workgroup(%a: !tile, %b: !tile, %other: !small) kernel {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %z = arith.constant 0.0 : f32
    moe_gpu.fence_proxy_async
    moe_gpu.wgmma_fence
    %d:4 = moe_gpu.wgmma %a[%c1, %c0], %b[%c0, %c0], (%z, %z, %z, %z)
             {n = 8 : i64, swizzle = 128 : i64, leading = 16 : i64,
              a_stride = 1024 : i64, b_stride = 1024 : i64}
             : !tile, !tile, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    moe_gpu.wgmma_commit
    %r:4 = moe_gpu.wgmma_wait 1, %d#0, %d#1, %d#2, %d#3
             : (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    moe_gpu.fence_proxy_async
    memref.store %r#0, %out[%c0] : memref<4xf32>
    gpu.return
  }
}

// -----

// Without a swizzle no buffer needs aligning: the layout is 16-byte core
// matrices.
// CHECK-LABEL: gpu.func @interleaved
// CHECK-SAME:    workgroup(%{{.*}} : memref<64xf16, #gpu.address_space<workgroup>>)
// CHECK:         wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16
gpu.module @kernels {
  gpu.func @interleaved(%out: memref<4xf32>)
      workgroup(%a: memref<64xf16, #gpu.address_space<workgroup>>) kernel {
    %c0 = arith.constant 0 : index
    %z = arith.constant 0.0 : f32
    %d:4 = moe_gpu.wgmma %a[%c0], %a[%c0], (%z, %z, %z, %z)
             {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64,
              a_stride = 256 : i64, b_stride = 256 : i64}
             : memref<64xf16, #gpu.address_space<workgroup>>,
               memref<64xf16, #gpu.address_space<workgroup>>,
               (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    %r:4 = moe_gpu.wgmma_wait 0, %d#0, %d#1, %d#2, %d#3
             : (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    memref.store %r#0, %out[%c0] : memref<4xf32>
    gpu.return
  }
}

// -----

// A swizzled operand that is not a workgroup buffer of the kernel cannot be
// aligned.
gpu.module @kernels {
  gpu.func @argument(%a: memref<64xbf16, #gpu.address_space<workgroup>>,
                     %out: memref<4xf32>) kernel {
    %c0 = arith.constant 0 : index
    %z = arith.constant 0.0 : f32
    // expected-error @+1 {{reads a swizzled operand that is not a view of a workgroup buffer of its kernel, which could not be aligned to 512 bytes}}
    %d:4 = moe_gpu.wgmma %a[%c0], %a[%c0], (%z, %z, %z, %z)
             {n = 8 : i64, swizzle = 64 : i64, leading = 16 : i64,
              a_stride = 512 : i64, b_stride = 512 : i64}
             : memref<64xbf16, #gpu.address_space<workgroup>>,
               memref<64xbf16, #gpu.address_space<workgroup>>,
               (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    %r:4 = moe_gpu.wgmma_wait 0, %d#0, %d#1, %d#2, %d#3
             : (f32, f32, f32, f32) -> (f32, f32, f32, f32)
    memref.store %r#0, %out[%c0] : memref<4xf32>
    gpu.return
  }
}
