#include "agent/netfilter_conntrack_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace egress::agent {
namespace {

int ReadIntFile(const char* path) {
  std::ifstream in(path);
  int value = -1;
  if (!(in >> value)) return -1;
  return value;
}

bool WriteIntFile(const char* path, int value) {
  std::ofstream out(path);
  out << value << "\n";
  out.flush();
  return static_cast<bool>(out);
}

// Ids remembered between two drains of the socket, at most (about 40 MB).
constexpr size_t kMaxRemembered = 1 << 20;

int OnConntrackEvent(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  return static_cast<NetfilterConntrackSource*>(data)->HandleEvent(ct);
}

int OnDumpEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  return static_cast<NetfilterConntrackSource*>(data)->HandleDumpEntry(ct);
}

}  // namespace

int ReadConntrackEventsSysctl() {
  return ReadIntFile("/proc/sys/net/netfilter/nf_conntrack_events");
}

absl::Duration NetfilterConntrackSource::ResyncWindow() const {
  // A TCP connection's entry after close/reset is the shortest-lived one.
  const int seconds = ReadIntFile("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close");
  return absl::Seconds(seconds > 0 ? seconds : 10);
}

absl::StatusOr<std::unique_ptr<NetfilterConntrackSource>> NetfilterConntrackSource::Create(
    const ConntrackSourceOptions& options, const Clock* clock) {
  const int events_sysctl = ReadConntrackEventsSysctl();
  // Start timestamps let the event carry when the connection began rather than
  // when we read it (which matters after a burst or a stall).
  const char* kTimestamp = "/proc/sys/net/netfilter/nf_conntrack_timestamp";
  if (ReadIntFile(kTimestamp) != 1 && !WriteIntFile(kTimestamp, 1)) {
    LogWarning("conntrack_timestamp_unavailable", {{"path", kTimestamp}});
  }
  nfct_handle* handle = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW);
  if (handle == nullptr) {
    const int err = errno;
    const std::string message =
        absl::StrCat("nfct_open(NEW events): ", std::strerror(err), " (needs CAP_NET_ADMIN)");
    return err == EPERM ? absl::PermissionDeniedError(message) : absl::InternalError(message);
  }
  std::unique_ptr<NetfilterConntrackSource> source(
      new NetfilterConntrackSource(handle, options, clock));
  const int fd = nfct_fd(handle);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("O_NONBLOCK: ", std::strerror(errno)));
  }
  source->stats_.rcvbuf_bytes = static_cast<int>(
      nfnl_rcvbufsiz(nfct_nfnlh(handle), static_cast<unsigned int>(options.rcvbuf_bytes)));

  // Only our marked connections reach user space.
  nfct_filter* filter = nfct_filter_create();
  if (filter == nullptr) return absl::InternalError("nfct_filter_create failed");
  nfct_filter_dump_mark mark{kAccountMarkBit, kAccountMarkBit};
  nfct_filter_add_attr(filter, NFCT_FILTER_MARK, &mark);
  nfct_filter_dump_mark other{kUnattributedMark, kUnattributedMark | kAccountMarkBit};
  nfct_filter_add_attr(filter, NFCT_FILTER_MARK, &other);
  const int attached = nfct_filter_attach(fd, filter);
  nfct_filter_destroy(filter);
  if (attached != 0) {
    return absl::InternalError(absl::StrCat("nfct_filter_attach: ", std::strerror(errno)));
  }
  nfct_callback_register(handle, NFCT_T_NEW, &OnConntrackEvent, source.get());
  source->last_drain_nanos_ = static_cast<uint64_t>(absl::ToUnixNanos(clock->Now()));
  source->events_sysctl_ = events_sysctl;
  return source;
}

NetfilterConntrackSource::NetfilterConntrackSource(nfct_handle* handle,
                                                   const ConntrackSourceOptions& options,
                                                   const Clock* clock)
    : handle_(handle), options_(options), clock_(clock) {}

NetfilterConntrackSource::~NetfilterConntrackSource() { nfct_close(handle_); }

int NetfilterConntrackSource::fd() const { return nfct_fd(handle_); }

bool NetfilterConntrackSource::Parse(const ::nf_conntrack* ct, ConnectionEvent* event,
                                     uint64_t* start_nanos) const {
  const uint32_t mark = nfct_get_attr_u32(ct, ATTR_MARK);
  if ((mark & kAccountMarkBit) == 0) return false;
  event->uid = mark & ~kAccountMarkBit;
  const uint8_t l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
  if (l3 == AF_INET) {
    event->dst = IpAddress::FromV4(ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST)));
  } else if (l3 == AF_INET6) {
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
    event->dst = IpAddress::FromV6(bytes).Unmapped();
  } else {
    return false;
  }
  event->dst_port = 0;
  switch (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO)) {
    case IPPROTO_TCP:
      event->protocol = Protocol::kTcp;
      event->dst_port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
      break;
    case IPPROTO_UDP:
      event->protocol = Protocol::kUdp;
      event->dst_port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
      break;
    case IPPROTO_ICMP:
      event->protocol = Protocol::kIcmp;
      break;
    case IPPROTO_ICMPV6:
      event->protocol = Protocol::kIcmpV6;
      break;
    default:
      return false;  // SCTP, GRE...: the wire format has no value for them.
  }
  event->action = Action::kAccept;
  *start_nanos = nfct_attr_is_set(ct, ATTR_TIMESTAMP_START) > 0
                     ? nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START)
                     : 0;
  event->time =
      *start_nanos != 0 ? absl::FromUnixNanos(static_cast<int64_t>(*start_nanos)) : clock_->Now();
  return true;
}

NetfilterConntrackSource::EntryKey NetfilterConntrackSource::KeyOf(const ::nf_conntrack* ct) {
  // The id alone is a hash the kernel may reuse; with the ports and protocol
  // it names one connection.
  const uint64_t sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  const uint64_t dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  const uint64_t l4 = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  return {nfct_get_attr_u32(ct, ATTR_ID), sport << 32 | dport << 16 | l4};
}

int NetfilterConntrackSource::HandleEvent(const ::nf_conntrack* ct) {
  const uint32_t mark = nfct_get_attr_u32(ct, ATTR_MARK);
  if ((mark & (kAccountMarkBit | kUnattributedMark)) == kUnattributedMark) {
    ++stats_.unattributed;
    return NFCT_CB_CONTINUE;
  }
  ConnectionEvent event;
  uint64_t start = 0;
  if (!Parse(ct, &event, &start)) {
    ++stats_.filtered;
    return NFCT_CB_CONTINUE;
  }
  const EntryKey key = KeyOf(ct);
  if (!resynced_.empty()) {
    if (resynced_.erase(key) > 0) {
      // Already counted by a dump; remembered as delivered, so that a later
      // overrun's dump does not count it again either.
      ++stats_.filtered;
      since_drain_.insert(key);
      return NFCT_CB_CONTINUE;
    }
    if (static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now())) > resync_until_nanos_) {
      resynced_.clear();
    }
  }
  if (since_drain_.size() >= kMaxRemembered) {
    // The socket has not been empty for a long while: stop remembering (and
    // so give up recovering a pending overrun, which then counts as lost).
    if (overrun_pending_) {
      stats_.lost += overruns_pending_loss_;
      lost_pending_ += overruns_pending_loss_;
      overruns_pending_loss_ = 0;
      overrun_pending_ = false;
      LogError("conntrack_overrun_unrecovered", {{"error", "socket never drained"}});
    }
    since_drain_.clear();
  }
  since_drain_.insert(key);
  ++stats_.events;
  (*sink_)(event);
  ++delivered_;
  return delivered_ >= budget_ ? NFCT_CB_STOP : NFCT_CB_CONTINUE;
}

int NetfilterConntrackSource::HandleDumpEntry(const ::nf_conntrack* ct) {
  ConnectionEvent event;
  uint64_t start = 0;
  if (!Parse(ct, &event, &start) || start == 0 || start <= resync_after_nanos_) {
    return NFCT_CB_CONTINUE;
  }
  const EntryKey key = KeyOf(ct);
  // Delivered as an event, or counted by an earlier dump.
  if (since_drain_.contains(key) || resynced_.contains(key)) return NFCT_CB_CONTINUE;
  resynced_.insert(key);
  ++stats_.events;
  ++resync_delivered_;
  (*sink_)(event);
  return NFCT_CB_CONTINUE;
}

absl::Status NetfilterConntrackSource::Dump(uint64_t after_unix_nanos) {
  nfct_handle* dump = nfct_open(CONNTRACK, 0);
  if (dump == nullptr) {
    return absl::InternalError(absl::StrCat("nfct_open(dump): ", std::strerror(errno)));
  }
  resync_after_nanos_ = after_unix_nanos;
  nfct_callback_register(dump, NFCT_T_ALL, &OnDumpEntry, this);
  nfct_filter_dump* filter = nfct_filter_dump_create();
  nfct_filter_dump_mark mark{kAccountMarkBit, kAccountMarkBit};
  nfct_filter_dump_set_attr(filter, NFCT_FILTER_DUMP_MARK, &mark);
  const int rc = nfct_query(dump, NFCT_Q_DUMP_FILTER, filter);
  const int err = errno;
  nfct_filter_dump_destroy(filter);
  nfct_close(dump);
  // NEW events of dumped entries may still be queued on the event socket;
  // they come within moments, so the ids are kept a few seconds.
  resync_until_nanos_ = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now() + absl::Seconds(5)));
  if (rc != 0) return absl::InternalError(absl::StrCat("conntrack dump: ", std::strerror(err)));
  ++stats_.resyncs;
  return absl::OkStatus();
}

absl::StatusOr<size_t> NetfilterConntrackSource::Resync(uint64_t after_unix_nanos,
                                                        const EventSink& sink) {
  sink_ = &sink;
  resync_delivered_ = 0;
  const absl::Status status = Dump(after_unix_nanos);
  sink_ = nullptr;
  if (!status.ok()) return status;
  return resync_delivered_;
}

void NetfilterConntrackSource::RecoverOverrun() {
  // Called with sink_ set, right after the socket was drained.
  resync_delivered_ = 0;
  const absl::Status status = Dump(overrun_from_nanos_);
  if (status.ok()) {
    recovered_overruns_ += overruns_pending_loss_;
    LogWarning("conntrack_overrun_recovered",
               {{"recovered_events", resync_delivered_}, {"overruns", overruns_pending_loss_}});
  } else {
    // Without the dump the loss is real and its size unknown: report it.
    stats_.lost += overruns_pending_loss_;
    lost_pending_ += overruns_pending_loss_;
    LogError("conntrack_overrun_unrecovered", {{"error", status.ToString()}});
  }
  overruns_pending_loss_ = 0;
  overrun_pending_ = false;
}

absl::StatusOr<size_t> NetfilterConntrackSource::ReadAvailable(size_t max_events,
                                                               const EventSink& sink) {
  sink_ = &sink;
  budget_ = std::max<size_t>(max_events, 1);
  delivered_ = 0;
  while (delivered_ < budget_) {
    // The clock is read before the read that finds the socket empty, not
    // after: an entry that started between an empty read and a later clock
    // read could otherwise be older than the mark yet still in the socket,
    // and a crash right after the seal would lose it.
    const uint64_t read_started_at = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now()));
    const size_t delivered_before = delivered_;
    const int rc = nfct_catch(handle_);
    if (rc >= 0) {
      // NFCT_CB_STOP: budget used up (or a stop from the library).
      if (delivered_ >= budget_) break;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // This read delivered events that started after read_started_at: read
      // once more, so that no event in the batch is newer than the mark (a
      // resync after a crash would count it again).
      if (delivered_ != delivered_before) continue;
      in_overrun_burst_ = false;
      // Empty now: whatever starts from here on is delivered or, if dropped
      // while the dump below runs, recovered by the next overrun's dump.
      const uint64_t drained_at = read_started_at;
      if (overrun_pending_) RecoverOverrun();
      since_drain_.clear();
      last_drain_nanos_ = drained_at;
      break;
    }
    if (errno == ENOBUFS) {
      ++stats_.overruns;
      ++overruns_pending_loss_;
      if (!overrun_pending_) {
        overrun_pending_ = true;
        overrun_from_nanos_ = last_drain_nanos_;
      }
      if (!in_overrun_burst_) {
        in_overrun_burst_ = true;
        const int grown = std::min(stats_.rcvbuf_bytes * 2, options_.max_rcvbuf_bytes);
        if (grown > stats_.rcvbuf_bytes) {
          stats_.rcvbuf_bytes = static_cast<int>(
              nfnl_rcvbufsiz(nfct_nfnlh(handle_), static_cast<unsigned int>(grown)));
        }
        LogWarning("conntrack_overrun",
                   {{"overruns", stats_.overruns}, {"rcvbuf_bytes", stats_.rcvbuf_bytes}});
      }
      continue;
    }
    if (errno == EINTR) continue;
    sink_ = nullptr;
    return absl::InternalError(absl::StrCat("conntrack recv: ", std::strerror(errno)));
  }
  sink_ = nullptr;
  return delivered_;
}

uint64_t NetfilterConntrackSource::TakeLostEvents() {
  const uint64_t lost = lost_pending_;
  lost_pending_ = 0;
  return lost;
}

}  // namespace egress::agent
