// RUN: moe-opt %s --moe-expand-gpu-kernels="arch=sm_90a decode-tokens=16" | FileCheck %s
// RUN: moe-opt %s --moe-expand-gpu-kernels=arch=sm_80 --verify-diagnostics -o /dev/null

// A layer whose weights are tiles (H 96, I 64: gate/up's tiles 1 x 2 a source,
// down's 2 x 1). sm_90a's warp-specialised GEMMs keep a full and an empty
// mbarrier per stage in static shared memory, which thread 0 initialises (full:
// the producer's 128 arrivals and thread 0's arrival expecting the tiles' bytes;
// empty: the consumers' threads) and fences for the async proxy, through which
// the TMA unit completes them. The producer takes B by bulk copies: thread 0
// arrives on the stage's full barrier expecting 8 KiB a tile (16 KiB for gate and
// up, one tile each; 16 KiB for down, whose 128-column blocks take two tiles,
// 4096 elements apart in the stage) and copies each source's tiles for the
// block's columns and the K step, 8 KiB each, from the tiles' innermost
// dimension; gate/up's A, stored, needs no cp.async (every producer thread fences
// and arrives at once), down's A comes by cp.async (arrivals a step later, once
// the copies have landed). There is no cp.async of B. The consumers wait for the
// full stage before their wgmmas and free it on the empty barrier. The GEMMs come
// for 128-row tiles (two consumer warpgroups, 384 threads, registers rebalanced
// with setmaxnreg) and for 64-row tiles (one, 256 threads). The decode kernels
// read the same tiles with 16-byte loads.
// CHECK-LABEL: func.func @tiled
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}})
// CHECK:         moe_gpu.load %{{.*}}[%{{.*}}, %c0{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<3x2x1x2x4096xbf16>, vector<8xbf16>
// CHECK:         moe_gpu.load %{{.*}}[%{{.*}}, %c1{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<3x2x1x2x4096xbf16>, vector<8xbf16>
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}})
// CHECK:         moe_gpu.load %{{.*}} : memref<3x1x2x1x4096xbf16>, vector<8xbf16>
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c384{{.*}}) dynamic_shared_memory_size %c132096_i32 workgroup(%[[BARS:.*]] : memref<8xi64, #gpu.address_space<workgroup>>) {
// CHECK:         moe_gpu.mbarrier_init %[[BARS]][%c0{{.*}}], 129 : memref<8xi64, #gpu.address_space<workgroup>>
// CHECK:         moe_gpu.mbarrier_init %[[BARS]][%c4{{.*}}], 256 : memref<8xi64, #gpu.address_space<workgroup>>
// CHECK:         moe_gpu.fence_proxy_async
// CHECK:         scf.if
// CHECK-NEXT:      nvvm.setmaxregister  decrease 64
// CHECK:           scf.for
// CHECK:             moe_gpu.mbarrier_wait %[[BARS]][%{{.*}}], %{{.*}} : memref<8xi64, #gpu.address_space<workgroup>>
// CHECK:             moe_gpu.mbarrier_arrive %[[BARS]][%[[STAGE:.*]]] {tx_bytes = 16384 : i64}
// CHECK:             moe_gpu.bulk_copy %{{.*}}[%[[STAGE]], %c0{{.*}}], %{{.*}}[%{{.*}}, %c0{{.*}}, %{{.*}}, %{{.*}}, %c0{{.*}}], %[[BARS]][%[[STAGE]]] {bytes = 8192 : i64} : memref<4x4096xbf16, #gpu.address_space<workgroup>>, memref<3x2x1x2x4096xbf16>
// CHECK:             moe_gpu.bulk_copy %{{.*}}[%[[STAGE]], %c0{{.*}}], %{{.*}}[%{{.*}}, %c1{{.*}}, %{{.*}}, %{{.*}}, %c0{{.*}}], %[[BARS]][%[[STAGE]]] {bytes = 8192 : i64}
// CHECK-NOT:         nvgpu.device_async
// CHECK:             moe_gpu.fence_proxy_async
// CHECK-NEXT:        moe_gpu.mbarrier_arrive %[[BARS]][%[[STAGE]]] :
// CHECK:         } else {
// CHECK-NEXT:      nvvm.setmaxregister  increase 216
// CHECK-NOT:       gpu.barrier
// CHECK:             moe_gpu.mbarrier_wait %[[BARS]]
// CHECK:             moe_gpu.wgmma_fence
// CHECK:             moe_gpu.wgmma {{.*}} n = 64 : i64
// CHECK:             moe_gpu.wgmma_wait 1,
// CHECK:             moe_gpu.mbarrier_arrive %[[BARS]]
// CHECK:           moe_gpu.wgmma_wait 0,
// CHECK:           math.exp
// CHECK:         } {moe_gpu.roles}
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c384{{.*}}) dynamic_shared_memory_size %c132096_i32{{.*}} workgroup(%{{.*}} : memref<8xi64, #gpu.address_space<workgroup>>) {
// CHECK:             moe_gpu.mbarrier_arrive %{{.*}} {tx_bytes = 16384 : i64}
// CHECK:             moe_gpu.bulk_copy %{{.*}}[%{{.*}}, %c0{{.*}}], %{{.*}}[%{{.*}}, %c0{{.*}}, %[[COLUMN:.*]], %{{.*}}, %c0{{.*}}], %{{.*}} {bytes = 8192 : i64} : memref<4x8192xbf16, #gpu.address_space<workgroup>>, memref<3x1x2x1x4096xbf16>
// CHECK:             %[[NEXT:.*]] = arith.addi %[[COLUMN]], %c1{{.*}} : index
// CHECK:             moe_gpu.bulk_copy %{{.*}}[%{{.*}}, %c4096], %{{.*}}[%{{.*}}, %c0{{.*}}, %[[NEXT]], %{{.*}}, %c0{{.*}}], %{{.*}} {bytes = 8192 : i64} : memref<4x8192xbf16, #gpu.address_space<workgroup>>, memref<3x1x2x1x4096xbf16>
// CHECK:             nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// CHECK:             moe_gpu.fence_proxy_async
// CHECK-NEXT:        moe_gpu.mbarrier_arrive
// CHECK:           moe_gpu.wgmma {{.*}} n = 128 : i64
// CHECK:         } {moe_gpu.roles}
// CHECK-NEXT:    gpu.terminator
// CHECK-NEXT:  }
// CHECK-NEXT:  } else {
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) dynamic_shared_memory_size %c99328_i32 workgroup(%{{.*}} : memref<8xi64, #gpu.address_space<workgroup>>) {
// CHECK:         moe_gpu.mbarrier_init %{{.*}}, 129
// CHECK:         moe_gpu.mbarrier_init %{{.*}}, 128
// CHECK:             moe_gpu.mbarrier_arrive %{{.*}} {tx_bytes = 16384 : i64}
// CHECK:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) dynamic_shared_memory_size %c99328_i32{{.*}} workgroup(%{{.*}} : memref<8xi64, #gpu.address_space<workgroup>>) {
// CHECK:             moe_gpu.bulk_copy %{{.*}}[%{{.*}}, %c4096]
// CHECK:           moe_gpu.wgmma {{.*}} n = 128 : i64
func.func @tiled(%x: memref<?x96xf32>, %ids: memref<?x2xi32>, %w: memref<?x2xf32>,
                 %w1: memref<3x2x1x2x4096xbf16>, %w2: memref<3x1x2x1x4096xbf16>,
                 %off: memref<4xi32>, %perm: memref<?xi32>, %y: memref<?x96xf32>) {
  // expected-error @+1 {{weights tiled for sm_90a's bulk copies, in a 'bf16' layer, cannot run on sm_80's kernels}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
      offsets(%off) permutation(%perm) result(%y)
      {activation = #moe.activation<silu, gated = interleaved>, compute = bf16,
       intermediate = 64 : i64}
      : memref<?x96xf32>, memref<?x2xi32>, memref<?x2xf32>,
        memref<3x2x1x2x4096xbf16>, memref<3x1x2x1x4096xbf16>, memref<4xi32>,
        memref<?xi32>, memref<?x96xf32>
  return
}
