//===- Cuda.h - the runtime's CUDA driver layer (internal) ------*- C++ -*-===//
//
// The CUDA driver API loaded with dlopen, the functions a CUDA artifact's host
// code calls through its `moe_gpu_api` table, and copies between host and
// device. No CUDA header is needed to build it.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_CUDA_H
#define MOE_LIB_RUNTIME_CUDA_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moe::cuda {

/// The kernel image a CUDA artifact carries (`moe_cuda_module`).
struct Image {
  const char *ptx;
  int64_t ptxBytes;
  const char *cubin;
  int64_t cubinBytes;
};

/// Fills an artifact's `moe_gpu_api` table (alloc, free, read, launch).
void fillApiTable(void **table);

/// The work of one run captured as a CUDA graph, with the device memory its
/// launches use (its inputs', intermediates' and outputs'), which it owns:
/// replaying it runs the same kernels on the same buffers.
struct Graph {
  void *exec = nullptr;
  std::vector<void *> blocks;
  Graph() = default;
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;
  /// Destroys the executable graph and frees the blocks.
  ~Graph();
};

/// Whether the driver has the graph API and graphs are not turned off
/// (MOE_CUDA_GRAPHS=0).
bool graphsEnabled();

/// Where one run on the device stands: the module its launches use, its
/// stream, the first error. Set for the calling thread while it runs.
class Run {
public:
  /// Readies the driver, the primary context of device 0 (or
  /// MOE_CUDA_DEVICE), the module of `image` and this thread's stream; with
  /// `acquire`, takes a reference to the module for the caller's artifact
  /// (dropped by releaseImage). On failure `error()` says why.
  Run(const Image *image, const std::string &arch, bool acquire);
  ~Run();
  Run(const Run &) = delete;
  Run &operator=(const Run &) = delete;

  bool failed() const { return !error_.empty(); }
  const std::string &error() const { return error_; }

  /// Device memory from this thread's pool, released to it by `free`.
  void *allocate(size_t bytes);
  void release(void *device);
  void copyToDevice(void *device, const void *host, size_t bytes);
  void copyToHost(void *host, const void *device, size_t bytes);
  /// Device memory outside the pool, for an artifact's weights.
  void *upload(const void *host, size_t bytes);
  /// Waits for the stream; records a failure of any earlier launch.
  void synchronize();

  /// From now on, `allocate` takes device memory from the driver for `graph`,
  /// which frees it, and `release` leaves it be.
  void allocateInto(Graph *graph) { graph_ = graph; }
  /// Begins capturing the stream: launches are recorded, not run. A copy to
  /// the host (a value the host code reads) makes the capture fail.
  bool beginCapture();
  /// Ends the capture and instantiates the graph into `graph`; false when it
  /// cannot be replayed (the host read device memory during it, or the
  /// driver refused), which fails nothing else.
  bool endCapture(Graph &graph);
  /// Runs `graph` on the stream.
  void launch(const Graph &graph);
  void fail(const std::string &message);

  /// Internal: the launch the host code asked for. A negative x grid size
  /// launches a persistent kernel: at most -x blocks, as many as the device
  /// holds at once (moe_gpu.resident_grid).
  void launch(const Image *image, void **function, const char *name,
              const int64_t grid[3], const int64_t block[3], int32_t shared,
              void **params);

private:
  std::string error_;
  void *module_ = nullptr;
  void *stream_ = nullptr;
  Run *previous_ = nullptr;
  Graph *graph_ = nullptr;
  bool capturing_ = false, readWhileCapturing_ = false;
};

/// Frees what Run::upload returned.
void freeUploaded(void *device);

/// Drops a reference to the module of `image` loaded by a Run, unloading it
/// with the last.
void releaseImage(const Image *image);

} // namespace moe::cuda

#endif // MOE_LIB_RUNTIME_CUDA_H
