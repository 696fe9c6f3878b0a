#include "cpu/aligned_buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace a48::cpu {

namespace {

// A hint only: without transparent huge pages (or off Linux) the buffer works the same, slower.
void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__)
  madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

void AlignedBuffer::resize(std::size_t bytes) {
  data_.reset();
  size_ = 0;
  if (bytes == 0) return;
  const bool huge = bytes >= kHugePageBytes;
  const std::size_t alignment = huge ? kHugePageBytes : kCacheLineBytes;
  const std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  if (huge) advise_huge_pages(p, rounded);  // before the first touch, which allocates the pages
  std::memset(p, 0, rounded);
  data_.reset(static_cast<uint8_t*>(p));
  size_ = bytes;
}

void AlignedBuffer::reserve_zeroed(std::size_t bytes) {
  if (bytes > size_) {
    resize(bytes);
  } else if (bytes > 0) {
    std::memset(data_.get(), 0, bytes);
  }
}

}  // namespace a48::cpu
