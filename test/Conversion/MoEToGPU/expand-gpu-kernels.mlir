// RUN: moe-opt %s --moe-expand-gpu-kernels --split-input-file | FileCheck %s
// RUN: moe-opt %s --moe-expand-gpu-kernels=decode-tokens=0 --split-input-file | FileCheck %s --check-prefix=GEMMS
// RUN: moe-opt %s --moe-expand-gpu-kernels=arch=sm_90a --split-input-file | FileCheck %s --check-prefix=HOPPER
// RUN: moe-opt %s --moe-expand-gpu-kernels=atomic-combine=true --split-input-file | FileCheck %s --check-prefix=ATOMIC
// RUN: moe-opt %s --moe-expand-gpu-kernels=decode-tokens=16 --split-input-file | FileCheck %s --check-prefix=SIXTEEN
// RUN: echo '{"device": "NVIDIA H200", "moe_layers": [{"experts": 4, "k": 2, "hidden": 32, "intermediate": 64, "decode_tokens": 24, "wide_tokens": 40}, {"experts": 8, "k": 2, "hidden": 32, "intermediate": 64, "decode_tokens": 3}]}' > %t.json
// RUN: moe-opt %s --moe-expand-gpu-kernels="arch=sm_90a gpu-config=%t.json" --split-input-file | FileCheck %s --check-prefix=HOPPER-TUNED
// RUN: moe-opt %s --moe-expand-gpu-kernels="arch=sm_90a gpu-config=%t.json wide-tokens=7" --split-input-file | FileCheck %s --check-prefix=HOPPER-SEVEN
// RUN: moe-opt %s --moe-expand-gpu-kernels=gpu-config=%t.json --split-input-file | FileCheck %s --check-prefix=TUNED
// RUN: moe-opt %s --moe-expand-gpu-kernels="gpu-config=%t.json decode-tokens=5" --split-input-file | FileCheck %s --check-prefix=FIVE

// bf16: four launches. align is one block of 1024 threads with the per-expert
// counts, bases and first tiles in shared memory, counting by ballots and
// scanning by shuffles (counts and tiles, 5 steps each); the tile table has
// ceil(T k / 32) + min(E, T k) entries, and thread 0 writes how many are in use.
// The GEMMs are persistent kernels: as many blocks as the device holds
// (moe_gpu.resident_grid, at most the entries times the column tiles), each
// taking the work items blockIdx.x, + gridDim.x, ... up to the entries in use
// times the column tiles, the entry of an item its index modulo the entries in
// use, and a barrier before each item's copies. They stage A (32 x
// 32, rows padded to 40) and each B source (64 x 32) in shared memory, B by
// 16-byte cp.async (8 bf16, zero-filled past the weight), and run mma.sync
// from ldmatrix.x4 fragments: gate and up, two sources, in the first, one in
// the second, whose A (the bf16 intermediate rows) comes by cp.async too.
// combine is a thread per output element. The scratch buffers are freed after
// the last kernel.
// CHECK-LABEL: func.func @bf16
// CHECK:      %[[A:.*]] = arith.muli %{{.*}}, %c2 : index
// CHECK:      %[[NONEMPTY:.*]] = arith.minui %[[A]], %c4
// CHECK:      %[[TILES:.*]] = arith.ceildivui %[[A]], %c32
// CHECK:      %[[BOUND:.*]] = arith.addi %[[TILES]], %[[NONEMPTY]]
// CHECK:      %[[GRID:.*]] = arith.maxui %[[BOUND]], %c1
// CHECK-COUNT-2: memref.alloc(%[[GRID]]) : memref<?xi32>
// CHECK:      %[[USED:.*]] = memref.alloc() : memref<1xi32>
// CHECK:      memref.alloc(%[[A]]) : memref<?x64xbf16>
// CHECK:      memref.alloc(%[[A]]) : memref<?x32xf32>
// CHECK:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c1024{{.*}}) workgroup({{.*}} : memref<5xi32, #gpu.address_space<workgroup>>, {{.*}} : memref<5xi32, #gpu.address_space<workgroup>>, {{.*}} : memref<5xi32, #gpu.address_space<workgroup>>) {
// CHECK:        nvvm.vote.ballot.sync
// CHECK:        llvm.intr.ctpop
// CHECK:        gpu.barrier
// CHECK-COUNT-10: gpu.shuffle  up
// CHECK:        gpu.shuffle  idx
// CHECK:        memref.store %{{.*}}, %[[USED]][%{{.*}}] : memref<1xi32>
// CHECK:        gpu.barrier
// CHECK:        nvvm.vote.ballot.sync
// CHECK:      %[[WORK:.*]] = arith.muli %[[GRID]], %c1{{.*}} : index
// CHECK:      %[[PERSISTENT:.*]] = moe_gpu.resident_grid %[[WORK]]
// CHECK:      gpu.launch blocks(%[[BX:[^,]*]], {{.*}}) in (%[[GX:[^ ]*]] = %[[PERSISTENT]], {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup({{.*}} : memref<3x32x40xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<3x64x40xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<3x64x40xbf16, #gpu.address_space<workgroup>>)
// CHECK:        %[[INUSE:.*]] = memref.load %[[USED]]
// CHECK:        %[[N:.*]] = arith.index_cast %[[INUSE]] : i32 to index
// CHECK:        %[[ITEMS:.*]] = arith.muli %[[N]], %c1{{.*}} : index
// CHECK:        scf.for %[[ITEM:.*]] = %[[BX]] to %[[ITEMS]] step %[[GX]] iter_args(
// CHECK:          %[[ENTRY:.*]] = arith.remui %[[ITEM]], %[[N]] : index
// CHECK:          memref.load %{{.*}}[%[[ENTRY]]] : memref<?xi32>
// CHECK:          gpu.barrier
// CHECK:        nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1} : memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>> to memref<3x64x40xbf16, #gpu.address_space<workgroup>>
// CHECK:        nvgpu.device_async_wait
// CHECK:        gpu.barrier
// CHECK:        nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false}
// CHECK-COUNT-4: moe_gpu.mma_sync
// CHECK:        math.exp
// CHECK:      moe_gpu.resident_grid
// CHECK:      gpu.launch blocks({{.*}}) in ({{.*}} = %{{.*}}, {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup({{.*}} : memref<3x32x40xbf16, #gpu.address_space<workgroup>>, {{.*}} : memref<3x64x40xbf16, #gpu.address_space<workgroup>>)
// CHECK:        nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1} : memref<?x64xbf16> to memref<3x32x40xbf16, #gpu.address_space<workgroup>>
// CHECK:        nvgpu.device_async_copy {{.*}} : memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>> to memref<3x64x40xbf16, #gpu.address_space<workgroup>>
// CHECK:        moe_gpu.mma_sync
// CHECK:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}})
// CHECK-COUNT-5: memref.dealloc
// CHECK-NOT:  moe_gpu.routed_ffn
// sm_90a: the tile table's tiles are 128 rows above the wide-tile bound (by
// default 64 E / k = 128 tokens, where the experts average more than 64 rows; the
// tuning file's wide_tokens for the shape, 40; wide-tokens=7 over both), else 64;
// the table has entries for 64-row tiles. Past the
// decode bound the GEMMs for the call's rows, warp-specialised: a producer
// warpgroup and a consumer warpgroup per 64 rows (384 threads with 128-row tiles,
// which rebalance registers with setmaxnreg; 256 with 64), the branches of a
// moe_gpu.roles conditional on the warpgroup lane 0 holds, synchronised by a full
// and an empty mbarrier per stage (counts: the producer's 128 threads, the
// consumers'). The tiles' rows are 64 bf16 (one 128-byte swizzle span), four stages
// in dynamic shared memory (4 x 24 KiB with gate and up, 4 x 16 KiB with one
// source, 4 x 32 KiB with 128 rows, and 1 KiB more), views from its first address
// aligned to 1024 bytes. The producer waits for an empty stage, copies its tiles
// by cp.async and arrives on the stage's full barrier a step later, once all but
// the next group have landed and its writes are fenced for the async proxy (the
// last stage after a wait for all). The consumers wait for a full stage, issue
// four k16 steps of a wgmma m64n64k16 per source (N 64: this layer's projections
// have no more columns), consumer warpgroup w reading A from row 64 w on, wait
// for all but that group and free the stage of the step before; after an item's
// steps, a wait for all and the epilogue. No block barrier in either role.
// HOPPER-LABEL: func.func @bf16
// HOPPER:      %[[T:.*]] = memref.dim %arg0, %c0
// HOPPER:      %[[A:.*]] = arith.muli %[[T]], %c2 : index
// HOPPER:      %[[WIDE:.*]] = arith.cmpi slt, %c128, %[[T]] : index
// HOPPER:      %[[ROWS:.*]] = arith.select %[[WIDE]], %c128{{.*}}, %c64 : index
// HOPPER:      arith.ceildivui %[[A]], %c64
// HOPPER:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c1024{{.*}})
// HOPPER:      %[[ROWS32:.*]] = arith.index_cast %[[ROWS]] : index to i32
// HOPPER:      arith.ceildivui %{{.*}}, %[[ROWS32]] : i32
// HOPPER:      scf.if %[[WIDE]] {
// HOPPER-TUNED-LABEL: func.func @bf16
// HOPPER-TUNED:       arith.cmpi slt, %c40, %{{.*}} : index
// HOPPER-SEVEN-LABEL: func.func @bf16
// HOPPER-SEVEN:       arith.cmpi slt, %c7, %{{.*}} : index
// HOPPER:      gpu.launch {{.*}} threads(%[[TID:[^,]*]], {{.*}}) in ({{.*}} = %c384{{.*}}) dynamic_shared_memory_size %c132096_i32 workgroup(%[[BARS:.*]] : memref<8xi64, #gpu.address_space<workgroup>>) {
// HOPPER:        memref.view {{.*}} to memref<4x8192xbf16, #gpu.address_space<workgroup>>
// HOPPER-COUNT-2: memref.view {{.*}} to memref<4x4096xbf16, #gpu.address_space<workgroup>>
// HOPPER:        moe_gpu.mbarrier_init %[[BARS]][%c0{{.*}}], 128
// HOPPER:        moe_gpu.mbarrier_init %[[BARS]][%c4{{.*}}], 256
// HOPPER:        moe_gpu.fence_proxy_async
// HOPPER-NEXT:   }
// HOPPER-NEXT:   gpu.barrier
// HOPPER:        %[[WG:.*]], %{{.*}} = gpu.shuffle  idx %{{.*}}, %c0_i32, %c32_i32 : i32
// HOPPER:        %[[PRODUCER:.*]] = arith.cmpi eq, %[[WG]], %{{.*}} : i32
// HOPPER:        scf.if %[[PRODUCER]] {
// HOPPER-NEXT:     nvvm.setmaxregister  decrease 64
// HOPPER:          moe_gpu.mbarrier_wait %[[BARS]]
// HOPPER:          nvgpu.device_async_copy {{.*}} : memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>> to memref<4x4096xbf16, #gpu.address_space<workgroup>>
// HOPPER:          nvgpu.device_async_create_group
// HOPPER:          nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// HOPPER:          moe_gpu.fence_proxy_async
// HOPPER-NEXT:     moe_gpu.mbarrier_arrive %[[BARS]]
// HOPPER:          nvgpu.device_async_wait %{{.*}} {numGroups = 0 : i32}
// HOPPER:          moe_gpu.fence_proxy_async
// HOPPER-NEXT:     moe_gpu.mbarrier_arrive %[[BARS]]
// HOPPER:        } else {
// HOPPER-NEXT:     nvvm.setmaxregister  increase 216
// HOPPER-NEXT:     %{{.*}} = arith.constant 128 : index
// HOPPER-NEXT:     %[[CTID:.*]] = arith.subi %[[TID]], %{{.*}} : index
// HOPPER-NOT:      gpu.barrier
// HOPPER:          moe_gpu.mbarrier_wait %[[BARS]]
// HOPPER:          %[[CWG:.*]] = arith.divui %[[CTID]], %c128{{.*}} : index
// HOPPER:          %[[ROW0:.*]] = arith.muli %[[CWG]], %c64{{.*}} : index
// HOPPER:          %[[AT:.*]] = arith.muli %[[ROW0]], %c64{{.*}} : index
// HOPPER-NEXT:     moe_gpu.wgmma_fence
// HOPPER:          moe_gpu.wgmma %{{.*}}[%{{.*}}, %[[AT]]], %{{.*}}[%{{.*}}, %c0{{.*}}], {{.*}} {a_stride = 1024 : i64, b_stride = 1024 : i64, leading = 16 : i64, n = 64 : i64, swizzle = 128 : i64}
// HOPPER-COUNT-7: moe_gpu.wgmma %
// HOPPER:          moe_gpu.wgmma_commit
// HOPPER-NEXT:     moe_gpu.wgmma_wait 1
// HOPPER-NOT:      gpu.barrier
// HOPPER:          moe_gpu.mbarrier_arrive %[[BARS]]
// HOPPER:          moe_gpu.wgmma_wait 0
// HOPPER:          math.exp
// HOPPER:        } {moe_gpu.roles}
// HOPPER:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c384{{.*}}) dynamic_shared_memory_size %c99328_i32
// HOPPER:      } else {
// HOPPER:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) dynamic_shared_memory_size %c99328_i32
// HOPPER-NOT:    nvvm.setmaxregister
// HOPPER:        } {moe_gpu.roles}
// HOPPER:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}}) dynamic_shared_memory_size %c66560_i32
// HOPPER-COUNT-2: memref.view %{{.*}} to memref<4x4096xbf16, #gpu.address_space<workgroup>>
// HOPPER:        nvgpu.device_async_copy {{.*}}, 8, %{{.*}} {bypassL1} : memref<?x64xbf16> to memref<4x4096xbf16, #gpu.address_space<workgroup>>
// HOPPER:        nvgpu.device_async_wait %{{.*}} {numGroups = 1 : i32}
// HOPPER-COUNT-4: moe_gpu.wgmma %
// HOPPER-NOT:    moe_gpu.mma_sync
// atomic-combine: the output is zeroed first (a thread per element), there is no
// expert-rows buffer and no combine kernel after the projections; both down
// projections (decode and GEMM) add each row times its routing weight into the
// token's output row atomically.
// ATOMIC-LABEL: func.func @bf16
// ATOMIC-NOT:   memref.alloc(%{{.*}}) : memref<?x32xf32>
// ATOMIC:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}})
// ATOMIC:         memref.store %{{.*}}, %arg7[%{{.*}}, %{{.*}}] : memref<?x32xf32>
// ATOMIC:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c1024{{.*}})
// ATOMIC:       memref.atomic_rmw addf %{{.*}}, %arg7[%{{.*}}, %{{.*}}] : (f32, memref<?x32xf32>) -> f32
// ATOMIC:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}})
// ATOMIC:       gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}})
// ATOMIC:         memref.atomic_rmw addf %{{.*}}, %arg7[%{{.*}}, %{{.*}}] : (f32, memref<?x32xf32>) -> f32
// ATOMIC-NOT:   gpu.launch
// ATOMIC:       return
func.func @bf16(%x: memref<?x32xf32>, %ids: memref<?x2xi32>, %w: memref<?x2xf32>,
                %w1: memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>,
                %w2: memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>,
                %off: memref<5xi32>, %perm: memref<?xi32>, %y: memref<?x32xf32>) {
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
      offsets(%off) permutation(%perm) result(%y)
      {activation = #moe.activation<silu, gated = concatenated>, compute = bf16}
      : memref<?x32xf32>, memref<?x2xi32>, memref<?x2xf32>,
        memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>,
        memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>, memref<5xi32>,
        memref<?xi32>, memref<?x32xf32>
  return
}

// -----

// f32: the same tiles (rows padded to 36), B by 16-byte copies of 4 elements, FMA in place of
// mma.sync; an ungated activation has one B source, so three stages fit (41472 bytes).
// On sm_90a too: wgmma multiplies 16-bit types only.
// CHECK-LABEL: func.func @f32
// CHECK:      gpu.launch {{.*}} workgroup({{.*}} : memref<3x32x36xf32, #gpu.address_space<workgroup>>, {{.*}} : memref<3x64x36xf32, #gpu.address_space<workgroup>>)
// HOPPER-LABEL: func.func @f32
// HOPPER:      arith.ceildivui %{{.*}}, %c32
// HOPPER:      gpu.launch {{.*}} workgroup({{.*}} : memref<3x32x36xf32, #gpu.address_space<workgroup>>, {{.*}} : memref<3x64x36xf32, #gpu.address_space<workgroup>>)
// HOPPER:        math.fma
// CHECK:        nvgpu.device_async_copy {{.*}}, 4, %{{.*}} {bypassL1}
// CHECK:        math.fma
// CHECK-NOT:    moe_gpu.mma_sync
// CHECK:        arith.maximumf
func.func @f32(%x: memref<?x16xf32>, %ids: memref<?x1xi32>, %w: memref<?x1xf32>,
               %w1: memref<2x8x16xf32>, %w2: memref<2x16x8xf32>,
               %off: memref<3xi32>, %perm: memref<?xi32>, %y: memref<?x16xf32>) {
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
      offsets(%off) permutation(%perm) result(%y)
      {activation = #moe.activation<relu>, compute = f32}
      : memref<?x16xf32>, memref<?x1xi32>, memref<?x1xf32>, memref<2x8x16xf32>,
        memref<2x16x8xf32>, memref<3xi32>, memref<?xi32>, memref<?x16xf32>
  return
}

// -----

// Routing: no launch without tokens; 4 tokens a block of 128 threads. E = 40 is
// two columns a lane: the softmax's max and sum, then each of the k = 2 arg-max
// passes, are 5-step butterflies; the chosen weight comes from its lane.
// CHECK-LABEL: func.func @route
// CHECK:      %[[T:.*]] = memref.dim %arg0, %c0
// CHECK:      %[[GRID:.*]] = arith.ceildivui %[[T]], %c4
// CHECK:      scf.if
// CHECK:        gpu.launch blocks({{.*}}) in ({{.*}} = %[[GRID]], {{.*}}) threads({{.*}}) in ({{.*}} = %c128
// CHECK-COUNT-10: gpu.shuffle  xor {{.*}} : f32
// CHECK:          gpu.shuffle  xor
// CHECK:          gpu.shuffle  idx
// CHECK:          memref.store {{.*}} : memref<?x2xf32>
// CHECK:          memref.store {{.*}} : memref<?x2xi32>
// CHECK-NOT:  moe_gpu.route
func.func @route(%l: memref<?x40xf32>, %w: memref<?x2xf32>, %ids: memref<?x2xi32>) {
  moe_gpu.route logits(%l) weights(%w) ids(%ids)
      {routing = #moe.routing<softmax_topk, k = 2, normalize = true>}
      : memref<?x40xf32>, memref<?x2xf32>, memref<?x2xi32>
  return
}

// -----

// Up to E * 4 / k tokens, at least 8 (the host tests T; here 4 experts and
// k = 2: 8), the projections are the decode kernels:
// persistent blocks of 8 warps over the tile table's entries in use x 16-column
// groups (64 intermediate columns: 4; 32 hidden: 2), each lane 16-byte loads of 8 bf16 along K, two
// steps of its gate and up rows for two columns in flight (8 loads), the rows
// of a tile 4 at a time, each present row's sums reduced by 5-step butterflies
// then finished by the epilogue (SiLU); down reads the intermediate rows by
// 16-byte loads too. Above, the grouped GEMMs. With decode-tokens=0 there is
// no test and no decode kernel; decode-tokens=16 says 16; a tuning file's
// entry for the layer's shape (4 experts, k 2, hidden 32, intermediate 64)
// says 24, and decode-tokens overrides it.
// CHECK-LABEL: func.func @decode
// CHECK:      %[[T:.*]] = memref.dim %arg0, %c0
// CHECK:      %[[GRID:.*]] = arith.maxui
// CHECK:      nvvm.vote.ballot.sync
// CHECK:      %[[SMALL:.*]] = arith.cmpi slt, %[[T]], %c9
// CHECK:      scf.if %[[SMALL]] {
// CHECK:        %[[WORK:.*]] = arith.muli %[[GRID]], %c4{{.*}} : index
// CHECK:        %[[PERSISTENT:.*]] = moe_gpu.resident_grid %[[WORK]]
// CHECK:        gpu.launch blocks({{.*}}) in ({{.*}} = %[[PERSISTENT]], {{.*}} = %c1{{.*}}) threads({{.*}}) in ({{.*}} = %c256{{.*}}) {
// CHECK:          scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c4
// CHECK:            scf.for {{.*}} step %c512 iter_args
// CHECK-COUNT-8:      moe_gpu.load %arg3[{{.*}}] : memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>, vector<8xbf16>
// CHECK:              math.fma
// CHECK:            gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK:            math.exp
// CHECK:        arith.muli %[[GRID]], %c2{{.*}} : index
// CHECK:        gpu.launch blocks({{.*}}) threads({{.*}}) in ({{.*}} = %c256{{.*}}) {
// CHECK:              moe_gpu.load %arg4[{{.*}}] : memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>, vector<8xbf16>
// CHECK:              moe_gpu.load %{{.*}} : memref<?x64xbf16>, vector<8xbf16>
// CHECK:      } else {
// CHECK:        gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup
// CHECK:          moe_gpu.mma_sync
// CHECK:        gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup
// CHECK:          moe_gpu.mma_sync
// CHECK:      }
// CHECK:      gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c256{{.*}})
// GEMMS-LABEL: func.func @decode
// GEMMS-NOT:   moe_gpu.load
// GEMMS-NOT:   arith.cmpi slt, %{{.*}}, %c9
// SIXTEEN-LABEL: func.func @decode
// SIXTEEN:       arith.cmpi slt, %{{.*}}, %c17
// TUNED-LABEL:   func.func @decode
// TUNED:         arith.cmpi slt, %{{.*}}, %c25
// FIVE-LABEL:    func.func @decode
// FIVE:          arith.cmpi slt, %{{.*}}, %c6
// GEMMS-COUNT-2: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %c128{{.*}}) workgroup
// GEMMS-NOT:   moe_gpu.load
// GEMMS:       return
func.func @decode(%x: memref<?x32xf32>, %ids: memref<?x2xi32>, %w: memref<?x2xf32>,
                  %w1: memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>,
                  %w2: memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>,
                  %off: memref<5xi32>, %perm: memref<?xi32>, %y: memref<?x32xf32>) {
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2)
      offsets(%off) permutation(%perm) result(%y)
      {activation = #moe.activation<silu, gated = concatenated>, compute = bf16}
      : memref<?x32xf32>, memref<?x2xi32>, memref<?x2xf32>,
        memref<4x128x32xbf16, strided<[?, ?, 1], offset: ?>>,
        memref<4x32x64xbf16, strided<[?, ?, 1], offset: ?>>, memref<5xi32>,
        memref<?xi32>, memref<?x32xf32>
  return
}
