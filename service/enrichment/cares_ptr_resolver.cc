#include "service/enrichment/cares_ptr_resolver.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace egress {

struct CaresPtrResolver::Lookup {
  CaresPtrResolver* resolver;
  IpAddress ip;
  Callback done;
  PtrLookupResult result;
};

namespace {

ares_channel Channel(void* channel) { return static_cast<ares_channel>(channel); }

std::string Printable(const char* name) {
  std::string out(name);
  if (out.size() > 253) out.resize(253);
  while (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) {
    if (c < 0x21 || c > 0x7e) c = '?';
  }
  return out;
}

const char* CauseName(int status) {
  switch (status) {
    case ARES_ETIMEOUT:
      return "timeout";
    case ARES_ESERVFAIL:
      return "SERVFAIL";
    case ARES_EREFUSED:
      return "REFUSED";
    case ARES_ECONNREFUSED:
      // See Create: with several servers, 1.18 reports every failure so.
      return "SERVFAIL, REFUSED or unreachable at every resolver";
    case ARES_EFORMERR:
      return "FORMERR";
    case ARES_ENOTIMP:
      return "NOTIMP";
    case ARES_EBADRESP:
      return "malformed response";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return "shutting down";
    default:
      return ares_strerror(status);
  }
}

bool IsNoData(int status) { return status == ARES_ENOTFOUND || status == ARES_ENODATA; }

// Answers to many concurrent queries arrive in bursts; each small datagram
// costs 1-2 KB of receive buffer (skb overhead), so the default 208 KiB drops
// answers from about 150 in flight on, which then wait for a retry. Ask for
// more (SO_RCVBUFFORCE works as root, SO_RCVBUF up to net.core.rmem_max).
int ConfigureSocket(ares_socket_t fd, int type, void* /*data*/) {
  if (type == SOCK_DGRAM) {
    int size = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
  }
  return 0;
}

void CaresInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

}  // namespace

absl::StatusOr<std::string> CaresPtrResolver::ServersCsv(const std::vector<std::string>& servers) {
  std::vector<std::string> parts;
  for (const std::string& server : servers) {
    std::string host = server;
    int port = 53;
    std::string_view text = server;
    if (!text.empty() && text.front() == '[') {
      size_t close = text.find(']');
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("resolver \"", server, "\": missing ']'"));
      }
      host = std::string(text.substr(1, close - 1));
      std::string_view rest = text.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':' || rest.size() == 1) {
          return absl::InvalidArgumentError(
              absl::StrCat("resolver \"", server, "\": expected ]:port"));
        }
        port = -1;
        std::string port_text(rest.substr(1));
        char* end = nullptr;
        long value = std::strtol(port_text.c_str(), &end, 10);
        if (*end == 0 && value > 0 && value <= 65535) port = static_cast<int>(value);
      }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
      size_t colon = text.find(':');
      host = std::string(text.substr(0, colon));
      std::string port_text(text.substr(colon + 1));
      char* end = nullptr;
      long value = std::strtol(port_text.c_str(), &end, 10);
      port = (!port_text.empty() && *end == 0 && value > 0 && value <= 65535)
                 ? static_cast<int>(value)
                 : -1;
    }
    if (port < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("resolver \"", server, "\": port must be 1..65535"));
    }
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(host);
    if (!ip.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("resolver \"", server, "\": ", ip.status().message()));
    }
    parts.push_back(ip->is_v4() ? absl::StrCat(ip->ToString(), ":", port)
                                : absl::StrCat("[", ip->ToString(), "]:", port));
  }
  return absl::StrJoin(parts, ",");
}

CaresPtrResolver::CaresPtrResolver(const CaresPtrResolverOptions& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<CaresPtrResolver>> CaresPtrResolver::Create(
    const CaresPtrResolverOptions& options) {
  if (options.tries < 1) return absl::InvalidArgumentError("resolver tries must be >= 1");
  if (options.timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("resolver timeout must be >= 1ms");
  }
  if (options.max_in_flight < 1) {
    return absl::InvalidArgumentError("resolver max_in_flight must be >= 1");
  }
  if (options.max_queued < 0) return absl::InvalidArgumentError("resolver max_queued must be >= 0");
  EGRESS_ASSIGN_OR_RETURN(std::string csv, ServersCsv(options.servers));
  CaresInitOnce();

  std::unique_ptr<CaresPtrResolver> resolver(new CaresPtrResolver(options));
  // c-ares 1.18 treats SERVFAIL, REFUSED and NOTIMP as "try the next server"
  // and, once every server did, reports ECONNREFUSED, hiding which it was.
  // With one server there is nothing to fall back to, so we ask for the
  // answer itself (NOCHECKRESP) and report the exact RCODE; with several,
  // falling back is worth more and the error says all of them failed.
  for (int pass = 0; pass < 2; ++pass) {
    ares_options ao;
    std::memset(&ao, 0, sizeof(ao));
    ao.timeout = static_cast<int>(absl::ToInt64Milliseconds(options.timeout));
    ao.tries = options.tries;
    // No search list or ndots games: every name we ask is absolute.
    ao.flags = ARES_FLAG_NOSEARCH | (pass == 1 ? ARES_FLAG_NOCHECKRESP : 0);
    ares_channel channel = nullptr;
    int status =
        ares_init_options(&channel, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
    if (status != ARES_SUCCESS) {
      return absl::InternalError(absl::StrCat("c-ares init: ", ares_strerror(status)));
    }
    if (!csv.empty()) {
      status = ares_set_servers_ports_csv(channel, csv.c_str());
      if (status != ARES_SUCCESS) {
        ares_destroy(channel);
        return absl::InvalidArgumentError(
            absl::StrCat("c-ares rejected resolvers ", csv, ": ", ares_strerror(status)));
      }
    }
    ares_addr_port_node* servers = nullptr;
    int count = 0;
    if (ares_get_servers_ports(channel, &servers) == ARES_SUCCESS) {
      for (ares_addr_port_node* s = servers; s != nullptr; s = s->next) ++count;
      ares_free_data(servers);
    }
    if (count == 0) {
      ares_destroy(channel);
      return absl::InternalError("c-ares: no resolvers configured or found in /etc/resolv.conf");
    }
    if (pass == 0 && count == 1) {
      ares_destroy(channel);
      continue;
    }
    ares_set_socket_configure_callback(channel, &ConfigureSocket, nullptr);
    resolver->channel_ = channel;
    resolver->server_count_ = count;
    break;
  }
  resolver->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (resolver->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  resolver->thread_ = std::thread([r = resolver.get()] { r->Loop(); });
  return resolver;
}

CaresPtrResolver::~CaresPtrResolver() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    Wake();
    thread_.join();
  }
  if (channel_ != nullptr) ares_destroy(Channel(channel_));
  if (wake_fd_ >= 0) close(wake_fd_);
}

void CaresPtrResolver::Wake() {
  uint64_t one = 1;
  // EAGAIN only when the counter is saturated, i.e. already awake.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void CaresPtrResolver::Resolve(const IpAddress& ip, Callback done) {
  PtrLookupResult rejected;
  {
    absl::MutexLock lock(&mutex_);
    ++stats_.requests;
    if (stopping_) {
      rejected.error = "shutting down";
    } else if (admitted_ >= int64_t{options_.max_queued} + options_.max_in_flight) {
      rejected.error = "overloaded";
      ++stats_.overloaded;
    } else {
      ++admitted_;
      queue_.push_back({ip.Unmapped(), std::move(done)});
      stats_.queued = static_cast<int64_t>(queue_.size());
    }
  }
  if (!rejected.error.empty()) {
    {
      absl::MutexLock lock(&mutex_);
      ++stats_.temporary_failures;
    }
    done(std::move(rejected));
    return;
  }
  Wake();
}

PtrResolverStats CaresPtrResolver::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

void CaresPtrResolver::Start(Request request) {
  auto* lookup = new Lookup{this, request.ip, std::move(request.done), {}};
  ++in_flight_;
  std::string name = ReverseDnsName(lookup->ip);
  ares_query(Channel(channel_), name.c_str(), ns_c_in, ns_t_ptr, &CaresPtrResolver::OnPtr, lookup);
}

void CaresPtrResolver::OnPtr(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                             int alen) {
  auto* lookup = static_cast<Lookup*>(arg);
  CaresPtrResolver* self = lookup->resolver;
  PtrLookupResult& result = lookup->result;
  if (status == ARES_SUCCESS) {
    hostent* host = nullptr;
    absl::Span<const uint8_t> bytes = lookup->ip.bytes();
    int family = lookup->ip.is_v4() ? AF_INET : AF_INET6;
    status = ares_parse_ptr_reply(abuf, alen, bytes.data(), static_cast<int>(bytes.size()), family,
                                  &host);
    if (status == ARES_SUCCESS && host != nullptr && host->h_name != nullptr &&
        host->h_name[0] != 0) {
      result.ptr = Printable(host->h_name);
    } else if (status == ARES_SUCCESS) {
      status = ARES_ENODATA;
    }
    if (host != nullptr) ares_free_hostent(host);
  }
  if (status == ARES_SUCCESS) {
    result.outcome = PtrLookupResult::Outcome::kFound;
    // Confirm: the name's addresses of the same family contain the IP.
    ares_query(Channel(self->channel_), result.ptr.c_str(), ns_c_in,
               lookup->ip.is_v4() ? ns_t_a : ns_t_aaaa, &CaresPtrResolver::OnForward, lookup);
    return;
  }
  if (IsNoData(status)) {
    result.outcome = PtrLookupResult::Outcome::kNoPtr;
  } else {
    result.outcome = PtrLookupResult::Outcome::kTemporaryFailure;
    result.error = CauseName(status);
  }
  self->Finish(lookup, std::move(result));
}

void CaresPtrResolver::OnForward(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                                 int alen) {
  auto* lookup = static_cast<Lookup*>(arg);
  PtrLookupResult& result = lookup->result;
  if (status == ARES_SUCCESS) {
    hostent* host = nullptr;
    if (lookup->ip.is_v4()) {
      ares_addrttl addrs[32];
      int count = 32;
      status = ares_parse_a_reply(abuf, alen, &host, addrs, &count);
      for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
        if (ntohl(addrs[i].ipaddr.s_addr) == lookup->ip.v4()) result.ptr_confirmed = true;
      }
    } else {
      ares_addr6ttl addrs[32];
      int count = 32;
      status = ares_parse_aaaa_reply(abuf, alen, &host, addrs, &count);
      for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
        if (std::memcmp(addrs[i].ip6addr._S6_un._S6_u8, lookup->ip.v6_bytes().data(), 16) == 0) {
          result.ptr_confirmed = true;
        }
      }
    }
    if (host != nullptr) ares_free_hostent(host);
  }
  if (status != ARES_SUCCESS && !IsNoData(status)) {
    // The name exists but we could not check it: try again later rather than
    // call it unconfirmed for a whole positive TTL.
    result.outcome = PtrLookupResult::Outcome::kTemporaryFailure;
    result.error = absl::StrCat("forward: ", CauseName(status));
  }
  lookup->resolver->Finish(lookup, std::move(result));
}

void CaresPtrResolver::Finish(Lookup* lookup, PtrLookupResult result) {
  std::unique_ptr<Lookup> owned(lookup);
  --in_flight_;
  {
    absl::MutexLock lock(&mutex_);
    --admitted_;
    stats_.in_flight = in_flight_;
    switch (result.outcome) {
      case PtrLookupResult::Outcome::kFound:
        ++stats_.found;
        if (result.ptr_confirmed) ++stats_.confirmed;
        break;
      case PtrLookupResult::Outcome::kNoPtr:
        ++stats_.no_ptr;
        break;
      case PtrLookupResult::Outcome::kTemporaryFailure:
        ++stats_.temporary_failures;
        if (absl::EndsWith(result.error, "timeout")) ++stats_.timeouts;
        if (absl::EndsWith(result.error, "SERVFAIL")) ++stats_.servfail;
        if (absl::EndsWith(result.error, "REFUSED")) ++stats_.refused;
        break;
    }
  }
  owned->done(std::move(result));
}

void CaresPtrResolver::Loop() {
  for (;;) {
    std::deque<Request> starting;
    bool stopping;
    {
      absl::MutexLock lock(&mutex_);
      stopping = stopping_;
      while (!stopping &&
             in_flight_ + static_cast<int64_t>(starting.size()) < options_.max_in_flight &&
             !queue_.empty()) {
        starting.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.queued = static_cast<int64_t>(queue_.size());
    }
    if (stopping) break;
    for (Request& request : starting) Start(std::move(request));
    {
      absl::MutexLock lock(&mutex_);
      stats_.in_flight = in_flight_;
    }

    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(Channel(channel_), sockets, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM + 1];
    int n = 0;
    fds[n++] = {wake_fd_, POLLIN, 0};
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events == 0) continue;
      fds[n++] = {sockets[i], events, 0};
    }
    timeval tv;
    timeval* next = ares_timeout(Channel(channel_), nullptr, &tv);
    int timeout_ms =
        next == nullptr ? -1 : static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
    int ready = poll(fds, static_cast<nfds_t>(n), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      LogError("ptr_resolver_poll_failed", {{"error", std::strerror(errno)}});
    }
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      uint64_t value;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &value, sizeof(value));
    }
    for (int i = 1; ready > 0 && i < n; ++i) {
      if (fds[i].revents == 0) continue;
      bool readable = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      bool writable = fds[i].revents & POLLOUT;
      ares_process_fd(Channel(channel_), readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
    // Timeouts and retries.
    ares_process_fd(Channel(channel_), ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }

  // Shutting down: every pending lookup's callback runs once.
  std::deque<Request> queued;
  {
    absl::MutexLock lock(&mutex_);
    queued.swap(queue_);
    admitted_ -= static_cast<int64_t>(queued.size());
  }
  ares_cancel(Channel(channel_));  // in-flight lookups end in OnPtr/OnForward
  for (Request& request : queued) {
    PtrLookupResult result;
    result.error = "shutting down";
    request.done(std::move(result));
  }
}

}  // namespace egress
