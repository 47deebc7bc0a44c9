/* A CUDA artifact's ABI (docs/artifact.md) with one trivial kernel image, for
 * the runtime's tests on machines without a GPU. Built three times: as is,
 * with MOE_FAKE_NO_IMAGE, which leaves out the kernel image, and with
 * MOE_FAKE_FUTURE_CPU, whose host code needs an x86-64 feature no processor
 * has. */
#include <stdint.h>

const char moe_signature[] = "moe-artifact 1\n"
                             "input x f32 ?x4\n"
                             "output y f32 ?x4\n"
                             "target cuda sm_90a fp32\n"
#ifdef MOE_FAKE_FUTURE_CPU
                             "cpu future-x86 avx avx1024f\n"
#else
                             "cpu x86-64 \n"
#endif
                             "weights 0\n";

void *moe_gpu_api[4];

#ifndef MOE_FAKE_NO_IMAGE
static const char ptx[] = ".version 8.0\n.target sm_90a\n.address_size 64\n";
const struct {
  const char *ptx;
  int64_t ptx_bytes;
  const char *cubin;
  int64_t cubin_bytes;
} moe_cuda_module = {ptx, sizeof(ptx) - 1, 0, 0};
#endif

/* How often the runtime called the entry: never, when a run fails before. */
int moe_fake_entry_calls;

void moe_entry(void **args) {
  (void)args;
  ++moe_fake_entry_calls;
}
