//===- CudaBlockCache.cpp - reuse of freed device blocks ------------------===//

#include "CudaBlockCache.h"

using namespace lora_runtime::cuda;

void *BlockCache::allocate(int device, size_t bytes) {
  size_t size = roundUp(bytes);
  std::lock_guard<std::mutex> lock(mutex);
  auto fit = free.lower_bound({device, size});
  if (fit != free.end() && fit->first.first == device &&
      fit->first.second <= size + size / 4) {
    void *block = fit->second;
    inUse[block] = fit->first;
    counts.cachedBytes -= fit->first.second;
    counts.inUseBytes += fit->first.second;
    free.erase(fit);
    return block;
  }
  void *block = allocateBlock(size);
  if (!block) {
    releaseFree(device);
    block = allocateBlock(size);
    if (!block)
      return nullptr;
  }
  inUse[block] = {device, size};
  counts.inUseBytes += size;
  ++counts.allocations;
  return block;
}

bool BlockCache::release(void *block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = inUse.find(block);
  if (it == inUse.end())
    return false;
  counts.inUseBytes -= it->second.second;
  counts.cachedBytes += it->second.second;
  free.emplace(it->second, block);
  inUse.erase(it);
  return true;
}

void BlockCache::emptyCache() {
  std::lock_guard<std::mutex> lock(mutex);
  releaseFree(-1);
}

BlockCache::Stats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return counts;
}

void BlockCache::releaseFree(int device) {
  for (auto it = free.begin(); it != free.end();) {
    if (device >= 0 && it->first.first != device) {
      ++it;
      continue;
    }
    freeBlock(it->first.first, it->second);
    counts.cachedBytes -= it->first.second;
    it = free.erase(it);
  }
}
