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
    blocks[block].free = false;
    counts.cachedBytes -= fit->first.second;
    counts.inUseBytes += fit->first.second;
    free.erase(fit);
    return block;
  }
  bool outOfMemory = false;
  void *block = allocateBlock(size, outOfMemory);
  if (!block && outOfMemory) {
    releaseFree(device);
    block = allocateBlock(size, outOfMemory);
  }
  if (!block)
    return nullptr;
  blocks[block] = {device, size, /*free=*/false};
  counts.inUseBytes += size;
  ++counts.allocations;
  return block;
}

BlockCache::Release BlockCache::release(void *block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = blocks.find(block);
  if (it == blocks.end())
    return Release::Unknown;
  Block &info = it->second;
  if (info.free)
    return Release::AlreadyFree;
  info.free = true;
  counts.inUseBytes -= info.size;
  counts.cachedBytes += info.size;
  free.emplace(std::make_pair(info.device, info.size), block);
  return Release::Kept;
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
    blocks.erase(it->second);
    it = free.erase(it);
  }
}
