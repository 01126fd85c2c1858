// RingReader: the BPF ring buffer's consumer protocol (kernel/bpf/ringbuf.c,
// include/uapi/linux/bpf.h): two position counters on their own pages, and
// in front of each record an 8-byte header, its length with a BUSY bit
// (reserved, not yet committed) and a DISCARD bit.
#include "ring-reader.h"

#include <cerrno>
#include <cstring>

#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/bpf.h>

namespace {

uint64_t load_acquire(const void *at) {
  return __atomic_load_n(static_cast<const uint64_t *>(at), __ATOMIC_ACQUIRE);
}

uint32_t load_acquire32(const void *at) {
  return __atomic_load_n(static_cast<const uint32_t *>(at), __ATOMIC_ACQUIRE);
}

}  // namespace

int RingReader::Open(int map_fd, uint32_t data_bytes) {
  page_bytes_ = size_t(sysconf(_SC_PAGESIZE));
  // The kernel makes the data area a power of two, a multiple of the page.
  if (data_bytes == 0 || (data_bytes & (data_bytes - 1)) || data_bytes % page_bytes_) return -EINVAL;
  mask_ = data_bytes - 1;
  consumer_page_ = mmap(nullptr, page_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (consumer_page_ == MAP_FAILED) {
    consumer_page_ = nullptr;
    return -errno;
  }
  // The kernel allows a read-only mapping shorter than its doubled data
  // area: the producer page and the data once.
  producer_and_data_ = mmap(nullptr, page_bytes_ + data_bytes, PROT_READ, MAP_SHARED, map_fd, off_t(page_bytes_));
  if (producer_and_data_ == MAP_FAILED) {
    producer_and_data_ = nullptr;
    int err = -errno;
    Close();
    return err;
  }
  data_ = static_cast<const uint8_t *>(producer_and_data_) + page_bytes_;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event = {};
  event.events = EPOLLIN;
  if (epoll_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, map_fd, &event) < 0) {
    int err = -errno;
    Close();
    return err;
  }
  return 0;
}

int RingReader::Wait(int timeout_ms) {
  epoll_event event;
  if (epoll_wait(epoll_fd_, &event, 1, timeout_ms) < 0 && errno != EINTR) return -errno;
  return 0;
}

size_t RingReader::Consume(OnRecord on_record, void *ctx) {
  size_t handed = 0;
  uint64_t consumer = load_acquire(consumer_page_);
  uint64_t producer = load_acquire(producer_and_data_);
  while (consumer < producer) {
    // Headers are 8-byte aligned and the area a multiple of 8: a header never wraps.
    uint32_t length = load_acquire32(data_ + (consumer & mask_));
    if (length & BPF_RINGBUF_BUSY_BIT) break;
    bool discarded = length & BPF_RINGBUF_DISCARD_BIT;
    length &= ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    uint64_t start = (consumer + BPF_RINGBUF_HDR_SZ) & mask_;
    if (!discarded) {
      uint64_t to_end = mask_ + 1 - start;
      if (length <= to_end) {
        on_record(ctx, data_ + start, length);
      } else {
        wrapped_.resize(length);
        memcpy(wrapped_.data(), data_ + start, to_end);
        memcpy(wrapped_.data() + to_end, data_, length - to_end);
        on_record(ctx, wrapped_.data(), length);
      }
      handed++;
    }
    consumer += (uint64_t(length) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t(7);
    // Space goes back record by record: in a storm the kernel reserves into it at once.
    __atomic_store_n(static_cast<uint64_t *>(consumer_page_), consumer, __ATOMIC_RELEASE);
    if (consumer >= producer) producer = load_acquire(producer_and_data_);
  }
  return handed;
}

void RingReader::Close() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
  epoll_fd_ = -1;
  if (producer_and_data_) munmap(producer_and_data_, page_bytes_ + mask_ + 1);
  producer_and_data_ = nullptr;
  data_ = nullptr;
  if (consumer_page_) munmap(consumer_page_, page_bytes_);
  consumer_page_ = nullptr;
}
