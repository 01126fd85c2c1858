// The addon: a thin, policy-free owner of the BPF object, its links and its
// ring buffer. It loads, attaches, drains records into the spill file (the
// queue JavaScript reads at the database's pace), reads the drop counters
// and tears down. Decoding, naming, filtering
// choices and storage all live in TypeScript (src/record).
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>

#include "ring-reader.h"
#include "sigaudit.h"
#include "sigaudit.skel.h"

namespace {

// libbpf reports through one global print callback; lines are collected here
// and handed to the JavaScript logger after each call into the addon.
std::mutex log_mutex;
std::vector<std::pair<std::string, std::string>> pending_log;

int collect_libbpf_log(enum libbpf_print_level level, const char *format, va_list args) {
  char line[1024];
  vsnprintf(line, sizeof(line), format, args);
  const char *name = level == LIBBPF_WARN ? "warn" : level == LIBBPF_INFO ? "info" : "debug";
  std::lock_guard<std::mutex> lock(log_mutex);
  pending_log.emplace_back(name, line);
  return 0;
}

Napi::FunctionReference error_class;

// Every native failure reaches JavaScript as the error class TypeScript
// registered, with the step that failed, the errno and libbpf's log lines.
Napi::Error native_error(Napi::Env env, const std::string &step, int err,
                         const std::string &message) {
  std::vector<std::pair<std::string, std::string>> log;
  {
    std::lock_guard<std::mutex> lock(log_mutex);
    log.swap(pending_log);
  }
  Napi::Array log_lines = Napi::Array::New(env, log.size());
  for (size_t i = 0; i < log.size(); i++) log_lines[i] = Napi::String::New(env, log[i].second);
  Napi::Object details = Napi::Object::New(env);
  details["message"] = message + ": " + strerror(err);
  details["step"] = step;
  details["errno"] = err;
  details["libbpfLog"] = log_lines;
  if (error_class.IsEmpty()) {
    Napi::Error error = Napi::Error::New(env, message + ": " + strerror(err));
    error.Set("step", step);
    error.Set("errno", Napi::Number::New(env, err));
    return error;
  }
  return Napi::Error(env, error_class.New({details}));
}

uint64_t clock_ns(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

// A stretch of drained records, in drain order. Usually the spill file
// `spill_file` grew to `spill_end` and the records are there, not here;
// when the spill could not be written they travel in `bytes`, and
// `spill_end` is -1: once they are committed, nothing in that file is
// left uncommitted.
struct Segment {
  int64_t spill_file = -1;
  int64_t spill_end = -1;
  std::vector<uint8_t> *bytes = nullptr;
};

class Probe : public Napi::ObjectWrap<Probe> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Probe",
                       {
                           InstanceMethod("attach", &Probe::Attach),
                           InstanceMethod("start", &Probe::Start),
                           InstanceMethod("spillTo", &Probe::SpillTo),
                           InstanceMethod("release", &Probe::Release),
                           InstanceMethod("stats", &Probe::Stats),
                           InstanceMethod("close", &Probe::Close),
                       });
  }

  // new Probe({ ringBytes, wakeupBytes, skipProbes, onlySignals, excludedComms,
  // compatExitTraced, floodIntervalNs, floodBurstNs, pidnsInum, log })
  // opens the object, sets its read-only filters and loads it.
  explicit Probe(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Probe>(info) {
    Napi::Env env = info.Env();
    Napi::Object options = info[0].As<Napi::Object>();
    log_ = Napi::Persistent(options.Get("log").As<Napi::Function>());

    skel_ = sigaudit_bpf__open();
    if (!skel_) throw native_error(env, "open", errno, "opening the BPF object failed");

    skel_->rodata->skip_probes = options.Get("skipProbes").ToBoolean();
    bool lossless;
    skel_->rodata->only_signals = options.Get("onlySignals").As<Napi::BigInt>().Uint64Value(&lossless);
    skel_->rodata->wakeup_bytes = options.Get("wakeupBytes").ToNumber().Int64Value();
    skel_->rodata->compat_exit_traced = options.Get("compatExitTraced").ToBoolean();
    skel_->rodata->pidns_inum = options.Get("pidnsInum").ToNumber().Uint32Value();
    skel_->rodata->flood_interval_ns = options.Get("floodIntervalNs").As<Napi::BigInt>().Uint64Value(&lossless);
    skel_->rodata->flood_burst_ns = options.Get("floodBurstNs").As<Napi::BigInt>().Uint64Value(&lossless);
    Napi::Array comms = options.Get("excludedComms").As<Napi::Array>();
    if (comms.Length() > SIGAUDIT_MAX_EXCLUDED_COMMS)
      throw Fail(env, "exclude-comm", E2BIG,
                 "more excluded comms than the " + std::to_string(SIGAUDIT_MAX_EXCLUDED_COMMS) + " slots of the BPF program");
    skel_->rodata->excluded_comm_count = comms.Length();
    for (uint32_t i = 0; i < comms.Length(); i++) {
      std::string comm = comms.Get(i).ToString();
      char *slot = const_cast<char *>(skel_->rodata->excluded_comms[i]);
      strncpy(slot, comm.c_str(), SIGAUDIT_COMM_LEN);
    }
    uint32_t ring_bytes = options.Get("ringBytes").ToNumber().Uint32Value();
    int err = bpf_map__set_max_entries(skel_->maps.events, ring_bytes);
    if (err) throw Fail(env, "ring-size", -err, "setting the ring buffer size failed");

    err = sigaudit_bpf__load(skel_);
    if (err) throw Fail(env, "load", -err, "loading the BPF program into the kernel failed");
    current_summaries_[0] = skel_->maps.summaries_a;
    current_summaries_[1] = skel_->maps.coarse_summaries_a;
    spare_summaries_[0] = skel_->maps.summaries_b;
    spare_summaries_[1] = skel_->maps.coarse_summaries_b;
    FlushLog(env);
  }

  ~Probe() { Teardown(); }

 private:
  Napi::Error Fail(Napi::Env env, const std::string &step, int err, const std::string &message) {
    Napi::Error error = native_error(env, step, err, message);
    Teardown();
    return error;
  }

  void FlushLog(Napi::Env env) {
    std::vector<std::pair<std::string, std::string>> log;
    {
      std::lock_guard<std::mutex> lock(log_mutex);
      log.swap(pending_log);
    }
    for (auto &line : log)
      log_.Call({Napi::String::New(env, line.first), Napi::String::New(env, line.second)});
  }

  void CheckOpen(Napi::Env env) {
    if (!skel_) throw native_error(env, "closed", EBADF, "the probe is closed");
  }

  // attach(programName): attaches one program, so TypeScript chooses the
  // order (exits before enters) and names the probe in any failure.
  Napi::Value Attach(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    std::string name = info[0].ToString();
    bpf_program *program = bpf_object__find_program_by_name(skel_->obj, name.c_str());
    if (!program) throw native_error(env, "attach", ENOENT, "no BPF program named " + name);
    bpf_link *link = bpf_program__attach(program);
    if (!link) throw native_error(env, "attach", errno, "attaching " + name + " failed");
    links_.push_back(link);
    FlushLog(env);
    return env.Undefined();
  }

  // start(onSegments, { pollMs, flushMs, maxBatchEvents, maxQueuedBytes,
  // maxMemoryBytes, summaryMs, spillFd?, spillFile? }): a thread drains the ring
  // buffer continuously into the spill file, so the kernel side never waits
  // on SQLite and the backlog lives on disk. Every flushMs JavaScript
  // learns how far the file grew (see Segment) and reads it at its pace.
  Napi::Value Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    if (drainer_.joinable()) throw native_error(env, "start", EBUSY, "the probe is already started");
    Napi::Object options = info[1].As<Napi::Object>();
    poll_ms_ = options.Get("pollMs").ToNumber().Int32Value();
    flush_ms_ = options.Get("flushMs").ToNumber().Int32Value();
    max_batch_events_ = options.Get("maxBatchEvents").ToNumber().Uint32Value();
    max_queued_bytes_ = options.Get("maxQueuedBytes").ToNumber().Int64Value();
    max_memory_bytes_ = options.Get("maxMemoryBytes").ToNumber().Int64Value();
    summary_ms_ = options.Get("summaryMs").ToNumber().Int32Value();

    if (options.Has("spillFd")) SwapSpill(options.Get("spillFd").ToNumber().Int32Value(),
                                          options.Get("spillFile").ToNumber().Int64Value());
    int err = ring_.Open(bpf_map__fd(skel_->maps.events), bpf_map__max_entries(skel_->maps.events));
    if (err) throw native_error(env, "ring-buffer", -err, "opening the ring buffer failed");
    deliver_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "sigaudit-drain", 0,
                                             1, this, [](Napi::Env, Probe *self) {
                                               self->closed_->Resolve(self->final_stats_.Value());
                                               self->final_stats_.Reset();
                                               self->Unref();
                                             });
    // The drain thread and the last segments use this object: keep it
    // alive until the thread-safe function is finalized.
    Ref();
    drainer_ = std::thread([this] { Drain(); });
    return env.Undefined();
  }

  static void OnRecord(void *ctx, const uint8_t *bytes, size_t size) {
    Probe *self = static_cast<Probe *>(ctx);
    if (size != sizeof(sigaudit_event)) return;
    self->drained_.insert(self->drained_.end(), bytes, bytes + size);
    if (self->drained_.size() >= self->max_batch_events_ * sizeof(sigaudit_event)) self->Spill();
  }

  // Hands JavaScript the segments drained since the last call.
  void Flush() {
    auto *segments = new std::vector<Segment>();
    {
      std::lock_guard<std::mutex> lock(spill_mutex_);
      segments->swap(ready_);
    }
    if (segments->empty()) {
      delete segments;
      return;
    }
    napi_status status = deliver_.NonBlockingCall(segments, [](Napi::Env env, Napi::Function onSegments,
                                                               std::vector<Segment> *segments) {
      Napi::Array array = Napi::Array::New(env, segments->size());
      for (size_t i = 0; i < segments->size(); i++) {
        Segment &segment = (*segments)[i];
        Napi::Object object = Napi::Object::New(env);
        object["spillFile"] = Napi::Number::New(env, double(segment.spill_file));
        object["spillEnd"] = Napi::Number::New(env, double(segment.spill_end));
        if (segment.bytes)
          object["records"] = Napi::Buffer<uint8_t>::New(
              env, segment.bytes->data(), segment.bytes->size(),
              [](Napi::Env, uint8_t *, std::vector<uint8_t> *bytes) { delete bytes; }, segment.bytes);
        segment.bytes = nullptr;
        array[i] = object;
      }
      delete segments;
      try {
        onSegments.Call({array});
      } catch (const Napi::Error &error) {
        error.ThrowAsJavaScriptException();
      }
    });
    if (status != napi_ok) {
      for (Segment &segment : *segments) delete segment.bytes;
      delete segments;
    }
  }

  // Past either bound, draining pauses: the ring buffer fills and the
  // kernel counts what it drops, so the loss is recorded.
  bool QueueFull() const {
    return queued_bytes_ > max_queued_bytes_ || memory_bytes_ > max_memory_bytes_;
  }

  void Drain() {
    auto last_flush = std::chrono::steady_clock::now();
    while (!stopping_) {
      if (QueueFull()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms_));
      } else {
        ring_.Wait(poll_ms_);
        ring_.Consume(&Probe::OnRecord, this);
        Spill();
      }
      // Periodic work of the drain thread goes here, once per flush interval.
      auto now = std::chrono::steady_clock::now();
      DrainSummariesWhenDue(now);
      if (now - last_flush >= std::chrono::milliseconds(flush_ms_)) {
        Flush();
        last_flush = now;
      }
    }
    ring_.Consume(&Probe::OnRecord, this);
    // The programs are detached: this takes the last of the counts.
    if (summary_ms_ > 0) DrainSummaries();
    Spill();
    Flush();
  }

  void DrainSummariesWhenDue(std::chrono::steady_clock::time_point now) {
    if (summary_ms_ <= 0 || now - last_summaries_ < std::chrono::milliseconds(summary_ms_)) return;
    last_summaries_ = now;
    DrainSummaries();
  }

  // Puts an empty map in each of the kernel's summary slots (bpf/flood.h)
  // and turns what the maps they replace counted into SUMMARY records among
  // the drained ones (so they are spilled and delivered like any record),
  // then empties those for next time.
  void DrainSummaries() {
    for (uint32_t slot = 0; slot < 2; slot++) {
      bpf_map *spare = spare_summaries_[slot];
      int spare_fd = bpf_map__fd(spare);
      // A map-in-map update returns only after synchronize_rcu()
      // (maybe_wait_bpf_programs, kernel/bpf/syscall.c): no program is
      // still counting into the old map, so reading and emptying it loses
      // nothing.
      if (bpf_map_update_elem(bpf_map__fd(skel_->maps.summaries), &slot, &spare_fd, BPF_ANY)) {
        summary_errno_ = errno;
        continue;
      }
      spare_summaries_[slot] = current_summaries_[slot];
      current_summaries_[slot] = spare;
      TakeSummaries(bpf_map__fd(spare_summaries_[slot]));
    }
    Spill();
  }

  void TakeSummaries(int fd) {
    std::vector<sigaudit_summary_key> keys;
    sigaudit_summary_key key, next;
    for (void *prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
      keys.push_back(next);
      key = next;
    }
    for (const sigaudit_summary_key &counted : keys) {
      sigaudit_summary_value value;
      if (bpf_map_lookup_elem(fd, &counted, &value) == 0) AppendSummary(counted, value);
      bpf_map_delete_elem(fd, &counted);
    }
  }

  void AppendSummary(const sigaudit_summary_key &key, const sigaudit_summary_value &value) {
    sigaudit_event e = {};
    e.kind = SIGAUDIT_KIND_SUMMARY;
    e.boot_ns = value.first_ns;
    e.last_ns = value.last_ns;
    e.source = key.source;
    e.flags = key.flags;
    e.sender_pid = key.sender_pid;
    e.sender_uid = key.sender_uid;
    e.target_pid = key.target_pid;
    e.signal = key.signal;
    e.ret = key.ret;
    e.result = key.result;
    memcpy(e.sender_comm, value.sender_comm, sizeof(e.sender_comm));
    // deliveries is 32 bits: a larger count goes out in several records.
    for (uint64_t left = value.count; left > 0;) {
      e.deliveries = uint32_t(std::min<uint64_t>(left, UINT32_MAX));
      left -= e.deliveries;
      auto *bytes = reinterpret_cast<const uint8_t *>(&e);
      drained_.insert(drained_.end(), bytes, bytes + sizeof(e));
    }
  }

  // Appends the records drained since the last call to the spill file, so
  // that a kill -9 loses only what the ring buffer still holds: the next
  // recorder replays what was spilled and not committed. A failed write is
  // cut back to whole records and ends spilling to that file: those records
  // and later ones travel to JavaScript in memory instead.
  void Spill() {
    if (drained_.empty()) return;
    std::lock_guard<std::mutex> lock(spill_mutex_);
    int64_t length = int64_t(drained_.size());
    if (spill_fd_ >= 0 && spill_errno_ == 0 && Append(drained_.data(), drained_.size())) {
      if (!ready_.empty() && !ready_.back().bytes && ready_.back().spill_file == spill_file_)
        ready_.back().spill_end = spill_offset_;
      else
        ready_.push_back(Segment{spill_file_, spill_offset_, nullptr});
      queued_bytes_ += length;
      drained_.clear();
      return;
    }
    if (ready_.empty() || !ready_.back().bytes || ready_.back().spill_file != spill_file_)
      ready_.push_back(Segment{spill_file_, -1, new std::vector<uint8_t>()});
    ready_.back().bytes->insert(ready_.back().bytes->end(), drained_.begin(), drained_.end());
    queued_bytes_ += length;
    memory_bytes_ += length;
    drained_.clear();
  }

  // Writes all of data at the spill file's end, or sets spill_errno_ and
  // cuts the file back to where it was. Called with spill_mutex_ held.
  bool Append(const uint8_t *data, size_t left) {
    int64_t start = spill_offset_;
    while (left > 0) {
      ssize_t written = write(spill_fd_, data, left);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) {
        spill_errno_ = written < 0 ? errno : ENOSPC;
        // Should the cut fail, the records past `start` also travel in
        // memory: the reader never reads past the ends it was told, and
        // the replay sees them only if they are never committed, which is
        // when they would be lost.
        if (ftruncate(spill_fd_, start) == 0) spill_offset_ = start;
        return false;
      }
      data += written;
      left -= size_t(written);
      spill_offset_ += written;
    }
    return true;
  }

  // release(bytes, inMemory): JavaScript took `bytes` of the queue (from
  // the spill file, or from a segment's records): draining may go on.
  Napi::Value Release(const Napi::CallbackInfo &info) {
    int64_t bytes = info[0].ToNumber().Int64Value();
    queued_bytes_ -= bytes;
    if (info[1].ToBoolean()) memory_bytes_ -= bytes;
    return info.Env().Undefined();
  }

  // Takes ownership of fd (opened for appending, its header written) as
  // spill file number `file`, closing the one before; -1 stops spilling.
  void SwapSpill(int fd, int64_t file) {
    std::lock_guard<std::mutex> lock(spill_mutex_);
    if (spill_fd_ >= 0) close(spill_fd_);
    spill_fd_ = fd;
    spill_file_ = file;
    spill_errno_ = 0;
    spill_offset_ = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
    if (spill_offset_ < 0) spill_errno_ = errno;
  }

  // spillTo(fd, file): later records go to this spill file instead (the
  // recorder moves on as files grow, and deletes them once committed).
  Napi::Value SpillTo(const Napi::CallbackInfo &info) {
    CheckOpen(info.Env());
    SwapSpill(info[0].ToNumber().Int32Value(), info[1].ToNumber().Int64Value());
    return info.Env().Undefined();
  }

  Napi::Object ReadStats(Napi::Env env) {
    int cpus = libbpf_num_possible_cpus();
    std::vector<uint64_t> values(cpus > 0 ? cpus : 1);
    Napi::Object stats = Napi::Object::New(env);
    const char *names[SIGAUDIT_COUNTER_COUNT] = {"ringbufDrops", "inflightDrops", "summaryDrops"};
    for (uint32_t key = 0; key < SIGAUDIT_COUNTER_COUNT; key++) {
      uint64_t total = 0;
      if (bpf_map__lookup_elem(skel_->maps.counters, &key, sizeof(key), values.data(),
                               values.size() * sizeof(uint64_t), 0) == 0)
        for (uint64_t value : values) total += value;
      stats[names[key]] = Napi::BigInt::New(env, total);
    }
    std::lock_guard<std::mutex> lock(spill_mutex_);
    stats["spillErrno"] = Napi::Number::New(env, spill_errno_);
    stats["summaryErrno"] = Napi::Number::New(env, summary_errno_.load());
    return stats;
  }

  // stats(): the kernel-side drop counters, summed over CPUs.
  Napi::Value Stats(const Napi::CallbackInfo &info) {
    CheckOpen(info.Env());
    return ReadStats(info.Env());
  }

  // close(): detach, drain what is left, deliver the last batch, free.
  // Resolves with the final counters once JavaScript has every batch;
  // calling it again returns the same promise.
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (close_promise_.IsEmpty()) {
      closed_.emplace(Napi::Promise::Deferred::New(env));
      close_promise_ = Napi::Persistent(closed_->Promise());
      if (!skel_) {
        closed_->Resolve(env.Undefined());
        return close_promise_.Value();
      }
      for (bpf_link *link : links_) bpf_link__destroy(link);
      links_.clear();
      bool started = drainer_.joinable();
      if (started) {
        stopping_ = true;
        drainer_.join();
      }
      final_stats_ = Napi::Persistent(ReadStats(env));
      Teardown();
      if (started)
        deliver_.Release();
      else
        closed_->Resolve(final_stats_.Value());
    }
    return close_promise_.Value();
  }

  void Teardown() {
    for (bpf_link *link : links_) bpf_link__destroy(link);
    links_.clear();
    if (drainer_.joinable()) {
      stopping_ = true;
      drainer_.join();
    }
    ring_.Close();
    if (skel_) sigaudit_bpf__destroy(skel_);
    skel_ = nullptr;
    for (Segment &segment : ready_) delete segment.bytes;
    ready_.clear();
    if (spill_fd_ >= 0) close(spill_fd_);
    spill_fd_ = -1;
  }

  sigaudit_bpf *skel_ = nullptr;
  std::vector<bpf_link *> links_;
  RingReader ring_;
  std::thread drainer_;
  std::atomic<bool> stopping_{false};
  // Bytes drained and not yet released by JavaScript; of those, bytes
  // that travel in memory because the spill could not take them.
  std::atomic<int64_t> queued_bytes_{0};
  std::atomic<int64_t> memory_bytes_{0};
  // Records drained since the last Spill (drain thread only).
  std::vector<uint8_t> drained_;
  // The spill file, shared by the drain thread and spillTo.
  std::mutex spill_mutex_;
  int spill_fd_ = -1;
  int64_t spill_file_ = -1;
  int64_t spill_offset_ = 0;
  int spill_errno_ = 0;
  // Segments not yet handed to JavaScript (guarded by spill_mutex_).
  std::vector<Segment> ready_;
  Napi::ThreadSafeFunction deliver_;
  Napi::FunctionReference log_;
  Napi::ObjectReference final_stats_;
  Napi::Reference<Napi::Promise> close_promise_;
  std::optional<Napi::Promise::Deferred> closed_;
  int poll_ms_ = 10;
  int flush_ms_ = 100;
  uint32_t max_batch_events_ = 65536;
  int64_t max_queued_bytes_ = 256 << 20;
  int64_t max_memory_bytes_ = 64 << 20;
  // Summaries: how often they are swapped out (0: never), the maps the
  // kernel counts into now and their spares, by slot, and why the last
  // swap failed (an errno, or 0).
  int summary_ms_ = 0;
  std::chrono::steady_clock::time_point last_summaries_;
  bpf_map *current_summaries_[2] = {};
  bpf_map *spare_summaries_[2] = {};
  std::atomic<int> summary_errno_{0};
};

Napi::Value SetErrorClass(const Napi::CallbackInfo &info) {
  error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// realtime - boottime in ns, read as close together as the clocks allow:
// user space adds it to the kernel's boot-time stamps.
Napi::Value RealtimeOffset(const Napi::CallbackInfo &info) {
  uint64_t boot_before = clock_ns(CLOCK_BOOTTIME);
  uint64_t real = clock_ns(CLOCK_REALTIME);
  uint64_t boot_after = clock_ns(CLOCK_BOOTTIME);
  int64_t offset = int64_t(real) - int64_t(boot_before + (boot_after - boot_before) / 2);
  return Napi::BigInt::New(info.Env(), offset);
}

Napi::Object Layout(Napi::Env env) {
  Napi::Object offsets = Napi::Object::New(env);
#define OFFSET(field) offsets[#field] = Napi::Number::New(env, offsetof(sigaudit_event, field))
  OFFSET(boot_ns);
  OFFSET(sender_cgroup);
  OFFSET(delivered_cgroup);
  OFFSET(ret);
  OFFSET(kind);
  OFFSET(source);
  OFFSET(flags);
  OFFSET(sender_pid);
  OFFSET(sender_tid);
  OFFSET(sender_uid);
  OFFSET(sender_auid);
  OFFSET(sender_ppid);
  OFFSET(target_pid);
  OFFSET(target_tid);
  OFFSET(delivered_pid);
  OFFSET(delivered_tid);
  OFFSET(signal);
  OFFSET(si_code);
  OFFSET(result);
  OFFSET(deliveries);
  OFFSET(sender_comm);
  OFFSET(delivered_comm);
  OFFSET(sender_ns_pid);
  OFFSET(target_ns_pid);
  OFFSET(delivered_ns_pid);
#undef OFFSET
  Napi::Object layout = Napi::Object::New(env);
  layout["size"] = Napi::Number::New(env, sizeof(sigaudit_event));
  layout["offsets"] = offsets;
  return layout;
}

static_assert(sizeof(sigaudit_spill_header) == sizeof(sigaudit_event),
              "the spill header is one record long");

// The spill file's header, for TypeScript, which creates and replays the
// files: the layout lives in bpf/sigaudit.h only.
Napi::Object SpillLayout(Napi::Env env) {
  Napi::Object offsets = Napi::Object::New(env);
  offsets["magic"] = Napi::Number::New(env, offsetof(sigaudit_spill_header, magic));
  offsets["record_size"] = Napi::Number::New(env, offsetof(sigaudit_spill_header, record_size));
  offsets["realtime_offset_ns"] = Napi::Number::New(env, offsetof(sigaudit_spill_header, realtime_offset_ns));
  Napi::Object layout = Napi::Object::New(env);
  layout["size"] = Napi::Number::New(env, sizeof(sigaudit_spill_header));
  layout["magic"] = Napi::String::New(env, SIGAUDIT_SPILL_MAGIC, SIGAUDIT_SPILL_MAGIC_LEN);
  layout["recordSize"] = Napi::Number::New(env, sizeof(sigaudit_event));
  layout["offsets"] = offsets;
  return layout;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_print(collect_libbpf_log);
  exports["Probe"] = Probe::Define(env);
  exports["setErrorClass"] = Napi::Function::New(env, SetErrorClass);
  exports["realtimeOffset"] = Napi::Function::New(env, RealtimeOffset);
  exports["layout"] = Layout(env);
  exports["maxExcludedComms"] = Napi::Number::New(env, SIGAUDIT_MAX_EXCLUDED_COMMS);
  exports["spillLayout"] = SpillLayout(env);
  return exports;
}

}  // namespace

NODE_API_MODULE(sigaudit, Init)
