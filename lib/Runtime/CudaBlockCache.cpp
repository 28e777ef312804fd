//===- CudaBlockCache.cpp - reuse of freed device blocks ------------------===//

#include "CudaBlockCache.h"

#include <vector>

using namespace lora_runtime::cuda;

std::map<BlockCache::FreeKey, void *>::iterator
BlockCache::findFit(int device, const void *stream, size_t size) {
  auto best = free.end();
  // The oldest block of each size from `size` to a quarter more, among
  // those freed on no stream and, for a request on one, those freed on it.
  auto consider = [&](const void *owner) {
    for (auto it = free.lower_bound({device, owner, size, 0});
         it != free.end();) {
      auto [blockDevice, blockStream, blockSize, age] = it->first;
      if (blockDevice != device || blockStream != owner ||
          blockSize > size + size / 4)
        return;
      if (best == free.end() || age < std::get<3>(best->first))
        best = it;
      // The next size: the first of each size is its oldest.
      it = free.lower_bound({device, owner, blockSize + 1, 0});
    }
  };
  consider(nullptr);
  if (stream)
    consider(stream);
  return best;
}

void *BlockCache::allocate(int device, size_t bytes, const void *stream) {
  size_t size = roundUp(bytes);
  std::lock_guard<std::mutex> lock(mutex);
  auto fit = findFit(device, stream, size);
  if (fit != free.end()) {
    void *block = fit->second;
    size_t blockSize = std::get<2>(fit->first);
    blocks[block].free = false;
    counts.cachedBytes -= blockSize;
    counts.inUseBytes += blockSize;
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
  blocks[block] = {device, size, /*free=*/false, nextAge++};
  counts.inUseBytes += size;
  ++counts.allocations;
  return block;
}

BlockCache::Release BlockCache::release(void *block, const void *stream) {
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
  free.emplace(FreeKey{info.device, stream, info.size, info.age}, block);
  return Release::Kept;
}

void BlockCache::synchronized(const void *stream) {
  if (!stream)
    return;
  std::lock_guard<std::mutex> lock(mutex);
  if (!pinned.count(stream))
    freeForAnyStream(stream);
}

void BlockCache::pinStream(const void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  pinned.insert(stream);
}

void BlockCache::unpinStream(const void *stream) {
  std::lock_guard<std::mutex> lock(mutex);
  if (pinned.erase(stream))
    freeForAnyStream(stream);
}

void BlockCache::freeForAnyStream(const void *stream) {
  std::vector<std::pair<FreeKey, void *>> idle;
  for (auto it = free.begin(); it != free.end();) {
    auto [device, owner, size, age] = it->first;
    if (owner != stream) {
      ++it;
      continue;
    }
    idle.push_back({FreeKey{device, nullptr, size, age}, it->second});
    it = free.erase(it);
  }
  free.insert(idle.begin(), idle.end());
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
    auto [blockDevice, stream, size, age] = it->first;
    if ((device >= 0 && blockDevice != device) || pinned.count(stream)) {
      ++it;
      continue;
    }
    if (!freeBlock(blockDevice, it->second)) {
      ++it;
      continue;
    }
    counts.cachedBytes -= size;
    blocks.erase(it->second);
    it = free.erase(it);
  }
}
