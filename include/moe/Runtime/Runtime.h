/*===- Runtime.h - load and run compiled moe-mlir artifacts -------*- C -*-===*
 *
 * The C API of the runtime: load an artifact (the shared library written by
 * `moe-opt --emit=lib` and its weights file), query its signature, and run it
 * on caller buffers. No LLVM or MLIR dependency. docs/artifact.md describes
 * the artifact format.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_RUNTIME_H
#define MOE_RUNTIME_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, with NumPy's names in moe_dtype_name (bfloat16, which NumPy
 * has not, is "bf16": 16 bits, the upper half of an IEEE f32). */
typedef enum moe_dtype {
  MOE_DTYPE_F16 = 0,
  MOE_DTYPE_F32 = 1,
  MOE_DTYPE_F64 = 2,
  MOE_DTYPE_I8 = 3,
  MOE_DTYPE_I32 = 4,
  MOE_DTYPE_I64 = 5,
  MOE_DTYPE_BOOL = 6,
  MOE_DTYPE_U8 = 7,
  MOE_DTYPE_BF16 = 8,
} moe_dtype;

const char *moe_dtype_name(moe_dtype dtype);
size_t moe_dtype_size(moe_dtype dtype);

/* A failure: a message naming what is at fault. NULL means success. */
typedef struct moe_error moe_error;
const char *moe_error_message(const moe_error *error);
void moe_error_free(moe_error *error);

/* An input or output of an artifact: dims[i] == -1 marks a dynamic size, and
 * dim_names[i] is the ONNX model's symbolic name for dimension i ("" when it
 * has none). */
typedef struct moe_tensor_info {
  const char *name;
  moe_dtype dtype;
  int32_t rank;
  const int64_t *dims;
  const char *const *dim_names;
} moe_tensor_info;

/* A tensor in host memory, dense and row-major. */
#define MOE_MAX_RANK 8
typedef struct moe_tensor {
  void *data;
  moe_dtype dtype;
  int32_t rank;
  int64_t dims[MOE_MAX_RANK];
} moe_tensor;

typedef struct moe_artifact moe_artifact;

/* Loads the library at `path` and maps `<path>.weights`. A CUDA artifact
 * loads without a GPU (its signature can be read anywhere); the driver
 * (libcuda.so.1, or MOE_CUDA_DRIVER) is opened by its first run, which fails
 * with a message saying why when there is none. */
moe_error *moe_artifact_load(const char *path, moe_artifact **out);
void moe_artifact_free(moe_artifact *artifact);

size_t moe_artifact_num_inputs(const moe_artifact *artifact);
size_t moe_artifact_num_outputs(const moe_artifact *artifact);
moe_tensor_info moe_artifact_input(const moe_artifact *artifact, size_t index);
moe_tensor_info moe_artifact_output(const moe_artifact *artifact,
                                    size_t index);

/* The shape of a MoE layer the compiler raised, for FLOP and byte counts:
 * E experts, k per token, hidden H, first-projection rows F (2*I with
 * concatenated or interleaved gate/up), intermediate I, whether a separate up
 * projection exists, bytes per weight element. */
typedef struct moe_layer_info {
  int64_t experts, k, hidden, gate_up_rows, intermediate;
  int32_t separate_up, element_bytes;
} moe_layer_info;
size_t moe_artifact_num_layers(const moe_artifact *artifact);
moe_layer_info moe_artifact_layer(const moe_artifact *artifact, size_t index);

/* Where the artifact runs: "cpu" or "cuda"; for CUDA, the GPU architecture
 * it was compiled for ("sm_90a"), else "". */
const char *moe_artifact_device(const moe_artifact *artifact);
const char *moe_artifact_arch(const moe_artifact *artifact);
/* The host processor the artifact's code was compiled for and the x86-64
 * features it needs ("x86-64-v3 avx avx2 bmi2 f16c fma"; "" for an artifact
 * whose signature records none). moe_artifact_load refuses an artifact that
 * needs a feature this processor lacks. */
const char *moe_artifact_cpu(const moe_artifact *artifact);

/* Runs the artifact. `inputs` are read in place. For each output, a NULL
 * `data` asks the runtime to allocate it (free it with moe_free), a non-NULL
 * one must have the output's dtype, rank and dims, and receives a copy. On
 * error nothing is written to the outputs. Calls on one artifact from several
 * threads are safe. */
moe_error *moe_artifact_run(moe_artifact *artifact, const moe_tensor *inputs,
                            size_t num_inputs, moe_tensor *outputs,
                            size_t num_outputs);

/* Marks inputs (by index) that stay in device memory between runs of a CUDA
 * artifact, as its weights do: a run copies such an input to the device only
 * when the caller passes another buffer or size than the run before (expert
 * weights given as inputs, a KV cache). Without effect on CPU artifacts. An
 * index past the inputs is an error and marks nothing. */
moe_error *moe_artifact_keep_inputs(moe_artifact *artifact,
                                    const size_t *indices, size_t count);

/* Frees output memory allocated by moe_artifact_run. */
void moe_free(void *data);

#ifdef __cplusplus
}
#endif

#endif /* MOE_RUNTIME_RUNTIME_H */
