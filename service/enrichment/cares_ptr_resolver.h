// PtrResolver on c-ares: ares_query(PTR) + ares_parse_ptr_reply, so that a
// timeout or SERVFAIL is told apart from NXDOMAIN (ares_gethostbyaddr reports
// both as "not found"), then ares_query(A or AAAA) of the name to confirm it.
//
// Error detail: with one resolver, SERVFAIL / REFUSED / NOTIMP are reported
// as such; with several, c-ares 1.18 moves on to the next resolver on those
// answers and, when all failed, can only say so ("SERVFAIL, REFUSED or
// unreachable at every resolver"). Either way the outcome is a temporary
// failure.
//
// One thread runs the c-ares event loop (poll on c-ares's sockets and an
// eventfd that wakes it for new requests and shutdown); the channel is only
// ever touched from that thread.
#ifndef EGRESS_SERVICE_ENRICHMENT_CARES_PTR_RESOLVER_H_
#define EGRESS_SERVICE_ENRICHMENT_CARES_PTR_RESOLVER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/enrichment/ptr_resolver.h"

namespace egress {

struct CaresPtrResolverOptions {
  // "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address; empty: the
  // system's resolvers (/etc/resolv.conf).
  std::vector<std::string> servers;
  // First try's timeout per server; c-ares doubles it on each round.
  absl::Duration timeout = absl::Seconds(2);
  // Attempts per server before giving up (>= 1).
  int tries = 2;
  // Lookups (PTR + confirmation) in flight at once.
  int max_in_flight = 64;
  // Requests waiting beyond max_in_flight; more fail with "overloaded".
  int max_queued = 100000;
};

// Counters since creation.
struct PtrResolverStats {
  uint64_t requests = 0;
  uint64_t found = 0;
  uint64_t confirmed = 0;
  uint64_t no_ptr = 0;
  uint64_t temporary_failures = 0;
  // Temporary failures by cause (a lookup counts once, by its final cause).
  uint64_t timeouts = 0;
  uint64_t servfail = 0;
  uint64_t refused = 0;
  uint64_t overloaded = 0;
  int64_t in_flight = 0;
  int64_t queued = 0;
};

class CaresPtrResolver : public PtrResolver {
 public:
  // INVALID_ARGUMENT for a bad server entry or option; INTERNAL if c-ares
  // cannot be initialised (for instance no usable /etc/resolv.conf and no
  // servers given).
  static absl::StatusOr<std::unique_ptr<CaresPtrResolver>> Create(
      const CaresPtrResolverOptions& options);

  // Fails pending lookups ("shutting down") and joins the loop thread.
  ~CaresPtrResolver() override;

  void Resolve(const IpAddress& ip, Callback done) override;

  PtrResolverStats stats() const;

  // Turns the server list into c-ares's CSV form ("1.2.3.4:53,[::1]:5353").
  static absl::StatusOr<std::string> ServersCsv(const std::vector<std::string>& servers);

  struct Lookup;  // one request's state (cares_ptr_resolver.cc)

 private:
  struct Request {
    IpAddress ip;
    Callback done;
  };

  CaresPtrResolver(const CaresPtrResolverOptions& options);
  void Loop();
  void Start(Request request);
  void Finish(Lookup* lookup, PtrLookupResult result);
  void Wake();

  static void OnPtr(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void OnForward(void* arg, int status, int timeouts, unsigned char* abuf, int alen);

  const CaresPtrResolverOptions options_;
  void* channel_ = nullptr;  // ares_channel, loop thread only after Create
  int wake_fd_ = -1;
  int server_count_ = 0;
  int64_t in_flight_ = 0;  // loop thread only
  std::thread thread_;

  mutable absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::deque<Request> queue_ ABSL_GUARDED_BY(mutex_);
  // Requests admitted and not finished (queued, being started, or in
  // flight): the admission bound, which must not open while the loop moves a
  // request from the queue to in flight.
  int64_t admitted_ ABSL_GUARDED_BY(mutex_) = 0;
  PtrResolverStats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_CARES_PTR_RESOLVER_H_
