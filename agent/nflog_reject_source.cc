#include "agent/nflog_reject_source.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libnfnetlink/libnfnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

// libnetfilter_log.h needs these types declared first.
#include <libnetfilter_log/libnetfilter_log.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace egress::agent {

bool ParsePacketHeaders(absl::Span<const uint8_t> p, IpAddress* dst, Protocol* protocol,
                        uint16_t* dst_port) {
  if (p.empty()) return false;
  const int version = p[0] >> 4;
  size_t l4_offset = 0;
  int l4 = -1;
  if (version == 4) {
    if (p.size() < 20) return false;
    const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (ihl < 20) return false;
    l4 = p[9];
    *dst =
        IpAddress::FromV4(static_cast<uint32_t>(p[16]) << 24 | static_cast<uint32_t>(p[17]) << 16 |
                          static_cast<uint32_t>(p[18]) << 8 | p[19]);
    l4_offset = ihl;
  } else if (version == 6) {
    if (p.size() < 40) return false;
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), p.data() + 24, 16);
    *dst = IpAddress::FromV6(bytes).Unmapped();
    l4 = p[6];
    l4_offset = 40;
    // Skip the extension headers that come before a transport header.
    for (int hops = 0; hops < 8 && (l4 == 0 || l4 == 43 || l4 == 60); ++hops) {
      if (p.size() < l4_offset + 8) return false;
      const int next = p[l4_offset];
      l4_offset += (static_cast<size_t>(p[l4_offset + 1]) + 1) * 8;
      l4 = next;
    }
  } else {
    return false;
  }
  switch (l4) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
      if (p.size() < l4_offset + 4) return false;
      *protocol = l4 == IPPROTO_TCP ? Protocol::kTcp : Protocol::kUdp;
      *dst_port = static_cast<uint16_t>(p[l4_offset + 2] << 8 | p[l4_offset + 3]);
      return true;
    case IPPROTO_ICMP:
      *protocol = Protocol::kIcmp;
      *dst_port = 0;
      return true;
    case IPPROTO_ICMPV6:
      *protocol = Protocol::kIcmpV6;
      *dst_port = 0;
      return true;
    default:
      return false;
  }
}

absl::StatusOr<std::unique_ptr<NflogRejectSource>> NflogRejectSource::Create(
    const NflogSourceOptions& options, const Clock* clock) {
  nflog_handle* handle = nflog_open();
  if (handle == nullptr) {
    return absl::InternalError(absl::StrCat("nflog_open: ", std::strerror(errno)));
  }
  std::unique_ptr<NflogRejectSource> source(new NflogRejectSource(handle, options, clock));
  // Harmless on current kernels, required on old ones.
  nflog_bind_pf(handle, AF_INET);
  nflog_bind_pf(handle, AF_INET6);
  source->group_ = nflog_bind_group(handle, options.group);
  if (source->group_ == nullptr) {
    const int err = errno;
    const std::string message =
        absl::StrCat("nflog_bind_group(", options.group, "): ", std::strerror(err));
    if (err == EPERM) return absl::PermissionDeniedError(message);
    if (err == EBUSY) return absl::UnavailableError(message + " (another process holds the group)");
    return absl::InternalError(message);
  }
  // Enough of the packet for IPv6 with a few extension headers plus ports.
  if (nflog_set_mode(source->group_, NFULNL_COPY_PACKET, 128) != 0 ||
      nflog_set_flags(source->group_, NFULNL_CFG_F_SEQ) != 0) {
    return absl::InternalError(absl::StrCat("nflog config: ", std::strerror(errno)));
  }
  // Deliver every packet at once: rejects are rare next to accepts, and a
  // packet held in the kernel queue is lost if the agent stops meanwhile.
  nflog_set_timeout(source->group_, 5);
  nflog_set_qthresh(source->group_, 1);
  nflog_set_nlbufsiz(source->group_, 64 * 1024);
  nflog_callback_register(source->group_, &NflogRejectSource::OnPacket, source.get());
  const int fd = nflog_fd(handle);
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("O_NONBLOCK: ", std::strerror(errno)));
  }
  source->stats_.rcvbuf_bytes = static_cast<int>(
      nfnl_rcvbufsiz(nflog_nfnlh(handle), static_cast<unsigned int>(options.rcvbuf_bytes)));
  return source;
}

NflogRejectSource::NflogRejectSource(nflog_handle* handle, const NflogSourceOptions& options,
                                     const Clock* clock)
    : handle_(handle), options_(options), clock_(clock), buffer_(256 * 1024) {}

NflogRejectSource::~NflogRejectSource() {
  if (group_ != nullptr) nflog_unbind_group(group_);
  nflog_close(handle_);
}

int NflogRejectSource::fd() const { return nflog_fd(handle_); }

int NflogRejectSource::OnPacket(nflog_g_handle*, ::nfgenmsg*, nflog_data* data, void* arg) {
  auto* self = static_cast<NflogRejectSource*>(arg);
  uint32_t seq = 0;
  if (nflog_get_seq(data, &seq) == 0) {
    if (self->last_seq_.has_value() && seq != *self->last_seq_ + 1) {
      const uint64_t gap = static_cast<uint32_t>(seq - *self->last_seq_ - 1);
      self->stats_.lost += gap;
      self->lost_pending_ += gap;
    }
    self->last_seq_ = seq;
  }
  if (self->sink_ == nullptr) {
    // Delivered outside ReadAvailable (nflog_unbind_group reads the socket
    // while waiting for its ack): too late to count.
    ++self->stats_.filtered;
    return 0;
  }
  uint32_t uid = 0;
  char* payload = nullptr;
  const int length = nflog_get_payload(data, &payload);
  ConnectionEvent event;
  if (nflog_get_uid(data, &uid) != 0 || length <= 0 ||
      !ParsePacketHeaders(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(payload),
                                              static_cast<size_t>(length)),
                          &event.dst, &event.protocol, &event.dst_port)) {
    ++self->stats_.filtered;
    return 0;
  }
  event.uid = uid;
  event.action = Action::kReject;
  event.time = self->clock_->Now();
  ++self->stats_.events;
  ++self->delivered_;
  (*self->sink_)(event);
  return 0;
}

absl::StatusOr<size_t> NflogRejectSource::ReadAvailable(size_t max_events, const EventSink& sink) {
  sink_ = &sink;
  delivered_ = 0;
  // One datagram may carry several packets (qthresh), so the limit is checked
  // per datagram: at most max_events plus one datagram's worth.
  while (delivered_ < std::max<size_t>(max_events, 1)) {
    const ssize_t n = recv(fd(), buffer_.data(), buffer_.size(), 0);
    if (n > 0) {
      nflog_handle_packet(handle_, buffer_.data(), static_cast<int>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      in_overrun_burst_ = false;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == ENOBUFS) {
      // The sequence gap on the next packet says exactly how many were lost.
      ++stats_.overruns;
      if (!in_overrun_burst_) {
        in_overrun_burst_ = true;
        const int grown = std::min(stats_.rcvbuf_bytes * 2, options_.max_rcvbuf_bytes);
        if (grown > stats_.rcvbuf_bytes) {
          stats_.rcvbuf_bytes = static_cast<int>(
              nfnl_rcvbufsiz(nflog_nfnlh(handle_), static_cast<unsigned int>(grown)));
        }
        LogWarning("nflog_overrun",
                   {{"overruns", stats_.overruns}, {"rcvbuf_bytes", stats_.rcvbuf_bytes}});
      }
      continue;
    }
    sink_ = nullptr;
    return absl::InternalError(absl::StrCat("nflog recv: ", std::strerror(errno)));
  }
  sink_ = nullptr;
  return delivered_;
}

uint64_t NflogRejectSource::TakeLostEvents() {
  const uint64_t lost = lost_pending_;
  lost_pending_ = 0;
  return lost;
}

}  // namespace egress::agent
