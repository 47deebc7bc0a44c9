/*===- Emulator.h - the CUDA emulator's instruction semantics -----*- C -*-===*
 *
 * What the CUDA emulator runs for the GPU instructions a kernel executes
 * together with other threads, and for the conversions whose rounding the
 * hardware fixes. Each function is one instruction of one warp, its operands
 * given per lane as the PTX ISA defines them (fragment layouts in
 * moe/GPU/MmaLayout.h, which the compiler's kernels use too).
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_EMULATOR_H
#define MOE_RUNTIME_EMULATOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The 16-bit element types of mma.sync's A and B. */
typedef enum moe_emu_type {
  MOE_EMU_BF16 = 0,
  MOE_EMU_F16 = 1,
} moe_emu_type;

/* cvt.rn.bf16.f32 and cvt.rn.f16.f32: to nearest, ties to even; NaN stays a
 * (quiet) NaN, values past the largest finite one become infinities, f16's
 * subnormals are kept. */
uint16_t moe_emu_f32_to_bf16(float value);
uint16_t moe_emu_f32_to_f16(float value);
/* The exact f32 value of a bf16 or f16. */
float moe_emu_bf16_to_f32(uint16_t bits);
float moe_emu_f16_to_f32(uint16_t bits);

/* mma.sync.aligned.m16n8k16.row.col.f32.T.T.f32 d, a, b, c for one warp:
 * a[lane][0..3], b[lane][0..1] hold two T elements each (the first in the
 * low half), c[lane][0..3] and d[lane][0..3] one f32 each. Each element of D
 * is its row of A times its column of B plus C, the products exact and the
 * sum of the 16 products and C rounded once to f32 (the hardware's
 * accumulation order is not specified; it may differ in the last bit). d may
 * alias c. */
void moe_emu_mma_m16n8k16(moe_emu_type type, const uint32_t a[32][4],
                          const uint32_t b[32][2], const float c[32][4],
                          float d[32][4]);
/* The same for m16n8k8: a[lane][0..1], b[lane][0]. */
void moe_emu_mma_m16n8k8(moe_emu_type type, const uint32_t a[32][2],
                         const uint32_t b[32][1], const float c[32][4],
                         float d[32][4]);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_EMULATOR_H */
