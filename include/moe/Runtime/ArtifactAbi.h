/*===- ArtifactAbi.h - what an artifact and the runtime agree on --*- C -*-===*
 *
 * The symbols of a compiled artifact that the runtime looks up, and the slots
 * of the tables through which artifacts call the runtime, in one place for
 * the compiler (lib/Target, lib/Conversion) and the runtime (lib/Runtime).
 * docs/artifact.md describes them; the CUDA emulator's table and its slots
 * are in moe/Runtime/Emulator.h.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_ARTIFACTABI_H
#define MOE_RUNTIME_ARTIFACTABI_H

/* Every artifact: its signature text and its entry, `void moe_entry(void **)`
 * (results, then each input's memref descriptor, then the weights'). */
#define MOE_ABI_SIGNATURE "moe_signature"
#define MOE_ABI_ENTRY "moe_entry"

/* The x86-64 features (LLVM's names) an artifact's signature may require, in
 * its `cpu` line: those the processor it was compiled for has. The runtime
 * refuses an artifact that needs one the host lacks, or one it does not
 * know. */
#define MOE_ABI_CPU_FEATURES                                                   \
  "avx", "avx2", "bmi2", "f16c", "fma", "avx512f", "avx512dq", "avx512cd",     \
      "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "avx512fp16"

/* CPU artifacts (and emulated CUDA ones): the table of the runtime's buffer
 * allocator the code allocates through, slots alloc(alignment, bytes) and
 * free(ptr). An artifact whose table is left empty uses the C library's
 * aligned_alloc and free. */
#define MOE_ABI_HOST_API "moe_host_api"
typedef enum moe_host_slot {
  MOE_HOST_SLOT_ALLOC = 0,
  MOE_HOST_SLOT_FREE = 1,
  MOE_HOST_SLOTS = 2,
} moe_host_slot;

/* CUDA artifacts: the kernel image, and the table of runtime functions the
 * host code calls. */
#define MOE_ABI_CUDA_MODULE "moe_cuda_module"
#define MOE_ABI_GPU_API "moe_gpu_api"

/* Emulated CUDA artifacts: the emulator's table (moe_emu_slot) and how many
 * slots the artifact's table has. */
#define MOE_ABI_EMU_API "moe_emu_api"
#define MOE_ABI_EMU_API_SLOTS "moe_emu_api_slots"

/* The slots of moe_gpu_api: alloc(bytes), free(ptr), read(host, device,
 * bytes), launch(image, function, name, grid, block, shared, params). A
 * launch whose grid x size is negative is a persistent kernel's: the runtime
 * launches at most -x blocks, as many as the device holds at once. */
typedef enum moe_gpu_slot {
  MOE_GPU_SLOT_ALLOC = 0,
  MOE_GPU_SLOT_FREE = 1,
  MOE_GPU_SLOT_READ = 2,
  MOE_GPU_SLOT_LAUNCH = 3,
  MOE_GPU_SLOTS = 4,
} moe_gpu_slot;

#endif /* MOE_RUNTIME_ARTIFACTABI_H */
