#include "agent/file_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "agent/spool_record.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace egress::agent {
namespace {

// Records are framed by spool_record.h.

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// On failure, *error (if given) is the write's errno.
absl::Status WriteAll(int fd, const std::string& data, const std::string& path,
                      int* error = nullptr) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (error != nullptr) *error = errno;
      return ErrnoStatus("write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

void FsyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

// Events of dropped batches per civil day (year, month, day), reported to
// the service as REASON_SPOOL_OVERFLOW.
using LostPerDay = std::map<std::tuple<int, int, int>, uint64_t>;

void AddLostRecords(const v1::RecordBatch& batch, LostPerDay* lost) {
  for (const auto& r : batch.records()) {
    (*lost)[{r.day().year(), r.day().month(), r.day().day()}] += r.count();
  }
}

void AppendOverflowReports(const LostPerDay& lost, std::vector<v1::LossReport>* reports) {
  for (const auto& [day, events] : lost) {
    v1::LossReport& loss = reports->emplace_back();
    loss.mutable_day()->set_year(std::get<0>(day));
    loss.mutable_day()->set_month(std::get<1>(day));
    loss.mutable_day()->set_day(std::get<2>(day));
    loss.set_reason(v1::LossReport::REASON_SPOOL_OVERFLOW);
    loss.set_events(events);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileSpool>> FileSpool::Create(const FileSpoolOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", options.dir, ": ", ec.message()));
  FileSpoolOptions effective = options;
  // A limit beyond the file system's size would only be met as a full disk:
  // keep to 90% of it (the rest for `acked` and other files).
  struct statvfs fs = {};
  if (statvfs(options.dir.c_str(), &fs) == 0) {
    const uint64_t usable = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize / 10 * 9;
    if (usable > 0 && effective.max_bytes > usable) {
      LogWarning("spool_limit_lowered",
                 {{"max_bytes", options.max_bytes}, {"filesystem_usable_bytes", usable}});
      effective.max_bytes = usable;
    }
  }
  std::unique_ptr<FileSpool> spool(new FileSpool(effective));
  absl::MutexLock lock(&spool->mu_);
  EGRESS_RETURN_IF_ERROR(spool->Load());
  return spool;
}

FileSpool::~FileSpool() {
  absl::MutexLock lock(&mu_);
  if (append_fd_ >= 0) close(append_fd_);
}

std::string FileSpool::SegmentPath(uint64_t first_seq) const {
  return absl::StrFormat("%s/seg-%020u.log", options_.dir, first_seq);
}

std::string FileSpool::RebasePath(uint64_t first_seq) const {
  return absl::StrFormat("%s/rebase-%020u.tmp", options_.dir, first_seq);
}

absl::Status FileSpool::Load() {
  {
    std::ifstream in(options_.dir + "/acked");
    std::string text, mark, anchored;
    if (in >> text) {
      if (!absl::SimpleAtoi(text, &stats_.acked_seq)) {
        return absl::DataLossError(absl::StrCat(options_.dir, "/acked: not a number: ", text));
      }
      // Files written before the flag existed were written by acks, which
      // only follow a Welcome.
      stats_.anchored = true;
    }
    if (in >> mark && !absl::SimpleAtoi(mark, &stats_.high_water_mark)) {
      return absl::DataLossError(absl::StrCat(options_.dir, "/acked: not a number: ", mark));
    }
    if (in >> anchored) stats_.anchored = anchored == "1";
    std::string reject;
    if (in >> reject && !absl::SimpleAtoi(reject, &stats_.reject_mark)) {
      return absl::DataLossError(absl::StrCat(options_.dir, "/acked: not a number: ", reject));
    }
  }
  std::map<uint64_t, std::string> files;
  std::map<uint64_t, std::string> rebases;
  for (const auto& item : std::filesystem::directory_iterator(options_.dir)) {
    const std::string name = item.path().filename().string();
    absl::string_view view = name;
    uint64_t first = 0;
    if (absl::ConsumePrefix(&view, "seg-") && absl::ConsumeSuffix(&view, ".log") &&
        absl::SimpleAtoi(view, &first)) {
      files[first] = item.path().string();
    } else if (absl::ConsumePrefix(&view, "rebase-") && absl::ConsumeSuffix(&view, ".tmp") &&
               absl::SimpleAtoi(view, &first)) {
      rebases[first] = item.path().string();
    }
  }
  // An Anchor() interrupted by a crash. Past its commit point (`acked` says
  // anchored), the rebase file holds every unacked batch, renumbered, and
  // supersedes every segment; before it, the old segments are still valid.
  if (!rebases.empty()) {
    if (stats_.anchored && rebases.size() == 1) {
      const auto& [first, tmp] = *rebases.begin();
      for (const auto& [old_first, path] : files) std::remove(path.c_str());
      files.clear();
      if (rename(tmp.c_str(), SegmentPath(first).c_str()) != 0) return ErrnoStatus("rename", tmp);
      FsyncDir(options_.dir);
      files[first] = SegmentPath(first);
      LogWarning("spool_renumbering_completed", {{"first_seq", first}});
    } else {
      for (const auto& [first, tmp] : rebases) std::remove(tmp.c_str());
    }
  }
  for (const auto& [first, path] : files) EGRESS_RETURN_IF_ERROR(LoadSegment(first, path));
  uint64_t last = stats_.acked_seq;
  for (const auto& [first, segment] : segments_) last = std::max(last, segment.last_seq);
  stats_.next_seq = last + 1;
  // Segments holding only acked batches are garbage now.
  std::vector<uint64_t> done;
  for (const auto& [first, segment] : segments_) {
    if (segment.last_seq <= stats_.acked_seq) done.push_back(first);
  }
  for (uint64_t first : done) DropSegment(first, false);
  stats_.batches = entries_.size();
  return absl::OkStatus();
}

absl::Status FileSpool::LoadSegment(uint64_t first_seq, const std::string& path) {
  std::string data;
  {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path);
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) data.append(chunk, static_cast<size_t>(n));
    close(fd);
    if (n < 0) return ErrnoStatus("read", path);
  }
  uint64_t offset = 0;
  uint64_t last_seq = 0;
  uint64_t prev_seq = 0;
  for (const Entry& e : entries_) prev_seq = std::max(prev_seq, e.seq);
  std::vector<Entry> found;
  bool damaged = false;
  while (offset < data.size()) {
    absl::StatusOr<SpoolRecord> record = DecodeSpoolRecord(absl::string_view(data).substr(offset));
    if (!record.ok() || record->batch.seq() <= prev_seq) {
      damaged = true;
      break;
    }
    const uint64_t seq = record->batch.seq();
    prev_seq = seq;
    last_seq = seq;
    stats_.high_water_mark = std::max(stats_.high_water_mark, record->high_water_mark);
    stats_.reject_mark = std::max(stats_.reject_mark, record->reject_mark);
    found.push_back(Entry{seq, first_seq, offset + record->header_bytes, record->payload_bytes});
    offset += record->header_bytes + record->payload_bytes;
  }
  if (damaged) {
    ++stats_.corrupt_records;
    LogWarning("spool_damaged_record",
               {{"path", path}, {"offset", offset}, {"kept_batches", found.size()}});
    if (truncate(path.c_str(), static_cast<off_t>(offset)) != 0) {
      return ErrnoStatus("truncate", path);
    }
  }
  if (found.empty()) {
    std::remove(path.c_str());
    return absl::OkStatus();
  }
  segments_[first_seq] = Segment{path, offset, last_seq};
  for (const Entry& e : found) {
    if (e.seq > stats_.acked_seq) entries_.push_back(e);
  }
  stats_.bytes += offset;
  return absl::OkStatus();
}

absl::Status FileSpool::WriteAcked(uint64_t seq) {
  const std::string path = options_.dir + "/acked";
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open", tmp);
  absl::Status status =
      WriteAll(fd,
               absl::StrCat(seq, " ", stats_.high_water_mark, " ", stats_.anchored ? 1 : 0, " ",
                            stats_.reject_mark, "\n"),
               tmp);
  if (status.ok() && options_.fsync == FsyncPolicy::kEveryBatch && fsync(fd) != 0) {
    status = ErrnoStatus("fsync", tmp);
  }
  close(fd);
  EGRESS_RETURN_IF_ERROR(status);
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", tmp);
  if (options_.fsync == FsyncPolicy::kEveryBatch) FsyncDir(options_.dir);
  return absl::OkStatus();
}

absl::Status FileSpool::OpenSegment(uint64_t first_seq) {
  if (append_fd_ >= 0) close(append_fd_);
  const std::string path = SegmentPath(first_seq);
  append_fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (append_fd_ < 0) return ErrnoStatus("open", path);
  append_segment_ = first_seq;
  segments_[first_seq] = Segment{path, 0, 0};
  if (options_.fsync == FsyncPolicy::kEveryBatch) FsyncDir(options_.dir);
  return absl::OkStatus();
}

void FileSpool::KeepAsLoss(const v1::RecordBatch& batch) {
  ++stats_.dropped_batches;
  LostPerDay lost_per_day;
  AddLostRecords(batch, &lost_per_day);
  AppendOverflowReports(lost_per_day, &overflow_losses_);
  // The batch carried earlier losses: they still have to reach the service.
  for (const auto& loss : batch.losses()) overflow_losses_.push_back(loss);
}

void FileSpool::DropSegment(uint64_t first_seq, bool count_as_overflow) {
  auto it = segments_.find(first_seq);
  if (it == segments_.end()) return;
  LostPerDay lost_per_day;
  for (auto e = entries_.begin(); e != entries_.end();) {
    if (e->segment != first_seq) {
      ++e;
      continue;
    }
    if (count_as_overflow) {
      ++stats_.dropped_batches;
      auto batch = ReadEntry(*e);
      if (batch.ok()) {
        AddLostRecords(*batch, &lost_per_day);
        // Loss reports the dropped batch carried must not vanish with it.
        for (const auto& loss : batch->losses()) overflow_losses_.push_back(loss);
      }
    }
    e = entries_.erase(e);
  }
  AppendOverflowReports(lost_per_day, &overflow_losses_);
  if (append_fd_ >= 0 && append_segment_ == first_seq) {
    close(append_fd_);
    append_fd_ = -1;
  }
  stats_.bytes -= std::min(stats_.bytes, it->second.size);
  std::remove(it->second.path.c_str());
  segments_.erase(it);
  stats_.batches = entries_.size();
}

absl::StatusOr<uint64_t> FileSpool::Append(v1::RecordBatch* batch, uint64_t high_water_mark,
                                           uint64_t reject_mark) {
  absl::MutexLock lock(&mu_);
  batch->set_seq(stats_.next_seq);
  const std::string payload = batch->SerializeAsString();
  high_water_mark = std::max(high_water_mark, stats_.high_water_mark);
  // Written only when it moves, so records without rejects keep the
  // shorter framing.
  const uint64_t record_reject_mark = reject_mark > stats_.reject_mark ? reject_mark : 0;
  const std::string record = EncodeSpoolRecord(payload, high_water_mark, record_reject_mark);
  const size_t header_bytes = record.size() - payload.size();

  const uint64_t segment_limit = std::max<uint64_t>(options_.max_bytes / 8, 4096);
  if (append_fd_ < 0 || segments_[append_segment_].size >= segment_limit) {
    EGRESS_RETURN_IF_ERROR(OpenSegment(batch->seq()));
  }
  // Make room: the oldest segments go first, never the one being written.
  while (stats_.bytes + record.size() > options_.max_bytes && segments_.size() > 1 &&
         segments_.begin()->first != append_segment_) {
    LogWarning("spool_overflow", {{"dropped_segment", segments_.begin()->second.path}});
    DropSegment(segments_.begin()->first, true);
  }
  // A full disk (other files took it, or it is smaller than it said): cut
  // the torn record off, drop the oldest batches (reported as lost, like an
  // overflow) and retry, down to the segment being written. Only when
  // nothing is left to drop is this batch lost, and reported so too.
  while (true) {
    Segment& segment = segments_[append_segment_];
    int error = 0;
    absl::Status written = WriteAll(append_fd_, record, segment.path, &error);
    if (written.ok()) break;
    if (ftruncate(append_fd_, static_cast<off_t>(segment.size)) != 0) {
      LogError("spool_truncate_failed", {{"path", segment.path}, {"error", std::strerror(errno)}});
    }
    const bool full = error == ENOSPC || error == EDQUOT || error == EFBIG;
    if (!full || (segments_.size() == 1 && segment.size == 0)) {
      KeepAsLoss(*batch);
      return written;
    }
    LogWarning("spool_disk_full",
               {{"dropped_segment", segments_.begin()->second.path}, {"error", written.message()}});
    DropSegment(segments_.begin()->first, true);
    if (append_fd_ < 0) EGRESS_RETURN_IF_ERROR(OpenSegment(batch->seq()));
  }
  Segment& segment = segments_[append_segment_];
  if (options_.fsync == FsyncPolicy::kEveryBatch && fdatasync(append_fd_) != 0) {
    return ErrnoStatus("fdatasync", segment.path);
  }
  entries_.push_back(Entry{batch->seq(), append_segment_, segment.size + header_bytes,
                           static_cast<uint32_t>(payload.size())});
  segment.size += record.size();
  segment.last_seq = batch->seq();
  stats_.high_water_mark = high_water_mark;
  stats_.reject_mark = std::max(stats_.reject_mark, reject_mark);
  stats_.bytes += record.size();
  stats_.batches = entries_.size();
  return stats_.next_seq++;
}

absl::Status FileSpool::Anchor(uint64_t last_committed_seq) {
  absl::MutexLock lock(&mu_);
  if (stats_.anchored) return absl::OkStatus();
  if (!entries_.empty() && entries_.front().seq <= last_committed_seq) {
    return Renumber(last_committed_seq + 1);
  }
  stats_.anchored = true;
  absl::Status status = WriteAcked(stats_.acked_seq);
  if (!status.ok()) stats_.anchored = false;
  return status;
}

absl::Status FileSpool::Renumber(uint64_t first_seq) {
  std::string data;
  uint64_t seq = first_seq;
  for (const Entry& e : entries_) {
    EGRESS_ASSIGN_OR_RETURN(v1::RecordBatch batch, ReadEntry(e));
    batch.set_seq(seq++);
    data +=
        EncodeSpoolRecord(batch.SerializeAsString(), stats_.high_water_mark, stats_.reject_mark);
  }
  const uint64_t count = seq - first_seq;
  const std::string tmp = RebasePath(first_seq);
  {
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoStatus("open", tmp);
    absl::Status status = WriteAll(fd, data, tmp);
    if (status.ok() && options_.fsync == FsyncPolicy::kEveryBatch && fsync(fd) != 0) {
      status = ErrnoStatus("fsync", tmp);
    }
    close(fd);
    if (!status.ok()) {
      std::remove(tmp.c_str());
      return status;
    }
  }
  // Commit point: from here on a restart finishes the switch (see Load()).
  stats_.anchored = true;
  if (absl::Status status = WriteAcked(first_seq - 1); !status.ok()) {
    stats_.anchored = false;
    std::remove(tmp.c_str());
    return status;
  }
  stats_.acked_seq = std::max(stats_.acked_seq, first_seq - 1);
  if (append_fd_ >= 0) close(append_fd_);
  append_fd_ = -1;
  append_segment_ = 0;
  for (const auto& [first, segment] : segments_) std::remove(segment.path.c_str());
  segments_.clear();
  entries_.clear();
  stats_.bytes = 0;
  const std::string path = SegmentPath(first_seq);
  if (rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", tmp);
  if (options_.fsync == FsyncPolicy::kEveryBatch) FsyncDir(options_.dir);
  EGRESS_RETURN_IF_ERROR(LoadSegment(first_seq, path));
  stats_.next_seq = std::max(stats_.next_seq, seq);
  stats_.renumbered_batches += count;
  stats_.batches = entries_.size();
  LogInfo("spool_renumbered", {{"batches", count}, {"first_seq", first_seq}});
  return absl::OkStatus();
}

absl::Status FileSpool::AckThrough(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (seq <= stats_.acked_seq) return absl::OkStatus();
  // Acks only follow a Welcome.
  stats_.anchored = true;
  stats_.acked_seq = seq;
  // An ack beyond what we handed out (state lost, service knows more): never
  // reuse those numbers.
  stats_.next_seq = std::max(stats_.next_seq, seq + 1);
  // Free the older acked segments first: on a full disk the new `acked`
  // file needs their room. A crash in between only makes the service see
  // some acked batches again, which it acknowledges as duplicates.
  while (!entries_.empty() && entries_.front().seq <= seq) entries_.pop_front();
  std::vector<uint64_t> done;
  for (const auto& [first, segment] : segments_) {
    if (segment.last_seq <= seq && first != append_segment_) done.push_back(first);
  }
  for (uint64_t first : done) DropSegment(first, false);
  stats_.batches = entries_.size();
  // The segment being written holds the newest seq and marks: it goes only
  // once `acked` carries them. Dropped before, a kill -9 in between would
  // restart numbering at the old acked seq, and the service would take the
  // next batches for ones it committed (and drop them), while the resync
  // and the REJECT generations would start from older marks (doubles).
  EGRESS_RETURN_IF_ERROR(WriteAcked(seq));
  if (auto it = segments_.find(append_segment_);
      it != segments_.end() && it->second.last_seq <= seq && it->second.last_seq != 0) {
    DropSegment(append_segment_, false);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RecordBatch> FileSpool::ReadEntry(const Entry& entry) const {
  auto it = segments_.find(entry.segment);
  if (it == segments_.end()) return absl::InternalError("spool segment vanished");
  const int fd = open(it->second.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", it->second.path);
  std::string payload(entry.length, '\0');
  const ssize_t n = pread(fd, payload.data(), entry.length, static_cast<off_t>(entry.offset));
  close(fd);
  v1::RecordBatch batch;
  if (n != static_cast<ssize_t>(entry.length) || !batch.ParseFromString(payload)) {
    return absl::DataLossError(absl::StrCat("spool batch ", entry.seq, " unreadable"));
  }
  return batch;
}

absl::StatusOr<v1::RecordBatch> FileSpool::NextAfter(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.seq > seq) return ReadEntry(e);
  }
  return absl::NotFoundError(absl::StrCat("no spooled batch after ", seq));
}

std::vector<v1::LossReport> FileSpool::TakeOverflowLosses() {
  absl::MutexLock lock(&mu_);
  return std::exchange(overflow_losses_, {});
}

SpoolStats FileSpool::stats() const {
  absl::MutexLock lock(&mu_);
  SpoolStats stats = stats_;
  stats.max_bytes = options_.max_bytes;
  return stats;
}

}  // namespace egress::agent
