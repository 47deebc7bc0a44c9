// RUN: moe-opt %s --moe-gpu-to-ptx | FileCheck %s

// moe_gpu.load is an aligned, invariant load of i32 words at the element's
// global address (the memref's aligned pointer plus its offset and strides,
// in bytes), bitcast to the result: NVPTX writes one ld.global.nc.v4.
// CHECK-LABEL: func.func @bf16
// CHECK:         memref.extract_strided_metadata %arg0
// CHECK:         %[[BASE:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK:         %[[PTR:.*]] = llvm.inttoptr %{{.*}} : i64 to !llvm.ptr<1>
// CHECK:         %[[WORDS:.*]] = llvm.load %[[PTR]] invariant {alignment = 16 : i64} : !llvm.ptr<1> -> vector<4xi32>
// CHECK:         %[[V:.*]] = llvm.bitcast %[[WORDS]] : vector<4xi32> to vector<8xbf16>
// CHECK:         return %[[V]]
// CHECK-NOT:     moe_gpu
func.func @bf16(%m: memref<4x64xbf16>, %i: index, %k: index) -> vector<8xbf16> {
  %v = moe_gpu.load %m[%i, %k] : memref<4x64xbf16>, vector<8xbf16>
  return %v : vector<8xbf16>
}

// Eight bytes: two words, aligned to 8.
// CHECK-LABEL: func.func @pair
// CHECK:         llvm.load %{{.*}} invariant {alignment = 8 : i64} : !llvm.ptr<1> -> vector<2xi32>
// CHECK:         llvm.bitcast %{{.*}} : vector<2xi32> to vector<2xf32>
func.func @pair(%m: memref<?xf32>, %i: index) -> vector<2xf32> {
  %v = moe_gpu.load %m[%i] : memref<?xf32>, vector<2xf32>
  return %v : vector<2xf32>
}
