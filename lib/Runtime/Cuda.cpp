//===- Cuda.cpp - the CUDA driver API, loaded with dlopen -----------------===//
//
// libcuda.so.1 (or MOE_CUDA_DRIVER) is opened on first use, so the runtime
// builds and runs CPU artifacts on machines without a GPU. Modules are loaded
// once per artifact library (the cubin when it was built for this device,
// the PTX through the driver's JIT otherwise), kernels are looked up once per
// launch site, and device memory comes from a per-thread pool that keeps
// freed blocks for the next run on that thread's stream.
//
//===----------------------------------------------------------------------===//

#include "Cuda.h"
#include "moe/Runtime/ArtifactAbi.h"

#include <dlfcn.h>

#include <algorithm>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

namespace moe::cuda {
namespace {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = uint64_t;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUgraph = void *;
using CUgraphExec = void *;

constexpr int kComputeCapabilityMajor = 75;
constexpr int kComputeCapabilityMinor = 76;
constexpr int kMultiprocessorCount =
    16; // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
constexpr int kMaxDynamicSharedMemory =
    8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
constexpr unsigned kStreamNonBlocking = 1;
constexpr int kJitErrorLogBuffer = 5, kJitErrorLogBufferSize = 6;
constexpr int32_t kDefaultSharedLimit = 48 * 1024;
constexpr int kCaptureModeRelaxed = 2; // CU_STREAM_CAPTURE_MODE_RELAXED

/// The names of the CUresults a run can meet (cuda.h's enum).
const char *resultName(CUresult result) {
  static const std::map<int, const char *> kNames = {
      {0, "CUDA_SUCCESS"},
      {1, "CUDA_ERROR_INVALID_VALUE"},
      {2, "CUDA_ERROR_OUT_OF_MEMORY"},
      {3, "CUDA_ERROR_NOT_INITIALIZED"},
      {4, "CUDA_ERROR_DEINITIALIZED"},
      {34, "CUDA_ERROR_STUB_LIBRARY"},
      {35, "CUDA_ERROR_DEVICE_UNAVAILABLE"},
      {100, "CUDA_ERROR_NO_DEVICE"},
      {101, "CUDA_ERROR_INVALID_DEVICE"},
      {200, "CUDA_ERROR_INVALID_IMAGE"},
      {201, "CUDA_ERROR_INVALID_CONTEXT"},
      {209, "CUDA_ERROR_NO_BINARY_FOR_GPU"},
      {218, "CUDA_ERROR_INVALID_PTX"},
      {222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"},
      {300, "CUDA_ERROR_INVALID_SOURCE"},
      {400, "CUDA_ERROR_INVALID_HANDLE"},
      {500, "CUDA_ERROR_NOT_FOUND"},
      {700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
      {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"},
      {702, "CUDA_ERROR_LAUNCH_TIMEOUT"},
      {715, "CUDA_ERROR_ILLEGAL_INSTRUCTION"},
      {716, "CUDA_ERROR_MISALIGNED_ADDRESS"},
      {719, "CUDA_ERROR_LAUNCH_FAILED"},
      {999, "CUDA_ERROR_UNKNOWN"},
  };
  auto it = kNames.find(result);
  return it == kNames.end() ? nullptr : it->second;
}

std::string describe(const std::string &call, CUresult result) {
  const char *name = resultName(result);
  return call +
         " failed: " + (name ? name : "CUresult " + std::to_string(result));
}

/// The driver entry points the runtime uses.
struct Driver {
  void *library = nullptr;
  std::string error;
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuOccupancyMaxActiveBlocksPerMultiprocessor)(int *, CUfunction,
                                                          int, size_t);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuStreamDestroy)(CUstream);
  // The graph API, where the driver has it (else graphs are not used).
  CUresult (*cuStreamBeginCapture)(CUstream, int) = nullptr;
  CUresult (*cuStreamEndCapture)(CUstream, CUgraph *) = nullptr;
  CUresult (*cuGraphInstantiate)(CUgraphExec *, CUgraph,
                                 unsigned long long) = nullptr;
  CUresult (*cuGraphLaunch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*cuGraphExecDestroy)(CUgraphExec) = nullptr;
  CUresult (*cuGraphDestroy)(CUgraph) = nullptr;
  CUcontext context = nullptr;
  CUdevice device = 0;
  int major = 0, minor = 0, multiprocessors = 1;
};

template <typename F> bool bind(Driver &driver, F &slot, const char *name) {
  slot = reinterpret_cast<F>(dlsym(driver.library, name));
  if (!slot)
    driver.error = std::string("the CUDA driver lacks ") + name;
  return slot != nullptr;
}

Driver loadDriver() {
  Driver d;
  const char *path = std::getenv("MOE_CUDA_DRIVER");
  if (!path || !*path)
    path = "libcuda.so.1";
  d.library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!d.library) {
    d.error = std::string("no CUDA driver: ") + dlerror();
    return d;
  }
  if (!bind(d, d.cuInit, "cuInit") || !bind(d, d.cuDeviceGet, "cuDeviceGet") ||
      !bind(d, d.cuDeviceGetAttribute, "cuDeviceGetAttribute") ||
      !bind(d, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") ||
      !bind(d, d.cuCtxSetCurrent, "cuCtxSetCurrent") ||
      !bind(d, d.cuModuleLoadData, "cuModuleLoadData") ||
      !bind(d, d.cuModuleLoadDataEx, "cuModuleLoadDataEx") ||
      !bind(d, d.cuModuleUnload, "cuModuleUnload") ||
      !bind(d, d.cuModuleGetFunction, "cuModuleGetFunction") ||
      !bind(d, d.cuFuncSetAttribute, "cuFuncSetAttribute") ||
      !bind(d, d.cuOccupancyMaxActiveBlocksPerMultiprocessor,
            "cuOccupancyMaxActiveBlocksPerMultiprocessor") ||
      !bind(d, d.cuLaunchKernel, "cuLaunchKernel") ||
      !bind(d, d.cuMemAlloc, "cuMemAlloc_v2") ||
      !bind(d, d.cuMemFree, "cuMemFree_v2") ||
      !bind(d, d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2") ||
      !bind(d, d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2") ||
      !bind(d, d.cuStreamCreate, "cuStreamCreate") ||
      !bind(d, d.cuStreamSynchronize, "cuStreamSynchronize") ||
      !bind(d, d.cuStreamDestroy, "cuStreamDestroy_v2"))
    return d;
  auto optional = [&](auto &slot, const char *name) {
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(
        dlsym(d.library, name));
  };
  optional(d.cuStreamBeginCapture, "cuStreamBeginCapture_v2");
  optional(d.cuStreamEndCapture, "cuStreamEndCapture");
  optional(d.cuGraphInstantiate, "cuGraphInstantiateWithFlags");
  optional(d.cuGraphLaunch, "cuGraphLaunch");
  optional(d.cuGraphExecDestroy, "cuGraphExecDestroy");
  optional(d.cuGraphDestroy, "cuGraphDestroy");
  int ordinal = 0;
  if (const char *chosen = std::getenv("MOE_CUDA_DEVICE"))
    ordinal = std::atoi(chosen);
  CUresult r;
  if ((r = d.cuInit(0)) != 0) {
    d.error = describe("cuInit", r);
  } else if ((r = d.cuDeviceGet(&d.device, ordinal)) != 0) {
    d.error = describe("cuDeviceGet", r) + " (device " +
              std::to_string(ordinal) + ")";
  } else if ((r = d.cuDevicePrimaryCtxRetain(&d.context, d.device)) != 0) {
    d.error = describe("cuDevicePrimaryCtxRetain", r);
  } else {
    d.cuDeviceGetAttribute(&d.major, kComputeCapabilityMajor, d.device);
    d.cuDeviceGetAttribute(&d.minor, kComputeCapabilityMinor, d.device);
    d.cuDeviceGetAttribute(&d.multiprocessors, kMultiprocessorCount, d.device);
  }
  return d;
}

Driver &driver() {
  static Driver instance = loadDriver();
  return instance;
}

/// Whether a cubin for `arch` runs on the device: one for sm_XY runs on
/// compute capability X.Z for Z >= Y; one for an architecture-specific sm_XYa
/// only on X.Y (CUDA Programming Guide, "Binary Compatibility").
bool runsOn(const std::string &arch, const Driver &d) {
  if (arch.size() < 5 || arch.compare(0, 3, "sm_") != 0)
    return false;
  int number = std::atoi(arch.c_str() + 3);
  int major = number / 10, minor = number % 10;
  if (arch.back() == 'a')
    return major == d.major && minor == d.minor;
  return major == d.major && minor <= d.minor;
}

struct LoadedModule {
  CUmodule module = nullptr;
  int references = 0;
};
std::mutex modulesMutex;
std::map<const Image *, LoadedModule> &modules() {
  static std::map<const Image *, LoadedModule> loaded;
  return loaded;
}

/// A thread's stream and its device blocks, kept by size class (powers of
/// two from 256 bytes) for the thread's next runs; the stream orders every
/// use of them. Both go back to the driver when the thread ends.
struct ThreadState {
  CUstream stream = nullptr;
  std::map<size_t, std::vector<CUdeviceptr>> free;
  std::map<CUdeviceptr, size_t> sizes;

  ~ThreadState() {
    Driver &d = driver();
    if (!d.error.empty())
      return;
    // Errors are ignored: at process exit the driver may be gone already.
    for (auto &[size, blocks] : free)
      for (CUdeviceptr block : blocks)
        d.cuMemFree(block);
    for (auto &[block, size] : sizes)
      d.cuMemFree(block);
    if (stream)
      d.cuStreamDestroy(stream);
  }
};
thread_local ThreadState pool;
thread_local Run *current = nullptr;

size_t sizeClass(size_t bytes) {
  size_t size = 256;
  while (size < bytes)
    size <<= 1;
  return size;
}

extern "C" void *apiAlloc(int64_t bytes) {
  return current ? current->allocate(static_cast<size_t>(bytes)) : nullptr;
}
extern "C" void apiFree(void *device) {
  if (current)
    current->release(device);
}
extern "C" void apiRead(int64_t host, int64_t device, int64_t bytes) {
  void *dst = reinterpret_cast<void *>(static_cast<intptr_t>(host));
  if (!current) {
    std::memset(dst, 0, bytes);
    return;
  }
  current->copyToHost(dst,
                      reinterpret_cast<void *>(static_cast<intptr_t>(device)),
                      static_cast<size_t>(bytes));
}
extern "C" void apiLaunch(const Image *image, void **function, const char *name,
                          int64_t gx, int64_t gy, int64_t gz, int64_t bx,
                          int64_t by, int64_t bz, int32_t shared,
                          void **params) {
  if (!current)
    return;
  const int64_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  current->launch(image, function, name, grid, block, shared, params);
}

} // namespace

bool graphsEnabled() {
  const char *setting = std::getenv("MOE_CUDA_GRAPHS");
  if (setting && std::strcmp(setting, "0") == 0)
    return false;
  Driver &d = driver();
  return d.error.empty() && d.cuStreamBeginCapture && d.cuStreamEndCapture &&
         d.cuGraphInstantiate && d.cuGraphLaunch && d.cuGraphExecDestroy &&
         d.cuGraphDestroy;
}

Graph::~Graph() {
  Driver &d = driver();
  if (!d.error.empty())
    return;
  if (exec)
    d.cuGraphExecDestroy(exec);
  for (void *block : blocks)
    d.cuMemFree(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(block)));
}

void fillApiTable(void **table) {
  table[MOE_GPU_SLOT_ALLOC] = reinterpret_cast<void *>(&apiAlloc);
  table[MOE_GPU_SLOT_FREE] = reinterpret_cast<void *>(&apiFree);
  table[MOE_GPU_SLOT_READ] = reinterpret_cast<void *>(&apiRead);
  table[MOE_GPU_SLOT_LAUNCH] = reinterpret_cast<void *>(&apiLaunch);
}

Run::Run(const Image *image, const std::string &arch, bool acquire) {
  Driver &d = driver();
  if (!d.error.empty()) {
    error_ = d.error;
    return;
  }
  CUresult r = d.cuCtxSetCurrent(d.context);
  if (r != 0) {
    error_ = describe("cuCtxSetCurrent", r);
    return;
  }
  if (!pool.stream &&
      (r = d.cuStreamCreate(&pool.stream, kStreamNonBlocking))) {
    error_ = describe("cuStreamCreate", r);
    return;
  }
  stream_ = pool.stream;
  std::lock_guard<std::mutex> lock(modulesMutex);
  LoadedModule &loaded = modules()[image];
  if (!loaded.module && image->ptxBytes > 0) {
    bool native = image->cubinBytes > 0 && runsOn(arch, d);
    if (native)
      r = d.cuModuleLoadData(&loaded.module, image->cubin);
    if (!native || r != 0) {
      // The driver compiles the PTX for this device.
      char log[4096] = {0};
      int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferSize};
      void *values[] = {log, reinterpret_cast<void *>(sizeof(log))};
      r = d.cuModuleLoadDataEx(&loaded.module, image->ptx, 2, options, values);
      if (r != 0) {
        error_ = describe("loading the kernels (" + arch + " PTX, device sm_" +
                              std::to_string(d.major) +
                              std::to_string(d.minor) + ")",
                          r) +
                 (log[0] ? std::string(": ") + log : "");
        return;
      }
    }
  }
  if (acquire)
    ++loaded.references;
  module_ = loaded.module;
  previous_ = current;
  current = this;
}

Run::~Run() {
  if (current == this)
    current = previous_;
}

void Run::fail(const std::string &message) {
  if (error_.empty())
    error_ = message;
}

void *Run::allocate(size_t bytes) {
  if (failed())
    return nullptr;
  if (graph_) {
    // The graph's own block, at an address its replays use again.
    CUdeviceptr pointer = 0;
    if (CUresult r = driver().cuMemAlloc(&pointer, bytes ? bytes : 1)) {
      fail(describe("cuMemAlloc", r) + " (" + std::to_string(bytes) +
           " bytes)");
      return nullptr;
    }
    void *block = reinterpret_cast<void *>(static_cast<uintptr_t>(pointer));
    graph_->blocks.push_back(block);
    return block;
  }
  size_t size = sizeClass(bytes);
  std::vector<CUdeviceptr> &list = pool.free[size];
  CUdeviceptr pointer = 0;
  if (!list.empty()) {
    pointer = list.back();
    list.pop_back();
  } else if (CUresult r = driver().cuMemAlloc(&pointer, size)) {
    fail(describe("cuMemAlloc", r) + " (" + std::to_string(size) + " bytes)");
    return nullptr;
  }
  pool.sizes[pointer] = size;
  return reinterpret_cast<void *>(static_cast<uintptr_t>(pointer));
}

void Run::release(void *device) {
  auto pointer = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(device));
  auto it = pool.sizes.find(pointer);
  if (it == pool.sizes.end())
    return;
  pool.free[it->second].push_back(pointer);
  pool.sizes.erase(it);
}

void Run::copyToDevice(void *device, const void *host, size_t bytes) {
  if (failed() || bytes == 0)
    return;
  if (CUresult r = driver().cuMemcpyHtoDAsync(
          static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(device)), host,
          bytes, stream_))
    fail(describe("cuMemcpyHtoDAsync", r));
}

void Run::copyToHost(void *host, const void *device, size_t bytes) {
  if (capturing_) {
    // Nothing has run yet: the capture cannot be replayed.
    readWhileCapturing_ = true;
    std::memset(host, 0, bytes);
    return;
  }
  if (!failed() && bytes > 0) {
    CUresult r = driver().cuMemcpyDtoHAsync(
        host, static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(device)),
        bytes, stream_);
    if (r != 0)
      fail(describe("cuMemcpyDtoHAsync", r));
    else
      synchronize();
  }
  // What the host reads after a failure is zero: loops it bounds do not run.
  if (failed())
    std::memset(host, 0, bytes);
}

void Run::synchronize() {
  if (failed())
    return;
  if (CUresult r = driver().cuStreamSynchronize(stream_))
    fail(describe("cuStreamSynchronize", r) +
         " (a kernel of this run faulted)");
}

void Run::launch(const Image *image, void **function, const char *name,
                 const int64_t grid[3], const int64_t block[3], int32_t shared,
                 void **params) {
  if (failed())
    return;
  // A negative x size: a persistent kernel's launch, up to -x blocks.
  int64_t gridX = grid[0] < 0 ? -grid[0] : grid[0];
  if (gridX == 0 || grid[1] <= 0 || grid[2] <= 0)
    return; // An empty iteration space: nothing to run.
  Driver &d = driver();
  if (!*function) {
    CUfunction found = nullptr;
    if (CUresult r = d.cuModuleGetFunction(&found, module_, name)) {
      fail("kernel " + std::string(name) + ": " +
           describe("cuModuleGetFunction", r));
      return;
    }
    if (shared > kDefaultSharedLimit)
      if (CUresult r =
              d.cuFuncSetAttribute(found, kMaxDynamicSharedMemory, shared)) {
        fail("kernel " + std::string(name) + ": " +
             describe("cuFuncSetAttribute", r));
        return;
      }
    *function = found;
  }
  if (grid[0] < 0) {
    // As many blocks as the device holds at once: its multiprocessors times
    // the kernel's blocks each holds at this block size and shared memory.
    int perMultiprocessor = 0;
    if (CUresult r = d.cuOccupancyMaxActiveBlocksPerMultiprocessor(
            &perMultiprocessor, *function,
            static_cast<int>(block[0] * block[1] * block[2]),
            static_cast<size_t>(shared))) {
      fail("kernel " + std::string(name) + ": " +
           describe("cuOccupancyMaxActiveBlocksPerMultiprocessor", r));
      return;
    }
    gridX = std::min<int64_t>(gridX, int64_t(std::max(1, perMultiprocessor)) *
                                         std::max(1, d.multiprocessors));
  }
  if (CUresult r = d.cuLaunchKernel(
          *function, static_cast<unsigned>(gridX),
          static_cast<unsigned>(grid[1]), static_cast<unsigned>(grid[2]),
          static_cast<unsigned>(block[0]), static_cast<unsigned>(block[1]),
          static_cast<unsigned>(block[2]), static_cast<unsigned>(shared),
          stream_, params, nullptr))
    fail("kernel " + std::string(name) + ": " + describe("cuLaunchKernel", r));
  (void)image;
}

bool Run::beginCapture() {
  if (failed() || !graphsEnabled())
    return false;
  readWhileCapturing_ = false;
  capturing_ = driver().cuStreamBeginCapture(stream_, kCaptureModeRelaxed) == 0;
  return capturing_;
}

bool Run::endCapture(Graph &graph) {
  if (!capturing_)
    return false;
  capturing_ = false;
  Driver &d = driver();
  CUgraph captured = nullptr;
  CUresult r = d.cuStreamEndCapture(stream_, &captured);
  bool usable = r == 0 && captured && !readWhileCapturing_ && !failed() &&
                d.cuGraphInstantiate(&graph.exec, captured, 0) == 0;
  if (captured)
    d.cuGraphDestroy(captured);
  return usable;
}

void Run::launch(const Graph &graph) {
  if (failed())
    return;
  if (CUresult r = driver().cuGraphLaunch(graph.exec, stream_))
    fail(describe("cuGraphLaunch", r));
}

void *Run::upload(const void *host, size_t bytes) {
  if (failed())
    return nullptr;
  CUdeviceptr pointer = 0;
  if (CUresult r = driver().cuMemAlloc(&pointer, bytes ? bytes : 1)) {
    fail(describe("cuMemAlloc", r) + " (" + std::to_string(bytes) +
         " bytes of weights)");
    return nullptr;
  }
  void *device = reinterpret_cast<void *>(static_cast<uintptr_t>(pointer));
  copyToDevice(device, host, bytes);
  synchronize();
  if (failed()) {
    freeUploaded(device);
    return nullptr;
  }
  return device;
}

void freeUploaded(void *device) {
  if (device && driver().error.empty())
    driver().cuMemFree(
        static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(device)));
}

void releaseImage(const Image *image) {
  std::lock_guard<std::mutex> lock(modulesMutex);
  auto it = modules().find(image);
  if (it == modules().end() || --it->second.references > 0)
    return;
  if (it->second.module && driver().error.empty())
    driver().cuModuleUnload(it->second.module);
  modules().erase(it);
}

} // namespace moe::cuda
