/* A CUDA driver on the CPU, for checking the host half of CUDA artifacts and
 * the runtime without a GPU (MOE_CUDA_DRIVER=<this library>). Device memory is
 * host memory, copies are memcpy, and kernels do not run: a launch checks that
 * its kernel exists in the module's PTX, that its grid and block are valid, and
 * that every parameter the PTX declares was passed (each is read, with its PTX
 * size). It reports a compute capability of 8.6, so the runtime loads the PTX
 * of an sm_90 or sm_90a artifact (an sm_80 cubin would run there and be
 * loaded), whose
 * `.entry` declarations it parses. Stream capture records launches in a graph
 * (checked as launches are) instead of counting them, and replaying the graph
 * counts them; a synchronisation or a copy while capturing is an error, as the
 * driver makes it. It has 4 multiprocessors, each holding two blocks of a
 * kernel with up to 100 KiB of dynamic shared memory and one with more; it
 * counts the occupancy queries, and a launch of a kernel whose occupancy was
 * asked for with more blocks than the device holds is an error (a persistent
 * kernel's launch the runtime did not fit to the device). At exit it prints one line of counts:
 * launches, allocations, frees, copies to the device and to the host, errors,
 * graph launches, the launches captured and the occupancy queries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
enum {
  kSuccess = 0,
  kInvalidValue = 1,
  kInvalidImage = 200,
  kNotFound = 500,
};

#define kMaxKernels 4096
#define kMaxParams 512

struct kernel {
  char name[128];
  int params;
  int sizes[kMaxParams];
  /* The blocks the device holds at once, once asked (0: never asked). */
  int resident;
};

struct module {
  int count;
  struct kernel kernels[kMaxKernels];
};

static long launches, allocations, frees, uploads, readbacks, errors;
static long graphLaunches, captured, occupancyQueries;

/* A captured graph: how many launches it holds. */
struct graph {
  long launches;
};
static struct graph *capturing;
enum { kStreamCaptureUnsupported = 900 };

static void fail(const char *what) {
  ++errors;
  fprintf(stderr, "mock-cuda: %s\n", what);
}

static void __attribute__((destructor)) report(void) {
  fprintf(stderr,
          "mock-cuda: %ld launches, %ld allocations, %ld frees, %ld copies to "
          "the device, %ld to the host, %ld errors, %ld graph launches of %ld "
          "captured launches, %ld occupancy queries\n",
          launches, allocations, frees, uploads, readbacks, errors,
          graphLaunches, captured, occupancyQueries);
}

CUresult cuInit(unsigned flags) { return flags == 0 ? kSuccess : kInvalidValue; }
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return ordinal == 0 ? kSuccess : 101;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  /* Compute capability 8.6, 4 multiprocessors. */
  *value = attribute == 75 ? 8 : attribute == 76 ? 6 : attribute == 16 ? 4 : 0;
  return kSuccess;
}
CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  (void)device;
  static int primary;
  *context = &primary;
  return kSuccess;
}
CUresult cuCtxSetCurrent(void *context) { return context ? kSuccess : 201; }

/* The size in bytes of a `.param .<type>` declaration. */
static int paramSize(const char *type) {
  if (!strncmp(type, "u64", 3) || !strncmp(type, "s64", 3) ||
      !strncmp(type, "b64", 3) || !strncmp(type, "f64", 3))
    return 8;
  if (!strncmp(type, "u16", 3) || !strncmp(type, "s16", 3) ||
      !strncmp(type, "b16", 3) || !strncmp(type, "f16", 3))
    return 2;
  if (!strncmp(type, "u8", 2) || !strncmp(type, "s8", 2) || !strncmp(type, "b8", 2))
    return 1;
  return 4;
}

CUresult cuModuleLoadDataEx(void **out, const void *image, unsigned options,
                            int *names, void **values) {
  (void)options, (void)names, (void)values;
  const char *ptx = (const char *)image;
  if (!strstr(ptx, ".version") || !strstr(ptx, ".target"))
    return kInvalidImage;
  struct module *m = calloc(1, sizeof(struct module));
  for (const char *p = strstr(ptx, ".entry "); p; p = strstr(p + 1, ".entry ")) {
    if (m->count == kMaxKernels)
      return kInvalidImage;
    struct kernel *k = &m->kernels[m->count++];
    const char *name = p + 7, *open = strchr(name, '(');
    if (!open || open - name >= (long)sizeof(k->name))
      return kInvalidImage;
    memcpy(k->name, name, open - name);
    const char *close = strchr(open, ')');
    for (const char *q = strstr(open, ".param ."); q && q < close;
         q = strstr(q + 1, ".param .")) {
      if (k->params == kMaxParams)
        return kInvalidImage;
      k->sizes[k->params++] = paramSize(q + 8);
    }
  }
  *out = m;
  return kSuccess;
}

CUresult cuModuleLoadData(void **out, const void *image) {
  return cuModuleLoadDataEx(out, image, 0, 0, 0);
}

CUresult cuModuleUnload(void *module) {
  free(module);
  return kSuccess;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  struct module *m = module;
  for (int i = 0; i < m->count; ++i)
    if (!strcmp(m->kernels[i].name, name)) {
      *function = &m->kernels[i];
      return kSuccess;
    }
  fail("a launch names a kernel the PTX does not define");
  return kNotFound;
}

CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  (void)function, (void)attribute, (void)value;
  return kSuccess;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks,
                                                     void *function,
                                                     int blockSize,
                                                     size_t shared) {
  ++occupancyQueries;
  if (!function || blockSize <= 0 || blockSize > 1024) {
    fail("an occupancy query for no kernel or an invalid block");
    return kInvalidValue;
  }
  *blocks = shared > 100 * 1024 ? 1 : 2;
  ((struct kernel *)function)->resident = *blocks * 4;
  return kSuccess;
}

CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **params, void **extra) {
  (void)shared, (void)stream;
  struct kernel *k = function;
  if (capturing) {
    ++capturing->launches;
    ++captured;
  } else {
    ++launches;
  }
  if (!gx || !gy || !gz || !bx || !by || !bz || (uint64_t)bx * by * bz > 1024) {
    fail("a launch with an invalid grid or block");
    return kInvalidValue;
  }
  if (k->resident && gx > (unsigned)k->resident) {
    fail("a persistent kernel launched with more blocks than the device holds");
    return kInvalidValue;
  }
  if (extra || (k->params && !params)) {
    fail("a launch without its parameters");
    return kInvalidValue;
  }
  /* Reads every parameter the kernel declares, as wide as it declares it. */
  volatile unsigned char sink = 0;
  for (int i = 0; i < k->params; ++i) {
    const unsigned char *value = params[i];
    if (!value) {
      fail("a null kernel parameter");
      return kInvalidValue;
    }
    for (int b = 0; b < k->sizes[i]; ++b)
      sink ^= value[b];
  }
  (void)sink;
  return kSuccess;
}

CUresult cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
  void *p = calloc(1, bytes ? bytes : 1);
  if (!p)
    return 2;
  ++allocations;
  *pointer = (uint64_t)(uintptr_t)p;
  return kSuccess;
}

CUresult cuMemFree_v2(uint64_t pointer) {
  ++frees;
  free((void *)(uintptr_t)pointer);
  return kSuccess;
}

CUresult cuMemcpyHtoDAsync_v2(uint64_t device, const void *host, size_t bytes,
                              void *stream) {
  (void)stream;
  if (capturing) {
    fail("a copy to the device while the stream is captured");
    return kStreamCaptureUnsupported;
  }
  ++uploads;
  memcpy((void *)(uintptr_t)device, host, bytes);
  return kSuccess;
}

CUresult cuMemcpyDtoHAsync_v2(void *host, uint64_t device, size_t bytes,
                              void *stream) {
  (void)stream;
  if (capturing) {
    fail("a copy to the host while the stream is captured");
    return kStreamCaptureUnsupported;
  }
  ++readbacks;
  memcpy(host, (const void *)(uintptr_t)device, bytes);
  return kSuccess;
}

CUresult cuStreamCreate(void **stream, unsigned flags) {
  static int streams;
  (void)flags;
  *stream = &streams;
  return kSuccess;
}

CUresult cuStreamDestroy_v2(void *stream) {
  (void)stream;
  return kSuccess;
}

CUresult cuStreamSynchronize(void *stream) {
  (void)stream;
  if (capturing) {
    fail("a synchronisation while the stream is captured");
    return kStreamCaptureUnsupported;
  }
  return kSuccess;
}

CUresult cuStreamBeginCapture_v2(void *stream, int mode) {
  (void)stream;
  if (capturing || mode < 0 || mode > 2)
    return kInvalidValue;
  capturing = calloc(1, sizeof(struct graph));
  return capturing ? kSuccess : 2;
}

CUresult cuStreamEndCapture(void *stream, void **graph) {
  (void)stream;
  if (!capturing)
    return kInvalidValue;
  *graph = capturing;
  capturing = NULL;
  return kSuccess;
}

CUresult cuGraphInstantiateWithFlags(void **exec, void *graph,
                                     unsigned long long flags) {
  (void)flags;
  struct graph *copy = malloc(sizeof(struct graph));
  if (!copy)
    return 2;
  *copy = *(struct graph *)graph;
  *exec = copy;
  return kSuccess;
}

CUresult cuGraphLaunch(void *exec, void *stream) {
  (void)stream;
  if (capturing) {
    fail("a graph launch while the stream is captured");
    return kStreamCaptureUnsupported;
  }
  ++graphLaunches;
  launches += ((struct graph *)exec)->launches;
  return kSuccess;
}

CUresult cuGraphExecDestroy(void *exec) {
  free(exec);
  return kSuccess;
}

CUresult cuGraphDestroy(void *graph) {
  free(graph);
  return kSuccess;
}
