// Reverse DNS (PTR) lookups with forward confirmation.
#ifndef EGRESS_SERVICE_ENRICHMENT_PTR_RESOLVER_H_
#define EGRESS_SERVICE_ENRICHMENT_PTR_RESOLVER_H_

#include <functional>
#include <ostream>
#include <string>

#include "common/ip_address.h"

namespace egress {

struct PtrLookupResult {
  enum class Outcome {
    // The address has a PTR record: `ptr` is set.
    kFound,
    // The resolvers said authoritatively that there is none: NXDOMAIN, or
    // NOERROR without a PTR in the answer (NODATA).
    kNoPtr,
    // No authoritative answer: timeout after all tries, SERVFAIL, REFUSED,
    // connection refused, malformed answer; or the forward confirmation of a
    // found name failed that way (then `ptr` is set, `ptr_confirmed` false).
    // Retry later; `error` says what happened.
    kTemporaryFailure,
  };
  Outcome outcome = Outcome::kTemporaryFailure;
  // The first PTR name, without the trailing dot; bytes outside printable
  // ASCII are replaced by '?'.
  std::string ptr;
  // `ptr` resolves (A for IPv4, AAAA for IPv6) to a set of addresses that
  // contains the looked-up address.
  bool ptr_confirmed = false;
  // For kTemporaryFailure: "timeout", "SERVFAIL", "REFUSED", ... (c-ares's
  // message), prefixed with "forward: " when the confirmation failed.
  std::string error;
};

std::ostream& operator<<(std::ostream& os, PtrLookupResult::Outcome outcome);

// "4.3.2.1.in-addr.arpa" for 1.2.3.4; the 32 reversed nibbles + ".ip6.arpa"
// for IPv6. A raw v4-mapped address is named as its IPv4 address.
std::string ReverseDnsName(const IpAddress& ip);

// Asynchronous PTR lookups.
//
// Thread-safe: Resolve may be called from any thread. Each call eventually
// invokes `done` exactly once, on the resolver's own thread (so `done` must be
// quick and must not block or call Resolve synchronously waiting for it);
// at the latest when the resolver is destroyed (then with kTemporaryFailure,
// error "shutting down"). The number of lookups in flight is bounded by the
// implementation; excess requests wait in a bounded queue and are failed
// with kTemporaryFailure ("overloaded") beyond it.
class PtrResolver {
 public:
  using Callback = std::function<void(PtrLookupResult)>;

  virtual ~PtrResolver() = default;

  virtual void Resolve(const IpAddress& ip, Callback done) = 0;

  // Blocking convenience: resolves `ip` and waits for the result. Must not
  // be called from a Callback.
  PtrLookupResult ResolveSync(const IpAddress& ip);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_PTR_RESOLVER_H_
