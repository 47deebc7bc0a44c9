//===- HostMemory.h - the buffers of CPU artifacts --------------*- C++ -*-===//
//
// CPU artifacts allocate their buffers through the runtime (moe_host_api,
// moe/Runtime/ArtifactAbi.h). Large buffers (attention's scores, a long
// prompt's activations) are whole 2 MiB pages the kernel is asked to back
// with huge pages, and a freed one is kept for the next call that asks for
// as many bytes: a model called again and again with the same shapes touches
// fresh memory only on its first call. Small buffers come from the C library.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_HOSTMEMORY_H
#define MOE_LIB_RUNTIME_HOSTMEMORY_H

#include <cstddef>

namespace moe {

/// `bytes` aligned to `alignment` (a power of two); null when out of memory.
void *hostAllocate(size_t alignment, size_t bytes);

/// Releases a buffer of hostAllocate, or of the C library's malloc family.
void hostRelease(void *data);

/// Fills an artifact's moe_host_api table: allocate, release.
void fillHostApiTable(void **table);

} // namespace moe

#endif // MOE_LIB_RUNTIME_HOSTMEMORY_H
