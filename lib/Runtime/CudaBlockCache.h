//===- CudaBlockCache.h - reuse of freed device blocks ----------*- C++ -*-===//
//
// Generated host code allocates its buffers on every call and frees each one
// after its last use (lora-cuda-device-memory). cuMemAlloc and cuMemFree
// cost microseconds to milliseconds each, cuMemFree waits for the whole
// device, and a new address on every call also misses the tensor-map cache.
// BlockCache keeps freed blocks, per device, and hands them out again, like
// PyTorch's caching allocator without splitting blocks: a request takes the
// oldest free block of its device (the first the driver gave) that is at
// least its size rounded up to 512 bytes and at most a quarter larger. Free
// blocks go back to the driver when an allocation fails (which is then
// retried) and on emptyCache().
//
// Oldest, not smallest: then a call that repeats the requests of the call
// before, on the same streams, gets the blocks that call had, request by
// request, so buffers keep their addresses and the tensor maps cached for
// them (by address) serve again. (Generated host code waits for its stream
// at the end of each call, which makes its freed blocks free for any
// stream, and the stream pool hands a call the stream it used before.) (Proof
// sketch: at each request the free blocks are those of the call before plus the
// blocks that call had yet to create, which are all younger; the oldest fitting
// one is the same, or, where the call before created a block, that block.
// Taking the smallest fit would prefer a younger block of a closer size.
// Measured with the fake driver of test_cuda_host.py on its bf16 Llama:
// smallest fit encoded new tensor maps in calls 2 to 4 of inference and in
// train steps 2 to 22; oldest fit, in no call after the first, and in train
// step 2 only.)
//
// Generated host code frees a buffer on the stream that its launches use
// (lora-cuda-stream-order), without waiting for them. Such a block is handed
// out again on that stream only, where new work is ordered after the
// launches that may still use it, until the stream is synchronized; then
// on any. The cache knows nothing of CUDA: it calls the functions it is
// given, so that it is tested without a GPU.
//
//===----------------------------------------------------------------------===//

#ifndef LORA_RUNTIME_CUDABLOCKCACHE_H
#define LORA_RUNTIME_CUDABLOCKCACHE_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace lora_runtime::cuda {

class BlockCache {
public:
  /// Allocates `bytes` on the current device: the block, or null, with
  /// `outOfMemory` set when that is why (only then is a retry worth it).
  using AllocateFn = std::function<void *(size_t bytes, bool &outOfMemory)>;
  /// Gives `block` of `device` back to the driver; false when it cannot be
  /// now (a CUDA graph is being captured), and the cache keeps the block.
  using FreeFn = std::function<bool(int device, void *block)>;

  BlockCache(AllocateFn allocate, FreeFn free)
      : allocateBlock(std::move(allocate)), freeBlock(std::move(free)) {}

  /// A block of at least `bytes` (> 0) on `device`, the current one, for
  /// work on `stream` (null: none): a free one that fits, freed on no
  /// stream or on `stream`, else a new one; when the device is out of
  /// memory, its free blocks go back to the driver and allocation is tried
  /// once more. Null when allocation fails.
  void *allocate(int device, size_t bytes, const void *stream = nullptr);

  enum class Release {
    Kept,        ///< The block is kept for reuse.
    AlreadyFree, ///< A block of the cache that was released before.
    Unknown,     ///< Not a block of the cache.
  };
  /// Keeps `block` for reuse, unless it is not a block in use. Work queued
  /// on `stream` (null: none) may still use it: until
  /// `synchronized(stream)`, it is handed out for work on `stream` only.
  Release release(void *block, const void *stream = nullptr);

  /// The work queued on `stream` so far is done: its freed blocks may go
  /// to any stream.
  void synchronized(const void *stream);

  /// Gives every free block back to the driver (whose free waits for the
  /// device, so blocks freed on a stream with work queued are safe to give),
  /// except those of pinned streams.
  void emptyCache();

  /// Keeps the blocks freed on `stream` from now on for work on `stream`
  /// only, until unpinStream: neither emptyCache nor an out-of-memory retry
  /// gives them to the driver, and synchronized(stream) does not free them
  /// for other streams. The blocks of a CUDA graph's capture stay where its
  /// replays, which no host code frees again, find them (CudaDevice.cpp).
  void pinStream(const void *stream);
  /// Ends pinStream: the stream's work is done, its blocks are free for any
  /// stream.
  void unpinStream(const void *stream);

  struct Stats {
    size_t inUseBytes = 0;  ///< Blocks handed out and not released.
    size_t cachedBytes = 0; ///< Free blocks kept for reuse.
    size_t allocations = 0; ///< Blocks the driver gave, over all time.
  };
  Stats stats() const;

  /// The size a request of `bytes` is rounded up to.
  static size_t roundUp(size_t bytes) {
    return (bytes + kGranularity - 1) / kGranularity * kGranularity;
  }
  static constexpr size_t kGranularity = 512;

private:
  /// Gives the free blocks of `device` (every device: -1) back to the
  /// driver; the lock is held.
  void releaseFree(int device);
  /// Moves the free blocks of `stream` to no stream; the lock is held.
  void freeForAnyStream(const void *stream);

  AllocateFn allocateBlock;
  FreeFn freeBlock;
  mutable std::mutex mutex;
  struct Block {
    int device;
    size_t size;
    bool free;
    uint64_t age; ///< Blocks are numbered as the driver gives them.
  };
  /// The streams of pinStream.
  std::set<const void *> pinned;
  /// Every block the driver gave and the cache still holds.
  std::unordered_map<void *, Block> blocks;
  uint64_t nextAge = 0;
  /// The free ones, by device, the stream that may still use them (null:
  /// none), size and age.
  using FreeKey = std::tuple<int, const void *, size_t, uint64_t>;
  std::map<FreeKey, void *> free;
  /// The oldest free block of `device` for `stream` that fits `size`, or end.
  std::map<FreeKey, void *>::iterator findFit(int device, const void *stream,
                                              size_t size);
  Stats counts;
};

} // namespace lora_runtime::cuda

#endif // LORA_RUNTIME_CUDABLOCKCACHE_H
