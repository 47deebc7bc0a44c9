// RUN: moe-opt %s --split-input-file --verify-diagnostics

func.func @k(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sync' op k is 32; mma.sync m16n8kK has K = 16 or 8}}
  %d:4 = moe_gpu.mma_sync %r, %r, %r, %r, %r, %r, %r, %r, %r, %r, %r, %r, %c, %c, %c, %c {k = 32 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @type(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sync' op multiplies 'f32' elements; the instruction takes bf16 or f16}}
  %d:4 = moe_gpu.mma_sync %r, %r, %r, %c, %c, %c, %c {k = 8 : i64, type = f32} : (i32, i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @count(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sync' op has 6 registers; m16n8k16 takes 4 i32 of A, 2 i32 of B and 4 f32 of C}}
  %d:4 = moe_gpu.mma_sync %r, %r, %c, %c, %c, %c {k = 16 : i64, type = bf16} : (i32, i32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @register(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sync' op register 2 is 'f32'; m16n8k8 takes 2 i32 of A, 1 i32 of B and 4 f32 of C}}
  %d:4 = moe_gpu.mma_sync %r, %r, %c, %c, %c, %c, %c {k = 8 : i64, type = f16} : (i32, i32, f32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @selector(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sp' op selector is 2; m16n8k32 with 16-bit types takes 0 or 1}}
  %d:4 = moe_gpu.mma_sp %r, %r, %r, %r, %r, %r, %r, %r, %c, %c, %c, %c, %r {selector = 2 : i64, type = bf16} : (i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, i32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @metadata(%r: i32, %c: f32) {
  // expected-error @+1 {{'moe_gpu.mma_sp' op register 12 is 'f32'; m16n8k32 takes 4 i32 of A, 4 i32 of B, 4 f32 of C and the i32 metadata}}
  %d:4 = moe_gpu.mma_sp %r, %r, %r, %r, %r, %r, %r, %r, %c, %c, %c, %c, %c {selector = 0 : i64, type = f16} : (i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @ffn_activation(%x: memref<?x16xf32>, %ids: memref<?x1xi32>, %w: memref<?x1xf32>, %w1: memref<2x8x16xf32>, %w2: memref<2x16x8xf32>, %off: memref<3xi32>, %perm: memref<?xi32>, %y: memref<?x16xf32>) {
  // expected-error @+1 {{'moe_gpu.routed_ffn' op activation is "silu"; expected a #moe.activation}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2) offsets(%off) permutation(%perm) result(%y) {activation = "silu", compute = f32} : memref<?x16xf32>, memref<?x1xi32>, memref<?x1xf32>, memref<2x8x16xf32>, memref<2x16x8xf32>, memref<3xi32>, memref<?xi32>, memref<?x16xf32>
  return
}

// -----

func.func @ffn_weight_type(%x: memref<?x16xf32>, %ids: memref<?x1xi32>, %w: memref<?x1xf32>, %w1: memref<2x8x16xf32>, %w2: memref<2x16x8xf32>, %off: memref<3xi32>, %perm: memref<?xi32>, %y: memref<?x16xf32>) {
  // expected-error @+1 {{'moe_gpu.routed_ffn' op weights are 'f32'; expected the compute type 'bf16'}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2) offsets(%off) permutation(%perm) result(%y) {activation = #moe.activation<relu>, compute = bf16} : memref<?x16xf32>, memref<?x1xi32>, memref<?x1xf32>, memref<2x8x16xf32>, memref<2x16x8xf32>, memref<3xi32>, memref<?xi32>, memref<?x16xf32>
  return
}

// -----

func.func @ffn_offsets(%x: memref<?x16xf32>, %ids: memref<?x1xi32>, %w: memref<?x1xf32>, %w1: memref<2x8x16xf32>, %w2: memref<2x16x8xf32>, %off: memref<2xi32>, %perm: memref<?xi32>, %y: memref<?x16xf32>) {
  // expected-error @+1 {{'moe_gpu.routed_ffn' op offsets has 2 entries; expected experts + 1 = 3}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2) offsets(%off) permutation(%perm) result(%y) {activation = #moe.activation<relu>, compute = f32} : memref<?x16xf32>, memref<?x1xi32>, memref<?x1xf32>, memref<2x8x16xf32>, memref<2x16x8xf32>, memref<2xi32>, memref<?xi32>, memref<?x16xf32>
  return
}

// -----

func.func @ffn_up(%x: memref<?x16xf32>, %ids: memref<?x1xi32>, %w: memref<?x1xf32>, %w1: memref<2x8x16xf32>, %w2: memref<2x16x8xf32>, %off: memref<3xi32>, %perm: memref<?xi32>, %y: memref<?x16xf32>) {
  // expected-error @+1 {{'moe_gpu.routed_ffn' op a separate gate layout needs the up weights}}
  moe_gpu.routed_ffn tokens(%x) ids(%ids) weights(%w) gate_up(%w1) down(%w2) offsets(%off) permutation(%perm) result(%y) {activation = #moe.activation<silu, gated = separate>, compute = f32} : memref<?x16xf32>, memref<?x1xi32>, memref<?x1xf32>, memref<2x8x16xf32>, memref<2x16x8xf32>, memref<3xi32>, memref<?xi32>, memref<?x16xf32>
  return
}

// -----

func.func @route_k(%l: memref<?x8xf32>, %w: memref<?x3xf32>, %ids: memref<?x3xi32>) {
  // expected-error @+1 {{'moe_gpu.route' op weights and ids have 3 and 3 columns; expected k = 2}}
  moe_gpu.route logits(%l) weights(%w) ids(%ids) {routing = #moe.routing<softmax_topk, k = 2>} : memref<?x8xf32>, memref<?x3xf32>, memref<?x3xi32>
  return
}

// -----

func.func @route_attr(%l: memref<?x8xf32>, %w: memref<?x2xf32>, %ids: memref<?x2xi32>) {
  // expected-error @+1 {{'moe_gpu.route' op routing is 2 : i64; expected a #moe.routing}}
  moe_gpu.route logits(%l) weights(%w) ids(%ids) {routing = 2} : memref<?x8xf32>, memref<?x2xf32>, memref<?x2xi32>
  return
}

// -----

func.func @load_type(%m: memref<64xf32>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op result is 'vector<4xf16>'; expected a 1-D vector of the memref's 'f32'}}
  %v = moe_gpu.load %m[%i] : memref<64xf32>, vector<4xf16>
  return
}

// -----

func.func @load_bytes(%m: memref<64xf32>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op loads 12 bytes; the instruction loads 4, 8 or 16}}
  %v = moe_gpu.load %m[%i] : memref<64xf32>, vector<3xf32>
  return
}

// -----

func.func @load_indices(%m: memref<4x64xbf16>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op has 1 indices for a memref of rank 2}}
  %v = moe_gpu.load %m[%i] : memref<4x64xbf16>, vector<8xbf16>
  return
}

// -----

func.func @load_stride(%m: memref<64x4xf32, strided<[1, 64]>>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op needs a memref whose innermost stride is 1}}
  %v = moe_gpu.load %m[%i, %i] : memref<64x4xf32, strided<[1, 64]>>, vector<4xf32>
  return
}

// -----

func.func @load_shared(%m: memref<64xf32, #gpu.address_space<workgroup>>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op loads from global memory; the memref is in #gpu.address_space<workgroup>}}
  %v = moe_gpu.load %m[%i] : memref<64xf32, #gpu.address_space<workgroup>>, vector<4xf32>
  return
}

// -----

func.func @load_short(%m: memref<8x2xf32>, %i: index) {
  // expected-error @+1 {{'moe_gpu.load' op loads 4 elements along an innermost dimension of 2}}
  %v = moe_gpu.load %m[%i, %i] : memref<8x2xf32>, vector<4xf32>
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_global(%a: memref<4096xbf16>, %b: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op A is 'memref<4096xbf16>'; wgmma reads its operands from shared memory (#gpu.address_space<workgroup>)}}
  %d:4 = moe_gpu.wgmma %a[%i], %b[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : memref<4096xbf16>, !sh, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
!f16 = memref<4096xf16, #gpu.address_space<workgroup>>
func.func @wgmma_mixed(%a: !sh, %b: !f16, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op A has 'bf16' elements and B 'f16'; both must be the same}}
  %d:4 = moe_gpu.wgmma %a[%i], %b[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : !sh, !f16, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_n(%a: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op n is 12; wgmma m64nNk16 takes N a multiple of 8 up to 256}}
  %d:6 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c, %c, %c, %c, %c) {n = 12 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : !sh, !sh, (f32, f32, f32, f32, f32, f32) -> (f32, f32, f32, f32, f32, f32)
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_registers(%a: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op has 2 registers of C and 2 of D; m64n8k16 takes 4 f32 each}}
  %d:2 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c) {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : !sh, !sh, (f32, f32) -> (f32, f32)
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_swizzle(%a: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op swizzle is 16 bytes; the layouts swizzle 0, 32, 64 or 128}}
  %d:4 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 16 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : !sh, !sh, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_stride(%a: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op a_stride is 1000 bytes; a descriptor holds multiples of 16 below 256 KiB}}
  %d:4 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 128 : i64, leading = 16 : i64, a_stride = 1000 : i64, b_stride = 1024 : i64} : !sh, !sh, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

// D is not ready until a wait: using it elsewhere is an error.
!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_unwaited(%a: !sh, %i: index, %c: f32) -> f32 {
  // expected-error @+1 {{'moe_gpu.wgmma' op result is used by 'arith.addf' before a moe_gpu.wgmma_wait: an asynchronous wgmma's D is C of the next wgmma or waited for}}
  %d:4 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 0 : i64, leading = 128 : i64, a_stride = 256 : i64, b_stride = 256 : i64} : !sh, !sh, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  %s = arith.addf %d#0, %c : f32
  return %s : f32
}

// -----

func.func @wgmma_wait(%c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma_wait' op waits for all but 8 groups; wgmma.wait_group takes 0 to 7}}
  %r = moe_gpu.wgmma_wait 8, %c : (f32) -> f32
  return
}

// -----

func.func @wgmma_wait_negative(%c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma_wait' op waits for all but -1 groups; wgmma.wait_group takes 0 to 7}}
  %r = moe_gpu.wgmma_wait -1, %c : (f32) -> f32
  return
}

// -----

!sh = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @wgmma_negative_stride(%a: !sh, %i: index, %c: f32) {
  // expected-error @+1 {{'moe_gpu.wgmma' op b_stride is -1024 bytes; a descriptor holds multiples of 16 below 256 KiB}}
  %d:4 = moe_gpu.wgmma %a[%i], %a[%i], (%c, %c, %c, %c) {n = 8 : i64, swizzle = 128 : i64, leading = 16 : i64, a_stride = 1024 : i64, b_stride = -1024 : i64} : !sh, !sh, (f32, f32, f32, f32) -> (f32, f32, f32, f32)
  return
}

// -----

func.func @mbarrier_global(%bars: memref<4xi64>, %i: index) {
  // expected-error @+1 {{'moe_gpu.mbarrier_init' op takes its barrier objects from a 1-D i64 workgroup buffer, not 'memref<4xi64>'}}
  moe_gpu.mbarrier_init %bars[%i], 1 : memref<4xi64>
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
func.func @mbarrier_no_arrivals(%bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.mbarrier_init' op expects 0 arrivals; a phase has 1 to 2^20 - 1}}
  moe_gpu.mbarrier_init %bars[%i], 0 : !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
func.func @mbarrier_negative_arrivals(%bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.mbarrier_init' op expects -3 arrivals; a phase has 1 to 2^20 - 1}}
  moe_gpu.mbarrier_init %bars[%i], -3 : !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
func.func @mbarrier_negative_tx_bytes(%bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.mbarrier_arrive' op expects -16 transaction bytes; a phase takes 0 to 2^20 - 1}}
  moe_gpu.mbarrier_arrive %bars[%i] {tx_bytes = -16 : i64} : !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
func.func @mbarrier_tx_bytes(%bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.mbarrier_arrive' op expects 1048576 transaction bytes; a phase takes 0 to 2^20 - 1}}
  moe_gpu.mbarrier_arrive %bars[%i] {tx_bytes = 1048576 : i64} : !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
!tile = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @bulk_copy_bytes(%dst: !tile, %src: memref<8x4096xbf16>, %bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.bulk_copy' op copies 24 bytes; a bulk copy takes a positive multiple of 16 below 2^20}}
  moe_gpu.bulk_copy %dst[%i], %src[%i, %i], %bars[%i] {bytes = 24 : i64} : !tile, memref<8x4096xbf16>, !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
!tile = memref<4096xbf16, #gpu.address_space<workgroup>>
func.func @bulk_copy_direction(%dst: !tile, %src: memref<8x4096xbf16>, %bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.bulk_copy' op copies into a workgroup buffer; the destination is 'memref<8x4096xbf16>'}}
  moe_gpu.bulk_copy %src[%i, %i], %dst[%i], %bars[%i] {bytes = 8192 : i64} : memref<8x4096xbf16>, !tile, !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
!tile = memref<64xbf16, #gpu.address_space<workgroup>>
func.func @bulk_copy_past_the_tile(%dst: !tile, %src: memref<8x4096xbf16>, %bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.bulk_copy' op copies 8192 bytes along the destination's innermost dimension of 128 bytes}}
  moe_gpu.bulk_copy %dst[%i], %src[%i, %i], %bars[%i] {bytes = 8192 : i64} : !tile, memref<8x4096xbf16>, !bars
  return
}

// -----

!bars = memref<4xi64, #gpu.address_space<workgroup>>
!tile = memref<4096xf32, #gpu.address_space<workgroup>>
func.func @bulk_copy_types(%dst: !tile, %src: memref<8x4096xbf16>, %bars: !bars, %i: index) {
  // expected-error @+1 {{'moe_gpu.bulk_copy' op copies between 'memref<8x4096xbf16>' and 'memref<4096xf32, #gpu.address_space<workgroup>>', whose element types differ}}
  moe_gpu.bulk_copy %dst[%i], %src[%i, %i], %bars[%i] {bytes = 8192 : i64} : !tile, memref<8x4096xbf16>, !bars
  return
}

// -----

// A persistent kernel's grid is a launch's x size and nothing else.
func.func @resident_grid_returned(%work: index) -> index {
  // expected-error @+1 {{'moe_gpu.resident_grid' op is only the x grid size of launches; func.return uses it as its operand 0}}
  %grid = moe_gpu.resident_grid %work
  return %grid : index
}

// -----

func.func @resident_grid_as_block_size(%work: index) {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{'moe_gpu.resident_grid' op is only the x grid size of launches; gpu.launch uses it as its operand 3}}
  %grid = moe_gpu.resident_grid %work
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %grid, %sy = %c1, %sz = %c1) {
    gpu.terminator
  }
  return
}
