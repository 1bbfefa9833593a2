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

absl::StatusOr<std::unique_ptr<NetfilterConntrackSource>> NetfilterConntrackSource::Create(
    const ConntrackSourceOptions& options, const Clock* clock) {
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
  const int attached = nfct_filter_attach(fd, filter);
  nfct_filter_destroy(filter);
  if (attached != 0) {
    return absl::InternalError(absl::StrCat("nfct_filter_attach: ", std::strerror(errno)));
  }
  nfct_callback_register(handle, NFCT_T_NEW, &OnConntrackEvent, source.get());
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
  event->time = *start_nanos != 0 ? absl::FromUnixNanos(static_cast<int64_t>(*start_nanos))
                                  : clock_->Now();
  return true;
}

int NetfilterConntrackSource::HandleEvent(const ::nf_conntrack* ct) {
  ConnectionEvent event;
  uint64_t start = 0;
  if (!Parse(ct, &event, &start)) {
    ++stats_.filtered;
    return NFCT_CB_CONTINUE;
  }
  if (!resynced_.empty()) {
    if (resynced_.erase({nfct_get_attr_u32(ct, ATTR_ID), start}) > 0) {
      ++stats_.filtered;  // already counted by the resync dump
      return NFCT_CB_CONTINUE;
    }
    if (start > resync_until_nanos_) resynced_.clear();
  }
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
  resynced_.insert({nfct_get_attr_u32(ct, ATTR_ID), start});
  ++stats_.events;
  ++resync_delivered_;
  (*sink_)(event);
  return NFCT_CB_CONTINUE;
}

absl::StatusOr<size_t> NetfilterConntrackSource::Resync(uint64_t after_unix_nanos,
                                                        const EventSink& sink) {
  nfct_handle* dump = nfct_open(CONNTRACK, 0);
  if (dump == nullptr) {
    return absl::InternalError(absl::StrCat("nfct_open(dump): ", std::strerror(errno)));
  }
  sink_ = &sink;
  resync_after_nanos_ = after_unix_nanos;
  resync_delivered_ = 0;
  nfct_callback_register(dump, NFCT_T_ALL, &OnDumpEntry, this);
  nfct_filter_dump* filter = nfct_filter_dump_create();
  nfct_filter_dump_mark mark{kAccountMarkBit, kAccountMarkBit};
  nfct_filter_dump_set_attr(filter, NFCT_FILTER_DUMP_MARK, &mark);
  const int rc = nfct_query(dump, NFCT_Q_DUMP_FILTER, filter);
  const int err = errno;
  nfct_filter_dump_destroy(filter);
  nfct_close(dump);
  sink_ = nullptr;
  // Events queued before the dump carry start times up to now; a little
  // slack covers entries confirmed on another CPU while the dump ran.
  resync_until_nanos_ = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now() + absl::Seconds(5)));
  if (rc != 0) return absl::InternalError(absl::StrCat("conntrack dump: ", std::strerror(err)));
  ++stats_.resyncs;
  return resync_delivered_;
}

absl::StatusOr<size_t> NetfilterConntrackSource::ReadAvailable(size_t max_events,
                                                               const EventSink& sink) {
  sink_ = &sink;
  budget_ = std::max<size_t>(max_events, 1);
  delivered_ = 0;
  while (delivered_ < budget_) {
    const int rc = nfct_catch(handle_);
    if (rc >= 0) {
      // NFCT_CB_STOP: budget used up (or a stop from the library).
      if (delivered_ >= budget_) break;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      in_overrun_burst_ = false;
      break;
    }
    if (errno == ENOBUFS) {
      ++stats_.overruns;
      ++stats_.lost;
      ++lost_pending_;
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
