// One warpgroup multiplies A [64, 64] by B^T (B [16, 64]) on wgmma: each
// thread converts its share of both to bf16 and stores them to shared
// memory in the 128-byte swizzled K-major layout (element (r, k) of a
// 64-wide row at r * 64 + 8 ((k / 8) ^ (r % 8)) + k % 8), fences them for
// the async proxy, and four m64n16k16 steps accumulate D, the descriptors'
// start advancing 32 bytes along K each step; thread t's register i is
// element WgmmaM64NK16::d(t, i) of D.
!sh_a = memref<4096xbf16, #gpu.address_space<workgroup>>
!sh_b = memref<1024xbf16, #gpu.address_space<workgroup>>
func.func @main_graph(%a: memref<64x64xf32>, %b: memref<16x64xf32>) -> memref<64x16xf32> {
  %out = memref.alloc() : memref<64x16xf32>
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1)
             workgroup(%sa : !sh_a, %sb : !sh_b) {
    %c0 = arith.constant 0 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    %c32 = arith.constant 32 : index
    %c64 = arith.constant 64 : index
    // Element (r, k) of a swizzled tile of 64-element rows.
    scf.for %i = %c0 to %c32 step %c1 {
      %l = arith.muli %i, %c128 : index
      %at = arith.addi %tx, %l : index
      %r = arith.divui %at, %c64 : index
      %k = arith.remui %at, %c64 : index
      %chunk = arith.divui %k, %c8 : index
      %in = arith.remui %k, %c8 : index
      %r8 = arith.remui %r, %c8 : index
      %sw = arith.xori %chunk, %r8 : index
      %row = arith.muli %r, %c64 : index
      %s8 = arith.muli %sw, %c8 : index
      %p0 = arith.addi %row, %s8 : index
      %p = arith.addi %p0, %in : index
      %v = memref.load %a[%r, %k] : memref<64x64xf32>
      %h = arith.truncf %v : f32 to bf16
      memref.store %h, %sa[%p] : !sh_a
      %isB = arith.cmpi ult, %r, %c16 : index
      scf.if %isB {
        %w = memref.load %b[%r, %k] : memref<16x64xf32>
        %hw = arith.truncf %w : f32 to bf16
        memref.store %hw, %sb[%p] : !sh_b
      }
    }
    moe_gpu.fence_proxy_async // planted: the fence
    gpu.barrier // planted: the barrier
    %z = arith.constant 0.0 : f32
    moe_gpu.wgmma_fence
    %acc:8 = scf.for %ks = %c0 to %c4 step %c1
        iter_args(%d0 = %z, %d1 = %z, %d2 = %z, %d3 = %z, %d4 = %z, %d5 = %z, %d6 = %z, %d7 = %z)
        -> (f32, f32, f32, f32, f32, f32, f32, f32) {
      %k0 = arith.muli %ks, %c16 : index
      %d:8 = moe_gpu.wgmma %sa[%k0], %sb[%k0], (%d0, %d1, %d2, %d3, %d4, %d5, %d6, %d7)
               {n = 16 : i64, swizzle = 128 : i64, leading = 16 : i64,
                a_stride = 1024 : i64, b_stride = 1024 : i64}
               : !sh_a, !sh_b, (f32, f32, f32, f32, f32, f32, f32, f32)
                 -> (f32, f32, f32, f32, f32, f32, f32, f32)
      moe_gpu.wgmma_commit
      %w:8 = moe_gpu.wgmma_wait 0, %d#0, %d#1, %d#2, %d#3, %d#4, %d#5, %d#6, %d#7
               : (f32, f32, f32, f32, f32, f32, f32, f32)
                 -> (f32, f32, f32, f32, f32, f32, f32, f32)
      scf.yield %w#0, %w#1, %w#2, %w#3, %w#4, %w#5, %w#6, %w#7 : f32, f32, f32, f32, f32, f32, f32, f32
    }
    // Register i of thread t: row 16 (t / 32) + (t % 32) / 4 + 8 ((i / 2) % 2),
    // column 8 (i / 4) + 2 (t % 4) + i % 2.
    %warp = arith.divui %tx, %c32 : index
    %lane = arith.remui %tx, %c32 : index
    %g = arith.divui %lane, %c4 : index
    %q = arith.remui %lane, %c4 : index
    %w16 = arith.muli %warp, %c16 : index
    %row0 = arith.addi %w16, %g : index
    %row1 = arith.addi %row0, %c8 : index
    %col0 = arith.muli %q, %c2 : index
    %col1 = arith.addi %col0, %c1 : index
    %col8 = arith.addi %col0, %c8 : index
    %col9 = arith.addi %col8, %c1 : index
    memref.store %acc#0, %out[%row0, %col0] : memref<64x16xf32>
    memref.store %acc#1, %out[%row0, %col1] : memref<64x16xf32>
    memref.store %acc#2, %out[%row1, %col0] : memref<64x16xf32>
    memref.store %acc#3, %out[%row1, %col1] : memref<64x16xf32>
    memref.store %acc#4, %out[%row0, %col8] : memref<64x16xf32>
    memref.store %acc#5, %out[%row0, %col9] : memref<64x16xf32>
    memref.store %acc#6, %out[%row1, %col8] : memref<64x16xf32>
    memref.store %acc#7, %out[%row1, %col9] : memref<64x16xf32>
    gpu.terminator
  }
  return %out : memref<64x16xf32>
}
