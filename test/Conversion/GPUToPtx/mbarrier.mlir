// RUN: moe-opt %s --pass-pipeline='builtin.module(gpu.module(moe-gpu-to-ptx))' | FileCheck %s

!tile = memref<2x4096xbf16, #gpu.address_space<workgroup>>
!bars = memref<2xi64, #gpu.address_space<workgroup>>

// The mbarrier ops and the bulk copy take 32-bit shared addresses (a workgroup
// buffer's pointer is its offset in the shared window) and the copy's source its
// 64-bit global address; the wait spins on try_wait.parity under a label of its
// own.
// CHECK-LABEL: gpu.func @pipeline
// CHECK:         %[[BAR:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "mbarrier.init.shared::cta.b64 [$0], 1;", "r" %[[BAR]]
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], 8192;", "r"
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [$0], [$1], 8192, [$2];", "r,l,r" %{{.*}}, %{{.*}}, %{{.*}} : (i32, i64, i32) -> ()
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "{\0A.reg .pred done;\0AMOE_MBARRIER_WAIT_${:uid}:\0Ambarrier.try_wait.parity.shared::cta.b64 done, [$0], $1;\0A@!done bra MOE_MBARRIER_WAIT_${:uid};\0A}",
// CHECK-SAME:    "r,r" %{{.*}}, %{{.*}} : (i32, i32) -> ()
// CHECK:         llvm.inline_asm has_side_effects asm_dialect = att "mbarrier.arrive.shared::cta.b64 _, [$0];", "r"
// CHECK-NOT:     moe_gpu.
gpu.module @kernels {
  gpu.func @pipeline(%w: memref<8x4096xbf16>, %s: index, %parity: index)
      workgroup(%tile : !tile, %bars : !bars) kernel {
    %c0 = arith.constant 0 : index
    moe_gpu.mbarrier_init %bars[%s], 1 : !bars
    moe_gpu.mbarrier_arrive %bars[%s] {tx_bytes = 8192 : i64} : !bars
    moe_gpu.bulk_copy %tile[%s, %c0], %w[%s, %c0], %bars[%s] {bytes = 8192 : i64}
        : !tile, memref<8x4096xbf16>, !bars
    moe_gpu.mbarrier_wait %bars[%s], %parity : !bars
    moe_gpu.mbarrier_arrive %bars[%s] : !bars
    gpu.return
  }
}
