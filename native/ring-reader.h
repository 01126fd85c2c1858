// A reader of one BPF ring buffer map that maps its data pages once (the
// kernel's own mapping shows them twice, so a record can be read across the
// end; here a record that wraps is copied instead, which halves what the
// ring costs in resident memory). Mechanism only: what a record means and
// when to read are the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

class RingReader {
 public:
  // Called for each committed, not discarded record, in order.
  using OnRecord = void (*)(void *ctx, const uint8_t *data, size_t size);

  // Maps the ring of map_fd, whose data area is data_bytes long (the map's
  // max_entries). Returns 0 or a negative errno.
  int Open(int map_fd, uint32_t data_bytes);
  // Waits up to timeout_ms for the kernel's wakeup; 0, or a negative errno
  // (EINTR is not an error).
  int Wait(int timeout_ms);
  // Hands every record committed so far to on_record and gives their
  // space back to the kernel. Returns how many it handed.
  size_t Consume(OnRecord on_record, void *ctx);
  void Close();
  ~RingReader() { Close(); }

 private:
  int epoll_fd_ = -1;
  size_t page_bytes_ = 0;
  uint64_t mask_ = 0;
  // The consumer position's page (writable), the producer position's page
  // followed by the data area (read-only).
  void *consumer_page_ = nullptr;
  void *producer_and_data_ = nullptr;
  const uint8_t *data_ = nullptr;
  std::vector<uint8_t> wrapped_;
};
