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
