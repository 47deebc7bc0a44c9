//===- Artifact.cpp - load and run compiled artifacts ---------------------===//
//
// The library is opened with dlopen, its weights file mapped read-only, and
// its `moe_entry` called with MLIR memref descriptors built from the caller's
// buffers (docs/artifact.md). A CUDA artifact's inputs, weights and outputs
// are copied to and from device memory around the call (Cuda.h).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Emulator.h"
#include "moe/Runtime/ArtifactAbi.h"
#include "moe/Runtime/Runtime.h"

#include "CpuFeatures.h"
#include "Cuda.h"
#include "HostMemory.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

struct moe_error {
  std::string message;
};

namespace {

struct TensorInfo {
  std::string name;
  moe_dtype dtype;
  std::vector<int64_t> dims;
  std::vector<std::string> dimNames;
  std::vector<const char *> dimNamePointers;
};

moe_error *fail(std::string message) {
  return new moe_error{std::move(message)};
}

bool parseDtype(const std::string &text, moe_dtype &out) {
  static const struct {
    const char *name;
    moe_dtype dtype;
  } kNames[] = {{"f16", MOE_DTYPE_F16}, {"f32", MOE_DTYPE_F32},
                {"f64", MOE_DTYPE_F64}, {"i8", MOE_DTYPE_I8},
                {"i32", MOE_DTYPE_I32}, {"i64", MOE_DTYPE_I64},
                {"u8", MOE_DTYPE_U8},   {"bool", MOE_DTYPE_BOOL},
                {"bf16", MOE_DTYPE_BF16}};
  for (const auto &entry : kNames)
    if (text == entry.name) {
      out = entry.dtype;
      return true;
    }
  return false;
}

/// Undoes the compiler's `%XX` escapes of names.
std::string unescape(const std::string &text) {
  if (text == "%")
    return "";
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool parseDims(const std::string &text, std::vector<int64_t> &dims) {
  dims.clear();
  if (text == "scalar")
    return true;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, 'x')) {
    if (part == "?") {
      dims.push_back(-1);
      continue;
    }
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos)
      return false;
    dims.push_back(std::stoll(part));
  }
  return !dims.empty() && dims.size() <= MOE_MAX_RANK;
}

std::string shapeString(moe_dtype dtype, const int64_t *dims, int32_t rank) {
  std::string out = std::string(moe_dtype_name(dtype)) + " [";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      out += ", ";
    out += dims[i] < 0 ? "?" : std::to_string(dims[i]);
  }
  return out + "]";
}

/// The elements a view with `dims` and non-negative `strides` reaches from its
/// first: 1 + sum (dim - 1) * stride; 0 when it is empty.
size_t spanOf(const std::vector<int64_t> &dims,
              const std::vector<int64_t> &strides) {
  size_t span = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 0)
      return 0;
    span += static_cast<size_t>(dims[d] - 1) * static_cast<size_t>(strides[d]);
  }
  return span;
}

/// Whether the view (`dims`, `strides` in elements) is row-major and dense.
bool isRowMajor(const std::vector<int64_t> &dims,
                const std::vector<int64_t> &strides) {
  int64_t expected = 1;
  for (size_t d = dims.size(); d-- > 0;) {
    if (dims[d] != 1 && strides[d] != expected)
      return false;
    expected *= dims[d];
  }
  return true;
}

/// Copies the view (`dims`, `strides` in elements of `size` bytes) at `from`
/// into the row-major buffer `to`; one memcpy when the view is row-major.
void copyStrided(char *to, const char *from, const std::vector<int64_t> &dims,
                 const std::vector<int64_t> &strides, size_t size) {
  size_t count = 1;
  for (int64_t dim : dims)
    count *= static_cast<size_t>(dim);
  if (isRowMajor(dims, strides) || count == 0) {
    std::memcpy(to, from, count * size);
    return;
  }
  std::vector<int64_t> index(dims.size(), 0);
  for (size_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < dims.size(); ++d)
      offset += index[d] * strides[d];
    std::memcpy(to + n * size, from + offset * static_cast<int64_t>(size), size);
    for (size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d])
        break;
      index[d] = 0;
    }
  }
}

int64_t elementCount(const int64_t *dims, int32_t rank) {
  int64_t count = 1;
  for (int32_t i = 0; i < rank; ++i)
    count *= dims[i];
  return count;
}

/// An MLIR memref descriptor: allocated and aligned pointers, offset, sizes,
/// strides, all 64-bit.
std::vector<int64_t> descriptor(void *data, const int64_t *dims,
                                int32_t rank) {
  std::vector<int64_t> d(3 + 2 * rank);
  d[0] = d[1] = static_cast<int64_t>(reinterpret_cast<intptr_t>(data));
  d[2] = 0;
  int64_t stride = 1;
  for (int32_t i = rank - 1; i >= 0; --i) {
    d[3 + i] = dims[i];
    d[3 + rank + i] = stride;
    stride *= dims[i];
  }
  return d;
}

} // namespace

struct moe_artifact {
  void *library = nullptr;
  void (*entry)(void **) = nullptr;
  std::vector<TensorInfo> inputs, outputs;
  std::vector<moe_layer_info> layers;
  void *weights = nullptr;
  size_t weightBytes = 0;
  int64_t weightDims[1] = {0};
  // CUDA artifacts: the architecture compiled for, the kernel image, and,
  // once a run has readied them, the module reference and device weights.
  std::string cudaArch, cudaPrecision;
  // The processor the host code was compiled for and the features it needs
  // (the signature's `cpu` line, as it is).
  std::string cpu;
  std::vector<std::string> cpuFeatures;
  const moe::cuda::Image *image = nullptr;
  std::mutex deviceMutex;
  bool imageAcquired = false;
  void *deviceWeights = nullptr;
  // Inputs kept in device memory between runs (moe_artifact_keep_inputs):
  // the host buffer and size last uploaded, and the device copy.
  struct Kept {
    bool kept = false;
    const void *host = nullptr;
    size_t bytes = 0;
    void *device = nullptr;
  };
  std::vector<Kept> kept;
  // CUDA graphs, per shape of the inputs (and device copy of each kept one):
  // the first run of a shape runs as usual, the second is captured and
  // launched, later ones replay the graph on its own buffers; a shape whose
  // run reads device memory back on the host is never captured again.
  struct Replay {
    std::mutex mutex;
    int runs = 0;
    bool never = false;
    std::unique_ptr<moe::cuda::Graph> graph;
    std::vector<void *> inputs;
    std::vector<int64_t> results;
  };
  std::map<std::vector<int64_t>, std::unique_ptr<Replay>> replays;
  // Emulated CUDA artifacts: their kernels' faults fail the run.
  bool emulated = false;

  ~moe_artifact() {
    replays.clear();
    for (Kept &k : kept)
      moe::cuda::freeUploaded(k.device);
    moe::cuda::freeUploaded(deviceWeights);
    if (imageAcquired)
      moe::cuda::releaseImage(image);
    if (weights)
      munmap(weights, weightBytes);
    if (library)
      dlclose(library);
  }
};

namespace {

moe_error *parseSignature(const std::string &path, const char *text,
                          moe_artifact &artifact, uint64_t &weightBytes) {
  std::stringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || line != "moe-artifact 1")
    return fail(path + ": not a moe-mlir artifact of a version this runtime "
                       "reads (signature starts '" + line + "')");
  bool sawWeights = false;
  while (std::getline(lines, line)) {
    std::stringstream words(line);
    std::string role, name, dtype, dims;
    words >> role;
    if (role == "target") {
      std::string device;
      if (!(words >> device >> artifact.cudaArch >> artifact.cudaPrecision) ||
          device != "cuda")
        return fail(path + ": malformed signature line '" + line + "'");
      continue;
    }
    if (role == "cpu") {
      std::string name, feature;
      if (!(words >> name))
        return fail(path + ": malformed signature line '" + line + "'");
      artifact.cpu = name;
      while (words >> feature) {
        artifact.cpuFeatures.push_back(feature);
        artifact.cpu += " " + feature;
      }
      continue;
    }
    if (role == "weights" && (words >> weightBytes)) {
      sawWeights = true;
      continue;
    }
    if (role == "layer") {
      moe_layer_info layer{};
      if (!(words >> layer.experts >> layer.k >> layer.hidden >>
            layer.gate_up_rows >> layer.intermediate >> layer.separate_up >>
            layer.element_bytes))
        return fail(path + ": malformed signature line '" + line + "'");
      artifact.layers.push_back(layer);
      continue;
    }
    TensorInfo info;
    if ((role != "input" && role != "output") || !(words >> name >> dtype >> dims) ||
        !parseDtype(dtype, info.dtype) || !parseDims(dims, info.dims))
      return fail(path + ": malformed signature line '" + line + "'");
    info.name = unescape(name);
    // Optional: the dimensions' symbolic names, comma-separated.
    std::string names;
    info.dimNames.assign(info.dims.size(), "");
    if (words >> names) {
      std::stringstream list(names);
      std::string item;
      size_t d = 0;
      while (std::getline(list, item, ',') && d < info.dims.size())
        info.dimNames[d++] = unescape(item);
    }
    (role == "input" ? artifact.inputs : artifact.outputs).push_back(info);
  }
  if (!sawWeights)
    return fail(path + ": signature lacks its weights line");
  return nullptr;
}

moe_error *mapWeights(const std::string &path, uint64_t expected,
                      moe_artifact &artifact) {
  std::string weightsPath = path + ".weights";
  int fd = open(weightsPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(weightsPath + ": cannot open the artifact's weights: " +
                std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != expected) {
    close(fd);
    return fail(weightsPath + ": holds " + std::to_string(st.st_size) +
                " bytes, the library expects " + std::to_string(expected));
  }
  if (expected > 0) {
    void *data = mmap(nullptr, expected, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) {
      close(fd);
      return fail(weightsPath + ": cannot map: " + std::strerror(errno));
    }
    artifact.weights = data;
    artifact.weightBytes = expected;
  }
  close(fd);
  artifact.weightDims[0] = static_cast<int64_t>(expected);
  return nullptr;
}

} // namespace

extern "C" {

const char *moe_dtype_name(moe_dtype dtype) {
  switch (dtype) {
  case MOE_DTYPE_F16:
    return "f16";
  case MOE_DTYPE_F32:
    return "f32";
  case MOE_DTYPE_F64:
    return "f64";
  case MOE_DTYPE_I8:
    return "i8";
  case MOE_DTYPE_I32:
    return "i32";
  case MOE_DTYPE_I64:
    return "i64";
  case MOE_DTYPE_BOOL:
    return "bool";
  case MOE_DTYPE_U8:
    return "u8";
  case MOE_DTYPE_BF16:
    return "bf16";
  }
  return "unknown";
}

size_t moe_dtype_size(moe_dtype dtype) {
  switch (dtype) {
  case MOE_DTYPE_F16:
  case MOE_DTYPE_BF16:
    return 2;
  case MOE_DTYPE_F32:
  case MOE_DTYPE_I32:
    return 4;
  case MOE_DTYPE_F64:
  case MOE_DTYPE_I64:
    return 8;
  case MOE_DTYPE_I8:
  case MOE_DTYPE_U8:
  case MOE_DTYPE_BOOL:
    return 1;
  }
  return 0;
}

const char *moe_error_message(const moe_error *error) {
  return error ? error->message.c_str() : "";
}

void moe_error_free(moe_error *error) { delete error; }

moe_error *moe_artifact_load(const char *path, moe_artifact **out) {
  *out = nullptr;
  std::string file(path);
  // dlopen searches the library path for names without a slash.
  std::string openPath = file.find('/') == std::string::npos ? "./" + file : file;
  auto artifact = std::make_unique<moe_artifact>();
  artifact->library = dlopen(openPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!artifact->library)
    return fail(file + ": cannot load: " + dlerror());
  const char *signature =
      static_cast<const char *>(dlsym(artifact->library, MOE_ABI_SIGNATURE));
  artifact->entry = reinterpret_cast<void (*)(void **)>(
      dlsym(artifact->library, MOE_ABI_ENTRY));
  if (!signature || !artifact->entry)
    return fail(file + ": not a moe-mlir artifact (no moe_signature or "
                       "moe_entry symbol)");
  uint64_t weightBytes = 0;
  if (moe_error *error =
          parseSignature(file, signature, *artifact, weightBytes))
    return error;
  // Code for a processor this one is not would fault on an illegal
  // instruction mid-run.
  std::vector<std::string> lacking = moe::cpu::missing(artifact->cpuFeatures);
  if (!lacking.empty()) {
    std::string list;
    for (const std::string &feature : lacking)
      list += (list.empty() ? "" : ", ") + feature;
    return fail(file + ": compiled for --mcpu=" +
                artifact->cpu.substr(0, artifact->cpu.find(' ')) +
                ", whose code needs " + list +
                ", which this processor lacks (compile it with --mcpu=native, "
                "or the default x86-64-v3)");
  }
  if (moe_error *error = mapWeights(file, weightBytes, *artifact))
    return error;
  // A CPU artifact allocates its buffers through this table.
  if (auto **host =
          static_cast<void **>(dlsym(artifact->library, MOE_ABI_HOST_API)))
    moe::fillHostApiTable(host);
  // An emulated CUDA artifact calls the emulator's warp-wide instructions
  // through this table.
  if (auto **emulator =
          static_cast<void **>(dlsym(artifact->library, MOE_ABI_EMU_API))) {
    auto *slots = static_cast<const int32_t *>(
        dlsym(artifact->library, MOE_ABI_EMU_API_SLOTS));
    if (!slots || *slots > MOE_EMU_SLOTS)
      return fail(file + ": an emulated CUDA artifact calling " +
                  (slots ? std::to_string(*slots) : std::string("unknown")) +
                  " emulator functions; this runtime has " +
                  std::to_string(MOE_EMU_SLOTS) +
                  " (compile it with the moe-opt of this runtime)");
    emulator[MOE_EMU_SLOT_MMA_M16N8K16] =
        reinterpret_cast<void *>(&moe_emu_mma_m16n8k16);
    emulator[MOE_EMU_SLOT_MMA_M16N8K8] =
        reinterpret_cast<void *>(&moe_emu_mma_m16n8k8);
    emulator[MOE_EMU_SLOT_SHFL_SYNC] =
        reinterpret_cast<void *>(&moe_emu_shfl_sync);
    emulator[MOE_EMU_SLOT_BLOCK_BEGIN] =
        reinterpret_cast<void *>(&moe_emu_block_begin);
    emulator[MOE_EMU_SLOT_SHARED_REGION] =
        reinterpret_cast<void *>(&moe_emu_shared_region);
    emulator[MOE_EMU_SLOT_SHARED_ACCESS] =
        reinterpret_cast<void *>(&moe_emu_shared_access);
    emulator[MOE_EMU_SLOT_BARRIER] = reinterpret_cast<void *>(&moe_emu_barrier);
    emulator[MOE_EMU_SLOT_FAULT] = reinterpret_cast<void *>(&moe_emu_fault);
    emulator[MOE_EMU_SLOT_VOTE_SYNC] =
        reinterpret_cast<void *>(&moe_emu_vote_sync);
    emulator[MOE_EMU_SLOT_REDUX_SYNC] =
        reinterpret_cast<void *>(&moe_emu_redux_sync);
    emulator[MOE_EMU_SLOT_LDMATRIX] =
        reinterpret_cast<void *>(&moe_emu_ldmatrix_checked);
    emulator[MOE_EMU_SLOT_CP_ASYNC] =
        reinterpret_cast<void *>(&moe_emu_cp_async_thread);
    emulator[MOE_EMU_SLOT_CP_ASYNC_COMMIT] =
        reinterpret_cast<void *>(&moe_emu_cp_async_commit_thread);
    emulator[MOE_EMU_SLOT_CP_ASYNC_WAIT] =
        reinterpret_cast<void *>(&moe_emu_cp_async_wait_thread);
    emulator[MOE_EMU_SLOT_BLOCK_END] =
        reinterpret_cast<void *>(&moe_emu_block_end);
    emulator[MOE_EMU_SLOT_MMA_SP_M16N8K32] =
        reinterpret_cast<void *>(&moe_emu_mma_sp_m16n8k32);
    emulator[MOE_EMU_SLOT_WGMMA] =
        reinterpret_cast<void *>(&moe_emu_wgmma_checked);
    emulator[MOE_EMU_SLOT_FENCE_PROXY_ASYNC] =
        reinterpret_cast<void *>(&moe_emu_fence_proxy_async);
    emulator[MOE_EMU_SLOT_WGMMA_COMMIT] =
        reinterpret_cast<void *>(&moe_emu_wgmma_commit_thread);
    emulator[MOE_EMU_SLOT_WGMMA_WAIT] =
        reinterpret_cast<void *>(&moe_emu_wgmma_wait_thread);
    emulator[MOE_EMU_SLOT_MBARRIER_INIT] =
        reinterpret_cast<void *>(&moe_emu_mbarrier_init_thread);
    emulator[MOE_EMU_SLOT_MBARRIER_ARRIVE] =
        reinterpret_cast<void *>(&moe_emu_mbarrier_arrive_thread);
    emulator[MOE_EMU_SLOT_MBARRIER_WAIT] =
        reinterpret_cast<void *>(&moe_emu_mbarrier_wait_thread);
    emulator[MOE_EMU_SLOT_BULK_COPY] =
        reinterpret_cast<void *>(&moe_emu_bulk_copy_thread);
    emulator[MOE_EMU_SLOT_ROLE_BEGIN] =
        reinterpret_cast<void *>(&moe_emu_role_begin);
    emulator[MOE_EMU_SLOT_ROLE_END] =
        reinterpret_cast<void *>(&moe_emu_role_end);
    emulator[MOE_EMU_SLOT_MBARRIER_PENDING] =
        reinterpret_cast<void *>(&moe_emu_mbarrier_pending);
    emulator[MOE_EMU_SLOT_ASYNC_CREATE_TOKEN] =
        reinterpret_cast<void *>(&moe_emu_async_create_token);
    emulator[MOE_EMU_SLOT_ASYNC_EMPLACE_TOKEN] =
        reinterpret_cast<void *>(&moe_emu_async_emplace_token);
    emulator[MOE_EMU_SLOT_ASYNC_SET_TOKEN_ERROR] =
        reinterpret_cast<void *>(&moe_emu_async_set_token_error);
    emulator[MOE_EMU_SLOT_ASYNC_IS_TOKEN_ERROR] =
        reinterpret_cast<void *>(&moe_emu_async_is_token_error);
    emulator[MOE_EMU_SLOT_ASYNC_EXECUTE] =
        reinterpret_cast<void *>(&moe_emu_async_execute);
    emulator[MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN_AND_EXECUTE] =
        reinterpret_cast<void *>(&moe_emu_async_await_token_and_execute);
    emulator[MOE_EMU_SLOT_ASYNC_AWAIT_TOKEN] =
        reinterpret_cast<void *>(&moe_emu_async_await_token);
    emulator[MOE_EMU_SLOT_ASYNC_REFERENCE] =
        reinterpret_cast<void *>(&moe_emu_async_reference);
    artifact->emulated = true;
  }
  if (!artifact->cudaArch.empty()) {
    auto **table = static_cast<void **>(dlsym(artifact->library, MOE_ABI_GPU_API));
    artifact->image = static_cast<const moe::cuda::Image *>(
        dlsym(artifact->library, MOE_ABI_CUDA_MODULE));
    if (!table || !artifact->image)
      return fail(file + ": a CUDA artifact without its kernel image "
                         "(moe_cuda_module) or runtime table (moe_gpu_api)");
    moe::cuda::fillApiTable(table);
  }
  for (std::vector<TensorInfo> *list : {&artifact->inputs, &artifact->outputs})
    for (TensorInfo &info : *list)
      for (const std::string &name : info.dimNames)
        info.dimNamePointers.push_back(name.c_str());
  *out = artifact.release();
  return nullptr;
}

void moe_artifact_free(moe_artifact *artifact) { delete artifact; }

size_t moe_artifact_num_inputs(const moe_artifact *artifact) {
  return artifact->inputs.size();
}

size_t moe_artifact_num_outputs(const moe_artifact *artifact) {
  return artifact->outputs.size();
}

static moe_tensor_info infoOf(const TensorInfo &info) {
  return {info.name.c_str(), info.dtype, static_cast<int32_t>(info.dims.size()),
          info.dims.data(), info.dimNamePointers.data()};
}

moe_tensor_info moe_artifact_input(const moe_artifact *artifact, size_t index) {
  return infoOf(artifact->inputs.at(index));
}

moe_tensor_info moe_artifact_output(const moe_artifact *artifact,
                                    size_t index) {
  return infoOf(artifact->outputs.at(index));
}

size_t moe_artifact_num_layers(const moe_artifact *artifact) {
  return artifact->layers.size();
}

moe_layer_info moe_artifact_layer(const moe_artifact *artifact, size_t index) {
  return artifact->layers.at(index);
}

const char *moe_artifact_device(const moe_artifact *artifact) {
  return artifact->cudaArch.empty() ? "cpu" : "cuda";
}

const char *moe_artifact_arch(const moe_artifact *artifact) {
  return artifact->cudaArch.c_str();
}

const char *moe_artifact_cpu(const moe_artifact *artifact) {
  return artifact->cpu.c_str();
}

moe_error *moe_artifact_keep_inputs(moe_artifact *artifact,
                                    const size_t *indices, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (indices[i] >= artifact->inputs.size())
      return fail("cannot keep input " + std::to_string(indices[i]) +
                  " on the device: the artifact has " +
                  std::to_string(artifact->inputs.size()) + " inputs");
  std::lock_guard<std::mutex> lock(artifact->deviceMutex);
  artifact->kept.resize(artifact->inputs.size());
  for (size_t i = 0; i < count; ++i)
    artifact->kept[indices[i]].kept = true;
  return nullptr;
}

moe_error *moe_artifact_run(moe_artifact *artifact, const moe_tensor *inputs,
                            size_t numInputs, moe_tensor *outputs,
                            size_t numOutputs) {
  if (numInputs != artifact->inputs.size())
    return fail("the model takes " + std::to_string(artifact->inputs.size()) +
                " inputs, " + std::to_string(numInputs) + " were given");
  if (numOutputs != artifact->outputs.size())
    return fail("the model has " + std::to_string(artifact->outputs.size()) +
                " outputs, " + std::to_string(numOutputs) + " were given");
  // Every input is checked before anything runs.
  for (size_t i = 0; i < numInputs; ++i) {
    const TensorInfo &info = artifact->inputs[i];
    const moe_tensor &in = inputs[i];
    int32_t rank = static_cast<int32_t>(info.dims.size());
    bool matches = in.dtype == info.dtype && in.rank == rank;
    for (int32_t d = 0; matches && d < rank; ++d)
      matches = in.dims[d] >= 0 && (info.dims[d] < 0 || info.dims[d] == in.dims[d]);
    if (!matches)
      return fail("input '" + info.name + "' expects " +
                  shapeString(info.dtype, info.dims.data(), rank) + ", got " +
                  shapeString(in.dtype, in.dims,
                              std::min<int32_t>(std::max(in.rank, 0),
                                                MOE_MAX_RANK)));
    if (!in.data && elementCount(in.dims, rank) > 0)
      return fail("input '" + info.name + "' has no data");
  }
  // Dynamic dimensions that the model names alike are one size (the sequence
  // of a KV cache's keys and values): inputs that disagree would be read past
  // their ends.
  std::map<std::string, std::pair<int64_t, const TensorInfo *>> symbols;
  for (size_t i = 0; i < numInputs; ++i) {
    const TensorInfo &info = artifact->inputs[i];
    for (size_t d = 0; d < info.dims.size() && d < info.dimNames.size(); ++d) {
      const std::string &symbol = info.dimNames[d];
      if (info.dims[d] >= 0 || symbol.empty())
        continue;
      auto [it, fresh] = symbols.try_emplace(symbol, inputs[i].dims[d], &info);
      if (!fresh && it->second.first != inputs[i].dims[d])
        return fail("input '" + info.name + "' dimension " + std::to_string(d) +
                    " (" + symbol + ") is " + std::to_string(inputs[i].dims[d]) +
                    ", but input '" + it->second.second->name + "' gives " +
                    symbol + " = " + std::to_string(it->second.first));
    }
  }

  // On a GPU, the inputs and weights are copied to device memory first, and
  // outputs come back from it.
  std::unique_ptr<moe::cuda::Run> device;
  void *weights = artifact->weights;
  if (!artifact->cudaArch.empty()) {
    std::lock_guard<std::mutex> lock(artifact->deviceMutex);
    device = std::make_unique<moe::cuda::Run>(artifact->image, artifact->cudaArch,
                                              !artifact->imageAcquired);
    if (!device->failed()) {
      artifact->imageAcquired = true;
      if (!artifact->deviceWeights)
        artifact->deviceWeights =
            device->upload(artifact->weights, artifact->weightBytes);
    }
    if (device->failed())
      return fail("this artifact runs on CUDA (" + artifact->cudaArch +
                  "): " + device->error());
    weights = artifact->deviceWeights;
  }
  // A shape run before is captured as a CUDA graph, then replayed.
  moe_artifact::Replay *replay = nullptr;
  std::unique_lock<std::mutex> replayLock;
  if (device && moe::cuda::graphsEnabled()) {
    std::vector<int64_t> key;
    for (size_t i = 0; i < numInputs; ++i) {
      int32_t rank = static_cast<int32_t>(artifact->inputs[i].dims.size());
      key.insert(key.end(), inputs[i].dims, inputs[i].dims + rank);
      if (i < artifact->kept.size() && artifact->kept[i].kept)
        key.push_back(reinterpret_cast<intptr_t>(inputs[i].data));
    }
    std::lock_guard<std::mutex> lock(artifact->deviceMutex);
    auto &slot = artifact->replays[key];
    if (!slot)
      slot = std::make_unique<moe_artifact::Replay>();
    replay = slot.get();
    replayLock = std::unique_lock<std::mutex>(replay->mutex);
    if (replay->never || (!replay->graph && replay->runs++ == 0))
      replay = nullptr;
  }
  // The outputs come back as one struct of descriptors.
  size_t resultWords = 0;
  for (const TensorInfo &info : artifact->outputs)
    resultWords += 3 + 2 * info.dims.size();
  std::vector<int64_t> results(resultWords);
  std::vector<void *> deviceInputs;
  // The inputs to device memory (a graph's own buffers, or the pool's), then
  // the host code, captured or not, or the graph replayed. Returns false
  // when a capture turned out not replayable: nothing ran, run again.
  moe_error *error = nullptr;
  auto execute = [&]() -> bool {
    bool capture = replay && !replay->graph;
    std::unique_ptr<moe::cuda::Graph> graph;
    if (capture) {
      graph = std::make_unique<moe::cuda::Graph>();
      device->allocateInto(graph.get());
      replay->inputs.assign(numInputs, nullptr);
    }
    std::vector<std::vector<int64_t>> descriptors;
    for (size_t i = 0; i < numInputs; ++i) {
      const moe_tensor &in = inputs[i];
      int32_t rank = static_cast<int32_t>(artifact->inputs[i].dims.size());
      void *data = in.data;
      if (device) {
        size_t bytes = elementCount(in.dims, rank) * moe_dtype_size(in.dtype);
        if (i < artifact->kept.size() && artifact->kept[i].kept) {
          // Uploaded once, while the caller passes the same buffer.
          std::lock_guard<std::mutex> lock(artifact->deviceMutex);
          moe_artifact::Kept &k = artifact->kept[i];
          if (!k.device || k.host != in.data || k.bytes != bytes) {
            moe::cuda::freeUploaded(k.device);
            k = {true, in.data, bytes, device->upload(in.data, bytes)};
            if (!k.device) {
              k = {true, nullptr, 0, nullptr};
              device->allocateInto(nullptr);
              for (void *p : deviceInputs)
                device->release(p);
              deviceInputs.clear();
              error = fail("input '" + artifact->inputs[i].name +
                           "': " + device->error());
              return true;
            }
          }
          data = k.device;
        } else if (replay) {
          if (capture)
            replay->inputs[i] = device->allocate(bytes);
          data = replay->inputs[i];
          device->copyToDevice(data, in.data, bytes);
        } else {
          data = device->allocate(bytes);
          device->copyToDevice(data, in.data, bytes);
          deviceInputs.push_back(data);
        }
      }
      descriptors.push_back(descriptor(data, in.dims, rank));
    }
    descriptors.push_back(descriptor(weights, artifact->weightDims, 1));
    std::vector<void *> args;
    if (numOutputs)
      args.push_back(results.data());
    for (std::vector<int64_t> &d : descriptors)
      args.push_back(d.data());
    if (capture) {
      bool recorded = device->beginCapture();
      if (recorded)
        artifact->entry(args.data());
      recorded = device->endCapture(*graph) && recorded;
      device->allocateInto(nullptr);
      if (!recorded) {
        // The host reads device memory (or the driver refused): the graph's
        // buffers go, and this shape runs as usual from now on.
        replay->never = true;
        replay = nullptr;
        return false;
      }
      replay->results = results;
      replay->graph = std::move(graph);
    }
    if (replay) {
      results = replay->results;
      device->launch(*replay->graph);
    } else {
      if (artifact->emulated)
        moe_emu_run_begin();
      artifact->entry(args.data());
    }
    if (device)
      device->synchronize();
    return true;
  };
  if (!execute())
    execute();
  if (error)
    return error;

  // Check every output before writing any. An output may be a view of a
  // larger buffer (a slice, a broadcast): its strides say where each element
  // is.
  struct Result {
    void *allocated;
    char *data;
    std::vector<int64_t> dims, strides;
  };
  std::vector<Result> produced;
  size_t word = 0;
  for (const TensorInfo &info : artifact->outputs) {
    int32_t rank = static_cast<int32_t>(info.dims.size());
    Result r;
    r.allocated = reinterpret_cast<void *>(static_cast<intptr_t>(results[word]));
    r.data = reinterpret_cast<char *>(static_cast<intptr_t>(results[word + 1])) +
             results[word + 2] * moe_dtype_size(info.dtype);
    r.dims.assign(results.begin() + word + 3, results.begin() + word + 3 + rank);
    r.strides.assign(results.begin() + word + 3 + rank,
                     results.begin() + word + 3 + 2 * rank);
    produced.push_back(std::move(r));
    word += 3 + 2 * rank;
  }
  // On a GPU the outputs come to host memory first, so that a failed copy
  // writes nothing; from there on, both devices take the same path.
  std::vector<std::vector<char>> staged(device ? numOutputs : 0);
  if (device) {
    for (size_t i = 0; i < numOutputs; ++i) {
      Result &r = produced[i];
      staged[i].resize(spanOf(r.dims, r.strides) *
                       moe_dtype_size(artifact->outputs[i].dtype));
      device->copyToHost(staged[i].data(), r.data, staged[i].size());
      r.data = staged[i].data();
    }
    // Two outputs may be one buffer (a value returned twice): released once.
    std::set<void *> released;
    for (Result &r : produced) {
      if (r.allocated && released.insert(r.allocated).second)
        device->release(r.allocated);
      r.allocated = nullptr;
    }
    for (void *input : deviceInputs)
      device->release(input);
  }
  uint64_t faults = 0;
  const char *fault = artifact->emulated ? moe_emu_run_fault(&faults) : nullptr;
  if (fault)
    error = fail("the CUDA emulator found " +
                 (faults == 1 ? std::string("a fault")
                              : std::to_string(faults) + " faults") +
                 "; the first: " + fault);
  if (device && device->failed())
    error = fail("the run on CUDA (" + artifact->cudaArch +
                 ") failed: " + device->error());
  for (size_t i = 0; i < numOutputs && !error; ++i) {
    const TensorInfo &info = artifact->outputs[i];
    const moe_tensor &out = outputs[i];
    if (!out.data)
      continue;
    int32_t rank = static_cast<int32_t>(info.dims.size());
    bool matches = out.dtype == info.dtype && out.rank == rank;
    for (int32_t d = 0; matches && d < rank; ++d)
      matches = out.dims[d] == produced[i].dims[d];
    if (!matches)
      error = fail("output '" + info.name + "' is " +
                   shapeString(info.dtype, produced[i].dims.data(), rank) +
                   ", the buffer given is " +
                   shapeString(out.dtype, out.dims,
                               std::min<int32_t>(std::max(out.rank, 0),
                                                 MOE_MAX_RANK)));
  }
  // How many outputs each buffer holds: one held by a single output may go
  // to the caller as it is.
  std::map<void *, int> holders;
  for (Result &r : produced)
    ++holders[r.allocated];
  for (size_t i = 0; i < numOutputs; ++i) {
    const TensorInfo &info = artifact->outputs[i];
    Result &r = produced[i];
    int32_t rank = static_cast<int32_t>(info.dims.size());
    size_t bytes = elementCount(r.dims.data(), rank) * moe_dtype_size(info.dtype);
    if (!error) {
      moe_tensor &out = outputs[i];
      // A host buffer from the compiled code's allocator, holding this
      // output alone, row-major from its start: the caller takes it (and
      // frees it with moe_free) instead of a copy.
      if (!out.data && !device && !artifact->emulated && bytes && r.allocated &&
          r.data == r.allocated && holders[r.allocated] == 1 &&
          isRowMajor(r.dims, r.strides)) {
        out.data = r.allocated;
        out.dtype = info.dtype;
        out.rank = rank;
        std::copy(r.dims.begin(), r.dims.end(), out.dims);
        r.allocated = nullptr;
        continue;
      }
      if (!out.data) {
        out.data = std::malloc(bytes ? bytes : 1);
        out.dtype = info.dtype;
        out.rank = rank;
        std::copy(r.dims.begin(), r.dims.end(), out.dims);
      }
      copyStrided(static_cast<char *>(out.data), r.data, r.dims, r.strides,
                  moe_dtype_size(info.dtype));
    }
  }
  // Two outputs may be one buffer (a value returned twice): freed once.
  std::set<void *> freed;
  for (Result &r : produced)
    if (freed.insert(r.allocated).second)
      moe::hostRelease(r.allocated);
  return error;
}

void moe_free(void *data) { moe::hostRelease(data); }

} // extern "C"
