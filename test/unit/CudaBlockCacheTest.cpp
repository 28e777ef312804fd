//===- CudaBlockCacheTest.cpp - reuse of freed device blocks --------------===//
//
// The block cache of liblora_cuda_runtime.so over a fake driver: malloc
// within a byte budget, standing for device memory.
//
//===----------------------------------------------------------------------===//

#include "CudaBlockCache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

using lora_runtime::cuda::BlockCache;

namespace {

/// Device memory of `budget` bytes; records what the cache asked for and
/// gave back.
struct FakeDriver {
  explicit FakeDriver(size_t budget) : budget(budget) {}
  ~FakeDriver() {
    for (auto [block, bytes] : live)
      std::free(block);
  }

  BlockCache makeCache() {
    return BlockCache(
        [this](size_t bytes, bool &outOfMemory) -> void * {
          if (failure) {
            outOfMemory = false;
            return nullptr;
          }
          if (used + bytes > budget) {
            outOfMemory = true;
            return nullptr;
          }
          used += bytes;
          allocated.push_back(bytes);
          void *block = std::malloc(bytes);
          live.emplace(block, bytes);
          return block;
        },
        [this](int device, void *block) {
          if (refuseFrees)
            return false;
          freed.emplace_back(device, block);
          auto it = live.find({block, 0});
          used -= it->second;
          live.erase(it);
          std::free(block);
          return true;
        });
  }

  struct ByBlock {
    bool operator()(const std::pair<void *, size_t> &a,
                    const std::pair<void *, size_t> &b) const {
      return a.first < b.first;
    }
  };

  size_t budget;
  /// Every allocation fails, and not for want of memory (a driver in a
  /// sticky error state after a kernel fault).
  bool failure = false;
  /// The driver refuses to free (a CUDA graph is being captured).
  bool refuseFrees = false;
  size_t used = 0;
  std::vector<size_t> allocated;
  std::vector<std::pair<int, void *>> freed;
  std::set<std::pair<void *, size_t>, ByBlock> live;
};

TEST(CudaBlockCache, ReusesAFreedBlockOfTheSameSize) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  void *a = cache.allocate(0, 1000);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(driver.allocated, std::vector<size_t>{1024}); // 512-byte steps
  EXPECT_EQ(cache.release(a), BlockCache::Release::Kept);
  EXPECT_EQ(cache.stats().inUseBytes, 0u);
  EXPECT_EQ(cache.stats().cachedBytes, 1024u);
  // The next call of the same model asks for the same sizes and gets the
  // same blocks, from the cache.
  EXPECT_EQ(cache.allocate(0, 1000), a);
  EXPECT_EQ(cache.stats().allocations, 1u);
  EXPECT_EQ(cache.stats().inUseBytes, 1024u);
  EXPECT_EQ(cache.stats().cachedBytes, 0u);
  EXPECT_TRUE(driver.freed.empty());
}

TEST(CudaBlockCache, TakesTheOldestFreeBlockAtMostAQuarterLarger) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  void *large = cache.allocate(0, 4608);
  void *small = cache.allocate(0, 4096);
  cache.release(small);
  cache.release(large);
  EXPECT_EQ(cache.allocate(0, 4000), large); // 4608 <= 4096 + 1024, older
  EXPECT_EQ(cache.allocate(0, 4000), small);
  cache.release(small);
  void *other = cache.allocate(0, 900); // 4096 > 1024 + 256: a new block
  EXPECT_NE(other, small);
  EXPECT_EQ(driver.allocated, (std::vector<size_t>{4608, 4096, 1024}));
}

// Generated host code makes the same requests on every call. Each call must
// get the blocks of the call before, request by request: tensor maps are
// cached by address. Here smallest-fit would give q the younger, closer
// block of 4096 bytes in the second call, and r the older one.
TEST(CudaBlockCache, ARepeatedCallGetsTheBlocksOfTheCallBefore) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  auto call = [&] {
    void *p = cache.allocate(0, 4608);
    cache.release(p);
    void *q = cache.allocate(0, 4096); // The first call: p's block.
    void *r = cache.allocate(0, 4096); // The first call: a new block.
    cache.release(q);
    cache.release(r);
    return std::vector<void *>{p, q, r};
  };
  std::vector<void *> first = call();
  EXPECT_EQ(first[1], first[0]);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(call(), first) << "call " << i + 2;
  EXPECT_EQ(cache.stats().allocations, 2u);
}

TEST(CudaBlockCache, KeepsDevicesApart) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  void *a = cache.allocate(0, 512);
  cache.release(a);
  void *b = cache.allocate(1, 512);
  EXPECT_NE(b, a);
  EXPECT_EQ(cache.allocate(0, 512), a);
}

TEST(CudaBlockCache, WhenTheDriverFailsFreesTheDevicesBlocksAndRetries) {
  FakeDriver driver(5120);
  BlockCache cache = driver.makeCache();
  void *onZero = cache.allocate(0, 2048);
  void *onOne = cache.allocate(1, 2048);
  cache.release(onZero);
  cache.release(onOne);
  // 4096 of 5120 bytes are cached; 3072 more fit only once device 0's free
  // block is given back. Device 1's stays.
  void *block = cache.allocate(0, 3072);
  ASSERT_NE(block, nullptr);
  ASSERT_EQ(driver.freed.size(), 1u);
  EXPECT_EQ(driver.freed[0], std::make_pair(0, onZero));
  EXPECT_EQ(cache.stats().cachedBytes, 2048u);
  EXPECT_EQ(cache.allocate(1, 2048), onOne);
}

TEST(CudaBlockCache, FailsWhenTheRetryFailsToo) {
  FakeDriver driver(4096);
  BlockCache cache = driver.makeCache();
  void *held = cache.allocate(0, 2048);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(cache.allocate(0, 3072), nullptr);
  EXPECT_EQ(cache.stats().inUseBytes, 2048u);
  EXPECT_EQ(cache.stats().allocations, 1u);
}

TEST(CudaBlockCache, RetriesOnlyWhenOutOfMemory) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  cache.release(cache.allocate(0, 2048));
  driver.failure = true;
  EXPECT_EQ(cache.allocate(0, 4096), nullptr);
  EXPECT_TRUE(driver.freed.empty()); // the cached block stays
  EXPECT_EQ(cache.stats().cachedBytes, 2048u);
}

TEST(CudaBlockCache, ReleasesOnlyItsBlocksInUse) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  int notABlock = 0;
  EXPECT_EQ(cache.release(&notABlock), BlockCache::Release::Unknown);
  void *a = cache.allocate(0, 512);
  EXPECT_EQ(cache.release(a), BlockCache::Release::Kept);
  // A second free is told apart from a foreign block: the caller must not
  // give the block to the driver, which would hand it out twice.
  EXPECT_EQ(cache.release(a), BlockCache::Release::AlreadyFree);
  EXPECT_EQ(cache.stats().cachedBytes, 512u);
  cache.emptyCache();
  EXPECT_EQ(cache.release(a), BlockCache::Release::Unknown);
}

TEST(CudaBlockCache, EmptyCacheGivesBackEveryFreeBlockButNoneInUse) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  void *a = cache.allocate(0, 512);
  void *b = cache.allocate(1, 1024);
  void *c = cache.allocate(0, 2048);
  cache.release(a);
  cache.release(b);
  cache.emptyCache();
  EXPECT_EQ(driver.freed.size(), 2u);
  EXPECT_EQ(cache.stats().cachedBytes, 0u);
  EXPECT_EQ(cache.stats().inUseBytes, 2048u);
  EXPECT_EQ(cache.release(c), BlockCache::Release::Kept);
  EXPECT_EQ(driver.live.size(), 1u);
}

// Generated host code frees a buffer on its stream while launches queued
// there may still use it: no other stream may get it until that stream is
// synchronized.
TEST(CudaBlockCache, BlockFreedOnAStreamStaysWithItUntilSynchronized) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  int streamStorage[2] = {};
  const void *one = &streamStorage[0];
  const void *two = &streamStorage[1];
  void *a = cache.allocate(0, 1000, one);
  EXPECT_EQ(cache.release(a, one), BlockCache::Release::Kept);
  void *onTwo = cache.allocate(0, 1000, two);
  EXPECT_NE(onTwo, a);
  void *onNone = cache.allocate(0, 1000);
  EXPECT_NE(onNone, a);
  EXPECT_NE(onNone, onTwo);
  // The same stream orders its new work after the old: it may reuse it.
  EXPECT_EQ(cache.allocate(0, 1000, one), a);
  EXPECT_EQ(cache.release(a, one), BlockCache::Release::Kept);
  cache.synchronized(two); // Another stream's wait frees nothing of one's.
  EXPECT_NE(cache.allocate(0, 1000, two), a);
  cache.synchronized(one);
  EXPECT_EQ(cache.allocate(0, 1000, two), a);
  EXPECT_EQ(cache.stats().allocations, 4u);
}

TEST(CudaBlockCache, TakesTheOlderFitOfItsStreamAndOfNone) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  int streamStorage = 0;
  const void *stream = &streamStorage;
  // A request of 4096 bytes takes blocks of 4096 and 4608 (a quarter more
  // is 5120).
  void *idleOld = cache.allocate(0, 4608);
  void *ownYoung = cache.allocate(0, 4096, stream);
  cache.release(idleOld);
  cache.release(ownYoung, stream);
  EXPECT_EQ(cache.allocate(0, 4000, stream), idleOld);
  EXPECT_EQ(cache.allocate(0, 4000, stream), ownYoung);
  cache.release(ownYoung, stream);
  cache.release(idleOld);
  cache.synchronized(stream);
  // Both idle now; the age decides, not the order of release.
  EXPECT_EQ(cache.allocate(0, 4000, stream), idleOld);
  EXPECT_EQ(cache.allocate(0, 4000), ownYoung);
  EXPECT_EQ(cache.stats().allocations, 2u);
}

// Giving blocks back goes through the driver's free, which waits for the
// device: blocks freed on a stream go back too.
TEST(CudaBlockCache, EmptyCacheGivesBackBlocksFreedOnAStream) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  int streamStorage = 0;
  void *a = cache.allocate(0, 512, &streamStorage);
  cache.release(a, &streamStorage);
  cache.emptyCache();
  EXPECT_EQ(driver.freed.size(), 1u);
  EXPECT_EQ(cache.stats().cachedBytes, 0u);
}

// A CUDA graph's buffers are the blocks its capture freed on its stream:
// they stay there, for its replays and the captures after it, whatever
// synchronizes, empties the cache or runs out of memory, until unpinned.
TEST(CudaBlockCache, APinnedStreamKeepsItsBlocksUntilUnpinned) {
  FakeDriver driver(4096);
  BlockCache cache = driver.makeCache();
  int streamStorage[2] = {};
  const void *graph = &streamStorage[0];
  const void *other = &streamStorage[1];
  cache.pinStream(graph);
  void *a = cache.allocate(0, 2048, graph);
  EXPECT_EQ(cache.release(a, graph), BlockCache::Release::Kept);
  cache.synchronized(graph);
  cache.emptyCache();
  EXPECT_TRUE(driver.freed.empty());
  // The device is full: the retry cannot take the pinned block either.
  void *b = cache.allocate(0, 2048, other);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(cache.allocate(0, 2048, other), nullptr);
  EXPECT_TRUE(driver.freed.empty());
  // The next capture on the graph's stream reuses it.
  EXPECT_EQ(cache.allocate(0, 2048, graph), a);
  cache.release(a, graph);
  cache.unpinStream(graph);
  EXPECT_EQ(cache.allocate(0, 2048, other), a);
  cache.release(a, other);
  cache.release(b, other);
  cache.emptyCache();
  EXPECT_EQ(driver.freed.size(), 2u);
}

// While a CUDA graph is being captured the driver refuses cuMemFree: the
// blocks it would not take stay in the cache, counted and handed out.
TEST(CudaBlockCache, KeepsTheBlocksTheDriverWouldNotTake) {
  FakeDriver driver(1 << 20);
  BlockCache cache = driver.makeCache();
  void *a = cache.allocate(0, 1024);
  cache.release(a);
  driver.refuseFrees = true;
  cache.emptyCache();
  EXPECT_TRUE(driver.freed.empty());
  EXPECT_EQ(cache.stats().cachedBytes, 1024u);
  EXPECT_EQ(cache.allocate(0, 1024), a);
  cache.release(a);
  driver.refuseFrees = false;
  cache.emptyCache();
  EXPECT_EQ(driver.freed.size(), 1u);
  EXPECT_EQ(cache.stats().cachedBytes, 0u);
}

} // namespace
